//! Engine API details that docker-py's suite found, each checked the way a user
//! meets it: through our CLI, the real docker CLI where present, and raw HTTP.

use dockhand_tests::{Daemon, Run};

/// `curl` on the daemon's socket: (status, body).
fn http(d: &Daemon, method: &str, path: &str) -> (u16, String) {
    d.api(method, path, None)
}

fn message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| body.to_string())
}

fn fails_with(r: &Run, code: i32, text: &str) {
    assert_eq!(
        r.code(),
        code,
        "stdout: {}\nstderr: {}",
        r.stdout(),
        r.stderr()
    );
    assert!(r.stderr().contains(text), "{:?} lacks {text:?}", r.stderr());
}

#[test]
fn a_node_outside_a_swarm_answers_as_dockerd() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let (code, body) = http(&d, "POST", "/swarm/leave?force=1");
    assert_eq!(
        (code, message(&body)),
        (503, "This node is not part of a swarm".into())
    );
    for (method, path) in [("GET", "/swarm"), ("GET", "/services"), ("GET", "/nodes")] {
        let (code, body) = http(&d, method, path);
        assert_eq!(code, 503, "{method} {path}: {body}");
        assert!(message(&body).starts_with("This node is not a swarm manager."));
    }
    let (code, _) = http(&d, "POST", "/swarm/init");
    assert_eq!(code, 503);
    assert_eq!(
        d.cli(&["info", "-f", "{{.Swarm.LocalNodeState}}"]).ok(),
        "inactive"
    );
    if dockhand_tests::docker_cli().is_none() {
        dockhand_tests::say_skipped("the real docker CLI is absent: swarm commands not run");
        return;
    }
    fails_with(
        &d.docker(&["swarm", "leave", "--force"]),
        1,
        "Error response from daemon: This node is not part of a swarm",
    );
    fails_with(
        &d.docker(&["node", "ls"]),
        1,
        "This node is not a swarm manager.",
    );
}

#[test]
fn group_add_runtime_and_the_none_log_driver() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // Supplementary groups by number and by name (busybox's /etc/group has
    // "wheel:x:10:root" and "nogroup:x:65534:").
    assert_eq!(
        d.cli(&[
            "run",
            "--rm",
            "--group-add",
            "1000",
            "--group-add",
            "nogroup",
            "busybox",
            "id",
            "-G"
        ])
        .ok(),
        "0 10 1000 65534"
    );
    // The same for an exec in the container.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "grp",
        "--group-add",
        "4242",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    assert_eq!(d.cli(&["exec", "grp", "id", "-G"]).ok(), "0 10 4242");
    d.cli(&["rm", "-f", "grp"]).ok();
    let r = d.cli(&["run", "--rm", "--group-add", "nosuch", "busybox", "true"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr()
            .contains("Unable to find group nosuch: no matching entries in group file"),
        "{}",
        r.stderr()
    );

    // One runtime, named as dockerd names its default.
    d.cli(&["create", "--name", "rt", "busybox", "true"]).ok();
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.HostConfig.Runtime}}", "rt"])
            .ok(),
        "runc"
    );
    assert_eq!(d.cli(&["info", "-f", "{{.DefaultRuntime}}"]).ok(), "runc");
    d.cli(&[
        "create",
        "--name",
        "rt2",
        "--runtime",
        "runc",
        "busybox",
        "true",
    ])
    .ok();
    let r = d.cli(&[
        "create",
        "--name",
        "rt3",
        "--runtime",
        "nvidia",
        "busybox",
        "true",
    ]);
    fails_with(&r, 1, "unknown or invalid runtime name: nvidia");
    assert_eq!(
        d.cli(&["ps", "-a", "--format", "{{.Names}}"]).ok(),
        "rt2\nrt"
    );

    // `--log-driver none`: output still reaches an attached client, nothing is
    // kept, and `logs` says so as docker does.
    assert_eq!(
        d.cli(&[
            "run",
            "--rm",
            "--log-driver",
            "none",
            "busybox",
            "echo",
            "hi"
        ])
        .ok(),
        "hi"
    );
    d.cli(&[
        "run",
        "-d",
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ])
    .ok();
    d.cli(&["wait", "quiet"]).ok();
    assert_eq!(
        d.cli(&[
            "inspect",
            "-f",
            "{{.HostConfig.LogConfig.Type}}:{{.LogPath}}",
            "quiet"
        ])
        .ok(),
        "none:"
    );
    fails_with(
        &d.cli(&["logs", "quiet"]),
        1,
        "configured logging driver does not support reading",
    );
    let (code, _) = http(&d, "GET", "/containers/quiet/logs?stdout=1");
    assert_eq!(code, 501);
    fails_with(
        &d.cli(&[
            "run",
            "--rm",
            "--log-driver",
            "none",
            "--log-opt",
            "max-size=1k",
            "busybox",
        ]),
        125,
        "invalid logging opts for driver none",
    );
}

#[test]
fn a_legacy_link_is_removed_by_its_name() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["run", "-d", "--name", "up", "busybox", "sleep", "100"])
        .ok();
    d.cli(&[
        "run", "-d", "--name", "down", "--link", "up:al", "busybox", "sleep", "100",
    ])
    .ok();
    assert_eq!(
        d.cli(&["exec", "down", "sh", "-c", "grep -cw al /etc/hosts"])
            .ok(),
        "1"
    );
    // Our CLI's `rm --link`, then the raw API's answers.
    assert_eq!(d.cli(&["rm", "--link", "down/al"]).ok(), "down/al");
    assert_eq!(
        d.cli(&["inspect", "-f", "{{json .HostConfig.Links}}", "down"])
            .ok(),
        "[]"
    );
    let (code, body) = http(&d, "DELETE", "/containers/down/al?link=1");
    assert_eq!(
        (code, message(&body)),
        (404, "No such container: down/al".into())
    );
    let (code, body) = http(&d, "DELETE", "/containers/up?link=1");
    assert_eq!(
        (code, message(&body)),
        (
            500,
            "Conflict, cannot remove the default link name of the container".into()
        )
    );
    // Both containers are still there and running.
    assert_eq!(d.cli(&["ps", "--format", "{{.Names}}"]).ok(), "down\nup");
}

#[test]
fn a_binds_propagation_is_shown_as_asked() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().display().to_string();
    d.cli(&[
        "create",
        "--name",
        "p1",
        "-v",
        &format!("{src}:/m:rw,rshared"),
        "busybox",
    ])
    .ok();
    d.cli(&[
        "create",
        "--name",
        "p2",
        "-v",
        &format!("{src}:/m"),
        "busybox",
    ])
    .ok();
    d.cli(&[
        "create",
        "--name",
        "p3",
        "--mount",
        &format!("type=bind,source={src},target=/m,bind-propagation=rslave"),
        "busybox",
    ])
    .ok();
    for (name, want) in [("p1", "rshared"), ("p2", "rprivate"), ("p3", "rslave")] {
        assert_eq!(
            d.cli(&[
                "inspect",
                "-f",
                "{{range .Mounts}}{{.Propagation}}{{end}}",
                name
            ])
            .ok(),
            want,
            "{name}"
        );
    }
}

#[test]
fn commit_of_a_container_that_is_exiting_succeeds() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // docker-py's test_commit: start `touch /test` and commit at once (with
    // pause, the API's default). The exit may land between the two.
    for i in 0..10 {
        let name = format!("quick{i}");
        d.cli(&["run", "-d", "--name", &name, "busybox", "touch", "/test"])
            .ok();
        let id = d.cli(&["commit", &name]).ok();
        assert!(id.starts_with("sha256:"), "{id}");
        assert_eq!(
            d.cli(&["run", "--rm", &id, "ls", "/test"]).ok(),
            "/test",
            "round {i}"
        );
    }
}

/// Go decodes JSON keys case-insensitively: docker-py sends `CPURealtimePeriod`
/// for `CpuRealtimePeriod`, and moby keeps it under its own spelling.
#[test]
fn host_config_keys_are_matched_as_go_matches_them() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let body = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"CPURealtimePeriod":1000,"CPURealtimeRuntime":500,"networkmode":"none"}}"#;
    let (code, out) = d.api("POST", "/containers/create?name=rt", Some(body));
    assert_eq!(code, 201, "{out}");
    let hc = d.cli(&["inspect", "-f", "{{json .HostConfig}}", "rt"]).ok();
    let hc: serde_json::Value = serde_json::from_str(&hc).unwrap();
    assert_eq!(hc["CpuRealtimePeriod"], 1000);
    assert_eq!(hc["CpuRealtimeRuntime"], 500);
    assert_eq!(hc["NetworkMode"], "none");
    assert!(hc.get("CPURealtimePeriod").is_none(), "{hc}");
}
