//! `evalgit cache stats|prune|clear`.

use std::collections::HashSet;
use std::time::Duration;

use super::args::CacheAction;
use super::workspace::Global;
use crate::cache::ResponseCache;
use crate::runner::{self, JobFilter};
use crate::{Error, ExitCode};

pub fn cache(global: &Global, action: CacheAction) -> Result<ExitCode, Error> {
    let root = global.root()?;
    let cache = ResponseCache::open(&root)?;
    match action {
        CacheAction::Stats => {
            let s = cache.stats()?;
            let now = unix_now();
            println!("cache: {}", cache.dir().display());
            println!("responses: {}", s.responses);
            println!("judgments: {}", s.judgments);
            println!("size:      {}", human_bytes(s.bytes));
            if let (Some(old), Some(new)) = (s.oldest_unix, s.newest_unix) {
                println!("oldest:    {} ago", human_age(now.saturating_sub(old)));
                println!("newest:    {} ago", human_age(now.saturating_sub(new)));
            }
        }
        CacheAction::Prune { older_than, unused } => {
            if older_than.is_none() && !unused {
                return Err(Error::Usage(
                    "cache prune needs --older-than AGE (e.g. 30d) and/or --unused; `evalgit cache clear` removes everything".into(),
                ));
            }
            let age = older_than;
            let keep: Option<HashSet<_>> = if unused {
                let (project, source) = global.load()?;
                let jobs = runner::expand_jobs(&project, &source, &JobFilter::default())?;
                Some(jobs.jobs.iter().map(|j| j.fingerprint).collect())
            } else {
                None
            };
            let r = cache.prune(age, keep.as_ref())?;
            println!(
                "removed {} response{}, {} judgment{}, {} temporary file{} ({}); kept {}",
                r.removed_responses,
                super::workspace::plural(r.removed_responses as usize),
                r.removed_judgments,
                super::workspace::plural(r.removed_judgments as usize),
                r.removed_temp_files,
                super::workspace::plural(r.removed_temp_files as usize),
                human_bytes(r.freed_bytes),
                r.kept
            );
        }
        CacheAction::Clear => {
            let r = cache.clear()?;
            println!(
                "removed {} responses and {} judgments ({})",
                r.removed_responses,
                r.removed_judgments,
                human_bytes(r.freed_bytes)
            );
        }
    }
    Ok(ExitCode::Passed)
}

/// The largest `--older-than`: older than that means every entry, and larger numbers
/// would overflow the arithmetic on timestamps.
const MAX_AGE_SECS: u64 = 100 * 366 * 86_400;

/// `30d`, `12h`, `90m`, `45s`, or a bare number of days.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (num, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid age `{text}`: use e.g. 30d, 12h, 90m"))?;
    let unit_secs: u64 = match unit {
        "" | "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "invalid age `{text}`: the unit must be d, h, m, s or w"
            ));
        }
    };
    // Multiplying without a check wrapped a huge age around to a small one.
    n.checked_mul(unit_secs)
        .filter(|secs| *secs <= MAX_AGE_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("invalid age `{text}`: at most 100 years (e.g. 36500d)"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn human_age(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_with_units() {
        assert_eq!(parse_age("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_age("7"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("3y").is_err());
        // Regression: `n * 86_400` overflowed (a panic in debug builds, a wrap in release).
        assert!(parse_age("999999999999999999d").is_err());
        assert!(parse_age("36500d").is_ok());
    }
}
