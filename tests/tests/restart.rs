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
    let dirs: BTreeSet<String> = std::fs::read_dir(d.root.join("daemons/default/containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, listed, "a directory without a record was left behind");
    let one = listed.iter().next().unwrap();
    let r = d.cli(&["start", "-a", one]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
}

/// A data root of an earlier version kept each daemon's files in `hosts/`: the
/// next start moves them to `daemons/`, leaves `hosts` as a link for the
/// processes still running, and everything is where it was.
#[test]
fn a_data_root_of_an_earlier_version_is_moved_and_kept() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    d.cli(&["run", "-d", "--name", "long", "busybox", "sleep", "100"])
        .ok();
    d.cli(&["run", "--name", "done", "busybox", "echo", "kept"])
        .ok();
    d.cli(&["tag", "busybox", "old/layout:1"]).ok();
    d.kill9();
    let daemons = d.root.join("daemons");
    let hosts = d.root.join("hosts");
    std::fs::rename(&daemons, &hosts).expect("make the old layout");
    assert!(!daemons.exists());
    // Records of then named their files under hosts/.
    let (new_prefix, old_prefix) = (
        format!("{}/", daemons.display()),
        format!("{}/", hosts.display()),
    );
    for e in std::fs::read_dir(hosts.join("default/containers")).unwrap() {
        let rec = e.unwrap().path().join("config.v2.json");
        let text = std::fs::read_to_string(&rec).unwrap();
        assert!(text.contains(&new_prefix), "{text}");
        std::fs::write(&rec, text.replace(&new_prefix, &old_prefix)).unwrap();
    }

    d.restart();
    assert!(daemons.join("default/images.json").is_file());
    assert_eq!(
        std::fs::read_link(&hosts).expect("hosts is a link"),
        std::path::Path::new("daemons")
    );
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Status}}", "long"]).ok(),
        "running"
    );
    assert_eq!(d.cli(&["logs", "done"]).ok(), "kept");
    // Their paths are read under the new name.
    let log = d.cli(&["inspect", "-f", "{{.LogPath}}", "done"]).ok();
    assert!(log.starts_with(&new_prefix), "{log}");
    assert!(d
        .cli(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok()
        .contains("old/layout:1"));
    // A container made after the move lives under the new name.
    let id = d.cli(&["create", "--name", "new", "busybox", "true"]).ok();
    assert!(daemons.join("default/containers").join(&id).is_dir());
    d.cli(&["rm", "-f", "long", "done", "new"]).ok();
}
