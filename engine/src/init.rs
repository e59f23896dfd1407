//! `--init`: a tiny init that runs as a container's PID 1 (what tini is as
//! `docker-init`), built into our own static binary.
//!
//! PID 1 is special in a pid namespace: orphaned processes are reparented to it,
//! so it must reap them or they stay zombies, and the kernel delivers it only the
//! signals it installed handlers for, so a plain program as PID 1 ignores
//! `docker stop`'s SIGTERM. This init forks the real program, then in one
//! single-threaded loop waits for signals with every signal blocked
//! (`sigtimedwait`), forwards each one to the program, reaps every zombie, and
//! exits with the program's status once the program is gone.
//!
//! The behaviour follows tini: the program gets its own process group and, when
//! stdin is a terminal, becomes its foreground group (so ctrl-c reaches it);
//! faults of init itself (SIGSEGV and kin) stay unblocked; SIGTTIN/SIGTTOU are
//! ignored by init, which is in a background group once the program owns the tty.

use nix::errno::Errno;
use nix::sys::signal::Signal::{self, *};
use nix::sys::signal::{
    sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow,
};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{execvp, fork, getpgrp, getpid, setpgid, tcsetpgrp, ForkResult, Pid};
use std::ffi::CString;
use std::time::Duration;

/// Signals that report a fault of the process receiving them; blocking them
/// would hide a crash of init itself.
const SYNCHRONOUS: [Signal; 7] = [SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS];

/// Terminal stop signals, ignored (not forwarded) while init runs.
const TTY_STOPS: [Signal; 2] = [SIGTTIN, SIGTTOU];

/// How long one wait for a signal lasts before init looks for zombies anyway.
const WAIT_SLICE: Duration = Duration::from_secs(1);

/// Why init could not supervise its program.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("no program given; usage: docker-init -- PROGRAM [ARGS...]")]
    NoCommand,
    #[error("argument contains a NUL byte: {0:?}")]
    NulInArgument(String),
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: Errno,
    },
}

fn sys(op: &'static str) -> impl FnOnce(Errno) -> InitError {
    move |source| InitError::Sys { op, source }
}

/// The entry point: `args` is the program and its arguments (what follows
/// `--`). Never returns; exits with the program's status.
pub fn main(args: Vec<String>) -> ! {
    // Accept tini's own syntax too: `docker-init -- PROGRAM ARGS...`.
    let args = match args.first() {
        Some(first) if first == "--" => &args[1..],
        _ => &args[..],
    };
    let code = match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("[init] {e}");
            1
        }
    };
    std::process::exit(code)
}

/// Start the program and supervise it until it exits; returns the exit code
/// init should exit with. Blocks signals in the calling process for good, so
/// call it only in a process that is about to become (or already is) init.
pub fn run(args: &[String]) -> Result<i32, InitError> {
    let argv = to_cstrings(args)?;
    if getpid() != Pid::from_raw(1) {
        // Outside a new pid namespace (`--pid host`), still adopt the orphans of
        // our program so they are reaped rather than left to the real init.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }

    let blocked = blocked_signals();
    let mut original_mask = SigSet::empty();
    sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&blocked),
        Some(&mut original_mask),
    )
    .map_err(sys("sigprocmask"))?;
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    let mut original_actions = Vec::new();
    for sig in TTY_STOPS {
        // SAFETY: installing SIG_IGN runs no code of ours in signal context.
        let old = unsafe { sigaction(sig, &ignore) }.map_err(sys("sigaction"))?;
        original_actions.push((sig, old));
    }

    // SAFETY: init is single-threaded (its caller runs nothing else), so the
    // child may allocate and run ordinary code until it execs.
    let child = match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Child => exec_child(&argv, &original_mask, &original_actions),
        ForkResult::Parent { child } => child,
    };
    supervise(child, &blocked)
}

fn to_cstrings(args: &[String]) -> Result<Vec<CString>, InitError> {
    if args.is_empty() {
        return Err(InitError::NoCommand);
    }
    args.iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| InitError::NulInArgument(a.clone())))
        .collect()
}

/// Everything init collects in its loop: all signals but the synchronous ones
/// and the terminal stops.
pub fn blocked_signals() -> SigSet {
    let mut set = SigSet::all();
    for sig in SYNCHRONOUS.into_iter().chain(TTY_STOPS) {
        set.remove(sig);
    }
    set
}

/// Whether init passes a received signal on to the program. SIGCHLD is init's
/// own business (it means "reap"); everything it collects is forwarded.
pub fn forwarded(signo: i32) -> bool {
    signo != libc::SIGCHLD
}

/// The exit code for a finished process: its own, or 128+N if signal N killed it
/// (the shell's convention, which Docker reports too).
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// The exit code when exec fails: 127 when there is no such program, 126 when
/// it exists but cannot run (the shell's and Docker's convention).
pub fn exec_failure_code(errno: Errno) -> i32 {
    match errno {
        Errno::ENOENT | Errno::ENOTDIR => 127,
        _ => 126,
    }
}

/// In the forked child: take the terminal, restore what init changed, exec.
fn exec_child(
    argv: &[CString],
    original_mask: &SigSet,
    original_actions: &[(Signal, SigAction)],
) -> ! {
    // Own process group, so a signal to the group (ctrl-c on the tty) reaches
    // the program and its children, not init.
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // Becoming the foreground group is allowed from the background here only
    // because SIGTTOU is still ignored (restored just below). No terminal on
    // stdin (ENOTTY) or none at all (ENXIO) is fine.
    let stdin = std::io::stdin();
    if let Err(e) = tcsetpgrp(&stdin, getpgrp()) {
        if !matches!(e, Errno::ENOTTY | Errno::ENXIO | Errno::EBADF) {
            eprintln!("[init] tcsetpgrp: {e}");
        }
    }
    for (sig, action) in original_actions {
        // SAFETY: restores the disposition the process had before init changed it.
        let _ = unsafe { sigaction(*sig, action) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(original_mask), None);

    let err = match execvp(&argv[0], argv) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    eprintln!(
        "[init] exec {} failed: {}",
        argv[0].to_string_lossy(),
        err.desc()
    );
    exit_now(exec_failure_code(err))
}

/// `_exit(2)`: leave a forked child at once, without running the parent's
/// atexit handlers or flushing stdio buffers it inherited.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and touches no memory of ours.
    unsafe { libc::_exit(code) }
}

/// Wait for one blocked signal, at most `timeout`. `None` on timeout.
fn wait_signal(set: &SigSet, timeout: Duration) -> Result<Option<i32>, InitError> {
    let ts = libc::timespec {
        // `time_t` by inference: naming it is deprecated on musl.
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` and `ts` are valid for the call; a null siginfo is allowed.
    let signo = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    if signo >= 0 {
        return Ok(Some(signo));
    }
    match Errno::last() {
        Errno::EAGAIN | Errno::EINTR => Ok(None),
        e => Err(InitError::Sys {
            op: "sigtimedwait",
            source: e,
        }),
    }
}

/// Reap every zombie that is ready; returns the program's exit code once it
/// is among them.
fn reap(child: Pid) -> Result<Option<i32>, InitError> {
    let mut code = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(code),
            Ok(status) => {
                if status.pid() == Some(child) {
                    code = exit_code(status).or(code);
                }
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys("waitpid")(e)),
        }
    }
}

/// The loop: forward signals, reap zombies, until the program is gone.
fn supervise(child: Pid, blocked: &SigSet) -> Result<i32, InitError> {
    loop {
        if let Some(signo) = wait_signal(blocked, WAIT_SLICE)? {
            if forwarded(signo) {
                // SAFETY: kill(2) with a plain pid and signal number; it may
                // be a real-time signal nix's `Signal` cannot name.
                if unsafe { libc::kill(child.as_raw(), signo) } != 0
                    && Errno::last() != Errno::ESRCH
                {
                    eprintln!("[init] forward signal {signo}: {}", Errno::last());
                }
            }
        }
        // Other orphans may still run; like tini, init exits with the program
        // and the pid namespace's teardown takes the rest.
        if let Some(code) = reap(child)? {
            return Ok(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    /// Run `f` in a forked process that exits with what it returns; the caller
    /// gets the pid. The forked process is single-threaded, as init is.
    fn in_fork(f: impl FnOnce() -> i32) -> Pid {
        // SAFETY: the child runs only `f` and exits at once with `_exit`; glibc
        // keeps malloc usable after fork from a threaded test harness.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
                exit_now(code)
            }
            ForkResult::Parent { child } => child,
        }
    }

    /// Kills the forked process if an assertion fails before it was waited for.
    struct Reaped(Pid, bool);
    impl Reaped {
        fn wait(mut self) -> WaitStatus {
            self.1 = true;
            waitpid(self.0, None).expect("waitpid")
        }
    }
    impl Drop for Reaped {
        fn drop(&mut self) {
            if !self.1 {
                let _ = kill(self.0, SIGKILL);
                let _ = waitpid(self.0, None);
            }
        }
    }

    /// Run init on `program` in a fork; the fork's exit code is init's.
    fn run_init(program: &[&str]) -> WaitStatus {
        let a = args(program);
        Reaped(in_fork(move || run(&a).unwrap_or(100)), false).wait()
    }

    #[test]
    fn exit_code_is_the_programs_or_128_plus_the_signal() {
        let pid = Pid::from_raw(42);
        assert_eq!(exit_code(WaitStatus::Exited(pid, 3)), Some(3));
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, SIGTERM, false)),
            Some(143)
        );
        assert_eq!(
            exit_code(WaitStatus::Signaled(pid, SIGKILL, true)),
            Some(137)
        );
        assert_eq!(exit_code(WaitStatus::StillAlive), None);
    }

    #[test]
    fn exec_failure_is_127_when_missing_and_126_otherwise() {
        assert_eq!(exec_failure_code(Errno::ENOENT), 127);
        assert_eq!(exec_failure_code(Errno::EACCES), 126);
        assert_eq!(exec_failure_code(Errno::ENOEXEC), 126);
    }

    #[test]
    fn init_collects_and_forwards_the_signals_tini_does() {
        let set = blocked_signals();
        for sig in [
            SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP,
        ] {
            assert!(set.contains(sig), "{sig} should be collected");
            assert!(forwarded(sig as i32), "{sig} should be forwarded");
        }
        for sig in SYNCHRONOUS.into_iter().chain(TTY_STOPS) {
            assert!(!set.contains(sig), "{sig} should stay with init");
        }
        assert!(set.contains(SIGCHLD));
        assert!(!forwarded(libc::SIGCHLD));
    }

    #[test]
    fn empty_command_is_an_error() {
        assert!(matches!(run(&[]), Err(InitError::NoCommand)));
    }

    #[test]
    fn exit_status_of_the_program_propagates() {
        let s = run_init(&["sh", "-c", "exit 7"]);
        assert_eq!(status_code(s), Some(7), "{s:?}");
    }

    fn status_code(s: WaitStatus) -> Option<i32> {
        match s {
            WaitStatus::Exited(_, c) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn program_killed_by_a_signal_gives_128_plus_n() {
        let s = run_init(&["sh", "-c", "kill -KILL $$"]);
        assert_eq!(status_code(s), Some(137), "{s:?}");
    }

    #[test]
    fn missing_program_exits_127_and_unrunnable_one_126() {
        crate::testing::require_root!();
        let s = run_init(&["dockhand-no-such-program-3f9a"]);
        assert_eq!(status_code(s), Some(127), "{s:?}");
        let s = run_init(&["/nonexistent/dir/prog"]);
        assert_eq!(status_code(s), Some(127), "{s:?}");

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("not-executable");
        std::fs::write(&file, "#!/bin/sh\nexit 0\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let s = run_init(&[file.to_str().expect("utf-8 path")]);
        assert_eq!(status_code(s), Some(126), "{s:?}");
    }

    #[test]
    fn program_is_found_on_path() {
        assert_eq!(status_code(run_init(&["true"])), Some(0));
        assert_eq!(status_code(run_init(&["false"])), Some(1));
    }

    #[test]
    fn orphans_are_reaped_and_no_zombie_remains() {
        // `sleep 0.1` becomes a zombie child of `sleep 0.5` (which never waits),
        // then is reparented to the subreaper, i.e. init, when `sleep 0.5` exits.
        let a = args(&["sh", "-c", "sleep 0.1 & exec sleep 0.5"]);
        let pid = in_fork(move || {
            if nix::sys::prctl::set_child_subreaper(true).is_err() {
                return 98;
            }
            let code = run(&a).unwrap_or(100);
            // Anything left to wait for, dead or alive, is a defect.
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Err(Errno::ECHILD) => code,
                _ => 99,
            }
        });
        let s = Reaped(pid, false).wait();
        assert_eq!(
            status_code(s),
            Some(0),
            "99 means a child was left behind: {s:?}"
        );
    }

    fn has_children(pid: Pid) -> bool {
        let path = format!("/proc/{pid}/task/{pid}/children");
        std::fs::read_to_string(path).is_ok_and(|s| !s.trim().is_empty())
    }

    #[test]
    fn sigterm_to_init_reaches_the_program() {
        let a = args(&["sleep", "30"]);
        let init = Reaped(in_fork(move || run(&a).unwrap_or(100)), false);
        let start = Instant::now();
        while !has_children(init.0) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "init never forked"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        kill(init.0, SIGTERM).expect("kill");
        let start = Instant::now();
        let s = init.wait();
        // Init itself survives SIGTERM (blocked) and reports sleep's death by it.
        assert_eq!(status_code(s), Some(128 + SIGTERM as i32), "{s:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
