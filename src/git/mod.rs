//! Git-native reading: the project's files as they are at any revision (`origin/main`, a SHA,
//! `HEAD~1`), straight from git objects via gix, without a checkout.

mod repo;
mod source;

pub use repo::GitRepo;
pub use source::RevisionSource;
