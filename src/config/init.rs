//! `evalgit init`: a starter project that loads with no diagnostics and runs against a local
//! OpenAI-compatible server (`scripts/local-llm` serves SmolLM2-135M on port 8080).

use std::path::{Path, PathBuf};

use super::{Diagnostic, Diagnostics, Severity};

const SETTINGS: &str = r#"# evalgit settings: providers, prices, budget and the gate.

[providers.local]
kind = "openai"                          # openai | anthropic | http | exec
base_url = "http://127.0.0.1:8080/v1"    # any OpenAI-compatible server (llama.cpp, vLLM, Ollama)
model = "smollm2-135m"
# api_key_env = "OPENAI_API_KEY"         # the variable holding the key; local servers need none
temperature = 0
max_tokens = 64

[prices."smollm2-135m"]                  # USD per million tokens
input = 0.05
output = 0.10

[budget]
max_run_usd = 1.00                       # hard stop: never spend past it

[gate]
min_pass_rate = 0.8                      # default for every suite
"#;

const SUITE: &str = r#"# A suite: one prompt, one provider, scenarios with checks.
provider = "local"
prompt_file = "prompts/example.txt"

[[scenario]]
id = "france"
vars = { country = "France" }
assert = [{ type = "icontains", value = "paris" }]

[[scenario]]
id = "japan"
vars = { country = "Japan" }
assert = [{ type = "icontains", value = "tokyo" }]

[[scenario]]
id = "italy"
vars = { country = "Italy" }
assert = [
  { type = "icontains", value = "rome" },
  { type = "word-count", max = 30 },
]
"#;

const PROMPT: &str = "Answer in one short sentence. What is the capital of {{ country }}?\n";

/// The starter files, root-relative.
pub const STARTER_FILES: &[(&str, &str)] = &[
    ("evalgit.toml", SETTINGS),
    ("evals/example.toml", SUITE),
    ("prompts/example.txt", PROMPT),
];

/// Writes the starter project under `root` and returns the paths written. Refuses, writing
/// nothing, when any of the files already exists.
pub fn write_starter(root: &Path) -> Result<Vec<PathBuf>, crate::Error> {
    let mut existing = Diagnostics::default();
    for (rel, _) in STARTER_FILES {
        if root.join(rel).exists() {
            existing.push(
                Diagnostic::whole_file(
                    Severity::Error,
                    *rel,
                    format!("`{rel}` already exists; `evalgit init` does not overwrite files"),
                )
                .with_help("remove it, or run `evalgit init` in an empty directory"),
            );
        }
    }
    if !existing.is_empty() {
        return Err(crate::Error::Config(existing));
    }
    let mut written = Vec::new();
    for (rel, text) in STARTER_FILES {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io_path("create", dir, e))?;
        }
        std::fs::write(&path, text).map_err(|e| crate::Error::io_path("write", &path, e))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, MemorySource, WorkTree, load};

    #[test]
    fn starter_loads_with_no_diagnostics() {
        let mut source = MemorySource::new();
        for (rel, text) in STARTER_FILES {
            source.insert(*rel, *text);
        }
        let project = load(&source, &LoadOptions::new("."));
        let project = match project {
            Ok(p) => p,
            Err(d) => panic!("{d}"),
        };
        assert!(project.warnings.is_empty(), "{}", project.warnings);
        assert_eq!(project.suites.len(), 1);
        assert_eq!(project.suites[0].scenarios.len(), 3);
    }

    #[test]
    fn writes_files_and_refuses_to_overwrite() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let written = write_starter(dir.path()).map_err(|e| e.to_string());
        assert_eq!(written.map(|w| w.len()), Ok(3));
        assert!(load(&WorkTree::new(dir.path()), &LoadOptions::new(dir.path())).is_ok());
        let err = write_starter(dir.path())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("`evalgit.toml` already exists"), "{err}");
        assert!(err.contains("help: remove it"), "{err}");
    }
}
