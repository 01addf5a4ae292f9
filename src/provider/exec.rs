//! A local command as the model: the prompt goes to stdin, the answer comes from stdout.
//!
//! Protocol (documented for users): stdin is the single user message's text when the prompt
//! is exactly one user message, else a JSON array of `{role, content}`. The environment also
//! carries `EVALGIT_MESSAGES` (that JSON array) and `EVALGIT_VARS` (the scenario variables as a
//! JSON object). If stdout is a JSON object with a string `output`, that is the answer, with
//! optional `usage: {input_tokens, output_tokens}` (or `prompt_tokens`/`completion_tokens`);
//! otherwise all of stdout is the answer, minus one trailing newline. A non-zero exit fails
//! the call.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::{ChatRequest, Completion, ProviderError, Usage};
use crate::config::{ProviderConfig, Role};

/// How much of stderr a failure message quotes, from its end.
const STDERR_TAIL_CHARS: usize = 500;

pub(super) struct Exec {
    program: PathBuf,
    args: Vec<String>,
    root: PathBuf,
    config: ProviderConfig,
}

impl Exec {
    pub fn new(config: &ProviderConfig, root: &Path) -> Result<Self, ProviderError> {
        let Some((program, args)) = config.command.split_first() else {
            return Err(ProviderError::fatal(format!(
                "provider `{}` (kind = \"exec\") has no command: set `command = [\"program\", \"arg\"]`",
                config.name
            )));
        };
        // A relative path with a separator means "relative to the project root", whatever the
        // current directory of evalgit is; a bare name is looked up on PATH.
        let as_path = Path::new(program);
        let program = if as_path.is_relative() && program.contains(['/', '\\']) {
            root.join(as_path)
        } else {
            as_path.to_path_buf()
        };
        Ok(Exec {
            program,
            args: args.to_vec(),
            root: root.to_path_buf(),
            config: config.clone(),
        })
    }

    pub async fn complete(&self, req: &ChatRequest) -> Result<Completion, ProviderError> {
        let name = &self.config.name;
        let messages = json!(req.messages).to_string();
        let stdin_text = match req.messages.as_slice() {
            [only] if only.role == Role::User => only.content.clone(),
            _ => messages.clone(),
        };
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.root)
            .env("EVALGIT_MESSAGES", &messages)
            .env("EVALGIT_VARS", json!(req.vars).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The client's timeout drops this future; the child must not outlive it.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                ProviderError::fatal(format!(
                    "provider `{name}`: cannot run `{}`: {e} (check `command`; relative paths start at the project root)",
                    self.program.display()
                ))
            })?;
        let mut stdin = child.stdin.take();
        let write = async move {
            if let Some(stdin) = stdin.as_mut() {
                // A command that ignores stdin may close it early; that is not an error.
                let _ = stdin.write_all(stdin_text.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
            drop(stdin);
        };
        let ((), output) = tokio::join!(write, child.wait_with_output());
        let output = output.map_err(|e| {
            ProviderError::fatal(format!(
                "provider `{name}`: waiting for the command failed: {e}"
            ))
        })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail = tail(stderr.trim_end(), STDERR_TAIL_CHARS);
            let status = match output.status.code() {
                Some(code) => format!("exit status {code}"),
                None => "a signal".to_string(),
            };
            return Err(ProviderError::fatal(format!(
                "provider `{name}`: `{}` failed with {status}{}",
                self.program.display(),
                if tail.is_empty() {
                    String::new()
                } else {
                    format!(": {tail}")
                }
            )));
        }
        let (text, usage) = parse_stdout(&String::from_utf8_lossy(&output.stdout));
        Ok(Completion {
            text,
            usage,
            model: self.config.model_name().to_string(),
            latency: Duration::ZERO,
        })
    }
}

/// A JSON object with a string `output` (and optional `usage`), else the whole text minus one
/// trailing newline.
pub(super) fn parse_stdout(stdout: &str) -> (String, Usage) {
    if stdout.trim_start().starts_with('{')
        && let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(stdout)
        && let Some(Value::String(output)) = obj.get("output")
    {
        let usage = obj.get("usage");
        let count = |a: &str, b: &str| {
            usage
                .and_then(|u| u.get(a).or_else(|| u.get(b)))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        return (
            output.clone(),
            Usage {
                input_tokens: count("input_tokens", "prompt_tokens"),
                output_tokens: count("output_tokens", "completion_tokens"),
            },
        );
    }
    let text = stdout
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(stdout);
    (text.to_string(), Usage::default())
}

fn tail(text: &str, chars: usize) -> &str {
    let count = text.chars().count();
    if count <= chars {
        return text;
    }
    match text.char_indices().nth(count - chars) {
        Some((start, _)) => &text[start..],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Message, ProviderKind};

    #[test]
    fn stdout_is_json_with_output_or_plain_text() {
        let u = |i, o| Usage {
            input_tokens: i,
            output_tokens: o,
        };
        let cases = [
            ("Paris\n", ("Paris", u(0, 0))),
            ("Paris\n\n", ("Paris\n", u(0, 0))),
            ("Paris\r\n", ("Paris", u(0, 0))),
            ("0\n", ("0", u(0, 0))),
            ("", ("", u(0, 0))),
            ("\n", ("", u(0, 0))),
            (
                r#"{"output": "hi", "usage": {"input_tokens": 4, "output_tokens": 1}}"#,
                ("hi", u(4, 1)),
            ),
            (
                r#"{"output": "", "usage": {"prompt_tokens": 2, "completion_tokens": 3}}"#,
                ("", u(2, 3)),
            ),
            ("{\"answer\": 1}\n", ("{\"answer\": 1}", u(0, 0))),
            ("{\"output\": 5}", ("{\"output\": 5}", u(0, 0))),
        ];
        for (stdout, (text, usage)) in cases {
            assert_eq!(
                parse_stdout(stdout),
                (text.to_string(), usage),
                "{stdout:?}"
            );
        }
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
        assert_eq!(tail("ééé", 2), "éé");
    }

    fn exec(script: &str) -> (Exec, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("model.sh"), script).unwrap_or_else(|e| panic!("{e}"));
        let mut c = ProviderConfig::new("cmd", ProviderKind::Exec);
        c.command = vec!["sh".into(), "model.sh".into()];
        let exec = Exec::new(&c, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        (exec, dir)
    }

    fn user(text: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![Message {
                role: Role::User,
                content: text.into(),
            }],
            vars: [("city".to_string(), json!("Paris"))].into_iter().collect(),
        }
    }

    #[tokio::test]
    async fn exec_reads_stdin_env_and_stdout() {
        let (e, _dir) = exec("read -r line; echo \"got: $line\"");
        let c = e
            .complete(&user("hello"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.text, "got: hello");

        let (e, _dir) = exec("cat >/dev/null; printf '%s' \"$EVALGIT_VARS\"");
        let c = e
            .complete(&user("x"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.text, r#"{"city":"Paris"}"#);

        let (e, _dir) = exec(
            "cat >/dev/null; echo '{\"output\": \"ok\", \"usage\": {\"input_tokens\": 9, \"output_tokens\": 2}}'",
        );
        let c = e
            .complete(&user("x"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (c.text.as_str(), c.usage.input_tokens, c.usage.output_tokens),
            ("ok", 9, 2)
        );

        for (script, want) in [("echo 0", "0"), ("printf ''", ""), ("echo false", "false")] {
            let (e, _dir) = exec(script);
            let c = e
                .complete(&user("x"))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.text, want, "{script}");
        }
    }

    #[tokio::test]
    async fn exec_sends_a_json_array_for_several_messages() {
        let (e, _dir) = exec("cat");
        let mut req = user("hi");
        req.messages.insert(
            0,
            Message {
                role: Role::System,
                content: "sys".into(),
            },
        );
        let c = e.complete(&req).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.text,
            r#"[{"role":"system","content":"sys"},{"role":"user","content":"hi"}]"#
        );
    }

    #[tokio::test]
    async fn exec_nonzero_exit_is_fatal_with_stderr_tail() {
        let (e, _dir) = exec("echo 'model exploded' >&2; exit 3");
        let err = e
            .complete(&user("x"))
            .await
            .err()
            .unwrap_or_else(|| panic!("expected an error"));
        assert!(!err.retryable);
        assert!(
            err.message.contains("exit status 3") && err.message.contains("model exploded"),
            "{}",
            err.message
        );
    }

    #[tokio::test]
    async fn exec_missing_program_is_fatal() {
        let mut c = ProviderConfig::new("cmd", ProviderKind::Exec);
        c.command = vec!["./does-not-exist".into()];
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let e = Exec::new(&c, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let err = e
            .complete(&user("x"))
            .await
            .err()
            .unwrap_or_else(|| panic!("expected an error"));
        assert!(
            err.message.contains("cannot run") && !err.retryable,
            "{}",
            err.message
        );
    }
}
