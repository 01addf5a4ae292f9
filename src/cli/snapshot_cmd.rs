//! `evalgit review`, `accept`, `reject`: the snapshot workflow.

use super::args::SnapshotFilterArgs;
use super::workspace::Global;
use crate::snapshot::{self, Filter, SnapshotStore};
use crate::{Error, ExitCode};

fn store_and_filter(
    global: &Global,
    args: SnapshotFilterArgs,
) -> Result<(SnapshotStore, Filter), Error> {
    let (project, _) = global.load()?;
    let store = SnapshotStore::new(&project.root, &project.settings.snapshots_dir);
    Ok((store, Filter::new(args.suites, args.ids, args.patterns)))
}

pub fn review(global: &Global, args: SnapshotFilterArgs) -> Result<ExitCode, Error> {
    let (store, filter) = store_and_filter(global, args)?;
    snapshot::review_interactive(&store, &filter, global.color)?;
    Ok(ExitCode::Passed)
}

pub fn accept(global: &Global, args: SnapshotFilterArgs) -> Result<ExitCode, Error> {
    let (store, filter) = store_and_filter(global, args)?;
    let (done, refused) = store.accept(&filter)?;
    if !done.is_empty() || refused.is_empty() {
        report("accepted", &done, &filter);
    }
    for e in &refused {
        eprintln!("error: {e}");
    }
    Ok(if refused.is_empty() {
        ExitCode::Passed
    } else {
        ExitCode::ConfigError
    })
}

pub fn reject(global: &Global, args: SnapshotFilterArgs) -> Result<ExitCode, Error> {
    let (store, filter) = store_and_filter(global, args)?;
    let done = store.reject(&filter)?;
    report("rejected", &done, &filter);
    Ok(ExitCode::Passed)
}

fn report(verb: &str, done: &[(String, String)], filter: &Filter) {
    for (suite, id) in done {
        println!("{verb} {suite}/{id}");
    }
    if done.is_empty() {
        if filter.is_all() {
            println!("no pending snapshots");
        } else {
            println!("no pending snapshots match the filter");
        }
    } else {
        println!(
            "{verb} {} snapshot{}",
            done.len(),
            if done.len() == 1 { "" } else { "s" }
        );
    }
}
