//! The cgroup managers on the machine's own cgroupfs, whatever its layout.
//! They need root; each test uses a unique prefix and a guard that removes it
//! in every hierarchy.

use super::enforce_tests::guard;
use super::tests::{assert_killed, read, Sleeper};
use super::*;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

/// Every directory named by the prefix, in any tree.
fn leftovers(cg: &Cgroups) -> Vec<PathBuf> {
    cg.v1_hierarchies()
        .iter()
        .map(|h| h.mount.clone())
        .chain(cg.unified_root().map(Path::to_path_buf))
        .map(|root| root.join(cg.prefix()))
        .filter(|p| p.exists())
        .collect()
}

/// The layout as /proc/self/mounts tells it, independently of `detect`.
fn layout_from_mounts() -> Option<Layout> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    let (mut v1, mut v2_root, mut v2_unified) = (false, false, false);
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match (f.get(1).copied(), f.get(2).copied()) {
            (Some("/sys/fs/cgroup"), Some("cgroup2")) => v2_root = true,
            (Some("/sys/fs/cgroup/unified"), Some("cgroup2")) => v2_unified = true,
            (Some(p), Some("cgroup")) if p.starts_with("/sys/fs/cgroup/") => v1 = true,
            _ => {}
        }
    }
    match (v2_root, v1, v2_unified) {
        (true, _, _) => Some(Layout::Unified),
        (false, true, true) => Some(Layout::Hybrid),
        (false, true, false) => Some(Layout::Legacy),
        _ => None,
    }
}

#[test]
fn detected_layout_matches_the_mount_table() {
    let Some(g) = guard() else { return };
    assert_eq!(Some(g.0.layout()), layout_from_mounts());
    let want = if g.0.layout() == Layout::Unified {
        "2"
    } else {
        "1"
    };
    assert_eq!(g.0.version(), want);
}

fn proc_state(pid: i32) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The state follows the command name in parentheses.
    let after = stat.rsplit_once(')').expect("stat format").1;
    after.trim_start().chars().next().expect("state")
}

#[test]
fn container_cgroup_lifecycle_on_the_real_kernel() {
    let Some(g) = guard() else { return };
    let cg = &g.0;
    let m = cg.for_container("h1", "c1").expect("manager");
    m.create().expect("create");
    let s = Sleeper::start();
    m.add_pid(s.pid()).expect("add_pid");
    assert_eq!(m.pids().expect("pids"), vec![s.pid()]);

    // The kernel agrees: every hierarchy puts the process in our cgroup.
    let own = fs::read_to_string(format!("/proc/{}/cgroup", s.pid())).expect("cgroup");
    let rel = format!("/{}/h1/c1", cg.prefix());
    for h in cg.v1_hierarchies() {
        let name = h.controllers[0].v1_name();
        let line = own
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == name))
            })
            .unwrap_or_else(|| panic!("no {name} line in {own}"));
        assert!(line.ends_with(&rel), "{line}");
    }
    if cg.unified_root().is_some() {
        assert!(
            own.lines()
                .any(|l| l.starts_with("0::") && l.ends_with(&rel)),
            "{own}"
        );
    }

    m.freeze().expect("freeze");
    assert!(m.is_frozen().expect("is_frozen"));
    if let Some(dir) = m
        .path(Controller::Freezer)
        .filter(|_| cg.layout() != Layout::Unified)
    {
        assert_eq!(read(dir.join("freezer.state")), "FROZEN");
    }
    // A frozen task sleeps uninterruptibly in the freezer.
    assert_eq!(proc_state(s.pid()), 'D');
    m.thaw().expect("thaw");
    assert!(!m.is_frozen().expect("is_frozen"));
    // Thawed, it wakes (briefly R) and goes back to its interruptible sleep.
    let start = Instant::now();
    while proc_state(s.pid()) != 'S' {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "still frozen after thaw"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    m.apply(&Limits {
        pids_max: Some(5),
        ..Limits::default()
    })
    .expect("apply");
    let pids_dir = m.path(Controller::Pids).expect("pids controller");
    assert_eq!(read(pids_dir.join("pids.max")), "5");

    m.kill_all().expect("kill_all");
    assert_killed(s);
    m.remove().expect("remove");
    assert_eq!(leftovers(cg), Vec::<PathBuf>::new());
}

#[test]
fn kill_all_reaches_processes_that_are_not_our_children() {
    let Some(g) = guard() else { return };
    let m = g.0.for_container("h1", "c1").expect("manager");
    m.create().expect("create");
    // sh waits for a line on stdin, so its two sleeps are forked only once
    // it is in the cgroup, and join it by being forked there.
    let mut sh = Sleeper(
        Command::new("sh")
            .args(["-c", "read go; sleep 30 & sleep 30 & wait"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh"),
    );
    m.add_pid(sh.pid()).expect("add_pid");
    let mut stdin = sh.0.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"go\n").expect("write");
    let start = Instant::now();
    while m.pids().expect("pids").len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(5), "sh did not fork");
        std::thread::sleep(Duration::from_millis(10));
    }
    m.kill_all().expect("kill_all");
    let status = sh.0.wait().expect("wait");
    assert!(!status.success());
    let start = Instant::now();
    while !m.pids().expect("pids").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "processes survived kill_all"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    m.remove().expect("remove");
    assert_eq!(leftovers(&g.0), Vec::<PathBuf>::new());
}

/// One container's cgroups come and go while another's do: each removal
/// of the last one takes the emptied parents, and no create in between
/// may fail for it (it did, as ENOENT on `<prefix>/<daemon>`).
#[test]
fn creates_and_removes_of_two_containers_race_without_failing() {
    let Some(g) = guard() else { return };
    let cg = &g.0;
    std::thread::scope(|s| {
        let workers: Vec<_> = ["c1", "c2"]
            .into_iter()
            .map(|id| {
                s.spawn(move || {
                    let m = cg.for_container("h1", id).expect("manager");
                    for i in 0..300 {
                        m.create()
                            .unwrap_or_else(|e| panic!("{id}, round {i}: create: {e}"));
                        m.remove()
                            .unwrap_or_else(|e| panic!("{id}, round {i}: remove: {e}"));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker");
        }
    });
    assert_eq!(leftovers(cg), Vec::<PathBuf>::new());
}

#[test]
fn cleanup_orphans_and_remove_all_leave_nothing_behind() {
    let Some(g) = guard() else { return };
    let cg = &g.0;
    for (h, id) in [("h1", "keep"), ("h1", "orphan"), ("h2", "orphan")] {
        cg.for_container(h, id)
            .expect("manager")
            .create()
            .expect("create");
    }
    let s = Sleeper::start();
    let orphan = cg.for_container("h2", "orphan").expect("manager");
    orphan.add_pid(s.pid()).expect("add_pid");
    let removed = cg.cleanup_orphans(&|_, id| id == "keep").expect("cleanup");
    assert_eq!(removed.len(), 2);
    assert_killed(s);
    assert_eq!(
        cg.containers().expect("list"),
        vec![("h1".into(), "keep".into())]
    );

    let s = Sleeper::start();
    let kept = cg.for_container("h1", "keep").expect("manager");
    kept.add_pid(s.pid()).expect("add_pid");
    kept.freeze().expect("freeze");
    cg.remove_all().expect("remove_all");
    assert_killed(s);
    assert_eq!(leftovers(cg), Vec::<PathBuf>::new());
}
