//! End to end against the real local model server (`scripts/local-llm start`, which `.ci/run`
//! does): the repository's own `evals/` run with every scenario called, nothing replayed.
//!
//! Needs `EVALGIT_E2E_MODEL_URL` (set by `.ci/run`), e.g. `http://127.0.0.1:8080/v1`. Without
//! it the test says so and returns: `cargo test` alone must not need a model server.

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn repository_evals_run_against_the_real_local_model() {
    let Ok(url) = std::env::var("EVALGIT_E2E_MODEL_URL") else {
        eprintln!(
            "EVALGIT_E2E_MODEL_URL is not set: skipping the real-model test (`.ci/run` sets it)"
        );
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(repo.join("evalgit.toml"), dir.path().join("evalgit.toml")).expect("copy config");
    for sub in ["evals", "prompts", "data"] {
        copy_dir(&repo.join(sub), &dir.path().join(sub));
    }
    let results = dir.path().join("results.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_evalgit"))
        .args(["run", "--no-cache", "-v", "-o"])
        .arg(&results)
        .current_dir(dir.path())
        .env("EVALGIT_PROVIDER_LOCAL_BASE_URL", &url)
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .output()
        .expect("run evalgit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The thresholds in evals/ record what SmolLM2-135M achieves: the gate passes.
    assert_eq!(out.status.code(), Some(0), "evalgit run failed:\n{stderr}");
    assert!(
        stderr.contains("19 to call, 0 to replay"),
        "every scenario must call the model:\n{stderr}"
    );
    assert!(stderr.contains("capitals/france"), "{stderr}");
    let text = std::fs::read_to_string(&results).expect("results file");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        lines.first().and_then(|l| l["record"].as_str()),
        Some("run")
    );
    assert_eq!(
        lines.last().and_then(|l| l["record"].as_str()),
        Some("summary")
    );
    let scenarios: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["record"] == "scenario").collect();
    assert_eq!(scenarios.len(), 19);
    for s in &scenarios {
        let sample = &s["samples"][0];
        assert_eq!(sample["source"], "called", "{s}");
        assert!(
            sample["usage"]["input_tokens"].as_u64().unwrap_or(0) > 0,
            "usage from the server: {s}"
        );
        assert!(
            sample["cost_usd"].as_f64().unwrap_or(0.0) > 0.0,
            "cost from [prices]: {s}"
        );
    }
    // A real model answers the capitals right.
    let france = scenarios
        .iter()
        .find(|s| s["id"] == "france")
        .expect("france");
    assert!(
        france["samples"][0]["output"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("paris")
    );
}
