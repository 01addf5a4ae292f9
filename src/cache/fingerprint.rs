//! The fingerprint of a scenario: what "affected" means.
//!
//! # Recipe, version 1 ([`FINGERPRINT_VERSION`]); also in `docs/fingerprint.md`
//!
//! Every fingerprint is `blake3` of one canonical JSON document (see `canonical.rs`: keys
//! sorted at every level, no whitespace, shortest round-trip floats, UTF-8, `/` in paths). Each
//! document names what it fingerprints and the recipe version, so two kinds can never collide
//! and a recipe change can never be mistaken for an old one.
//!
//! - **Provider** (computed once per provider per run): a `parts` object mapping each
//!   parameter name to the blake3 hex of its canonical value:
//!   `kind`, `model`, `base_url`, `temperature`, `max_tokens`, `top_p`, `seed`, `stop`,
//!   `response_format`, `tools`, `extra.<key>` (one per key), `headers.<name>` (one per
//!   header), `body`, `response_path`, `usage_input_path`, `usage_output_path`, `command`,
//!   and `file:<path>` (the blake3 of the content, one per `exec` command argument that names a
//!   file of the project). The digest is
//!   `blake3({"fingerprint":"provider","parts":{...},"version":1})`. Keeping the per-part
//!   hashes lets `plan` say *which* parameter changed without holding any value (a header may
//!   carry a token).
//! - **Scenario**: `blake3({"fingerprint":"scenario","messages":[{"content":..,"role":..}],
//!   "provider":"<provider digest hex>","repeat":N,"vars":{..},"version":1})`, where `vars` is
//!   present only for `http` and `exec` providers (their requests see the variables
//!   directly; for chat providers the variables only matter through the rendered messages).
//! - **Assertions**: `blake3({"asserts":[..],"fingerprint":"assertions","pass_rule":..,
//!   "threshold":..,"version":1})`: separate, so an assertion change re-scores a recorded
//!   output without a call.
//! - **Judgment**: `blake3({"fingerprint":"judgment","judge":"<judge provider digest>",
//!   "kind":..,"messages":[..],"metric":..,"output":..,"value":..,"version":1})`: what reaches
//!   the judge model. The weight, negation and pass threshold are applied by the caller to the
//!   judged score, so changing them does not re-judge.
//!
//! Deliberately *not* included: the provider's name (renaming must not re-run), the API key
//! and the name of its environment variable (secrets, and they do not change the answer),
//! `max_concurrency`, `requests_per_minute`, `timeout_secs`, `max_retries` (how a call is
//! made, not what is asked).
//!
//! Changing anything here is a deliberate act: bump [`FINGERPRINT_VERSION`], update the
//! pinned hashes in the tests and `docs/fingerprint.md`. Old cache entries then simply miss.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use crate::assert::AssertionSpec;
use crate::config::{Message, PassRule, ProviderConfig, ProviderKind, Source};

use super::canonical::{
    key, write_f64, write_i64, write_opt_f64, write_opt_str, write_opt_value, write_sorted_map,
    write_str, write_u64, write_value,
};

/// Version of the fingerprint recipe. Bump on any change to what is hashed or how.
pub const FINGERPRINT_VERSION: u32 = 1;

/// A blake3 content hash, shown as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// blake3 of arbitrary bytes (file contents, payloads).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Fingerprint(*blake3::hash(bytes).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(hex_digit(b >> 4));
            s.push(hex_digit(b & 0xf));
        }
        s
    }

    /// The first 12 hex characters, for humans (48 bits: collisions are not a concern at the
    /// scale of one project's scenarios, and nothing is keyed by it).
    pub fn short(&self) -> String {
        let mut s = self.to_hex();
        s.truncate(12);
        s
    }
}

fn hex_digit(n: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(n & 0xf)])
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a string is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fingerprint `{input}`: expected 64 hex characters")]
pub struct ParseFingerprintError {
    input: String,
}

impl FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseFingerprintError {
            input: s.chars().take(80).collect(),
        };
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(err());
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16).ok_or_else(err)?;
            let lo = (pair[1] as char).to_digit(16).ok_or_else(err)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Ok(Fingerprint(out))
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A provider, reduced to what can change an answer; computed once per provider per run.
///
/// Holds per-parameter hashes (never values: a header may carry a token) so that two
/// fingerprints can say which parameters differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFingerprint {
    kind: ProviderKind,
    digest: Fingerprint,
    /// `digest` as hex, kept because every scenario fingerprint writes it.
    digest_hex: String,
    parts: BTreeMap<String, Fingerprint>,
}

impl ProviderFingerprint {
    /// The provider's own hash; part of every scenario fingerprint made with it.
    pub fn digest(&self) -> Fingerprint {
        self.digest
    }

    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// Whether scenario variables reach this provider directly (and so are hashed).
    pub fn sees_vars(&self) -> bool {
        matches!(self.kind, ProviderKind::Http | ProviderKind::Exec)
    }

    /// Parameter name -> hash of its canonical value. Names as in the module docs:
    /// `model`, `temperature`, `extra.<key>`, `headers.<name>`, `file:<path>`, ...
    pub fn parts(&self) -> &BTreeMap<String, Fingerprint> {
        &self.parts
    }

    /// The parameters whose values differ between `self` and `other` (present in only one
    /// counts), sorted. Empty when the digests are equal.
    pub fn changed_params(&self, other: &ProviderFingerprint) -> Vec<String> {
        if self.digest == other.digest {
            return Vec::new();
        }
        let mut names: Vec<String> = self
            .parts
            .iter()
            .filter(|(k, v)| other.parts.get(*k) != Some(v))
            .map(|(k, _)| k.clone())
            .collect();
        names.extend(
            other
                .parts
                .keys()
                .filter(|k| !self.parts.contains_key(*k))
                .cloned(),
        );
        names.sort();
        names.dedup();
        names
    }
}

fn hash_encoded(f: impl FnOnce(&mut Vec<u8>)) -> Fingerprint {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
    }
    BUF.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            f(&mut buf);
            let fp = Fingerprint::of_bytes(&buf);
            if buf.capacity() > 1 << 20 {
                // Do not keep a huge prompt's buffer alive for the rest of the thread.
                *buf = Vec::with_capacity(4096);
            }
            fp
        }
        Err(_) => {
            let mut own = Vec::new();
            f(&mut own);
            Fingerprint::of_bytes(&own)
        }
    })
}

fn part(
    parts: &mut BTreeMap<String, Fingerprint>,
    name: impl Into<String>,
    f: impl FnOnce(&mut Vec<u8>),
) {
    parts.insert(name.into(), hash_encoded(f));
}

/// The fingerprint of a provider's configuration, reading any project file named by an
/// `exec` command through `source` (so the same code works at a git revision).
pub fn provider_fingerprint(provider: &ProviderConfig, source: &dyn Source) -> ProviderFingerprint {
    let mut parts = BTreeMap::new();
    let p = &provider.params;
    part(&mut parts, "kind", |o| write_str(o, provider.kind.name()));
    part(&mut parts, "model", |o| {
        write_opt_str(o, provider.model.as_deref())
    });
    part(&mut parts, "base_url", |o| {
        write_opt_str(o, provider.base_url.as_deref())
    });
    part(&mut parts, "temperature", |o| {
        write_opt_f64(o, p.temperature)
    });
    part(&mut parts, "max_tokens", |o| match p.max_tokens {
        Some(n) => write_u64(o, u64::from(n)),
        None => o.extend_from_slice(b"null"),
    });
    part(&mut parts, "top_p", |o| write_opt_f64(o, p.top_p));
    part(&mut parts, "seed", |o| match p.seed {
        Some(n) => write_i64(o, n),
        None => o.extend_from_slice(b"null"),
    });
    part(&mut parts, "stop", |o| write_str_list(o, &p.stop));
    part(&mut parts, "response_format", |o| {
        write_opt_value(o, p.response_format.as_ref())
    });
    part(&mut parts, "tools", |o| {
        write_opt_value(o, p.tools.as_ref())
    });
    for (k, v) in &p.extra {
        part(&mut parts, format!("extra.{k}"), |o| write_value(o, v));
    }
    for (k, v) in &provider.headers {
        part(&mut parts, format!("headers.{k}"), |o| write_str(o, v));
    }
    part(&mut parts, "body", |o| {
        write_opt_value(o, provider.body.as_ref())
    });
    part(&mut parts, "response_path", |o| {
        write_opt_str(o, provider.response_path.as_deref())
    });
    part(&mut parts, "usage_input_path", |o| {
        write_opt_str(o, provider.usage_input_path.as_deref())
    });
    part(&mut parts, "usage_output_path", |o| {
        write_opt_str(o, provider.usage_output_path.as_deref())
    });
    part(&mut parts, "command", |o| {
        write_str_list(o, &provider.command)
    });
    for arg in &provider.command {
        if let Some(rel) = project_file_arg(arg)
            && let Ok(Some(bytes)) = source.read(&rel)
        {
            let name = format!("file:{}", crate::error::display_rel(&rel));
            parts.insert(name, Fingerprint::of_bytes(&bytes));
        }
    }
    let digest = hash_encoded(|o| {
        o.push(b'{');
        key(o, true, "fingerprint");
        write_str(o, "provider");
        key(o, false, "parts");
        write_sorted_map(o, &parts, |o, fp| write_str(o, &fp.to_hex()));
        key(o, false, "version");
        write_u64(o, u64::from(FINGERPRINT_VERSION));
        o.push(b'}');
    });
    ProviderFingerprint {
        kind: provider.kind,
        digest,
        digest_hex: digest.to_hex(),
        parts,
    }
}

/// The project-relative path an `exec` argument may name: the argument itself, or the value
/// of a `--flag=value` argument; relative, without `..`, with a leading `./` removed. Whether
/// the file exists is up to the source.
fn project_file_arg(arg: &str) -> Option<PathBuf> {
    let candidate = match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with('-') => value,
        _ => arg,
    };
    if candidate.is_empty() || candidate.starts_with('-') {
        return None;
    }
    let path = Path::new(candidate);
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(s) => clean.push(s),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if clean.as_os_str().is_empty() {
        None
    } else {
        Some(clean)
    }
}

fn write_str_list(o: &mut Vec<u8>, items: &[String]) {
    o.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        write_str(o, s);
    }
    o.push(b']');
}

fn write_messages(o: &mut Vec<u8>, messages: &[Message]) {
    o.push(b'[');
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"content\":");
        write_str(o, &m.content);
        o.extend_from_slice(b",\"role\":");
        write_str(o, m.role.name());
        o.push(b'}');
    }
    o.push(b']');
}

/// The fingerprint of one sample: everything that reaches the model for it.
pub fn scenario_fingerprint(
    provider: &ProviderFingerprint,
    messages: &[Message],
    vars: &BTreeMap<String, serde_json::Value>,
    repeat: u32,
) -> Fingerprint {
    hash_encoded(|o| write_scenario_document(o, provider, messages, vars, repeat))
}

/// The canonical document a scenario fingerprint hashes (see the module docs).
fn write_scenario_document(
    o: &mut Vec<u8>,
    provider: &ProviderFingerprint,
    messages: &[Message],
    vars: &BTreeMap<String, serde_json::Value>,
    repeat: u32,
) {
    o.push(b'{');
    key(o, true, "fingerprint");
    write_str(o, "scenario");
    key(o, false, "messages");
    write_messages(o, messages);
    key(o, false, "provider");
    write_str(o, &provider.digest_hex);
    key(o, false, "repeat");
    write_u64(o, u64::from(repeat));
    if provider.sees_vars() {
        key(o, false, "vars");
        write_sorted_map(o, vars, write_value);
    }
    key(o, false, "version");
    write_u64(o, u64::from(FINGERPRINT_VERSION));
    o.push(b'}');
}

fn write_pass_rule(o: &mut Vec<u8>, rule: PassRule) {
    match rule {
        PassRule::All => write_str(o, "all"),
        PassRule::Majority => write_str(o, "majority"),
        PassRule::AtLeast(n) => {
            o.extend_from_slice(b"{\"at-least\":");
            write_u64(o, u64::from(n));
            o.push(b'}');
        }
    }
}

fn write_assertion(o: &mut Vec<u8>, a: &AssertionSpec) {
    // Keys in sorted order.
    o.push(b'{');
    key(o, true, "kind");
    write_str(o, a.kind.name());
    key(o, false, "max");
    write_opt_f64(o, a.max);
    key(o, false, "metric");
    write_opt_str(o, a.metric.as_deref());
    key(o, false, "min");
    write_opt_f64(o, a.min);
    key(o, false, "negate");
    o.extend_from_slice(if a.negate { b"true" } else { b"false" });
    key(o, false, "path");
    write_opt_str(o, a.path.as_deref());
    key(o, false, "provider");
    write_opt_str(o, a.provider.as_deref());
    key(o, false, "threshold");
    write_opt_f64(o, a.threshold);
    key(o, false, "value");
    write_opt_value(o, a.value.as_ref());
    key(o, false, "weight");
    write_f64(o, a.weight);
    o.push(b'}');
}

/// The fingerprint of how a scenario is scored: a change re-scores the recorded output with
/// no model call.
pub fn assertions_fingerprint(
    asserts: &[AssertionSpec],
    threshold: Option<f64>,
    pass_rule: PassRule,
) -> Fingerprint {
    hash_encoded(|o| {
        o.push(b'{');
        key(o, true, "asserts");
        o.push(b'[');
        for (i, a) in asserts.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_assertion(o, a);
        }
        o.push(b']');
        key(o, false, "fingerprint");
        write_str(o, "assertions");
        key(o, false, "pass_rule");
        write_pass_rule(o, pass_rule);
        key(o, false, "threshold");
        write_opt_f64(o, threshold);
        key(o, false, "version");
        write_u64(o, u64::from(FINGERPRINT_VERSION));
        o.push(b'}');
    })
}

/// The key of one model-graded check: the judge, the rubric or reference, the prompt the
/// output answered, and the output itself.
pub fn judge_fingerprint(
    judge: &ProviderFingerprint,
    spec: &AssertionSpec,
    output: &str,
    prompt_messages: &[Message],
) -> Fingerprint {
    hash_encoded(|o| {
        o.push(b'{');
        key(o, true, "fingerprint");
        write_str(o, "judgment");
        key(o, false, "judge");
        write_str(o, &judge.digest_hex);
        key(o, false, "kind");
        write_str(o, spec.kind.name());
        key(o, false, "messages");
        write_messages(o, prompt_messages);
        key(o, false, "metric");
        write_opt_str(o, spec.metric.as_deref());
        key(o, false, "output");
        write_str(o, output);
        key(o, false, "value");
        write_opt_value(o, spec.value.as_ref());
        key(o, false, "version");
        write_u64(o, u64::from(FINGERPRINT_VERSION));
        o.push(b'}');
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assert::AssertKind;
    use crate::config::Role;
    use serde_json::json;

    /// An in-memory source.
    struct Files(BTreeMap<PathBuf, Vec<u8>>);

    impl Source for Files {
        fn read(&self, rel: &Path) -> std::io::Result<Option<Vec<u8>>> {
            Ok(self.0.get(rel).cloned())
        }
        fn list(&self, _: &Path) -> std::io::Result<Vec<PathBuf>> {
            Ok(Vec::new())
        }
        fn list_dirs(&self, _: &Path) -> std::io::Result<Vec<PathBuf>> {
            Ok(Vec::new())
        }
        fn describe(&self) -> String {
            "test files".into()
        }
    }

    fn no_files() -> Files {
        Files(BTreeMap::new())
    }

    fn openai() -> ProviderConfig {
        let mut p = ProviderConfig::new("local", ProviderKind::Openai);
        p.model = Some("smollm2-135m".into());
        p.base_url = Some("http://127.0.0.1:8080/v1".into());
        p.params.temperature = Some(0.0);
        p.params.max_tokens = Some(64);
        p
    }

    fn msgs(text: &str) -> Vec<Message> {
        vec![
            Message {
                role: Role::System,
                content: "Be brief.".into(),
            },
            Message {
                role: Role::User,
                content: text.into(),
            },
        ]
    }

    fn vars(v: serde_json::Value) -> BTreeMap<String, serde_json::Value> {
        serde_json::from_value(v).expect("object")
    }

    fn fp_of(p: &ProviderConfig) -> Fingerprint {
        let pf = provider_fingerprint(p, &no_files());
        scenario_fingerprint(
            &pf,
            &msgs("What is the capital of France?"),
            &vars(json!({"country": "France"})),
            0,
        )
    }

    /// Pinned: a change here means every cache entry and snapshot goes stale. If it is
    /// deliberate, bump FINGERPRINT_VERSION and update docs/fingerprint.md.
    #[test]
    fn fingerprint_recipe_is_pinned() {
        let provider = provider_fingerprint(&openai(), &no_files());
        assert_eq!(
            provider.digest().to_hex(),
            "55ea6b4ae5520cfe063ad6f2077c5ec89fffb9e6b262b53940cf02fe1b869b7c"
        );
        assert_eq!(
            fp_of(&openai()).to_hex(),
            "426daa2ce54d65a3090b9f500cf2e32f0e1738ecb61fd1540798e134ac09291c"
        );
        let mut a = AssertionSpec::new(AssertKind::Icontains);
        a.value = Some(json!("paris"));
        assert_eq!(
            assertions_fingerprint(&[a.clone()], None, PassRule::All).to_hex(),
            "19ba93dad33078454e8d145143957c6841498b92a2663b9ec3306e3049fe87aa"
        );
        let mut rubric = AssertionSpec::new(AssertKind::LlmRubric);
        rubric.value = Some(json!("mentions Paris"));
        assert_eq!(
            judge_fingerprint(&provider, &rubric, "Paris.", &msgs("q")).to_hex(),
            "ebce78be391c343438d18011f53aea5b27199784c7c4a5b5d7259215eb64c1ea"
        );
    }

    /// The worked example in docs/fingerprint.md: keep them in sync.
    #[test]
    fn documented_scenario_document() {
        let mut p = ProviderConfig::new("app", ProviderKind::Http);
        p.base_url = Some("http://127.0.0.1:3000/answer".into());
        let provider = provider_fingerprint(&p, &no_files());
        assert_eq!(
            provider.digest().to_hex(),
            "ce55e92e884ed502e76225b920c9809c1d3b8590901fcc3d996b6ae2adf12e8c"
        );
        let messages = vec![Message {
            role: Role::User,
            content: "Capital of \"France\"?\n".into(),
        }];
        let v = vars(json!({"country": "France", "n": 1.0}));
        let mut doc = Vec::new();
        write_scenario_document(&mut doc, &provider, &messages, &v, 2);
        let doc = String::from_utf8(doc).expect("utf-8");
        assert_eq!(
            doc,
            format!(
                r#"{{"fingerprint":"scenario","messages":[{{"content":"Capital of \"France\"?\n","role":"user"}}],"provider":"{}","repeat":2,"vars":{{"country":"France","n":1}},"version":1}}"#,
                provider.digest().to_hex()
            )
        );
        let fp = scenario_fingerprint(&provider, &messages, &v, 2);
        assert_eq!(fp, Fingerprint::of_bytes(doc.as_bytes()));
        assert_eq!(
            fp.to_hex(),
            "e650ae6efa756ed52385b410b408e8fe885cb33ba54f0dd4704cc7a535d07e7f"
        );
    }

    #[test]
    fn fingerprint_hex_round_trips() {
        let fp = fp_of(&openai());
        let hex = fp.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(hex.parse::<Fingerprint>(), Ok(fp));
        assert_eq!(hex.to_uppercase().parse::<Fingerprint>(), Ok(fp));
        assert_eq!(fp.short(), hex[..12]);
        assert_eq!(format!("{fp}"), hex);
        assert_eq!(format!("{fp:?}"), hex);
        let json = serde_json::to_string(&fp).expect("serialize");
        assert_eq!(json, format!("\"{hex}\""));
        assert_eq!(
            serde_json::from_str::<Fingerprint>(&json).expect("deserialize"),
            fp
        );
        for bad in [
            "",
            "abc",
            &hex[..63],
            &format!("{}g", &hex[..63]),
            &format!("{hex}0"),
        ] {
            assert!(
                bad.parse::<Fingerprint>().is_err(),
                "{bad:?} should not parse"
            );
        }
        assert!(serde_json::from_str::<Fingerprint>("\"zz\"").is_err());
    }

    #[test]
    fn key_order_does_not_matter() {
        let mut a = ProviderConfig::new("x", ProviderKind::Http);
        a.body = Some(
            serde_json::from_str(r#"{"q":"{{ prompt }}","opts":{"b":1,"a":2}}"#).expect("json"),
        );
        a.params
            .extra
            .insert("z".into(), json!({"y": 1, "x": [1, {"d": 0, "c": 1}]}));
        let mut b = a.clone();
        b.body = Some(
            serde_json::from_str(r#"{"opts":{"a":2,"b":1},"q":"{{ prompt }}"}"#).expect("json"),
        );
        b.params.extra.insert(
            "z".into(),
            serde_json::from_str(r#"{"x":[1,{"c":1,"d":0}],"y":1}"#).expect("json"),
        );
        let v1: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(r#"{"b":{"k2":1,"k1":2},"a":"x"}"#).expect("json");
        let v2: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(r#"{"a":"x","b":{"k1":2,"k2":1}}"#).expect("json");
        let pa = provider_fingerprint(&a, &no_files());
        let pb = provider_fingerprint(&b, &no_files());
        assert_eq!(pa.digest(), pb.digest());
        assert_eq!(
            scenario_fingerprint(&pa, &msgs("hi"), &v1, 0),
            scenario_fingerprint(&pb, &msgs("hi"), &v2, 0)
        );
    }

    #[test]
    fn every_provider_component_changes_the_hash() {
        type Edit = fn(&mut ProviderConfig);
        let edits: &[(&str, Edit)] = &[
            ("kind", |p| p.kind = ProviderKind::Anthropic),
            ("model", |p| p.model = Some("gpt-4o-mini".into())),
            ("base_url", |p| {
                p.base_url = Some("http://127.0.0.1:9090/v1".into())
            }),
            ("temperature", |p| p.params.temperature = Some(0.7)),
            ("max_tokens", |p| p.params.max_tokens = Some(65)),
            ("top_p", |p| p.params.top_p = Some(0.9)),
            ("seed", |p| p.params.seed = Some(1)),
            ("stop", |p| p.params.stop = vec!["\n".into()]),
            ("response_format", |p| {
                p.params.response_format = Some(json!({"type": "json_object"}))
            }),
            ("tools", |p| {
                p.params.tools = Some(json!([{"type": "function"}]))
            }),
            ("extra.presence_penalty", |p| {
                p.params.extra.insert("presence_penalty".into(), json!(0.5));
            }),
            ("headers.X-Tenant", |p| {
                p.headers.insert("X-Tenant".into(), "a".into());
            }),
            ("body", |p| p.body = Some(json!({"q": "{{ prompt }}"}))),
            ("response_path", |p| p.response_path = Some("answer".into())),
            ("usage_input_path", |p| {
                p.usage_input_path = Some("usage.in".into())
            }),
            ("usage_output_path", |p| {
                p.usage_output_path = Some("usage.out".into())
            }),
            ("command", |p| p.command = vec!["python3".into()]),
        ];
        let base = openai();
        let base_pf = provider_fingerprint(&base, &no_files());
        let base_fp = fp_of(&base);
        for (name, edit) in edits {
            let mut changed = base.clone();
            edit(&mut changed);
            assert_ne!(
                fp_of(&changed),
                base_fp,
                "changing {name} must change the fingerprint"
            );
            let pf = provider_fingerprint(&changed, &no_files());
            assert_eq!(
                pf.changed_params(&base_pf),
                vec![name.to_string()],
                "attribution of {name}"
            );
        }
    }

    #[test]
    fn how_a_call_is_made_does_not_change_the_hash() {
        type Edit = fn(&mut ProviderConfig);
        let edits: &[(&str, Edit)] = &[
            ("name", |p| p.name = "renamed".into()),
            ("api_key_env", |p| {
                p.api_key_env = Some("OPENAI_API_KEY".into())
            }),
            ("max_concurrency", |p| p.max_concurrency = 32),
            ("requests_per_minute", |p| p.requests_per_minute = Some(10)),
            ("timeout_secs", |p| p.timeout_secs = 5.0),
            ("max_retries", |p| p.max_retries = 0),
        ];
        let base_fp = fp_of(&openai());
        for (name, edit) in edits {
            let mut changed = openai();
            edit(&mut changed);
            assert_eq!(
                fp_of(&changed),
                base_fp,
                "changing {name} must not change the fingerprint"
            );
        }
    }

    #[test]
    fn scenario_components_change_the_hash() {
        let pf = provider_fingerprint(&openai(), &no_files());
        let v = vars(json!({"country": "France"}));
        let base = scenario_fingerprint(&pf, &msgs("a"), &v, 0);
        assert_ne!(
            scenario_fingerprint(&pf, &msgs("b"), &v, 0),
            base,
            "content"
        );
        let mut roles = msgs("a");
        roles[0].role = Role::User;
        assert_ne!(scenario_fingerprint(&pf, &roles, &v, 0), base, "role");
        assert_ne!(
            scenario_fingerprint(&pf, &msgs("a")[1..], &v, 0),
            base,
            "message count"
        );
        assert_ne!(scenario_fingerprint(&pf, &msgs("a"), &v, 1), base, "repeat");
        // Chat providers see variables only through the rendered messages.
        assert_eq!(
            scenario_fingerprint(&pf, &msgs("a"), &vars(json!({"country": "Peru"})), 0),
            base,
            "vars"
        );
        // Message boundaries are not ambiguous.
        let split = vec![
            Message {
                role: Role::User,
                content: "ab".into(),
            },
            Message {
                role: Role::User,
                content: "c".into(),
            },
        ];
        let split2 = vec![
            Message {
                role: Role::User,
                content: "a".into(),
            },
            Message {
                role: Role::User,
                content: "bc".into(),
            },
        ];
        assert_ne!(
            scenario_fingerprint(&pf, &split, &v, 0),
            scenario_fingerprint(&pf, &split2, &v, 0)
        );
    }

    #[test]
    fn vars_count_for_http_and_exec_providers() {
        for kind in [ProviderKind::Http, ProviderKind::Exec] {
            let pf = provider_fingerprint(&ProviderConfig::new("p", kind), &no_files());
            let a = scenario_fingerprint(&pf, &msgs("a"), &vars(json!({"country": "France"})), 0);
            let b = scenario_fingerprint(&pf, &msgs("a"), &vars(json!({"country": "Peru"})), 0);
            assert_ne!(a, b, "{kind:?}");
        }
    }

    #[test]
    fn exec_script_content_is_part_of_the_provider() {
        let mut p = ProviderConfig::new("bot", ProviderKind::Exec);
        p.command = vec![
            "python3".into(),
            "./scripts/bot.py".into(),
            "--config=conf/bot.json".into(),
            "/usr/bin/abs".into(),
            "../outside.py".into(),
        ];
        let files = |script: &str, conf: &str| {
            let mut m = BTreeMap::new();
            m.insert(PathBuf::from("scripts/bot.py"), script.as_bytes().to_vec());
            m.insert(PathBuf::from("conf/bot.json"), conf.as_bytes().to_vec());
            Files(m)
        };
        let a = provider_fingerprint(&p, &files("print(1)", "{}"));
        assert!(a.parts().contains_key("file:scripts/bot.py"));
        assert!(a.parts().contains_key("file:conf/bot.json"));
        assert_eq!(
            a.parts().keys().filter(|k| k.starts_with("file:")).count(),
            2
        );
        let b = provider_fingerprint(&p, &files("print(2)", "{}"));
        assert_eq!(
            b.changed_params(&a),
            vec!["file:scripts/bot.py".to_string()]
        );
        let c = provider_fingerprint(&p, &files("print(1)", "{\"x\":1}"));
        assert_eq!(c.changed_params(&a), vec!["file:conf/bot.json".to_string()]);
        assert_eq!(provider_fingerprint(&p, &files("print(1)", "{}")), a);
    }

    #[test]
    fn project_file_arg_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("scripts/x.py", Some("scripts/x.py")),
            ("./x.sh", Some("x.sh")),
            ("--script=a/b.py", Some("a/b.py")),
            ("-v", None),
            ("", None),
            (".", None),
            ("/abs/path", None),
            ("../up.py", None),
            ("a/../b", None),
            ("key=value", Some("key=value")),
        ];
        for (arg, want) in cases {
            assert_eq!(project_file_arg(arg), want.map(PathBuf::from), "{arg:?}");
        }
    }

    #[test]
    fn assertions_fingerprint_components() {
        let mut a = AssertionSpec::new(AssertKind::Icontains);
        a.value = Some(json!("paris"));
        let base = assertions_fingerprint(&[a.clone()], None, PassRule::All);
        type Edit = fn(&mut AssertionSpec);
        let edits: &[(&str, Edit)] = &[
            ("kind", |a| a.kind = AssertKind::Contains),
            ("negate", |a| a.negate = true),
            ("value", |a| a.value = Some(json!("lyon"))),
            ("weight", |a| a.weight = 2.0),
            ("threshold", |a| a.threshold = Some(0.5)),
            ("min", |a| a.min = Some(1.0)),
            ("max", |a| a.max = Some(1.0)),
            ("path", |a| a.path = Some("a.b".into())),
            ("metric", |a| a.metric = Some("rouge-l".into())),
            ("provider", |a| a.provider = Some("judge".into())),
        ];
        for (name, edit) in edits {
            let mut changed = a.clone();
            edit(&mut changed);
            assert_ne!(
                assertions_fingerprint(&[changed], None, PassRule::All),
                base,
                "{name}"
            );
        }
        assert_ne!(
            assertions_fingerprint(&[a.clone()], Some(0.5), PassRule::All),
            base,
            "scenario threshold"
        );
        assert_ne!(
            assertions_fingerprint(&[a.clone()], None, PassRule::Majority),
            base,
            "pass rule"
        );
        assert_ne!(
            assertions_fingerprint(&[a.clone()], None, PassRule::AtLeast(2)),
            base,
            "at-least"
        );
        assert_ne!(
            assertions_fingerprint(&[a.clone(), a.clone()], None, PassRule::All),
            base,
            "count"
        );
        assert_ne!(
            assertions_fingerprint(&[], None, PassRule::All),
            base,
            "none"
        );
    }

    #[test]
    fn judge_fingerprint_components() {
        let judge = provider_fingerprint(&openai(), &no_files());
        let mut other = openai();
        other.model = Some("bigger".into());
        let judge2 = provider_fingerprint(&other, &no_files());
        let mut spec = AssertionSpec::new(AssertKind::LlmRubric);
        spec.value = Some(json!("is polite"));
        let base = judge_fingerprint(&judge, &spec, "out", &msgs("q"));
        assert_ne!(
            judge_fingerprint(&judge2, &spec, "out", &msgs("q")),
            base,
            "judge model"
        );
        assert_ne!(
            judge_fingerprint(&judge, &spec, "out2", &msgs("q")),
            base,
            "output"
        );
        assert_ne!(
            judge_fingerprint(&judge, &spec, "out", &msgs("q2")),
            base,
            "prompt"
        );
        let mut rubric = spec.clone();
        rubric.value = Some(json!("is rude"));
        assert_ne!(
            judge_fingerprint(&judge, &rubric, "out", &msgs("q")),
            base,
            "rubric"
        );
        let mut kind = spec.clone();
        kind.kind = AssertKind::Factuality;
        assert_ne!(
            judge_fingerprint(&judge, &kind, "out", &msgs("q")),
            base,
            "kind"
        );
        // Applied to the judged score afterwards: no new judge call.
        let mut weight = spec.clone();
        weight.weight = 3.0;
        weight.threshold = Some(0.9);
        weight.negate = true;
        assert_eq!(judge_fingerprint(&judge, &weight, "out", &msgs("q")), base);
    }

    #[test]
    fn kinds_of_fingerprint_never_collide() {
        let pf = provider_fingerprint(&openai(), &no_files());
        let scenario = scenario_fingerprint(&pf, &[], &BTreeMap::new(), 0);
        let asserts = assertions_fingerprint(&[], None, PassRule::All);
        assert_ne!(scenario, asserts);
        assert_ne!(scenario, pf.digest());
    }

    #[test]
    fn scenario_fingerprint_is_fast() {
        let pf = provider_fingerprint(&openai(), &no_files());
        let m = msgs(
            "Answer with one word. What is the capital of France? Please be accurate and brief.",
        );
        let v = vars(json!({"country": "France"}));
        let start = std::time::Instant::now();
        let mut acc = 0u8;
        for i in 0..10_000u32 {
            acc ^= scenario_fingerprint(&pf, &m, &v, i).as_bytes()[0];
        }
        let elapsed = start.elapsed();
        // Release goal: 100k in well under 100 ms. Debug builds are far slower; this only
        // catches an accidental quadratic or allocation-heavy recipe.
        assert!(
            elapsed < std::time::Duration::from_secs(2),
            "10k fingerprints took {elapsed:?} ({acc})"
        );
    }
}
