//! evalgit: Git-native eval-as-code for LLM features.
//!
//! The flow, as in `STYLE.md`: `cli` parses arguments into a typed request, `config` loads and
//! validates the project (from the working tree or from any git revision), `runner` turns
//! suites into jobs, replays what the `cache` and `snapshot`s already know and calls a
//! `provider` for the rest, `assert` scores each output, `policy` decides the verdict, and the
//! `report` writers (terminal, JSON, JUnit, Markdown) consume the results.

pub mod assert;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod git;
pub mod github;
#[doc(hidden)]
pub mod mock;
pub mod plan;
pub mod policy;
pub mod provider;
pub mod report;
pub mod runner;
pub mod snapshot;

pub use error::{Error, ExitCode};
