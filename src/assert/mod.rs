//! Assertions: deterministic checks on an output, and model-graded ones through a judge.

mod spec;

pub use spec::{AssertKind, AssertionSpec};
