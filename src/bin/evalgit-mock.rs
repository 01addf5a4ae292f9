//! `evalgit-mock`: the mock model server from `evalgit::mock`, for demos, integration tests
//! and benchmarks. Prints `listening on http://127.0.0.1:PORT` as its first line of stdout,
//! then serves until interrupted.

use std::io::Write;
use std::process::ExitCode;

use evalgit::mock::{self, MockConfig};

const USAGE: &str = "\
usage: evalgit-mock [--port N] [--script PATH] [--latency-ms N] [--require-key KEY]
                    [--fail-rate P] [--seed S]

  --port N          port on 127.0.0.1 (default 0: any free port)
  --script PATH     JSON rules: [{\"match\", \"reply\", \"status\", \"retry_after\", \"times\",
                    \"delay_ms\", \"raw_body\", \"tool_calls\", \"path\"}], or an object with
                    \"rules\" and any of the options below
  --latency-ms N    wait before every answer
  --require-key KEY answer 401 unless Authorization: Bearer KEY or x-api-key: KEY
  --fail-rate P     answer HTTP 500 to this fraction of unscripted requests (0..1)
  --seed S          seed of --fail-rate's draws (default 0)
";

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1).collect()) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("evalgit-mock: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("evalgit-mock: cannot start the runtime: {e}");
            return ExitCode::from(4);
        }
    };
    runtime.block_on(async {
        let server = match mock::start(config).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("evalgit-mock: cannot listen: {e}");
                return ExitCode::from(4);
            }
        };
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "listening on {}", server.url());
        let _ = stdout.flush();
        let _ = tokio::signal::ctrl_c().await;
        drop(server);
        ExitCode::SUCCESS
    })
}

/// `Ok(None)` for `--help`. Flags override the script's options.
fn parse_args(args: Vec<String>) -> Result<Option<MockConfig>, String> {
    let mut config = MockConfig::default();
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut iter = args.into_iter();
    while let Some(flag) = iter.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let known = [
            "--port",
            "--script",
            "--latency-ms",
            "--require-key",
            "--fail-rate",
            "--seed",
        ];
        if !known.contains(&flag.split_once('=').map_or(flag.as_str(), |(name, _)| name)) {
            return Err(format!("unknown option {flag}"));
        }
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
                (flag, value)
            }
        };
        if name == "--script" {
            let text =
                std::fs::read_to_string(&value).map_err(|e| format!("cannot read {value}: {e}"))?;
            config = MockConfig::from_json(&text).map_err(|e| format!("{value}: {e}"))?;
        } else {
            overrides.push((name, value));
        }
    }
    for (name, value) in overrides {
        let bad = |what: &str| format!("{name} expects {what}, not `{value}`");
        match name.as_str() {
            "--port" => config.port = value.parse().map_err(|_| bad("a port number"))?,
            "--latency-ms" => config.latency_ms = value.parse().map_err(|_| bad("milliseconds"))?,
            "--require-key" => config.require_key = Some(value),
            "--fail-rate" => {
                config.fail_rate = value
                    .parse()
                    .ok()
                    .filter(|p| (0.0..=1.0).contains(p))
                    .ok_or_else(|| bad("a number between 0 and 1"))?
            }
            "--seed" => config.seed = value.parse().map_err(|_| bad("an integer"))?,
            _ => return Err(format!("unknown option {name}")),
        }
    }
    Ok(Some(config))
}
