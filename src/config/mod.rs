//! Loading, layering and validating the project's configuration.
//!
//! Sources, highest first: CLI flags (applied by `cli`), `EVALGIT_*` environment variables,
//! the selected `[profile.NAME]` in `evalgit.toml`, the file itself, built-in defaults.
//! Files are read through a [`Source`], so the same loader reads the working tree or any git
//! revision.

mod assertion_table;
pub mod body_template;
mod diagnostic;
pub mod env;
mod expand;
mod init;
mod load;
mod price_check;
mod render_check;
mod scenario_table;
mod scenarios_file;
mod settings;
mod settings_file;
mod source;
mod suite;
mod suite_file;
pub mod template;
mod vars;
mod walker;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use init::{STARTER_FILES, write_starter};
pub use load::{LoadOptions, SETTINGS_FILE, find_root, load};
pub use settings::{
    BudgetPolicy, GatePolicy, Price, ProviderConfig, ProviderKind, RedactPolicy, SamplingParams,
    Settings,
};
pub use source::{MemorySource, Source, WorkTree};
pub use suite::{Message, PassRule, Prompt, Role, Scenario, Suite};
pub use template::{CompiledPrompt, TemplateError, TemplateErrorKind, render_messages};
pub use vars::Vars;

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
