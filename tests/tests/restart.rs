//! State survives the daemon: records, logs and images outlive a restart and a
//! SIGKILL at any moment; containers keep running under their monitors, and those
//! that ended while no daemon watched are shown as exited.

use dockhand_tests::Daemon;
use std::collections::BTreeSet;

#[test]
fn containers_outlive_a_killed_daemon_and_are_reconciled() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    d.cli(&["run", "-d", "--name", "long", "busybox", "sleep", "100"])
        .ok();
    d.cli(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "echo bye; sleep 1",
    ])
    .ok();
    d.cli(&["run", "--name", "done", "busybox", "echo", "kept"])
        .ok();
    d.cli(&["tag", "busybox", "keep/me:1"]).ok();
    let pid = d.cli(&["inspect", "-f", "{{.State.Pid}}", "long"]).ok();
    d.kill9();
    // "short" exits while no daemon runs.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "container survives the daemon"
    );
    d.restart();
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", "long"])
            .ok(),
        format!("running {pid}")
    );
    let short = d
        .cli(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "short",
        ])
        .ok();
    assert_eq!(short, "exited 0");
    assert_eq!(d.cli(&["logs", "short"]).ok(), "bye");
    assert_eq!(d.cli(&["logs", "done"]).ok(), "kept");
    assert!(d
        .cli(&["images", "--format", "{{.Repository}}"])
        .ok()
        .contains("keep/me"));
    // The re-attached daemon still sees the exit of a running container.
    d.cli(&["kill", "long"]).ok();
    assert_eq!(d.cli(&["wait", "long"]).ok(), "137");
}

#[test]
fn sigkill_during_a_stream_of_creates_leaves_consistent_records() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    let sock = d.host_uri();
    let bin = dockhand_tests::bin();
    // Create containers in a loop from another process; kill the daemon mid-way.
    let mut creator = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("i=0; while [ $i -lt 200 ]; do {} -H {sock} create busybox true >/dev/null 2>&1; i=$((i+1)); done", bin.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    d.kill9();
    let _ = creator.kill();
    let _ = creator.wait();
    d.restart();
    let listed: BTreeSet<String> = d
        .cli(&["ps", "-aq", "--no-trunc"])
        .ok()
        .lines()
        .map(String::from)
        .collect();
    assert!(!listed.is_empty(), "some creates completed before the kill");
    // Every listed container is complete and usable; every directory has a record.
    for id in &listed {
        assert_eq!(
            d.cli(&["inspect", "-f", "{{.State.Status}}", id]).ok(),
            "created"
        );
    }
    let dirs: BTreeSet<String> = std::fs::read_dir(d.root.join("hosts/default/containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, listed, "a directory without a record was left behind");
    let one = listed.iter().next().unwrap();
    let r = d.cli(&["start", "-a", one]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
}
