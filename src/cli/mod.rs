//! The command line: the only module that knows clap. Parses arguments, loads the project,
//! calls the core, renders errors once and maps them to the documented exit codes.

mod args;
mod cache_cmd;
mod comment_cmd;
mod diff_cmd;
mod merge_cmd;
mod plan_cmd;
mod report_cmd;
mod revision;
mod run_cmd;
mod snapshot_cmd;
mod verdict;
mod workspace;

use std::io::IsTerminal;

use clap::Parser;

pub use args::Cli;
use args::{ColorChoice, Command};

use crate::ExitCode;

pub fn main() -> std::process::ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    let code = match dispatch(cli, color) {
        Ok(code) => code,
        Err(e) => {
            render_error(&e, color);
            e.exit_code()
        }
    };
    std::process::ExitCode::from(code.code())
}

fn dispatch(cli: Cli, color: bool) -> Result<ExitCode, crate::Error> {
    let global = workspace::Global {
        root: cli.root,
        profile: cli.profile,
        color,
    };
    match cli.command {
        Command::Init { dir } => workspace::init(&global, dir),
        Command::Validate => workspace::validate(&global),
        Command::Run(args) => run_cmd::run(&global, args),
        Command::Plan(args) => plan_cmd::plan(&global, args),
        Command::Diff(args) => diff_cmd::diff(&global, args),
        Command::Review(args) => snapshot_cmd::review(&global, args),
        Command::Accept(args) => snapshot_cmd::accept(&global, args),
        Command::Reject(args) => snapshot_cmd::reject(&global, args),
        Command::Cache { action } => cache_cmd::cache(&global, action),
        Command::Report(args) => report_cmd::report(&global, args),
        Command::Comment(args) => comment_cmd::comment(args),
        Command::Merge(args) => merge_cmd::merge(&global, args),
    }
}

/// The one place errors are printed.
fn render_error(e: &crate::Error, color: bool) {
    let label = if color {
        "\x1b[31merror\x1b[0m"
    } else {
        "error"
    };
    match e {
        crate::Error::Config(diagnostics) => eprintln!("{diagnostics}"),
        other => eprintln!("{label}: {other}"),
    }
}

/// Rust ignores SIGPIPE, so `evalgit plan --json | head -1` would panic writing to a closed
/// pipe; restore the default so the process ends quietly, as command-line tools do.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at startup, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
