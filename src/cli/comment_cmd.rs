//! `evalgit comment`: post or update the sticky pull-request comment.

use std::io::Read;

use super::args::{CommentArgs, CommentModeArg};
use super::workspace::runtime;
use crate::github::{self, CommentMode, CommentOutcome, GitHubEnv};
use crate::{Error, ExitCode};

pub fn comment(args: CommentArgs) -> Result<ExitCode, Error> {
    let body = if args.body_file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::io("cannot read the body from stdin", e))?;
        s
    } else {
        std::fs::read_to_string(&args.body_file)
            .map_err(|e| Error::io_path("read", &args.body_file, e))?
    };
    if args.dry_run {
        print!("{body}");
        return Ok(ExitCode::Passed);
    }
    let mode = match args.mode {
        CommentModeArg::Update => CommentMode::Update,
        CommentModeArg::New => CommentMode::New,
        CommentModeArg::Off => CommentMode::Off,
    };
    if mode == CommentMode::Off {
        println!("comment: mode off, nothing posted");
        return Ok(ExitCode::Passed);
    }
    let env = github::env::process_env();
    let event = env
        .get("GITHUB_EVENT_PATH")
        .and_then(|p| std::fs::read_to_string(p).ok());
    let gh = GitHubEnv::from_env_and_event(&env, event.as_deref());
    let mut target = gh.comment_target(args.repo.as_deref(), args.pr)?;
    if args.api_url.is_some() {
        target.api_url = args.api_url.clone();
    }
    let token = github::env::token(&env).ok_or_else(|| {
        Error::Usage("no GitHub token: set GITHUB_TOKEN (in Actions: `env: GITHUB_TOKEN: ${{ github.token }}`)".into())
    })?;
    let rt = runtime()?;
    let outcome = rt.block_on(github::post_comment(
        &target, &token, &args.tag, mode, &body,
    ))?;
    let where_ = format!("{}/{}#{}", target.owner, target.repo, target.pr);
    match outcome {
        CommentOutcome::Created(id) => println!("comment: created {id} on {where_}"),
        CommentOutcome::Updated(id) => println!("comment: updated {id} on {where_}"),
        CommentOutcome::Unchanged(id) => {
            println!("comment: {id} on {where_} is already up to date")
        }
        CommentOutcome::Skipped => println!("comment: mode off, nothing posted"),
        CommentOutcome::NoPermission(msg) => eprintln!("comment: not posted: {msg}"),
    }
    Ok(ExitCode::Passed)
}
