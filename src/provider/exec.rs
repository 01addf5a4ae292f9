//! A local command as the model: the prompt goes to stdin, the answer comes from stdout.
//!
//! Protocol (documented for users in `docs/reference.md`): stdin is the single user message's
//! text when the prompt is exactly one user message, else a JSON array of `{role, content}`.
//! `EVALGIT_MESSAGES_FILE` names a file holding that JSON array and `EVALGIT_VARS_FILE` one
//! holding the scenario variables as a JSON object; the same JSON is also in `EVALGIT_MESSAGES`
//! and `EVALGIT_VARS` when it is at most [`INLINE_ENV_MAX_BYTES`] (Linux refuses to start a
//! program with any environment string over 128 KiB). If stdout is a JSON object with a string
//! `output`, that is the answer, with optional `usage: {input_tokens, output_tokens}` (or
//! `prompt_tokens`/`completion_tokens`); otherwise all of stdout is the answer, minus one
//! trailing newline. A non-zero exit fails the call.
//!
//! The command runs in a process group of its own, killed whole on timeout or Ctrl-C
//! ([`ProcessGroup`]), and its stdin is written where a closed pipe cannot kill evalgit
//! ([`feed_stdin`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

#[cfg(unix)]
use super::process_group::ProcessGroup;
use super::{ChatRequest, Completion, ProviderError, Usage};
use crate::config::{ProviderConfig, Role};

/// How much of stderr a failure message quotes, from its end.
const STDERR_TAIL_CHARS: usize = 500;

/// `EVALGIT_MESSAGES` and `EVALGIT_VARS` are set only up to this size; the `_FILE` forms
/// always are. Well under Linux's 128 KiB limit on one environment string, and small enough
/// that both together leave room for the rest of the environment.
pub(super) const INLINE_ENV_MAX_BYTES: usize = 32 * 1024;

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
        let vars = json!(req.vars).to_string();
        let stdin_text = match req.messages.as_slice() {
            [only] if only.role == Role::User => only.content.clone(),
            _ => messages.clone(),
        };
        // Removed (with its files) when this call ends, however it ends.
        let files = EnvFiles::write(&messages, &vars).map_err(|e| {
            ProviderError::fatal(format!(
                "provider `{name}`: cannot write the prompt to a temporary file for the command: {e} (check that the temporary directory, TMPDIR, is writable)"
            ))
        })?;
        let (stdin_reader, stdin_writer) = std::io::pipe().map_err(|e| {
            ProviderError::fatal(format!(
                "provider `{name}`: cannot create a pipe for the command's stdin: {e}"
            ))
        })?;
        feed_stdin(stdin_writer, stdin_text).map_err(|e| {
            ProviderError::transient(format!(
                "provider `{name}`: cannot start a thread to write the command's stdin: {e}"
            ))
        })?;
        let child = {
            let mut command = tokio::process::Command::new(&self.program);
            command
                .args(&self.args)
                .current_dir(&self.root)
                .env("EVALGIT_MESSAGES_FILE", files.messages())
                .env("EVALGIT_VARS_FILE", files.vars())
                .stdin(stdin_reader)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                // The client's timeout drops this future; the child must not outlive it.
                .kill_on_drop(true);
            if messages.len() <= INLINE_ENV_MAX_BYTES {
                command.env("EVALGIT_MESSAGES", &messages);
            }
            if vars.len() <= INLINE_ENV_MAX_BYTES {
                command.env("EVALGIT_VARS", &vars);
            }
            #[cfg(unix)]
            command.process_group(0);
            command
                .spawn()
                .map_err(|e| spawn_error(name, &self.program, &e))?
            // `command` is dropped here, and with it evalgit's copy of the read end of stdin:
            // from now on only the child holds it, so a child that exits without reading makes
            // the write fail instead of block.
        };
        #[cfg(unix)]
        let group = ProcessGroup::led_by(child.id());
        let output = child.wait_with_output().await.map_err(|e| {
            ProviderError::fatal(format!(
                "provider `{name}`: waiting for the command failed: {e}"
            ))
        })?;
        #[cfg(unix)]
        group.finished();
        drop(files);
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

/// Why a command could not be started, saying what to change. E2BIG is about the size of the
/// arguments and environment together, not about which program `command` names.
fn spawn_error(name: &str, program: &Path, e: &std::io::Error) -> ProviderError {
    let program = program.display();
    if e.kind() == std::io::ErrorKind::ArgumentListTooLong {
        return ProviderError::fatal(format!(
            "provider `{name}`: cannot run `{program}`: {e}: the environment and arguments it would get are over the system's limit (at most 128 KiB per variable on Linux); unset large environment variables before running evalgit, or shorten the arguments in `command`"
        ));
    }
    ProviderError::fatal(format!(
        "provider `{name}`: cannot run `{program}`: {e} (check `command`; relative paths start at the project root)"
    ))
}

/// The `EVALGIT_MESSAGES_FILE` and `EVALGIT_VARS_FILE` of one call, in a private temporary
/// directory that is removed when this is dropped.
struct EnvFiles {
    dir: tempfile::TempDir,
}

impl EnvFiles {
    fn write(messages: &str, vars: &str) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("evalgit-exec-").tempdir()?;
        let files = EnvFiles { dir };
        std::fs::write(files.messages(), messages)?;
        std::fs::write(files.vars(), vars)?;
        Ok(files)
    }

    fn messages(&self) -> PathBuf {
        self.dir.path().join("messages.json")
    }

    fn vars(&self) -> PathBuf {
        self.dir.path().join("vars.json")
    }
}

/// Writes `text` to a command's stdin on a thread of its own, where SIGPIPE is blocked.
///
/// evalgit restores the default action of SIGPIPE at startup, so that `evalgit report | head
/// -1` ends quietly when `head` goes away. A command that exits without reading all of its
/// stdin (`true`, `sh -c "echo hi"`) would then kill evalgit with SIGPIPE as the prompt is
/// written to the closed pipe. With the signal blocked on the writing thread, the write fails
/// with EPIPE instead, which only means that the command did not want its input: its exit
/// status and output decide the call, as for any other command. A SIGPIPE raised by a write
/// is directed at the thread that wrote, so the one left pending here is discarded when the
/// thread ends and never reaches the rest of evalgit.
///
/// The thread ends when the command has read everything or its end of the pipe is closed:
/// when it exits, or when a timeout kills its process group.
fn feed_stdin(mut pipe: std::io::PipeWriter, text: String) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("evalgit-exec-stdin".into())
        .spawn(move || {
            block_sigpipe_on_this_thread();
            // EPIPE and any other failure: the command gets what it read, then end of file.
            let _ = pipe.write_all(text.as_bytes());
        })
        .map(drop)
}

fn block_sigpipe_on_this_thread() {
    #[cfg(unix)]
    // SAFETY: `set` is initialised by sigemptyset before use; pthread_sigmask changes only
    // the calling thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
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

    // Regression: a prompt over 128 KiB failed every call with "Argument list too long (os
    // error 7)", because the whole prompt was also put in EVALGIT_MESSAGES.
    #[tokio::test]
    async fn a_prompt_over_128_kib_reaches_the_command_by_stdin_and_file() {
        let (e, _dir) = exec(
            "n=$(wc -c); m=$(wc -c < \"$EVALGIT_MESSAGES_FILE\"); echo \"$n ${#EVALGIT_MESSAGES} $m\"",
        );
        let prompt = "x".repeat(200 * 1024);
        let c = e
            .complete(&user(&prompt))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let json_len = json!([{"role": "user", "content": prompt}])
            .to_string()
            .len();
        // All of stdin, no inline variable, the whole JSON in the file.
        assert_eq!(c.text, format!("{} 0 {json_len}", prompt.len()));
    }

    #[tokio::test]
    async fn small_values_are_inline_and_in_files_which_are_removed_after_the_call() {
        let (e, dir) = exec(
            "cat >/dev/null; test \"$(cat \"$EVALGIT_VARS_FILE\")\" = \"$EVALGIT_VARS\" && test \"$(cat \"$EVALGIT_MESSAGES_FILE\")\" = \"$EVALGIT_MESSAGES\" && echo \"$EVALGIT_VARS_FILE\"",
        );
        let c = e
            .complete(&user("hi"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let path = PathBuf::from(&c.text);
        assert!(
            path.is_absolute() && !path.starts_with(dir.path()),
            "{path:?}"
        );
        assert!(!path.exists(), "{path:?} outlived the call");
    }

    #[tokio::test]
    async fn a_command_that_never_reads_a_large_stdin_still_answers() {
        for script in [
            "echo hi",
            "exec 0<&-; echo hi",
            "head -c 10 >/dev/null; echo hi",
        ] {
            let (e, _dir) = exec(script);
            let c = e
                .complete(&user(&"p".repeat(1024 * 1024)))
                .await
                .unwrap_or_else(|e| panic!("{script}: {e}"));
            assert_eq!(c.text, "hi", "{script}");
        }
    }

    #[test]
    fn spawn_errors_blame_command_only_when_it_is_the_cause() {
        let program = Path::new("/bin/bot");
        let cases = [
            (
                std::io::Error::from_raw_os_error(libc::E2BIG),
                "unset large environment variables",
                "check `command`",
            ),
            (
                std::io::Error::from_raw_os_error(libc::ENOENT),
                "check `command`; relative paths start at the project root",
                "environment",
            ),
        ];
        for (error, want, not_want) in cases {
            let message = spawn_error("bot", program, &error).message;
            assert!(
                message.starts_with("provider `bot`: cannot run `/bin/bot`: ")
                    && message.contains(want)
                    && !message.contains(not_want),
                "{message}"
            );
        }
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
