//! Tests of the cgroup logic on temp-dir trees (every layout); the same
//! operations on the machine's own kernel are in `kernel_tests.rs`.

use super::test_tree::{self, EmulatedTree};
use super::*;
use std::fs;
use std::process::{Child, Command};
use std::sync::Arc;
use tempfile::TempDir;

const PREFIX: &str = "dockhand-t";

fn tree(build: impl FnOnce(&Path)) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    dir
}

fn cgroups(root: &Path, kill_file: bool) -> Cgroups {
    Cgroups::with_ops(root, PREFIX, Arc::new(EmulatedTree { kill_file }))
        .expect("detect")
        .with_freeze_timeout(Duration::from_millis(50))
}

pub(super) fn read(p: impl AsRef<Path>) -> String {
    fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

/// The real hierarchy directories of the legacy test tree.
const LEGACY_MOUNTS: [&str; 7] = [
    "blkio",
    "cpu,cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "memory",
    "pids",
];

/// A `sleep` that is killed and reaped whatever happens to the test.
pub(super) struct Sleeper(pub(super) Child);
impl Sleeper {
    pub(super) fn start() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        )
    }
    pub(super) fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}
impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cgroups_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Cgroups>();
    shareable::<AnyCgroupManager>();
}

#[test]
fn detects_unified_when_the_root_is_cgroup2() {
    let t = tree(|r| test_tree::unified(r, "cpu io memory pids"));
    let cg = cgroups(t.path(), true);
    assert_eq!(cg.layout(), Layout::Unified);
    assert_eq!(cg.version(), "2");
    assert_eq!(cg.unified_root(), Some(t.path()));
    assert!(cg.v1_hierarchies().is_empty());
}

#[test]
fn detects_legacy_and_uses_each_comounted_hierarchy_once() {
    let t = tree(test_tree::legacy);
    let cg = cgroups(t.path(), false);
    assert_eq!(cg.layout(), Layout::Legacy);
    assert_eq!(cg.version(), "1");
    assert_eq!(cg.unified_root(), None);
    let mounts: Vec<PathBuf> = cg
        .v1_hierarchies()
        .iter()
        .map(|h| h.mount.clone())
        .collect();
    let want: Vec<PathBuf> = LEGACY_MOUNTS.iter().map(|m| t.path().join(m)).collect();
    assert_eq!(mounts, want, "symlinks and name=systemd are skipped");
    let cpu = &cg.v1_hierarchies()[1];
    assert_eq!(cpu.controllers, vec![Controller::Cpu, Controller::Cpuacct]);
}

#[test]
fn detects_hybrid_when_a_unified_tree_sits_beside_v1() {
    let t = tree(test_tree::hybrid);
    let cg = cgroups(t.path(), true);
    assert_eq!(cg.layout(), Layout::Hybrid);
    assert_eq!(cg.version(), "1");
    assert_eq!(cg.unified_root(), Some(t.path().join("unified").as_path()));
    assert_eq!(cg.v1_hierarchies().len(), 8);
}

#[test]
fn a_directory_without_cgroups_is_an_error() {
    let t = tree(|r| fs::create_dir(r.join("cpu")).expect("mkdir"));
    let err = Cgroups::new(t.path(), PREFIX).expect_err("no cgroupfs");
    assert!(matches!(err, CgroupError::NoCgroupfs(_)), "{err}");
}

#[test]
fn names_must_be_single_path_components() {
    let t = tree(test_tree::legacy);
    assert!(Cgroups::new(t.path(), "a/b").is_err());
    assert!(Cgroups::new(t.path(), "").is_err());
    let cg = cgroups(t.path(), false);
    assert!(cg.for_container("..", "x").is_err());
    assert!(cg.for_container("h", "../../x").is_err());
    assert!(cg.for_container("h", "abc123").is_ok());
}

#[test]
fn paths_follow_prefix_host_container_in_each_layout() {
    let t = tree(test_tree::legacy);
    let m = cgroups(t.path(), false)
        .for_container("h1", "c1")
        .expect("manager");
    let cpu = t.path().join("cpu,cpuacct").join(PREFIX).join("h1/c1");
    assert_eq!(m.path(Controller::Cpu), Some(cpu.clone()));
    assert_eq!(m.path(Controller::Cpuacct), Some(cpu));
    assert_eq!(
        m.path(Controller::Memory),
        Some(t.path().join("memory").join(PREFIX).join("h1/c1"))
    );

    let t = tree(|r| test_tree::unified(r, "cpu memory"));
    let m = cgroups(t.path(), true)
        .for_container("h1", "c1")
        .expect("manager");
    let leaf = t.path().join(PREFIX).join("h1/c1");
    assert_eq!(m.path(Controller::Memory), Some(leaf.clone()));
    assert_eq!(m.path(Controller::Pids), Some(leaf));
}

#[test]
fn v1_create_makes_the_cgroup_in_every_hierarchy_and_inherits_cpuset() {
    let t = tree(test_tree::legacy);
    let m = cgroups(t.path(), false)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    m.create().expect("create is idempotent");
    for mount in LEGACY_MOUNTS {
        assert!(
            t.path().join(mount).join(PREFIX).join("h1/c1").is_dir(),
            "{mount}"
        );
    }
    assert!(!t.path().join("systemd").join(PREFIX).exists());
    let leaf = t.path().join("cpuset").join(PREFIX).join("h1/c1");
    assert_eq!(read(leaf.join("cpuset.cpus")), "0-3");
    assert_eq!(read(leaf.join("cpuset.mems")), "0");
}

#[test]
fn hybrid_create_and_add_pid_cover_v1_and_the_unified_tree() {
    let t = tree(test_tree::hybrid);
    let m = cgroups(t.path(), true)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    m.add_pid(4242).expect("add_pid");
    for dir in [
        "cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices", "unified",
    ] {
        let procs = t.path().join(dir).join(PREFIX).join("h1/c1/cgroup.procs");
        assert_eq!(read(procs), "4242", "{dir}");
    }
    assert_eq!(m.pids().expect("pids"), vec![4242]);
}

#[test]
fn v1_freeze_and_thaw_write_freezer_state() {
    let t = tree(test_tree::legacy);
    let m = cgroups(t.path(), false)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    let state = t
        .path()
        .join("freezer")
        .join(PREFIX)
        .join("h1/c1/freezer.state");
    assert!(!m.is_frozen().expect("is_frozen"));
    m.freeze().expect("freeze");
    assert_eq!(read(&state), "FROZEN");
    assert!(m.is_frozen().expect("is_frozen"));
    m.thaw().expect("thaw");
    assert_eq!(read(&state), "THAWED");
    assert!(!m.is_frozen().expect("is_frozen"));
}

#[test]
fn v2_create_delegates_wanted_controllers_as_far_as_each_parent_offers() {
    let t = tree(|r| test_tree::unified(r, "cpu io memory hugetlb pids rdma"));
    // Already enabled at the root: left alone.
    fs::write(t.path().join("cgroup.subtree_control"), "cpu memory").expect("write");
    let m = cgroups(t.path(), true)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    let root = t.path();
    // The emulated write replaces the file; the kernel would add to it.
    assert_eq!(read(root.join("cgroup.subtree_control")), "+io +pids");
    let prefix = root.join(PREFIX);
    assert_eq!(read(prefix.join("cgroup.controllers")), "io pids");
    assert_eq!(read(prefix.join("cgroup.subtree_control")), "+io +pids");
    assert_eq!(read(prefix.join("h1/cgroup.subtree_control")), "+io +pids");
    assert_eq!(read(prefix.join("h1/c1/cgroup.controllers")), "io pids");
    assert_eq!(
        read(prefix.join("h1/c1/cgroup.subtree_control")),
        "",
        "processes live in the leaf"
    );
    m.create().expect("create is idempotent");
}

#[test]
fn controllers_to_enable_skips_enabled_and_unoffered_ones() {
    assert_eq!(
        v2::controllers_to_enable("cpuset cpu io memory hugetlb pids", ""),
        vec!["cpu", "cpuset", "io", "memory", "pids"]
    );
    assert_eq!(
        v2::controllers_to_enable("cpu memory pids", "cpu +pids"),
        vec!["memory"]
    );
    assert!(v2::controllers_to_enable("hugetlb", "").is_empty());
}

#[test]
fn v2_freeze_waits_for_cgroup_events_to_report_frozen() {
    let t = tree(|r| test_tree::unified(r, "cpu memory pids"));
    let m = cgroups(t.path(), true)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    let leaf = t.path().join(PREFIX).join("h1/c1");

    // The kernel never reports frozen: bounded wait, then undo.
    let err = m.freeze().expect_err("times out");
    assert!(
        matches!(err, CgroupError::FreezeTimeout { want: "frozen", .. }),
        "{err}"
    );
    assert_eq!(
        read(leaf.join("cgroup.freeze")),
        "0",
        "a failed freeze is undone"
    );

    // The kernel reports frozen (pre-written, as a test cannot freeze a file).
    fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 1\n").expect("write");
    m.freeze().expect("freeze");
    assert_eq!(read(leaf.join("cgroup.freeze")), "1");
    assert!(m.is_frozen().expect("is_frozen"));

    fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 0\n").expect("write");
    m.thaw().expect("thaw");
    assert_eq!(read(leaf.join("cgroup.freeze")), "0");
    assert!(!m.is_frozen().expect("is_frozen"));
}

#[test]
fn v2_kill_all_uses_cgroup_kill_when_the_kernel_has_it() {
    let t = tree(|r| test_tree::unified(r, "pids"));
    let m = cgroups(t.path(), true)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    m.kill_all().expect("kill_all");
    assert_eq!(read(t.path().join(PREFIX).join("h1/c1/cgroup.kill")), "1");
}

pub(super) fn assert_killed(mut s: Sleeper) {
    use std::os::unix::process::ExitStatusExt;
    let status = s.0.wait().expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
}

#[test]
fn v1_kill_all_signals_every_listed_process() {
    let t = tree(test_tree::legacy);
    let m = cgroups(t.path(), false)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    let s = Sleeper::start();
    // One plain file stands for the kernel's list in one hierarchy.
    fs::write(
        t.path()
            .join("pids")
            .join(PREFIX)
            .join("h1/c1/cgroup.procs"),
        format!("{}\n", s.pid()),
    )
    .expect("write");
    m.kill_all().expect("kill_all");
    let state = t
        .path()
        .join("freezer")
        .join(PREFIX)
        .join("h1/c1/freezer.state");
    assert_eq!(read(state), "THAWED", "frozen for the kill, thawed after");
    assert_killed(s);
}

#[test]
fn v2_kill_all_without_cgroup_kill_signals_every_listed_process() {
    let t = tree(|r| test_tree::unified(r, "pids"));
    let m = cgroups(t.path(), false)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    let s = Sleeper::start();
    let leaf = t.path().join(PREFIX).join("h1/c1");
    fs::write(leaf.join("cgroup.procs"), format!("{}\n", s.pid())).expect("write");
    // The freeze cannot settle in a temp tree; the kill goes ahead anyway.
    m.kill_all().expect("kill_all");
    assert_killed(s);
}

#[test]
fn remove_deletes_the_leaf_and_parents_once_empty() {
    let t = tree(test_tree::hybrid);
    let cg = cgroups(t.path(), true);
    let a = cg.for_container("h1", "a").expect("manager");
    let b = cg.for_container("h1", "b").expect("manager");
    a.create().expect("create");
    b.create().expect("create");
    a.remove().expect("remove");
    for dir in ["memory", "cpuset", "unified"] {
        let daemon = t.path().join(dir).join(PREFIX).join("h1");
        assert!(!daemon.join("a").exists(), "{dir}");
        assert!(
            daemon.join("b").is_dir(),
            "{dir}: the other container stays"
        );
    }
    b.remove().expect("remove");
    for dir in [
        "cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices", "unified",
    ] {
        assert!(!t.path().join(dir).join(PREFIX).exists(), "{dir}");
    }
    b.remove().expect("removing twice is fine");
}

#[test]
fn v2_remove_deletes_the_leaf_and_parents_once_empty() {
    let t = tree(|r| test_tree::unified(r, "cpu memory pids"));
    let m = cgroups(t.path(), true)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    m.remove().expect("remove");
    assert!(!t.path().join(PREFIX).exists());
    assert!(
        t.path().join("cgroup.controllers").exists(),
        "the root stays"
    );
}

/// An emulated tree where another container's `remove` empties and removes
/// `<prefix>` just before each of the first `vanish` mkdirs of a daemon's
/// directory: the race between one container's create and the last other
/// container's removal.
#[derive(Debug)]
struct RemovedUnderfoot {
    inner: EmulatedTree,
    vanish: std::sync::atomic::AtomicUsize,
}

impl TreeOps for RemovedUnderfoot {
    fn mkdir(&self, dir: &Path) -> std::io::Result<()> {
        use std::sync::atomic::Ordering;
        let prefix = dir.parent().filter(|p| p.ends_with(PREFIX));
        if let Some(prefix) = prefix {
            let left = self.vanish.load(Ordering::SeqCst);
            if left > 0 && prefix.is_dir() {
                self.vanish.store(left - 1, Ordering::SeqCst);
                self.inner.rmdir(prefix)?;
            }
        }
        self.inner.mkdir(dir)
    }
    fn rmdir(&self, dir: &Path) -> std::io::Result<()> {
        self.inner.rmdir(dir)
    }
}

fn racing_cgroups(root: &Path, vanish: usize) -> Cgroups {
    let ops = RemovedUnderfoot {
        inner: EmulatedTree { kill_file: true },
        vanish: vanish.into(),
    };
    Cgroups::with_ops(root, PREFIX, Arc::new(ops)).expect("detect")
}

#[test]
fn create_walks_again_when_a_concurrent_remove_takes_a_parent() {
    for (name, build) in [
        ("hybrid", test_tree::hybrid as fn(&Path)),
        ("unified", |r: &Path| {
            test_tree::unified(r, "cpu memory pids")
        }),
    ] {
        let t = tree(build);
        let m = racing_cgroups(t.path(), 3)
            .for_container("h1", "c1")
            .expect("manager");
        m.create()
            .unwrap_or_else(|e| panic!("{name}: create after vanished parents: {e}"));
        for c in [Controller::Memory, Controller::Pids] {
            let leaf = m.path(c).expect("path");
            assert!(leaf.is_dir(), "{name}: {}", leaf.display());
        }
        if name == "hybrid" {
            let root = t.path().join("cpuset");
            let leaf = root.join(PREFIX).join("h1/c1");
            assert_eq!(
                read(leaf.join("cpuset.cpus")),
                read(root.join("cpuset.cpus")),
                "{name}: the re-made parents filled the cpuset again"
            );
        }
    }
}

#[test]
fn create_gives_up_when_a_parent_keeps_vanishing() {
    let t = tree(|r| test_tree::unified(r, "cpu memory pids"));
    let m = racing_cgroups(t.path(), usize::MAX)
        .for_container("h1", "c1")
        .expect("manager");
    let err = m.create().expect_err("a parent that never stays");
    assert!(
        err.to_string().contains("no such file or directory"),
        "{err}"
    );
}

#[test]
fn cleanup_orphans_removes_what_is_not_kept() {
    let t = tree(test_tree::legacy);
    let cg = cgroups(t.path(), false);
    for (h, id) in [("h1", "a"), ("h1", "b"), ("h2", "c")] {
        cg.for_container(h, id)
            .expect("manager")
            .create()
            .expect("create");
    }
    let removed = cg.cleanup_orphans(&|_, id| id == "b").expect("cleanup");
    assert_eq!(
        removed,
        vec![("h1".into(), "a".into()), ("h2".into(), "c".into())]
    );
    assert_eq!(
        cg.containers().expect("list"),
        vec![("h1".into(), "b".into())]
    );
    assert!(!t.path().join("memory").join(PREFIX).join("h2").exists());
}

#[test]
fn remove_all_tears_down_the_prefix_and_nothing_else() {
    let t = tree(test_tree::hybrid);
    let ours = cgroups(t.path(), true);
    let other = Cgroups::with_ops(
        t.path(),
        "dockhand-other",
        Arc::new(EmulatedTree { kill_file: true }),
    )
    .expect("detect");
    for (h, id) in [("h1", "a"), ("h2", "b")] {
        ours.for_container(h, id)
            .expect("manager")
            .create()
            .expect("create");
    }
    let kept = other.for_container("h1", "a").expect("manager");
    kept.create().expect("create");
    ours.for_container("h1", "a")
        .expect("manager")
        .freeze()
        .expect("freeze");
    ours.remove_all().expect("remove_all");
    for dir in ["cpu", "cpuset", "freezer", "memory", "unified"] {
        assert!(!t.path().join(dir).join(PREFIX).exists(), "{dir}");
        assert!(
            t.path().join(dir).join("dockhand-other/h1/a").is_dir(),
            "{dir}"
        );
    }
    assert!(ours.containers().expect("list").is_empty());
}

#[test]
fn apply_writes_pids_max() {
    let t = tree(test_tree::legacy);
    let m = cgroups(t.path(), false)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    let file = t.path().join("pids").join(PREFIX).join("h1/c1/pids.max");
    m.apply(&Limits {
        pids_max: Some(20),
        ..Limits::default()
    })
    .expect("apply");
    assert_eq!(read(&file), "20");
    m.apply(&Limits {
        pids_max: Some(-1),
        ..Limits::default()
    })
    .expect("apply");
    assert_eq!(read(&file), "max");
    m.apply(&Limits::default()).expect("apply nothing");
    assert_eq!(read(&file), "max");

    let t = tree(|r| test_tree::unified(r, "cpu pids"));
    let m = cgroups(t.path(), true)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    m.apply(&Limits {
        pids_max: Some(5),
        ..Limits::default()
    })
    .expect("apply");
    assert_eq!(read(t.path().join(PREFIX).join("h1/c1/pids.max")), "5");

    let t = tree(|r| test_tree::unified(r, "cpu"));
    let m = cgroups(t.path(), true)
        .for_container("h1", "c1")
        .expect("manager");
    m.create().expect("create");
    let err = m
        .apply(&Limits {
            pids_max: Some(5),
            ..Limits::default()
        })
        .expect_err("no pids controller");
    assert!(
        matches!(err, CgroupError::MissingController("pids")),
        "{err}"
    );
}

#[test]
fn v2_a_hosts_caps_sit_above_its_containers_and_go_with_the_tree() {
    let t = tree(|r| test_tree::unified(r, "cpu memory pids"));
    let cg = cgroups(t.path(), true);
    let daemon = cg.for_daemon("vh1").expect("host manager");
    daemon.create().expect("create");
    daemon
        .apply(&Limits {
            memory: Some(256 << 20),
            pids_max: Some(100),
            cpu_quota: Some(50_000),
            cpu_period: Some(100_000),
            ..Default::default()
        })
        .expect("apply");
    let dir = t.path().join(PREFIX).join("vh1");
    assert_eq!(read(dir.join("memory.max")), (256u64 << 20).to_string());
    assert_eq!(read(dir.join("pids.max")), "100");
    assert_eq!(read(dir.join("cpu.max")), "50000 100000");
    // The host's containers nest below; the host cgroup itself holds no process
    // (cgroup v2's rule): it delegates to them.
    let c = cg.for_container("vh1", "c1").expect("manager");
    c.create().expect("create");
    assert_eq!(
        read(dir.join("cgroup.subtree_control")),
        "+cpu +memory +pids"
    );
    assert_eq!(cg.daemons().expect("hosts"), vec!["vh1".to_string()]);
    cg.remove_daemon_tree("vh1").expect("remove");
    assert!(!dir.exists());
}

#[test]
fn v1_a_hosts_caps_are_written_in_each_hierarchy() {
    let t = tree(test_tree::legacy);
    let cg = cgroups(t.path(), false);
    let daemon = cg.for_daemon("vh2").expect("host manager");
    daemon.create().expect("create");
    daemon
        .apply(&Limits {
            memory: Some(128 << 20),
            pids_max: Some(64),
            ..Default::default()
        })
        .expect("apply");
    let mem = t.path().join("memory").join(PREFIX).join("vh2");
    assert_eq!(
        read(mem.join("memory.limit_in_bytes")),
        (128u64 << 20).to_string()
    );
    assert_eq!(
        read(t.path().join("pids").join(PREFIX).join("vh2/pids.max")),
        "64"
    );
    cg.remove_daemon_tree("vh2").expect("remove");
    assert!(!mem.exists());
}
