//! One `evals/*.toml` file: a prompt, a provider, scenarios and their assertions.

use std::path::PathBuf;

use serde::Serialize;

use super::Vars;
use crate::assert::AssertionSpec;

#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The file stem: `evals/capitals.toml` is suite `capitals`.
    pub name: String,
    /// Path of the suite file relative to the project root.
    pub file: PathBuf,
    /// Name of a provider in `evalgit.toml`.
    pub provider: String,
    pub prompt: Prompt,
    pub scenarios: Vec<Scenario>,
    pub min_pass_rate: Option<f64>,
    pub min_mean_score: Option<f64>,
    /// Samples per scenario (default 1); a scenario may override it.
    pub repeat: u32,
    pub pass_rule: PassRule,
    /// Per-suite spending cap for one run (calls only).
    pub max_usd: Option<f64>,
    /// Judge provider for model-graded assertions in this suite.
    pub judge: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// A chat message, either a template (in a suite) or rendered (in a job).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// `prompt = "..."` or `prompt_file = "prompts/x.txt"`: one user message.
    Text {
        template: String,
        file: Option<PathBuf>,
    },
    /// `[[messages]]` tables; each content is a template. `file` when read from
    /// `messages_file`... (not supported yet: inline only).
    Messages(Vec<Message>),
}

/// How the samples of a repeated scenario decide its verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PassRule {
    #[default]
    All,
    Majority,
    AtLeast(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub id: String,
    /// Sorted by name; see [`Vars`] for why it is not a map.
    pub vars: Vars,
    pub asserts: Vec<AssertionSpec>,
    /// Minimum weighted score (0..=1) for the scenario to pass; default: every assertion passes.
    pub threshold: Option<f64>,
    pub repeat: Option<u32>,
    pub pass_rule: Option<PassRule>,
    /// Where the scenario is defined: the suite file or its scenarios file, 1-based line.
    pub file: PathBuf,
    pub line: usize,
}
