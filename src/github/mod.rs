//! Everything that speaks to GitHub: the Actions environment, the job summary and step
//! outputs, annotations, and the sticky pull-request comment (the only async code outside
//! `provider` and `runner`, because octocrab is async).

pub mod annotations;
pub mod comment;
pub mod env;
#[doc(hidden)]
pub mod mock_api;
pub mod summary;

pub use annotations::{
    Annotation, AnnotationLevel, gate_annotations, render_annotations, scenario_annotations,
};
pub use comment::{CommentMode, CommentOutcome, CommentTarget, post_comment};
pub use env::{EnvMap, GitHubEnv};
pub use summary::{append_step_summary, verdict_outputs, write_outputs};
