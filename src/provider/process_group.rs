//! [`ProcessGroup`]: everything an `exec` command started, killed together when its call is
//! abandoned.

/// The process group of one `exec` command, which is started as the leader of a group of its
/// own (`process_group(0)`: the group id is the command's pid).
///
/// Killing only the process evalgit spawned is not enough: `sh scripts/bot.sh` running
/// `sleep 37` leaves the `sleep` behind, re-parented to init, when the shell is killed. A
/// timeout or Ctrl-C drops the call's future, and dropping a `ProcessGroup` that was not
/// marked [`ProcessGroup::finished`] sends SIGKILL to the whole group.
///
/// A command that finished normally is left alone: whatever it deliberately left running
/// after closing its output is its own business, and its group may already be gone.
#[derive(Debug)]
pub(super) struct ProcessGroup {
    /// `None` once finished, or when the leader's pid was not known.
    pgid: Option<libc::pid_t>,
}

impl ProcessGroup {
    /// The group led by the process `pid`, just spawned with `process_group(0)`.
    pub fn led_by(pid: Option<u32>) -> Self {
        // Never 0 or 1: `kill(0, ..)` is evalgit's own group and `kill(-1, ..)` is every
        // process evalgit may signal.
        let pgid = pid
            .and_then(|p| libc::pid_t::try_from(p).ok())
            .filter(|&p| p > 1);
        ProcessGroup { pgid }
    }

    /// The command exited and its output was read: nothing to kill.
    pub fn finished(mut self) {
        self.pgid = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: `kill` has no memory effects; a negative pid names the group, and
            // `led_by` keeps the id above 1. ESRCH (the group is already gone) is fine.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_names_our_own_group_or_every_process() {
        for pid in [None, Some(0), Some(1), Some(u32::MAX)] {
            let group = ProcessGroup::led_by(pid);
            assert_eq!(group.pgid, None, "{pid:?}");
            group.finished();
        }
        let group = ProcessGroup::led_by(Some(4242));
        assert_eq!(group.pgid, Some(4242));
        group.finished();
    }
}
