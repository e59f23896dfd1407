//! Container round trips through our CLI against a real daemon on the real kernel.

use dockhand_tests::Daemon;
use std::time::{Duration, Instant};

#[test]
fn run_prints_output_and_returns_the_exit_code() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let r = d.cli(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(r.ok(), "hi");
    let r = d.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(r.code(), 3);
    assert_eq!(r.stdout(), "out\n", "stderr must not reach stdout");
    assert_eq!(r.stderr(), "err\n");
    // --rm removed both.
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
}

#[test]
fn missing_and_unexecutable_commands_exit_127_and_126() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let r = d.cli(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    assert!(
        r.stderr().contains("executable file not found in $PATH"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(r.code(), 126, "{}", r.stderr());
    assert!(r.stderr().contains("permission denied"), "{}", r.stderr());
    // A failed start with --rm leaves no container behind.
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
    // Without --rm the container stays, created, with Docker's exit code.
    let r = d.cli(&["run", "--name", "bad", "busybox", "nope"]);
    assert_eq!(r.code(), 127);
    assert_eq!(
        d.cli(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "bad"
        ])
        .ok(),
        "created 127"
    );
}

#[test]
fn a_signal_gives_128_plus_n() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // The kernel protects a pid namespace's init from its own namespace, so the
    // signal comes from outside, as `docker kill` sends it.
    d.cli(&["run", "-d", "--name", "victim", "busybox", "sleep", "100"])
        .ok();
    let r = d.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "kill -9 $$; echo survived",
    ]);
    assert_eq!(r.ok(), "survived");
    d.cli(&["kill", "-s", "9", "victim"]).ok();
    assert_eq!(d.cli(&["wait", "victim"]).ok(), "137");
    // A shell that re-raises a handled signal on a child exits 128+N for it.
    let r = d.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "sh -c 'kill -TERM $$'; exit $?",
    ]);
    assert_eq!(r.code(), 143);
}

#[test]
fn detached_container_lifecycle_ps_logs_kill_rm() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let id = d
        .cli(&[
            "run",
            "-d",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "echo started; sleep 100",
        ])
        .ok();
    assert_eq!(id.len(), 64, "run -d prints the full ID: {id}");
    let ps = d.cli(&["ps"]).ok();
    assert!(ps.starts_with("CONTAINER ID"), "{ps}");
    assert!(
        ps.contains(&id[..12]) && ps.contains("web") && ps.contains("Up "),
        "{ps}"
    );
    // Logs arrive (poll briefly: the shell writes right after start).
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.cli(&["logs", "web"]).stdout() != "started\n" {
        assert!(Instant::now() < deadline, "logs never showed the output");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid: i32 = d
        .cli(&["inspect", "--format", "{{.State.Pid}}", "web"])
        .ok()
        .parse()
        .unwrap();
    assert!(pid > 1 && std::path::Path::new(&format!("/proc/{pid}")).exists());
    // rm of a running container is refused.
    let r = d.cli(&["rm", "web"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("container is running"),
        "{}",
        r.stderr()
    );
    assert_eq!(d.cli(&["kill", "web"]).ok(), "web");
    assert_eq!(d.cli(&["wait", "web"]).ok(), "137");
    let st = d
        .cli(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
        .ok();
    assert!(st.starts_with("web Exited (137)"), "{st}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process must be gone"
    );
    assert_eq!(d.cli(&["rm", "web"]).ok(), "web");
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
    assert!(
        d.leftover_processes().is_empty(),
        "{:?}",
        d.leftover_processes()
    );
    assert!(d.leftover_mounts().is_empty());
    let containers = d.root.join("daemons/default/containers");
    assert_eq!(
        std::fs::read_dir(&containers).unwrap().count(),
        0,
        "no files of a removed container"
    );
}

#[test]
fn kill_returns_once_the_container_has_exited() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // `docker kill x && docker rm x` must find x stopped every time: the
    // kill answers only after the exit is recorded, as moby does for SIGKILL.
    for i in 0..10 {
        let name = format!("k{i}");
        d.cli(&["run", "-d", "--name", &name, "busybox", "sleep", "100"])
            .ok();
        d.cli(&["kill", &name]).ok();
        assert_eq!(
            d.cli(&[
                "inspect",
                "-f",
                "{{.State.Running}} {{.State.ExitCode}}",
                &name
            ])
            .ok(),
            "false 137",
            "round {i}"
        );
        assert_eq!(d.cli(&["rm", &name]).ok(), name);
    }
    // Another signal does not wait: USR1 leaves the container running.
    d.cli(&["run", "-d", "--name", "usr1", "busybox", "sleep", "100"])
        .ok();
    d.cli(&["kill", "-s", "USR1", "usr1"]).ok();
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Running}}", "usr1"]).ok(),
        "true"
    );
    d.cli(&["rm", "-f", "usr1"]).ok();
}

#[test]
fn stop_sends_sigterm_then_sigkill_after_the_timeout() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // A shell that traps TERM exits 0 on stop.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
    ])
    .ok();
    assert_eq!(d.cli(&["stop", "polite"]).ok(), "polite");
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.ExitCode}}", "polite"])
            .ok(),
        "0"
    );
    // PID 1 without a handler ignores TERM: killed after -t seconds.
    d.cli(&["run", "-d", "--name", "stubborn", "busybox", "sleep", "100"])
        .ok();
    let t0 = Instant::now();
    d.cli(&["stop", "-t", "1", "stubborn"]).ok();
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "waited the timeout"
    );
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.ExitCode}}", "stubborn"])
            .ok(),
        "137"
    );
    d.cli(&["run", "-d", "--name", "sig", "busybox", "sleep", "100"])
        .ok();
    d.cli(&["kill", "-s", "USR1", "sig"]).ok();
    // SIGUSR1 is ignored by PID 1 without a handler; still running.
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Running}}", "sig"]).ok(),
        "true"
    );
    d.cli(&["rm", "-f", "sig"]).ok();
}

#[test]
fn env_workdir_user_entrypoint_hostname_and_labels() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let envfile = d.dir.path().join("env.list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=yes\n").unwrap();
    let out = d
        .cli(&[
            "run",
            "--rm",
            "-e",
            "A=1",
            "--env-file",
            envfile.to_str().unwrap(),
            "-w",
            "/tmp/work",
            "-u",
            "nobody",
            "-h",
            "myhost",
            "busybox",
            "sh",
            "-c",
            "echo $A $FROM_FILE; pwd; id -u; hostname",
        ])
        .ok();
    assert_eq!(out, "1 yes\n/tmp/work\n65534\nmyhost");
    let out = d
        .cli(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"])
        .ok();
    assert_eq!(out, "a b");
    let id = d
        .cli(&[
            "create",
            "-l",
            "team=blue",
            "--name",
            "lab",
            "busybox",
            "true",
        ])
        .ok();
    assert_eq!(id.len(), 64);
    assert_eq!(
        d.cli(&["inspect", "-f", "{{index .Config.Labels \"team\"}}", "lab"])
            .ok(),
        "blue"
    );
    assert_eq!(
        d.cli(&[
            "ps",
            "-a",
            "--filter",
            "label=team=blue",
            "--format",
            "{{.Names}}"
        ])
        .ok(),
        "lab"
    );
    assert_eq!(
        d.cli(&["ps", "-a", "--filter", "status=created", "-q"])
            .ok(),
        id[..12]
    );
    assert_eq!(
        d.cli(&[
            "ps",
            "-a",
            "--filter",
            "ancestor=busybox",
            "-q",
            "--no-trunc"
        ])
        .ok(),
        id
    );
    assert_eq!(
        d.cli(&["ps", "-a", "--filter", "name=la", "-q"]).ok(),
        id[..12]
    );
    let by_id = format!("id={}", &id[..6]);
    assert_eq!(
        d.cli(&["ps", "-a", "--filter", &by_id, "-q"]).ok(),
        id[..12]
    );
    assert_eq!(
        d.cli(&["ps", "-a", "--filter", "status=running", "-q"])
            .ok(),
        ""
    );
    // The default hostname is the short ID.
    d.cli(&["start", "-a", "lab"]).ok();
    let out = d.cli(&["run", "--name", "hn", "busybox", "hostname"]).ok();
    let hid = d.cli(&["inspect", "-f", "{{.Id}}", "hn"]).ok();
    assert_eq!(out, hid[..12]);
}

#[test]
fn names_ids_and_prefixes_all_address_a_container() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let id = d.cli(&["create", "busybox", "true"]).ok();
    let name = d.cli(&["inspect", "-f", "{{.Name}}", &id[..5]]).ok();
    let bare = name.trim_start_matches('/');
    let (adj, sur) = bare.split_once('_').expect("adjective_surname");
    assert!(!adj.is_empty() && !sur.is_empty());
    assert_eq!(d.cli(&["inspect", "-f", "{{.Id}}", bare]).ok(), id);
    assert_eq!(d.cli(&["inspect", "-f", "{{.Id}}", &id]).ok(), id);
    // -l and -n select the latest.
    let id2 = d.cli(&["create", "busybox", "true"]).ok();
    assert_eq!(d.cli(&["ps", "-lq", "--no-trunc"]).ok(), id2);
    assert_eq!(
        d.cli(&["ps", "-n", "2", "-q", "--no-trunc"]).ok(),
        format!("{id2}\n{id}")
    );
}

#[test]
fn logs_tail_timestamps_and_follow() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "--name",
        "lg",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4; do echo line$i; done",
    ])
    .ok();
    assert_eq!(d.cli(&["logs", "--tail", "2", "lg"]).ok(), "line3\nline4");
    let ts = d.cli(&["logs", "-t", "--tail", "1", "lg"]).ok();
    let (stamp, rest) = ts.split_once(' ').unwrap();
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{ts}");
    assert_eq!(rest, "line4");
    assert_eq!(
        d.cli(&["logs", "--since", "2999-01-01T00:00:00Z", "lg"])
            .ok(),
        ""
    );
    // Follow streams new lines and ends when the container exits.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "fl",
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 1; echo b",
    ])
    .ok();
    let r = d.cli(&["logs", "-f", "fl"]);
    assert_eq!(r.ok(), "a\nb");
}

#[test]
fn bad_input_gets_dockers_errors_and_leaves_nothing() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let r = d.cli(&["run", "--rm", "nope-image"]);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr()
            .contains("Unable to find image 'nope-image:latest' locally"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["inspect", "no-such"]);
    assert_eq!(r.code(), 1);
    assert!(
        r.stderr().contains("No such object: no-such"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["kill", "no-such"]);
    assert!(
        r.stderr().contains("No such container: no-such"),
        "{}",
        r.stderr()
    );
    d.cli(&["create", "--name", "dup", "busybox", "true"]).ok();
    let r = d.cli(&["create", "--name", "dup", "busybox", "true"]);
    assert_eq!(r.code(), 1, "docker create exits 1 on a daemon error");
    assert!(
        r.stderr()
            .contains("Conflict. The container name \"/dup\" is already in use"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["create", "--name", "bad name", "busybox", "true"]);
    assert!(
        r.stderr().contains("Invalid container name"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["tag", "busybox", "Bad:Ref"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("invalid reference format"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["rmi", "busybox"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr()
            .contains("conflict: unable to remove repository reference \"busybox\""),
        "{}",
        r.stderr()
    );
    // Only the one container made above exists; nothing half-made.
    assert_eq!(d.cli(&["ps", "-a", "--format", "{{.Names}}"]).ok(), "dup");
    let dirs = std::fs::read_dir(d.root.join("daemons/default/containers"))
        .unwrap()
        .count();
    assert_eq!(dirs, 1);
}

#[test]
fn a_stopped_daemon_is_reported_like_docker() {
    dockhand_tests::require_root!();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let out = std::process::Command::new(dockhand_tests::bin())
        .args(["-H", &format!("unix://{}", sock.display()), "ps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "Cannot connect to the Docker daemon at unix://{}. Is the docker daemon running?",
            sock.display()
        )),
        "{err}"
    );
    // DOCKER_HOST is honoured when -H is absent.
    let out = std::process::Command::new(dockhand_tests::bin())
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .arg("images")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&sock.display().to_string()));
}

#[test]
fn inspect_and_ps_templates_as_the_course_uses_them() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "create", "--name", "tpl", "-e", "A=1", "-e", "B=2", "busybox", "true",
    ])
    .ok();
    let env = d
        .cli(&[
            "inspect",
            "--format",
            "{{range .Config.Env}}{{.}};{{end}}",
            "tpl",
        ])
        .ok();
    assert!(env.ends_with("A=1;B=2;"), "{env}");
    let cfg: serde_json::Value = serde_json::from_str(
        &d.cli(&["inspect", "--format", "{{json .Config}}", "tpl"])
            .ok(),
    )
    .unwrap();
    assert_eq!(cfg["Image"], "busybox");
    assert_eq!(cfg["Cmd"], serde_json::json!(["true"]));
    assert_eq!(
        d.cli(&[
            "inspect",
            "--format",
            "[{{.NetworkSettings.IPAddress}}]",
            "tpl"
        ])
        .ok(),
        "[]"
    );
    assert_eq!(
        d.cli(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "tpl"
        ])
        .ok(),
        "created 0"
    );
    let table = d
        .cli(&["ps", "-a", "--format", "table {{.Names}}\t{{.Image}}"])
        .ok();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAMES", "IMAGE"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["tpl", "busybox"]
    );
    // The default inspect output is a JSON array, as docker's.
    let v: serde_json::Value = serde_json::from_str(&d.cli(&["inspect", "tpl"]).ok()).unwrap();
    assert_eq!(v[0]["Name"], "/tpl");
    assert_eq!(v[0]["HostConfig"]["NetworkMode"], "bridge");
}

#[test]
fn no_new_privileges_and_read_only_root_when_asked() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let nnp = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "busybox",
            "sh",
            "-c",
            "grep NoNewPrivs /proc/self/status | cut -f2",
        ]);
        d.cli(&args).ok()
    };
    assert_eq!(nnp(&[]), "0", "Docker does not set it by default");
    assert_eq!(nnp(&["--security-opt", "no-new-privileges"]), "1");
    let r = d.cli(&["run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /x 2>/dev/null && echo wrote || echo refused; touch /tmp/y 2>/dev/null && echo tmp-wrote || echo tmp-refused"]);
    assert_eq!(r.ok(), "refused\ntmp-refused");
}
