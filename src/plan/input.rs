//! What `plan` knows about one sample (one repeat of one scenario) on one side of a change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cache::{Fingerprint, ProviderFingerprint};
use crate::config::{Message, Price};

/// One sample of one scenario as it is at a revision (or in the working tree), with
/// everything `plan` needs to say whether it changed and why. Built from the runner's jobs;
/// plain data so that `plan` stays testable without a project on disk.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub suite: String,
    pub scenario_id: String,
    /// 0-based sample index.
    pub repeat: u32,
    /// The scenario fingerprint of this sample.
    pub fingerprint: Fingerprint,
    pub assertions_fingerprint: Fingerprint,
    /// The rendered messages.
    pub messages: Arc<Vec<Message>>,
    /// Shared by the samples of a scenario (and by both sides when a suite is unchanged).
    pub vars: Arc<BTreeMap<String, serde_json::Value>>,
    /// The provider's name in `evalgit.toml`.
    pub provider: String,
    /// Shared by every sample of the provider: it names which parameter changed.
    pub provider_fingerprint: Arc<ProviderFingerprint>,
    /// The file that holds the prompt template: the suite's `prompt_file`, or the suite file
    /// itself for an inline prompt. Named in "prompt changed" groups.
    pub prompt_file: Option<PathBuf>,
    /// blake3 of the prompt template(s) before rendering, when known: tells a template
    /// change from a variable change when both could explain different messages.
    pub prompt_fingerprint: Option<Fingerprint>,
    /// The model's price (team `[prices]` first, then the built-in table); `None` when
    /// unknown (the plan then counts the call as unpriced instead of guessing).
    pub price: Option<Price>,
    /// The provider's `max_tokens`, used as the output estimate when no earlier output of the
    /// scenario is recorded.
    pub max_tokens: Option<u32>,
    /// An accepted snapshot on this side holds this fingerprint's output (so it replays).
    pub recorded: bool,
}
