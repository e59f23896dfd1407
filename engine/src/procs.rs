//! Processes of the machine found by what they carry, and signalled: the
//! playground's terminals mark their shells with an environment variable and
//! find them (and what they started) through `/proc`, whichever namespaces
//! they run in.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Pids on the machine whose environment has `key=value`.
pub fn pids_with_env(key: &str, value: &str) -> Vec<i32> {
    let needle = format!("{key}={value}");
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|v| v == needle.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// The parent of `pid` (from `/proc/PID/stat`), if it still runs.
pub fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

/// Send `sig` to each of `pids`; ones that are gone meanwhile are skipped.
pub fn signal_all(pids: &[i32], sig: Signal) {
    for &p in pids {
        let _ = kill(Pid::from_raw(p), sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_by_its_environment_and_has_a_parent() {
        // The test harness's own environment: PATH is always set.
        let path = std::env::var("PATH").unwrap_or_default();
        let me = std::process::id() as i32;
        assert!(pids_with_env("PATH", &path).contains(&me));
        assert!(parent_pid(me).is_some_and(|p| p > 0));
        assert!(pids_with_env("DOCKHAND_NO_SUCH_VAR", "x").is_empty());
    }
}
