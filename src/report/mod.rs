//! The writers that turn results and verdicts into files people read: JUnit XML for CI test
//! views, and the Markdown PR comment. Each format is one file; all of them pass model output
//! through [`sanitize`] first.

#[cfg(test)]
pub(crate) mod fixture;
pub mod junit;
mod markdown;
pub mod sanitize;

pub use junit::{render_junit, write_junit};
pub use markdown::{CommentOptions, DEFAULT_MAX_CHARS, render_comment, render_summary};
pub mod results_file;
pub mod terminal;
pub mod verdict_text;
