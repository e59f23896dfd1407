//! `GET /events` (what the playground's panels are fed by) with the real docker
//! CLI: the live stream, filters, and `--since`/`--until` over the history.

use dockhand_tests::{require_docker_cli, Daemon};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn docker_events_streams_container_image_network_and_volume_events() {
    dockhand_tests::require_root!();
    let cli = require_docker_cli!();
    let d = Daemon::start();
    let out = d.dir.path().join("events.txt");
    let t0 = chrono_now();
    let mut events = Command::new(&cli)
        .env("DOCKER_HOST", d.host_uri())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .args([
            "events",
            "--format",
            "{{.Type}} {{.Action}} {{if .Actor.Attributes.name}}{{.Actor.Attributes.name}}{{else}}{{.Actor.ID}}{{end}}",
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let tag = format!("evtest-{}", std::process::id());
    for args in [
        vec!["network", "create", &tag],
        vec!["volume", "create", &tag],
        vec!["run", "--rm", "--name", &tag, "busybox", "true"],
        vec!["tag", "busybox", &tag],
        vec!["rmi", &tag],
        vec!["volume", "rm", &tag],
        vec!["network", "rm", &tag],
    ] {
        d.docker(&args).ok();
    }
    let want = [
        format!("network create {tag}"),
        format!("volume create {tag}"),
        format!("container create {tag}"),
        format!("container start {tag}"),
        format!("container die {tag}"),
        format!("container destroy {tag}"),
        format!("image tag {tag}:latest"),
        format!("image untag {tag}:latest"),
        format!("volume destroy {tag}"),
        format!("network destroy {tag}"),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&out).unwrap_or_default();
        if want.iter().all(|w| text.lines().any(|l| l.trim() == w)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = events.kill();
    let _ = events.wait();
    for w in &want {
        assert!(
            text.lines().any(|l| l.trim() == w),
            "{w:?} missing from:\n{text}"
        );
    }
    // The history: only volume events, between two points in time, then the end.
    let until = chrono_now() + 1;
    let filtered = d.docker(&[
        "events",
        "--since",
        &t0.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        "type=volume",
        "--format",
        "{{.Type}} {{.Action}}",
    ]);
    assert_eq!(filtered.ok(), "volume create\nvolume destroy");
    let bad = d.docker(&["events", "--filter", "colour=red", "--until", "1"]);
    assert_ne!(bad.code(), 0);
    assert!(
        bad.stderr().contains("invalid filter 'colour'"),
        "{}",
        bad.stderr()
    );
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
