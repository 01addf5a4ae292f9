//! Typed errors and the documented process exit codes.
//!
//! Core code returns [`Error`]; only `cli` renders it, once, and maps it to an [`ExitCode`].

use crate::config::Diagnostics;

/// Process exit codes. Stable and documented in `docs/reference.md`; never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything ran and the gate passed.
    Passed = 0,
    /// The gate failed: a scenario or suite below its threshold, a regression against the
    /// baseline, a budget exceeded, or snapshots that differ in `--check` mode.
    GateFailed = 1,
    /// The configuration or the command line is wrong; nothing was evaluated.
    ConfigError = 2,
    /// At least one scenario could not be evaluated because its provider failed (and the
    /// gate did not otherwise fail).
    ProviderErrors = 3,
    /// evalgit itself failed: an I/O error, a git repository it could not read.
    Internal = 4,
}

impl ExitCode {
    pub fn code(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more configuration problems, each located in its file.
    #[error("{0}")]
    Config(Diagnostics),
    /// A command-line request that cannot be honoured (bad filter, unknown suite, ...).
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("git: {0}")]
    Git(String),
    #[error("github: {0}")]
    GitHub(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn io_path(action: &str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            context: format!("cannot {action} {}", path.display()),
            source,
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) | Error::Usage(_) => ExitCode::ConfigError,
            Error::Io { .. } | Error::Git(_) | Error::GitHub(_) | Error::Other(_) => {
                ExitCode::Internal
            }
        }
    }
}

impl From<Diagnostics> for Error {
    fn from(d: Diagnostics) -> Self {
        Error::Config(d)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A path relative to the project root, always with `/` separators, as it appears in reports.
pub fn display_rel(path: &std::path::Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}
