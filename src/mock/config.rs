//! How the mock behaves: rules matched against the last user message, plus global latency,
//! a required key and a random failure rate. Read from a JSON script (`--script PATH`) or
//! built in code.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MockConfig {
    /// First matching rule wins; a rule whose `times` is used up is skipped.
    pub rules: Vec<Rule>,
    /// Added to every model request before anything else.
    pub latency_ms: u64,
    /// When set, model requests must carry `Authorization: Bearer KEY` or `x-api-key: KEY`;
    /// others get a 401 whose message echoes the key they sent (as real providers partly do),
    /// so clients can be tested for scrubbing it.
    pub require_key: Option<String>,
    /// Probability (0..=1) that a request not matched by a rule fails with HTTP 500.
    pub fail_rate: f64,
    /// Seed of the failure draw, which is a function of the seed and the request's number.
    pub seed: u64,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

/// One scripted behaviour.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rule {
    /// Substring of the last user message; empty matches every request.
    #[serde(rename = "match")]
    pub matches: String,
    /// Only for this path (`/v1/chat/completions`, `/v1/messages`, `/http`), when set.
    pub path: Option<String>,
    /// The answer text (for an error status: the error message).
    pub reply: Option<String>,
    /// HTTP status; 2xx answers normally, anything else answers with the wire format's
    /// error body.
    pub status: Option<u16>,
    /// `Retry-After` header value, seconds or an HTTP-date.
    #[serde(deserialize_with = "string_or_number")]
    pub retry_after: Option<String>,
    /// Apply to the first N matching requests only, then fall through to later rules.
    pub times: Option<u64>,
    /// Extra wait before answering.
    pub delay_ms: Option<u64>,
    /// Sent verbatim as the body (with `status`, default 200), e.g. malformed JSON.
    pub raw_body: Option<String>,
    /// OpenAI format: answer with these `tool_calls` and a null content.
    pub tool_calls: Option<serde_json::Value>,
}

impl Rule {
    /// A rule for requests whose last user message contains `substring`.
    pub fn matching(substring: impl Into<String>) -> Rule {
        Rule {
            matches: substring.into(),
            ..Rule::default()
        }
    }
    pub fn reply(mut self, text: impl Into<String>) -> Rule {
        self.reply = Some(text.into());
        self
    }
    pub fn status(mut self, status: u16) -> Rule {
        self.status = Some(status);
        self
    }
    pub fn retry_after(mut self, value: impl Into<String>) -> Rule {
        self.retry_after = Some(value.into());
        self
    }
    pub fn times(mut self, n: u64) -> Rule {
        self.times = Some(n);
        self
    }
    pub fn delay_ms(mut self, ms: u64) -> Rule {
        self.delay_ms = Some(ms);
        self
    }
    pub fn raw_body(mut self, body: impl Into<String>) -> Rule {
        self.raw_body = Some(body.into());
        self
    }
    pub fn path(mut self, path: impl Into<String>) -> Rule {
        self.path = Some(path.into());
        self
    }
    pub fn tool_calls(mut self, calls: serde_json::Value) -> Rule {
        self.tool_calls = Some(calls);
        self
    }
}

impl MockConfig {
    /// A script: either `{"rules": [...], "latency_ms": ...}` or just the list of rules.
    pub fn from_json(text: &str) -> Result<MockConfig, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let config = if value.is_array() {
            MockConfig {
                rules: serde_json::from_value(value).map_err(|e| e.to_string())?,
                ..MockConfig::default()
            }
        } else {
            serde_json::from_value(value).map_err(|e| e.to_string())?
        };
        if !(0.0..=1.0).contains(&config.fail_rate) {
            return Err(format!(
                "fail_rate must be between 0 and 1, not {}",
                config.fail_rate
            ));
        }
        Ok(config)
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_is_an_object_or_a_list_of_rules() {
        let list = r#"[{"match": "paris", "status": 429, "retry_after": 1, "times": 2}]"#;
        let config = MockConfig::from_json(list).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.rules,
            vec![
                Rule::matching("paris")
                    .status(429)
                    .retry_after("1")
                    .times(2)
            ]
        );

        let object = r#"{"rules": [{"match": "", "raw_body": "not json"}], "latency_ms": 5, "require_key": "k"}"#;
        let config = MockConfig::from_json(object).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (config.latency_ms, config.require_key.as_deref()),
            (5, Some("k"))
        );

        for bad in [r#"[{"matches": "x"}]"#, r#"{"fail_rate": 2}"#, "nope"] {
            assert!(MockConfig::from_json(bad).is_err(), "{bad}");
        }
    }
}
