//! Why a scenario is in the plan: which input changed.

use serde::Serialize;

/// Why a scenario must run, be re-scored, or is gone. A scenario has a primary reason (the
/// first) that decides its group, and possibly more (a prompt and a variable both changed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Reason {
    /// Not at the base.
    New,
    /// At the base, gone now: nothing to run; its results leave the comparison.
    Removed,
    /// The provider's digest differs: a parameter changed (`model`, `temperature`,
    /// `extra.x`, `file:scripts/bot.py` ...), or the suite uses another provider.
    ProviderChanged {
        from: String,
        to: String,
        params: Vec<String>,
    },
    /// The rendered messages differ and the prompt template (or its file) does.
    PromptChanged { file: Option<String> },
    /// The rendered messages (or, for `http`/`exec` providers, the request) differ because
    /// these variables did.
    VariablesChanged { vars: Vec<String> },
    /// More samples than at the base: the new repeats need calls.
    RepeatAdded { from: u32, to: u32 },
    /// Fewer samples: no call, the verdict uses fewer samples.
    RepeatRemoved { from: u32, to: u32 },
    /// Only the assertions, threshold or pass rule changed: the recorded output is
    /// re-scored, no model call.
    AssertionsOnly,
    /// The fingerprint differs but no named input does (a new fingerprint recipe version, or
    /// an input evalgit does not break down).
    Unattributed,
    /// Nothing changed, but no cache entry or accepted snapshot holds the output.
    NotRecorded,
}

impl Reason {
    /// The heading of this reason's group in `plan`'s text output.
    pub fn title(&self) -> String {
        match self {
            Reason::New => "new scenarios".to_string(),
            Reason::Removed => "removed scenarios".to_string(),
            Reason::ProviderChanged { from, to, params } if from == to => {
                format!("provider `{to}` changed: {}", params.join(", "))
            }
            Reason::ProviderChanged { from, to, .. } => {
                format!("provider changed: `{from}` -> `{to}`")
            }
            Reason::PromptChanged { file: Some(file) } => format!("prompt changed: {file}"),
            Reason::PromptChanged { file: None } => "prompt changed".to_string(),
            Reason::VariablesChanged { .. } => "variables changed".to_string(),
            Reason::RepeatAdded { .. } => "repeat raised: new samples only".to_string(),
            Reason::RepeatRemoved { .. } => "repeat lowered: fewer samples".to_string(),
            Reason::AssertionsOnly => "assertions changed only: re-score".to_string(),
            Reason::Unattributed => {
                "fingerprint changed: recipe version or an input evalgit does not name".to_string()
            }
            Reason::NotRecorded => {
                "unchanged, not recorded yet: `run` calls these, `run --affected-since` skips them"
                    .to_string()
            }
        }
    }

    /// The per-scenario detail shown after its id when the group title does not say it all.
    pub fn detail(&self) -> Option<String> {
        match self {
            Reason::VariablesChanged { vars } => Some(vars.join(", ")),
            Reason::RepeatAdded { from, to } | Reason::RepeatRemoved { from, to } => {
                Some(format!("{from} -> {to}"))
            }
            _ => None,
        }
    }

    /// A short name for secondary reasons: `also: variables changed`.
    pub fn short(&self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Removed => "removed",
            Reason::ProviderChanged { .. } => "provider changed",
            Reason::PromptChanged { .. } => "prompt changed",
            Reason::VariablesChanged { .. } => "variables changed",
            Reason::RepeatAdded { .. } => "repeat raised",
            Reason::RepeatRemoved { .. } => "repeat lowered",
            Reason::AssertionsOnly => "assertions changed",
            Reason::Unattributed => "fingerprint changed",
            Reason::NotRecorded => "not recorded",
        }
    }
}
