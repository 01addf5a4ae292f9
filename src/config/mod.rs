//! Loading, layering and validating the project's configuration.
//!
//! Sources, highest first: CLI flags (applied by `cli`), `EVALGIT_*` environment variables,
//! the selected `[profile.NAME]` in `evalgit.toml`, the file itself, built-in defaults.
//! Files are read through a [`Source`], so the same loader reads the working tree or any git
//! revision.

mod diagnostic;
mod settings;
mod suite;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use settings::{BudgetPolicy, GatePolicy, Price, ProviderConfig, ProviderKind, RedactPolicy, SamplingParams, Settings};
pub use suite::{Message, PassRule, Prompt, Role, Scenario, Suite};

use std::path::PathBuf;

/// A loaded, validated project: `evalgit.toml` and every suite.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project root (the directory holding `evalgit.toml`), or the revision's root.
    pub root: PathBuf,
    pub settings: Settings,
    pub suites: Vec<Suite>,
    /// Warnings found while loading (errors make loading fail).
    pub warnings: Diagnostics,
}
