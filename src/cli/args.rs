//! Command-line arguments (clap). Flags that override configuration are `Option`s, so the
//! layering (flag > `EVALGIT_*` > profile > file > default) stays in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "evalgit",
    version,
    about = "Git-native evals for LLM features: TOML suites, a content-hashed cache, snapshots and a regression gate for every pull request."
)]
pub struct Cli {
    /// Project root (the directory with evalgit.toml) [default: found from the current directory upwards]
    #[arg(short = 'C', long = "root", global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Profile from evalgit.toml ([profile.NAME]) [default: $EVALGIT_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// When to use colour
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter evalgit.toml, suite and prompt that validate and run
    Init {
        /// Directory to write into [default: the current directory]
        dir: Option<PathBuf>,
    },
    /// Check every configuration file and report every problem at once
    Validate,
    /// Run the suites: replay what is recorded, call the model for the rest
    Run(RunArgs),
    /// Show which scenarios a change affects and why, before spending anything
    Plan(PlanArgs),
    /// The verdict between two revisions: pass rate, score and cost deltas, and the gate
    Diff(DiffArgs),
    /// Review pending snapshot changes interactively (needs a terminal)
    Review(SnapshotFilterArgs),
    /// Accept pending snapshot changes (.snap.new -> .snap)
    Accept(SnapshotFilterArgs),
    /// Reject pending snapshot changes (delete .snap.new)
    Reject(SnapshotFilterArgs),
    /// Inspect or clean the response cache in .evalgit/cache
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Render a results file as Markdown, JUnit, JSON or text
    Report(ReportArgs),
    /// Post or update the sticky pull-request comment
    Comment(CommentArgs),
    /// Combine the results files of shards into one
    Merge(MergeArgs),
}

#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Run only these suites (repeatable)
    #[arg(long = "suite", value_name = "SUITE")]
    pub suites: Vec<String>,
    /// Run only scenarios whose id (or suite/id) matches; `*` and `?` globs (repeatable)
    #[arg(long = "filter", value_name = "PATTERN")]
    pub filters: Vec<String>,
    /// Run shard K of N (1-based), split by a stable hash of suite and scenario id
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// JSON Lines results file [default: .evalgit/results.jsonl]
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Also write JUnit XML here
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write the Markdown report (the PR comment body) here
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Call the model only for scenarios affected since REV; others replay or are skipped
    #[arg(long, value_name = "REV")]
    pub affected_since: Option<String>,
    /// Ignore recorded outputs (cache and snapshots) and call the model for every sample
    #[arg(long)]
    pub no_cache: bool,
    /// Never call a model; what cannot be replayed is reported as skipped
    #[arg(long, conflicts_with = "no_cache")]
    pub offline: bool,
    /// Fail when an output differs from its accepted snapshot or has none; write no snapshot
    /// files [default: on when $CI is set]
    #[arg(long)]
    pub check: bool,
    /// What to do with snapshots whose scenario no longer exists
    #[arg(long, value_enum, value_name = "MODE")]
    pub unreferenced: Option<Unreferenced>,
    /// Hard spending cap for this run in USD [default: from config]
    #[arg(long, value_name = "USD", value_parser = usd, allow_negative_numbers = true)]
    pub max_run_usd: Option<f64>,
    /// Print a line for every scenario, not only for failures
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// A spending cap: a finite number of US dollars, 0 or more. `nan` and `inf` parse as floats
/// but would turn the hard cap off without a word, and a negative cap is meaningless; the
/// same rule as `budget.max_run_usd` and `EVALGIT_MAX_RUN_USD`.
fn usd(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err("expected a number of US dollars, 0 or more (e.g. 2.50)".to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Unreferenced {
    Ignore,
    Warn,
    Fail,
    Delete,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PlanArgs {
    /// Compare with this revision [default: the merge-base with the default branch]
    #[arg(long, value_name = "REV")]
    pub base: Option<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DiffArgs {
    /// Base revision [default: the merge-base of HEAD with the default branch]
    pub base: Option<String>,
    /// Head revision [default: the working tree]
    pub head: Option<String>,
    /// Use this results file as the baseline instead of the base revision
    #[arg(long, value_name = "PATH")]
    pub base_results: Option<PathBuf>,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print the verdict as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// Write the verdict as JSON to this file
    #[arg(long, value_name = "PATH")]
    pub json_out: Option<PathBuf>,
    /// Never call a model; compare only what is recorded
    #[arg(long, conflicts_with = "no_cache")]
    pub offline: bool,
    /// Ignore recorded outputs and call the model for every head sample
    #[arg(long)]
    pub no_cache: bool,
    /// Hard spending cap in USD [default: from config]
    #[arg(long, value_name = "USD", value_parser = usd, allow_negative_numbers = true)]
    pub max_run_usd: Option<f64>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct SnapshotFilterArgs {
    /// Scenario ids, suite/id pairs or globs (`capitals/*`) [default: all pending]
    pub patterns: Vec<String>,
    /// Only this suite (repeatable)
    #[arg(long = "suite", value_name = "SUITE")]
    pub suites: Vec<String>,
    /// Only this scenario id (repeatable)
    #[arg(long = "id", value_name = "ID")]
    pub ids: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Entries, size, oldest and newest
    Stats,
    /// Remove old entries, or those no current scenario uses
    Prune {
        /// Remove entries older than this (e.g. 30d, 12h, 90m)
        #[arg(long, value_name = "AGE", value_parser = super::cache_cmd::parse_age)]
        older_than: Option<std::time::Duration>,
        /// Remove entries that no scenario of the working tree uses
        #[arg(long)]
        unused: bool,
    },
    /// Remove every entry
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Junit,
    Json,
    Text,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    /// Results file to report on [default: .evalgit/results.jsonl]
    #[arg(long, value_name = "PATH")]
    pub results: Option<PathBuf>,
    /// Baseline results file, for deltas
    #[arg(long, value_name = "PATH")]
    pub base_results: Option<PathBuf>,
    /// Write here instead of stdout
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CommentModeArg {
    Update,
    New,
    Off,
}

#[derive(Debug, Args, Clone)]
pub struct CommentArgs {
    /// The Markdown body (e.g. from `evalgit diff --markdown`); `-` for stdin
    #[arg(long, value_name = "PATH")]
    pub body_file: PathBuf,
    /// Keeps one comment per tag, so two workflows keep two comments
    #[arg(long, default_value = "evalgit")]
    pub tag: String,
    /// update: edit this tag's comment (or create it); new: always a new comment; off: post nothing
    #[arg(long, value_enum, default_value_t = CommentModeArg::Update)]
    pub mode: CommentModeArg,
    /// owner/repo [default: $GITHUB_REPOSITORY]
    #[arg(long, value_name = "OWNER/REPO")]
    pub repo: Option<String>,
    /// Pull request number [default: from $GITHUB_EVENT_PATH or $GITHUB_REF]
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// GitHub API URL [default: $GITHUB_API_URL or https://api.github.com]
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Print the body instead of posting it
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// Results files of the shards
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The merged results file
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: PathBuf,
    /// Also write JUnit XML of the merged results here
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Also write the Markdown report of the merged results here
    #[arg(long, value_name = "PATH")]
    pub markdown: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spending_caps_must_be_finite_and_not_negative() {
        let cases = [
            ("2.50", Some(2.5)),
            ("0", Some(0.0)),
            (" 1 ", Some(1.0)),
            ("nan", None),
            ("NaN", None),
            ("inf", None),
            ("-inf", None),
            ("1e400", None),
            ("-1", None),
            ("-0.01", None),
            ("", None),
            ("$5", None),
        ];
        for (text, want) in cases {
            assert_eq!(usd(text).ok(), want, "{text}");
        }
    }

    // Regression: `run --max-run-usd nan` parsed as a float and silently turned the cap off.
    #[test]
    fn max_run_usd_flags_reject_what_the_config_rejects() {
        for args in [
            &["evalgit", "run", "--max-run-usd", "nan"][..],
            &["evalgit", "run", "--max-run-usd", "inf"],
            &["evalgit", "run", "--max-run-usd", "-1"],
            &["evalgit", "run", "--max-run-usd=-1"],
            &["evalgit", "diff", "--max-run-usd", "NaN"],
        ] {
            let err = Cli::try_parse_from(args).err().map(|e| e.to_string());
            assert!(
                err.as_deref()
                    .is_some_and(|e| e.contains("expected a number of US dollars, 0 or more")),
                "{args:?}: {err:?}"
            );
        }
        let ok = Cli::try_parse_from(["evalgit", "run", "--max-run-usd", "0.5"]);
        assert!(
            matches!(&ok, Ok(Cli { command: Command::Run(r), .. }) if r.max_run_usd == Some(0.5)),
            "{ok:?}"
        );
    }

    #[test]
    fn ages_are_checked_when_the_command_line_is_read() {
        for bad in ["soon", "99999999999999999999d", "999999999999999999w"] {
            let args = ["evalgit", "cache", "prune", "--older-than", bad];
            assert!(Cli::try_parse_from(args).is_err(), "{bad}");
        }
    }
}
