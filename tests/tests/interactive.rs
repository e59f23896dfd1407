// Interactive containers (issue 3), driven as a user drives them: each CLI runs
// on its own pseudo-terminal, keystrokes go in, the screen comes out. Prompts,
// `stty size` following a resize, ctrl-c reaching the job inside, ctrl-p ctrl-q
// detaching, attach and exec, the course's A/B scenario, stdin piping, stream
// separation, restart policies (also across a daemon restart), `--init`
// reaping, pause, top, rename, log rotation.
//
// `interactive_docker.rs` includes this file: the crate name picks the client
// (ours here, the real docker CLI there), so both CLIs pass the same tests.
// Plain `//` comments: an included file may not carry inner doc comments.

use dockhand_tests::pty::{Pty, Via};
use dockhand_tests::{Daemon, Run};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);
const PROMPT: &str = "/ # ";

/// The client this test binary drives; `None` skips (no docker CLI installed).
fn via() -> Option<Via> {
    if env!("CARGO_CRATE_NAME").ends_with("docker") {
        if dockhand_tests::docker_cli().is_none() {
            eprintln!("SKIPPED: the real docker CLI is not installed at /usr/local/bin/docker");
            return None;
        }
        Some(Via::Docker)
    } else {
        Some(Via::Dockhand)
    }
}

macro_rules! setup {
    () => {
        match via() {
            Some(v) => (Daemon::start(), v),
            None => return,
        }
    };
}

fn run(d: &Daemon, v: Via, args: &[&str]) -> Run {
    v.run(d, args, None)
}

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.cli(&["inspect", "-f", format, name]).ok()
}

/// Poll `f` until it is true or `timeout` passes.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Host pids of every process in the pid namespace of this container's PID 1.
fn container_pids(d: &Daemon, name: &str) -> Vec<i32> {
    let pid = inspect(d, name, "{{.State.Pid}}");
    let Ok(ns) = std::fs::read_link(format!("/proc/{pid}/ns/pid")) else {
        return vec![];
    };
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_link(e.path().join("ns/pid")).ok().as_ref() == Some(&ns) {
            out.push(p);
        }
    }
    out
}

/// The state letter of a host process (`R`, `S`, `Z`, ...), `None` once it is gone.
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
}

fn alive(pid: i32) -> bool {
    matches!(proc_state(pid), Some(c) if c != 'Z' && c != 'X')
}

/// Start a shell container detached with a TTY, as the course does.
fn detached_shell(d: &Daemon, v: Via, name: &str) {
    run(d, v, &["run", "-d", "-ti", "--name", name, "busybox", "sh"]).ok();
}

/// A shell that answers: type an arithmetic echo and see its result (the typed
/// line shows `$((6*7))`, only the shell prints `42`).
fn shell_answers(p: &mut Pty) {
    p.send(b"echo $((6*7))\r");
    p.want("42", T);
}

// --- TTY: prompt, tty, size, ctrl-c -----------------------------------------

#[test]
fn run_ti_shows_a_prompt_on_a_tty_of_its_own() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let mut p = v.pty(&d, &["run", "-ti", "--rm", "busybox", "sh"]);
    p.want(PROMPT, T);
    assert!(p.is_raw(), "the client's terminal is raw while attached");
    p.send(b"tty\r");
    p.want("/dev/pts/0", T);
    shell_answers(&mut p);
    p.send(b"exit 3\r");
    assert_eq!(p.wait(T), Some(3), "{}", p.screen());
    assert!(
        !p.is_raw(),
        "the terminal is restored after the container exits"
    );
}

/// Resize the client's window and wait until `stty size` inside shows it.
/// The resize travels CLI -> daemon -> container asynchronously, and the
/// real docker CLI installs its SIGWINCH handler only after the container
/// has started (a prompt can come first and a signal then is lost, in docker
/// as here), so the window change is repeated, as a user resizing again would.
fn follows_resize(p: &mut Pty, rows: u16, cols: u16) -> bool {
    let want = format!("{rows} {cols}");
    for _ in 0..20 {
        p.resize(rows, cols);
        p.send(b"stty size\r");
        if p.expect(&want, Duration::from_millis(500)).is_ok() {
            return true;
        }
    }
    false
}

#[test]
fn stty_size_shows_the_client_window_and_follows_a_resize() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let mut p = v.pty(&d, &["run", "-ti", "--rm", "busybox", "sh"]);
    p.want(PROMPT, T);
    p.send(b"stty size\r");
    p.want("24 80", T);
    assert!(
        follows_resize(&mut p, 40, 123),
        "stty size did not follow the resize: {}",
        p.screen()
    );
    p.send(b"exit\r");
    assert_eq!(p.wait(T), Some(0));
}

#[test]
fn ctrl_c_interrupts_the_job_inside_and_the_shell_survives() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let mut p = v.pty(&d, &["run", "-ti", "--name", "cc", "busybox", "sh"]);
    p.want(PROMPT, T);
    p.send(b"sleep 100\r");
    p.want("sleep 100", T);
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    p.send(b"\x03");
    p.want(PROMPT, T);
    assert!(start.elapsed() < Duration::from_secs(5));
    shell_answers(&mut p);
    assert_eq!(
        p.wait(Duration::from_millis(200)),
        None,
        "the client lives on"
    );
    assert_eq!(inspect(&d, "cc", "{{.State.Running}}"), "true");
    p.send(b"exit\r");
    assert_eq!(p.wait(T), Some(0));
}

#[test]
fn without_a_tty_signals_to_the_client_are_proxied_to_the_container() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    // ctrl-c on the client's terminal is SIGINT for the client; --sig-proxy
    // (the default) sends it on with POST /containers/{id}/kill?signal=INT.
    let mut p = v.pty(
        &d,
        &[
            "run",
            "--name",
            "sp",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-int; exit 9' INT; echo ready; while :; do sleep 0.1; done",
        ],
    );
    p.want("ready", T);
    p.send(b"\x03");
    p.want("got-int", T);
    assert_eq!(p.wait(T), Some(9), "{}", p.screen());
}

// --- detach and attach --------------------------------------------------------

#[test]
fn ctrl_p_ctrl_q_detaches_and_attach_gets_the_prompt_back() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let mut p = v.pty(&d, &["run", "-ti", "--name", "det", "busybox", "sh"]);
    p.want(PROMPT, T);
    p.send(b"\x10\x11");
    assert_eq!(p.wait(T), Some(0), "run exits 0 on detach: {}", p.screen());
    assert!(!p.is_raw(), "the terminal is restored after a detach");
    let status = d
        .cli(&["ps", "--filter", "name=det", "--format", "{{.Status}}"])
        .ok();
    assert!(status.starts_with("Up"), "{status:?}");

    let mut a = v.pty(&d, &["attach", "det"]);
    std::thread::sleep(Duration::from_millis(300));
    a.send(b"\r");
    a.want(PROMPT, T);
    shell_answers(&mut a);
    a.send(b"\x10\x11");
    // docker attach reports the detach as an error: "read escape sequence", 1.
    assert_eq!(a.wait(T), Some(1), "{}", a.screen());
    a.want("read escape sequence", T);
    assert_eq!(inspect(&d, "det", "{{.State.Running}}"), "true");

    let mut a = v.pty(&d, &["attach", "det"]);
    std::thread::sleep(Duration::from_millis(300));
    a.send(b"\r");
    a.want(PROMPT, T);
    a.send(b"exit 4\r");
    assert_eq!(a.wait(T), Some(4), "attach exits with the container's code");
    assert_eq!(inspect(&d, "det", "{{.State.Status}}"), "exited");
}

#[test]
fn detach_keys_can_be_changed() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let mut p = v.pty(
        &d,
        &[
            "run",
            "-ti",
            "--detach-keys",
            "ctrl-x,x",
            "--name",
            "dk",
            "busybox",
            "sh",
        ],
    );
    p.want(PROMPT, T);
    // ctrl-p ctrl-q is ordinary input now; ctrl-u clears whatever it did.
    p.send(b"\x10\x11\x15");
    shell_answers(&mut p);
    assert_eq!(p.wait(Duration::from_millis(200)), None);
    p.send(b"\x18x");
    assert_eq!(p.wait(T), Some(0), "{}", p.screen());
    assert_eq!(inspect(&d, "dk", "{{.State.Running}}"), "true");

    let mut a = v.pty(&d, &["attach", "--detach-keys", "ctrl-a", "dk"]);
    std::thread::sleep(Duration::from_millis(300));
    a.send(b"\r");
    a.want(PROMPT, T);
    a.send(b"\x01");
    assert_eq!(a.wait(T), Some(1));

    let mut e = v.pty(
        &d,
        &["exec", "-ti", "--detach-keys", "ctrl-x,x", "dk", "sh"],
    );
    e.want(PROMPT, T);
    e.send(b"\x18x");
    assert_eq!(e.wait(T), Some(1), "{}", e.screen());
    e.want("read escape sequence", T);
    assert_eq!(inspect(&d, "dk", "{{.State.Running}}"), "true");
}

#[test]
fn two_attached_clients_see_the_same_output_and_both_can_type() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    detached_shell(&d, v, "two");
    let mut a = v.pty(&d, &["attach", "two"]);
    let mut b = v.pty(&d, &["attach", "two"]);
    std::thread::sleep(Duration::from_millis(500));
    a.send(b"echo $((6*7))\r");
    a.want("42", T);
    b.want("42", T);
    b.send(b"echo $((7*8))\r");
    b.want("56", T);
    a.want("56", T);
    a.send(b"\x10\x11");
    assert_eq!(a.wait(T), Some(1));
    b.send(b"exit\r");
    assert_eq!(b.wait(T), Some(0));
}

#[test]
fn start_ai_attaches_before_starting() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(&d, v, &["create", "-ti", "--name", "sa", "busybox", "sh"]).ok();
    let mut p = v.pty(&d, &["start", "-ai", "sa"]);
    p.want(PROMPT, T);
    shell_answers(&mut p);
    p.send(b"exit 5\r");
    assert_eq!(p.wait(T), Some(5));
    assert!(!p.is_raw());
}

// --- the course's scenario ------------------------------------------------------

#[test]
fn course_scenario_attach_a_exec_b_exit_a_ends_every_process() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    detached_shell(&d, v, "course");
    // Terminal A attaches to the container's shell.
    let mut a = v.pty(&d, &["attach", "course"]);
    std::thread::sleep(Duration::from_millis(300));
    a.send(b"\r");
    a.want(PROMPT, T);
    // Terminal B runs a second shell in it, with a background job.
    let mut b = v.pty(&d, &["exec", "-ti", "course", "sh"]);
    b.want(PROMPT, T);
    b.send(b"sleep 1000 &\r");
    b.send(b"echo $((6*7))\r");
    b.want("42", T);
    let pids = container_pids(&d, "course");
    assert!(
        pids.len() >= 3,
        "sh, the exec'd sh and sleep 1000 run in the container: {pids:?}"
    );
    // A exits its shell: the container ends, and with it everything in it.
    a.send(b"exit\r");
    assert_eq!(a.wait(T), Some(0), "{}", a.screen());
    assert!(b.wait(T).is_some(), "B's exec ends with the container");
    assert!(!b.is_raw(), "B's terminal is restored");
    assert!(
        eventually(T, || inspect(&d, "course", "{{.State.Status}}") == "exited"),
        "container exited"
    );
    assert!(
        eventually(T, || pids.iter().all(|p| !alive(*p))),
        "processes left: {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

// --- stdin and streams -------------------------------------------------------------

#[test]
fn stdin_is_piped_and_its_eof_reaches_the_process() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let r = v.run(&d, &["run", "-i", "--rm", "busybox", "cat"], Some(b"hi\n"));
    assert_eq!(r.ok(), "hi");
    let r = v.run(
        &d,
        &[
            "run",
            "-i",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "wc -l; echo done",
        ],
        Some(b"a\nb\nc\n"),
    );
    assert_eq!(r.ok().split_whitespace().collect::<Vec<_>>(), ["3", "done"]);
}

#[test]
fn without_a_tty_stdout_and_stderr_stay_apart() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let r = run(
        &d,
        v,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2",
        ],
    );
    assert_eq!(r.code(), 0);
    assert_eq!(r.stdout(), "out\n");
    assert_eq!(r.stderr(), "err\n");
}

// --- exec ----------------------------------------------------------------------------

#[test]
fn exec_runs_in_the_container_with_its_flags_and_returns_the_exit_code() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &[
            "run",
            "-d",
            "--name",
            "ex",
            "-e",
            "CENV=from-run",
            "busybox",
            "sleep",
            "1000",
        ],
    )
    .ok();
    assert_eq!(run(&d, v, &["exec", "ex", "sh", "-c", "exit 7"]).code(), 7);
    assert_eq!(
        run(&d, v, &["exec", "ex", "sh", "-c", "echo $CENV"]).ok(),
        "from-run"
    );
    assert_eq!(
        run(
            &d,
            v,
            &["exec", "-e", "FOO=bar", "ex", "sh", "-c", "echo $FOO"]
        )
        .ok(),
        "bar"
    );
    assert_eq!(
        run(&d, v, &["exec", "-w", "/tmp", "ex", "pwd"]).ok(),
        "/tmp"
    );
    assert_eq!(
        run(&d, v, &["exec", "-u", "1000:1000", "ex", "id", "-u"]).ok(),
        "1000"
    );
    assert_eq!(
        run(&d, v, &["exec", "-u", "1000:1000", "ex", "id", "-g"]).ok(),
        "1000"
    );
    let caps = |extra: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["ex", "sh", "-c", "grep CapEff /proc/self/status"]);
        run(&d, v, &args).ok()
    };
    let plain = caps(&[]);
    let privileged = caps(&["--privileged"]);
    assert_ne!(plain, privileged, "--privileged widens the capability set");
    // The exec'd process is in the container's pid namespace and root.
    assert_eq!(
        run(&d, v, &["exec", "ex", "cat", "/proc/1/cmdline"]).ok(),
        "sleep\u{0}1000\u{0}"
    );
    // Stdin with -i, EOF included.
    let r = v.run(&d, &["exec", "-i", "ex", "cat"], Some(b"piped\n"));
    assert_eq!(r.ok(), "piped");
    // -d returns at once; the command runs on.
    run(
        &d,
        v,
        &["exec", "-d", "ex", "sh", "-c", "sleep 0.2; echo x > /tmp/d"],
    )
    .ok();
    assert!(eventually(T, || run(
        &d,
        v,
        &["exec", "ex", "cat", "/tmp/d"]
    )
    .stdout()
        == "x\n"));
    // Stream separation in exec too.
    let r = run(&d, v, &["exec", "ex", "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(
        (r.stdout().as_str(), r.stderr().as_str()),
        ("out\n", "err\n")
    );
}

#[test]
fn exec_ti_gets_a_terminal_that_follows_the_client() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &["run", "-d", "--name", "et", "busybox", "sleep", "1000"],
    )
    .ok();
    let mut p = v.pty(&d, &["exec", "-ti", "et", "sh"]);
    p.want(PROMPT, T);
    p.send(b"tty\r");
    p.want("/dev/pts/", T);
    p.send(b"stty size\r");
    p.want("24 80", T);
    assert!(
        follows_resize(&mut p, 30, 100),
        "exec's tty did not follow the resize: {}",
        p.screen()
    );
    p.send(b"sleep 100\r");
    std::thread::sleep(Duration::from_millis(300));
    p.send(b"\x03");
    p.want(PROMPT, T);
    p.send(b"exit 6\r");
    assert_eq!(p.wait(T), Some(6));
    assert!(!p.is_raw());
}

#[test]
fn exec_errors_are_dockers() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let r = run(&d, v, &["exec", "nope", "true"]);
    assert_eq!(r.code(), 1);
    assert_eq!(
        r.stderr().trim(),
        "Error response from daemon: No such container: nope"
    );

    run(&d, v, &["run", "--name", "st", "busybox", "true"]).ok();
    let id = inspect(&d, "st", "{{.Id}}");
    let r = run(&d, v, &["exec", "st", "true"]);
    assert_eq!(r.code(), 1);
    assert_eq!(
        r.stderr().trim(),
        format!("Error response from daemon: container {id} is not running")
    );

    run(
        &d,
        v,
        &["run", "-d", "--name", "up", "busybox", "sleep", "1000"],
    )
    .ok();
    let r = run(&d, v, &["exec", "up", "nope"]);
    assert_eq!(r.code(), 127, "{} {}", r.stdout(), r.stderr());
    let all = format!("{}{}", r.stdout(), r.stderr());
    assert!(
        all.contains(r#"exec: "nope": executable file not found in $PATH"#),
        "{all:?}"
    );
}

// --- restart policies --------------------------------------------------------------

#[test]
fn on_failure_restarts_up_to_the_count() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &[
            "run",
            "-d",
            "--name",
            "rf",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "exit 1",
        ],
    )
    .ok();
    assert_eq!(
        inspect(
            &d,
            "rf",
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure 2"
    );
    let done = || {
        inspect(
            &d,
            "rf",
            "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
        )
    };
    assert!(
        eventually(Duration::from_secs(20), || done() == "exited 2 1"),
        "{}",
        done()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(done(), "exited 2 1", "no third restart");
}

#[test]
fn restart_policy_flags_are_validated_like_docker() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    let r = run(
        &d,
        v,
        &["run", "--rm", "--restart", "always", "busybox", "true"],
    );
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr()
            .starts_with("docker: conflicting options: cannot specify both --restart and --rm"),
        "{}",
        r.stderr()
    );
    let r = run(&d, v, &["run", "--restart", "sometimes", "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr()
            .contains("invalid restart policy: unknown policy 'sometimes'"),
        "{}",
        r.stderr()
    );
    let r = run(
        &d,
        v,
        &["run", "--restart", "on-failure:x", "busybox", "true"],
    );
    assert_eq!(r.code(), 125);
    assert!(r
        .stderr()
        .contains("maximum retry count must be an integer"));
}

#[test]
fn restart_always_restarts_after_exit_and_when_the_daemon_starts() {
    dockhand_tests::require_root!();
    let (mut d, v) = setup!();
    run(
        &d,
        v,
        &[
            "run",
            "-d",
            "--name",
            "ra",
            "--restart",
            "always",
            "busybox",
            "sh",
            "-c",
            "sleep 2",
        ],
    )
    .ok();
    run(
        &d,
        v,
        &[
            "run",
            "-d",
            "--name",
            "us",
            "--restart",
            "unless-stopped",
            "busybox",
            "sleep",
            "1000",
        ],
    )
    .ok();
    run(&d, v, &["stop", "-t", "1", "us"]).ok();
    let count = |d: &Daemon| {
        inspect(d, "ra", "{{.RestartCount}}")
            .parse::<i64>()
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(15), || count(&d) >= 1),
        "restarted after its process exited"
    );
    assert!(eventually(T, || inspect(&d, "ra", "{{.State.Running}}") == "true"));
    // The process ends while no daemon runs; the next daemon starts it again.
    let pid: i32 = inspect(&d, "ra", "{{.State.Pid}}").parse().expect("pid");
    d.kill9();
    assert!(eventually(T, || !alive(pid)), "sleep 2 ends");
    d.restart();
    assert!(
        eventually(Duration::from_secs(15), || {
            inspect(&d, "ra", "{{.State.Running}} {{.State.Pid}}") != format!("false {pid}")
                && inspect(&d, "ra", "{{.State.Running}}") == "true"
        }),
        "restarted by the daemon at start: {}",
        inspect(&d, "ra", "{{.State.Status}} {{.RestartCount}}")
    );
    assert_eq!(
        inspect(&d, "us", "{{.State.Status}}"),
        "exited",
        "unless-stopped stays stopped when stopped by the user"
    );
}

// --- --init, pause, top, rename ----------------------------------------------------

/// A zombie-leaving pattern: the subshell forks `sleep 1` and exits, so the sleep
/// is reparented to PID 1, which must reap it when it ends.
const ZOMBIE_MAKER: &str = "(sleep 1 &); exec sleep 1000";

fn zombies(d: &Daemon, name: &str) -> Vec<i32> {
    container_pids(d, name)
        .into_iter()
        .filter(|p| proc_state(*p) == Some('Z'))
        .collect()
}

#[test]
fn init_reaps_orphaned_zombies() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &[
            "run",
            "-d",
            "--init",
            "--name",
            "in",
            "busybox",
            "sh",
            "-c",
            ZOMBIE_MAKER,
        ],
    )
    .ok();
    run(
        &d,
        v,
        &[
            "run",
            "-d",
            "--name",
            "noin",
            "busybox",
            "sh",
            "-c",
            ZOMBIE_MAKER,
        ],
    )
    .ok();
    assert_eq!(inspect(&d, "in", "{{.HostConfig.Init}}"), "true");
    std::thread::sleep(Duration::from_secs(3));
    // Without an init, PID 1 (sleep) never reaps: the test can tell.
    assert_eq!(
        zombies(&d, "noin").len(),
        1,
        "control: a zombie without --init"
    );
    assert_eq!(zombies(&d, "in"), Vec::<i32>::new(), "--init reaps");
    // The init is PID 1 and the command runs under it.
    let ps = run(&d, v, &["exec", "in", "ps", "-o", "pid,stat,args"]).ok();
    assert!(
        !ps.lines().any(|l| l.split_whitespace().nth(1) == Some("Z")),
        "{ps}"
    );
}

#[test]
fn init_forwards_signals_so_stop_is_quick() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &[
            "run", "-d", "--init", "--name", "fw", "busybox", "sleep", "1000",
        ],
    )
    .ok();
    let start = Instant::now();
    run(&d, v, &["stop", "-t", "10", "fw"]).ok();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "SIGTERM reached sleep through the init ({:?})",
        start.elapsed()
    );
    assert_eq!(inspect(&d, "fw", "{{.State.ExitCode}}"), "143");
}

#[test]
fn pause_freezes_the_container_and_unpause_thaws_it() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &[
            "run",
            "-d",
            "--name",
            "pz",
            "busybox",
            "sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.05; done",
        ],
    )
    .ok();
    let pid = inspect(&d, "pz", "{{.State.Pid}}");
    let counter = || {
        std::fs::read_to_string(format!("/proc/{pid}/root/tmp/c"))
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    assert!(eventually(T, || counter() > 2), "the counter runs");
    assert_eq!(run(&d, v, &["pause", "pz"]).ok(), "pz");
    assert_eq!(
        inspect(&d, "pz", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    let status = d
        .cli(&["ps", "--filter", "name=pz", "--format", "{{.Status}}"])
        .ok();
    assert!(status.ends_with("(Paused)"), "{status:?}");
    let frozen = counter();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(counter(), frozen, "a paused container does not advance");
    let r = run(&d, v, &["exec", "pz", "true"]);
    assert_eq!(r.code(), 1, "no exec into a paused container");
    assert_eq!(run(&d, v, &["unpause", "pz"]).ok(), "pz");
    assert_eq!(inspect(&d, "pz", "{{.State.Status}}"), "running");
    assert!(eventually(T, || counter() > frozen), "it runs again");
    let r = run(&d, v, &["unpause", "pz"]);
    assert_eq!(r.code(), 1, "unpause of a running container fails");
}

#[test]
fn top_lists_the_container_processes_with_ps_columns() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &["run", "-d", "--name", "tp", "busybox", "sleep", "1000"],
    )
    .ok();
    let pid = inspect(&d, "tp", "{{.State.Pid}}");
    let out = run(&d, v, &["top", "tp"]).ok();
    let mut lines = out.lines();
    let titles: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{out}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].ends_with("sleep 1000"), "{out}");
    assert_eq!(
        rows[0].split_whitespace().nth(1),
        Some(pid.as_str()),
        "host pid: {out}"
    );
    let r = run(&d, v, &["container", "top", "nope"]);
    assert_eq!(r.code(), 1);
    assert_eq!(
        r.stderr().trim(),
        "Error response from daemon: No such container: nope"
    );
}

#[test]
fn rename_changes_the_name_only() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &["run", "-d", "--name", "old", "busybox", "sleep", "1000"],
    )
    .ok();
    run(
        &d,
        v,
        &["run", "-d", "--name", "other", "busybox", "sleep", "1000"],
    )
    .ok();
    let id = inspect(&d, "old", "{{.Id}}");
    let r = run(&d, v, &["rename", "old", "new"]);
    assert_eq!((r.code(), r.stdout().as_str()), (0, ""), "{}", r.stderr());
    assert_eq!(
        inspect(&d, "new", "{{.Id}} {{.Name}}"),
        format!("{id} /new")
    );
    assert_eq!(d.cli(&["inspect", "old"]).code(), 1);
    let r = run(&d, v, &["container", "rename", "new", "other"]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr()
            .trim_end()
            .ends_with("Error: failed to rename container named new"),
        "{}",
        r.stderr()
    );
    assert!(
        r.stderr().contains("Error response from daemon: "),
        "{}",
        r.stderr()
    );
}

// --- logs and the daemon restart -------------------------------------------------------

#[test]
fn log_opts_rotate_a_chatty_container() {
    dockhand_tests::require_root!();
    let (d, v) = setup!();
    run(
        &d,
        v,
        &[
            "run",
            "--name",
            "chatty",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=10k",
            "--log-opt",
            "max-file=2",
            "busybox",
            "sh",
            "-c",
            "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); echo line $i; done",
        ],
    )
    .ok();
    assert_eq!(
        inspect(
            &d,
            "chatty",
            "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}"
        ),
        "json-file 10k"
    );
    let logs = d.cli(&["logs", "chatty"]).ok();
    assert!(logs.ends_with("line 5000"), "the newest lines are kept");
    assert!(!logs.starts_with("line 1\n"), "the oldest are rotated away");
    assert!(
        logs.len() < 30_000,
        "at most about max-size x max-file kept: {}",
        logs.len()
    );
}

#[test]
fn a_running_container_is_usable_after_a_daemon_restart() {
    dockhand_tests::require_root!();
    let (mut d, v) = setup!();
    detached_shell(&d, v, "dr");
    run(
        &d,
        v,
        &[
            "run",
            "-d",
            "--name",
            "lf",
            "busybox",
            "sh",
            "-c",
            "while :; do echo tick; sleep 0.2; done",
        ],
    )
    .ok();
    d.restart();
    assert_eq!(run(&d, v, &["exec", "dr", "echo", "ok"]).ok(), "ok");
    let mut a = v.pty(&d, &["attach", "dr"]);
    std::thread::sleep(Duration::from_millis(300));
    a.send(b"\r");
    a.want(PROMPT, T);
    shell_answers(&mut a);
    let mut f = v.pty(&d, &["logs", "-f", "--tail", "0", "lf"]);
    f.want("tick", T);
    f.want("tick", T);
    run(&d, v, &["stop", "-t", "1", "dr"]).ok();
    assert_eq!(
        a.wait(T),
        Some(137),
        "attach ends with the stopped container's code"
    );
    run(&d, v, &["stop", "-t", "1", "lf"]).ok();
    assert!(f.wait(T).is_some(), "logs -f ends with the container");
}
