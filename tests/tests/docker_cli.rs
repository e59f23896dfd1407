//! The same flows driven by the real docker CLI (version 28) against our daemon.
//! Each test skips with a visible message where the CLI is absent.

use dockhand_tests::{require_docker_cli, Daemon};

#[test]
fn docker_run_rm_echo() {
    dockhand_tests::require_root!();
    require_docker_cli!();
    let d = Daemon::start();
    let r = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(r.ok(), "hi");
    let r = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 5",
    ]);
    assert_eq!(
        (r.code(), r.stdout().as_str(), r.stderr().as_str()),
        (5, "out\n", "err\n")
    );
    assert_eq!(d.docker(&["ps", "-aq"]).ok(), "");
}

#[test]
fn docker_detached_ps_logs_inspect_kill_rm() {
    dockhand_tests::require_root!();
    require_docker_cli!();
    let d = Daemon::start();
    let id = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "x1",
            "busybox",
            "sh",
            "-c",
            "echo ready; sleep 100",
        ])
        .ok();
    assert_eq!(id.len(), 64);
    let ps = d.docker(&["ps"]).ok();
    assert!(
        ps.contains(&id[..12]) && ps.contains("x1") && ps.contains("\"sh -c 'echo ready; …\""),
        "{ps}"
    );
    let pid = d
        .docker(&["inspect", "--format", "{{.State.Pid}}", "x1"])
        .ok();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while d.docker(&["logs", "x1"]).stdout() != "ready\n" {
        assert!(std::time::Instant::now() < deadline, "no logs");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let j = d.docker(&["inspect", "x1"]).ok();
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Name"], "/x1");
    assert_eq!(v[0]["State"]["Running"], true);
    assert_eq!(
        d.docker(&["inspect", "-f", "{{json .Config.Cmd}}", "x1"])
            .ok(),
        r#"["sh","-c","echo ready; sleep 100"]"#
    );
    assert_eq!(d.docker(&["kill", "x1"]).ok(), "x1");
    assert_eq!(d.docker(&["wait", "x1"]).ok(), "137");
    let st = d.docker(&["ps", "-a", "--format", "{{.Status}}"]).ok();
    assert!(st.starts_with("Exited (137)"), "{st}");
    assert_eq!(d.docker(&["rm", "x1"]).ok(), "x1");
    assert_eq!(d.docker(&["ps", "-aq"]).ok(), "");
}

#[test]
fn docker_images_tag_rmi_history_version_info() {
    dockhand_tests::require_root!();
    require_docker_cli!();
    let d = Daemon::start();
    let out = d.docker(&["images"]).ok();
    assert!(out.lines().nth(1).unwrap().starts_with("busybox "), "{out}");
    d.docker(&["tag", "busybox", "localhost:5000/org/bb:v2"])
        .ok();
    let tags = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert!(tags.contains("localhost:5000/org/bb:v2"), "{tags}");
    assert_eq!(
        d.docker(&["rmi", "localhost:5000/org/bb:v2"]).ok(),
        "Untagged: localhost:5000/org/bb:v2"
    );
    let r = d.docker(&["tag", "busybox", "UPPER"]);
    assert!(
        r.stderr().contains("invalid reference format"),
        "{}",
        r.stderr()
    );
    assert!(d
        .docker(&["history", "busybox"])
        .ok()
        .contains("CMD [\"sh\"]"));
    let v = d
        .docker(&["version", "--format", "{{.Server.APIVersion}}"])
        .ok();
    assert_eq!(v, shared_api_version());
    let info = d
        .docker(&[
            "info",
            "--format",
            "{{.Images}} {{.Driver}} {{.CgroupDriver}}",
        ])
        .ok();
    assert_eq!(info, "1 overlay2 cgroupfs");
}

fn shared_api_version() -> &'static str {
    "1.47"
}

#[test]
fn docker_bad_input() {
    dockhand_tests::require_root!();
    require_docker_cli!();
    let d = Daemon::start();
    let r = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    assert!(
        r.stderr().contains("executable file not found"),
        "{}",
        r.stderr()
    );
    let r = d.docker(&["rm", "ghost"]);
    assert!(
        r.stderr().contains("No such container: ghost"),
        "{}",
        r.stderr()
    );
    let r = d.docker(&["run", "--rm", "ghost-image"]);
    assert_eq!(r.code(), 125);
    d.docker(&["run", "-d", "--name", "busy", "busybox", "sleep", "100"])
        .ok();
    let r = d.docker(&["rm", "busy"]);
    assert!(
        r.stderr().contains("container is running"),
        "{}",
        r.stderr()
    );
    let r = d.docker(&["rmi", "busybox"]);
    assert!(r.stderr().contains("conflict"), "{}", r.stderr());
    d.docker(&["rm", "-f", "busy"]).ok();
    assert_eq!(d.docker(&["ps", "-aq"]).ok(), "");
    assert!(d.leftover_processes().is_empty());
}
