//! `.evalgit/`: the project's local state (the response cache, results files). It is never
//! committed: whenever evalgit creates a directory at or below `.evalgit/`, it makes sure
//! `.evalgit/.gitignore` holds `*`, so `git add .` after a run adds none of it (the cache has
//! its own `.gitignore` too, but the results files sit directly in `.evalgit/`).

use std::ffi::OsStr;
use std::path::Path;

/// The name of the local state directory in the project root.
pub const LOCAL_DIR: &str = ".evalgit";

const GITIGNORE: &str =
    "# written by evalgit: .evalgit/ is local state (cache, results), never committed\n*\n";

/// `std::fs::create_dir_all`, then, when `dir` is `.evalgit` or inside it, writes
/// `.evalgit/.gitignore` if it is absent (an existing one is left as the user keeps it).
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if let Some(local) = dir
        .ancestors()
        .find(|a| a.file_name() == Some(OsStr::new(LOCAL_DIR)))
    {
        let ignore = local.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, GITIGNORE)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_dir_is_ignored_whenever_evalgit_creates_it() {
        let Ok(tmp) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let root = tmp.path();
        let cases = [
            // (directory created, .gitignore expected at)
            (".evalgit", Some(".evalgit/.gitignore")),
            (".evalgit/cache/v1/responses", Some(".evalgit/.gitignore")),
            ("reports", None),
        ];
        for (dir, want) in cases {
            let _ = std::fs::remove_dir_all(root.join(".evalgit"));
            assert!(create_dir_all(&root.join(dir)).is_ok(), "{dir}");
            assert!(root.join(dir).is_dir(), "{dir}");
            match want {
                Some(ignore) => assert_eq!(
                    std::fs::read_to_string(root.join(ignore))
                        .ok()
                        .map(|t| t.lines().any(|l| l == "*")),
                    Some(true),
                    "{dir}"
                ),
                None => assert!(!root.join(".evalgit").exists(), "{dir}"),
            }
        }
        // A .gitignore the user changed is kept.
        assert!(create_dir_all(&root.join(".evalgit")).is_ok());
        assert!(std::fs::write(root.join(".evalgit/.gitignore"), "mine\n").is_ok());
        assert!(create_dir_all(&root.join(".evalgit/x")).is_ok());
        assert_eq!(
            std::fs::read_to_string(root.join(".evalgit/.gitignore")).ok(),
            Some("mine\n".to_string())
        );
    }
}
