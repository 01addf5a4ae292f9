//! `evalgit plan`: which scenarios a change affects and why. (wired when src/plan lands)

use super::args::PlanArgs;
use super::workspace::Global;
use crate::config::Project;
use crate::runner::{JobFilter, JobSet};
use crate::{Error, ExitCode};

pub struct Affected(std::collections::HashSet<(String, String)>);
impl Affected {
    pub fn affected_keys(&self) -> std::collections::HashSet<(String, String)> {
        self.0.clone()
    }
}

pub fn plan_against(_p: &Project, _j: &JobSet, _rev: &str, _f: &JobFilter) -> Result<Affected, Error> {
    Err(Error::Usage("TEMPORARY".into()))
}

pub fn plan(_global: &Global, _args: PlanArgs) -> Result<ExitCode, Error> {
    Err(Error::Usage("TEMPORARY".into()))
}
