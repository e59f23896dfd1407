//! Signals on the client side, as docker/cli's `signals.go` and moby/term's
//! raw-mode interrupt handler do it:
//! - `ForwardAllSignals`: every signal the CLI receives (but SIGCHLD, SIGPIPE and
//!   SIGURG) becomes `POST /containers/{id}/kill?signal=NAME` for `run` and, on
//!   containers without a TTY, `attach` and `start -a` (`--sig-proxy`).
//! - In raw mode ctrl-c is a byte for the container, so a SIGINT that still
//!   reaches the CLI (from `kill`) restores the terminal and exits 1; other
//!   fatal signals that are not forwarded restore it as well, so no exit path
//!   leaves the user's terminal raw.

use crate::client::{path_escape, Client, Query};
use libc::c_int;
use tokio::signal::unix::{signal, SignalKind};

/// Signals the CLI catches and forwards (moby/sys `SignalMap` names), skipping
/// those docker skips (CHLD, PIPE, URG) and those that cannot be caught.
pub const FORWARDED: &[(c_int, &str)] = &[
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGTRAP, "TRAP"),
    (libc::SIGABRT, "ABRT"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGSTKFLT, "STKFLT"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGTSTP, "TSTP"),
    (libc::SIGTTIN, "TTIN"),
    (libc::SIGTTOU, "TTOU"),
    (libc::SIGXCPU, "XCPU"),
    (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGVTALRM, "VTALRM"),
    (libc::SIGPROF, "PROF"),
    (libc::SIGWINCH, "WINCH"),
    (libc::SIGIO, "IO"),
    (libc::SIGPWR, "PWR"),
    (libc::SIGSYS, "SYS"),
];

/// moby/sys `SignalMap` name of a signal number (`None` for those docker does
/// not forward).
#[cfg(test)]
pub fn signal_name(sig: c_int) -> Option<&'static str> {
    FORWARDED.iter().find(|(n, _)| *n == sig).map(|(_, s)| *s)
}

/// Forward every catchable signal to the container until the process exits.
/// The handlers are installed before this returns, so a signal sent right after
/// is not lost (nor fatal).
pub fn forward_all(client: &Client, id: &str) {
    let path = format!("/containers/{}/kill", path_escape(id));
    for &(num, name) in FORWARDED {
        let Ok(mut stream) = signal(SignalKind::from_raw(num)) else {
            continue;
        };
        let client = client.clone();
        let path = path.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                let q = Query::new().set("signal", name);
                let _ = client.post(&path, &q).await;
            }
        });
    }
}

/// While the terminal is raw: restore it when a signal would end the CLI.
/// SIGINT behaves as moby/term's `handleInterrupt` (newline, restore, exit 1);
/// with `forwarding` the other signals go to the container and are not fatal,
/// without it SIGTERM, SIGHUP and SIGQUIT restore and exit 128+n.
pub fn restore_terminal_on_signals(saved: nix::sys::termios::Termios, forwarding: bool) {
    let mut fatal = vec![libc::SIGINT];
    if !forwarding {
        fatal.extend([libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT]);
    }
    for num in fatal {
        let Ok(mut stream) = signal(SignalKind::from_raw(num)) else {
            continue;
        };
        let saved = saved.clone();
        tokio::spawn(async move {
            if stream.recv().await.is_some() {
                let _ = nix::sys::termios::tcsetattr(
                    std::io::stdin(),
                    nix::sys::termios::SetArg::TCSANOW,
                    &saved,
                );
                if num == libc::SIGINT {
                    println!();
                    std::process::exit(1);
                }
                std::process::exit(128 + num);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_are_mobys_without_the_sig_prefix() {
        assert_eq!(signal_name(libc::SIGINT), Some("INT"));
        assert_eq!(signal_name(libc::SIGTERM), Some("TERM"));
        assert_eq!(signal_name(libc::SIGWINCH), Some("WINCH"));
        assert_eq!(signal_name(libc::SIGUSR1), Some("USR1"));
    }

    #[test]
    fn docker_skips_chld_pipe_urg_and_uncatchable_signals() {
        for s in [
            libc::SIGCHLD,
            libc::SIGPIPE,
            libc::SIGURG,
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
        ] {
            assert_eq!(signal_name(s), None, "{s}");
        }
    }

    #[test]
    fn every_forwarded_signal_is_distinct() {
        let mut nums: Vec<_> = FORWARDED.iter().map(|(n, _)| *n).collect();
        nums.sort();
        nums.dedup();
        assert_eq!(nums.len(), FORWARDED.len());
    }
}
