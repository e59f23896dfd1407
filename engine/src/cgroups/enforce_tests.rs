//! Enforcement on the machine's own kernel, measured with real processes.
//! They need root; each test uses a unique `dockhand-test-*` prefix and a guard
//! that kills and removes everything under it, also when the test fails.

use super::limit_tests::MIB;
use super::*;
use crate::stats::{self, OomWatch, StatsSampler};
use std::fs;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Removes everything under the prefix, also when the test fails (the
/// real-cgroupfs tests of `kernel_tests.rs` use it too).
pub(super) struct Guard(pub(super) Cgroups);
impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.0.remove_all() {
            eprintln!("cleanup of {}: {e}", self.0.prefix());
        }
    }
}

/// A guard on a fresh `dockhand-test-*` prefix, or `None` (with the skip
/// message) when not root.
pub(super) fn guard() -> Option<Guard> {
    if !crate::testing::root_or_skip() {
        return None;
    }
    let prefix = format!("dockhand-test-{:016x}", rand::random::<u64>());
    Some(Guard(
        Cgroups::new(Path::new(DEFAULT_ROOT), &prefix).expect("detect"),
    ))
}

/// A `sh -c` that waits for a line on stdin before running `script`, so it
/// can be put into a cgroup before it starts working. Killed on drop.
struct Proc {
    child: Child,
}

impl Proc {
    fn spawn(script: &str) -> Proc {
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("read go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        Proc { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn say(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .expect("write");
        stdin.flush().expect("flush");
    }

    /// Wait (bounded) for the shell to exit.
    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            assert!(start.elapsed() < within, "process did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn started(m: &AnyCgroupManager, script: &str) -> Proc {
    let mut p = Proc::spawn(script);
    m.add_pid(p.pid()).expect("add_pid");
    p.say("go");
    p
}

fn cpu_ns(m: &AnyCgroupManager) -> u64 {
    stats::read_cgroup(m, 0)
        .expect("stats")
        .cpu
        .cpu_usage
        .total_usage
}

fn wait_for(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

#[test]
fn a_process_allocating_past_32m_is_oom_killed_and_the_detector_says_so() {
    use std::os::unix::process::ExitStatusExt;
    let Some(g) = guard() else { return };
    let m = g.0.for_container("h1", "oom").expect("manager");
    m.create().expect("create");
    // What `docker run -m 32m` asks for: swap twice the memory.
    m.apply(&Limits {
        memory: Some(32 * MIB),
        memory_swap: Some(64 * MIB),
        ..Limits::default()
    })
    .or_else(|e| match e {
        // A kernel without swap accounting: Docker drops the swap limit.
        CgroupError::MissingFile(_) => m.apply(&Limits {
            memory: Some(32 * MIB),
            ..Limits::default()
        }),
        e => Err(e),
    })
    .expect("apply");
    let watch = OomWatch::start(&m);
    assert!(!watch.oom_killed(&m).expect("oom count"));
    // tail keeps the last 90 MiB of its input in memory.
    let mut p = started(&m, "head -c 100m /dev/zero | tail -c 90m > /dev/null");
    let st = p.wait_exit(Duration::from_secs(30));
    eprintln!(
        "oom: shell exit {:?} signal {:?}, oom_kill {:?}",
        st.code(),
        st.signal(),
        m.oom_kills()
    );
    assert_eq!(st.code(), Some(137), "the pipeline's tail died of SIGKILL");
    assert!(
        watch.oom_killed(&m).expect("oom count"),
        "the detector saw the OOM kill"
    );
    assert!(m.oom_kills().expect("count").unwrap_or(0) >= 1);
    m.remove().expect("remove");
}

#[test]
fn a_fork_loop_stops_at_pids_max_20() {
    let Some(g) = guard() else { return };
    let m = g.0.for_container("h1", "pids").expect("manager");
    m.create().expect("create");
    m.apply(&Limits {
        pids_max: Some(20),
        ..Limits::default()
    })
    .expect("apply");
    let mut p = started(&m, "for i in $(seq 1 60); do sleep 30 & done; wait");
    // dash gives up at the first fork the kernel refuses.
    let st = p.wait_exit(Duration::from_secs(20));
    assert!(!st.success(), "the shell met a refused fork");
    let left = m.pids().expect("pids").len();
    let dir = m.path(Controller::Pids).expect("pids controller");
    let events = fs::read_to_string(dir.join("pids.events")).unwrap_or_default();
    let refused = super::limits::keyed(&events, "max").unwrap_or(0);
    eprintln!("pids: {left} sleepers left, {refused} forks refused");
    assert_eq!(left, 19, "the shell plus 19 sleeps made 20");
    assert!(refused >= 1, "pids.events counts the refused fork");
    m.kill_all().expect("kill_all");
    assert!(wait_for(Duration::from_secs(5), || m
        .pids()
        .map(|p| p.is_empty())
        .unwrap_or(false)));
    m.remove().expect("remove");
}

#[test]
fn a_busy_loop_under_half_a_cpu_uses_half_a_cpu() {
    let Some(g) = guard() else { return };
    let m = g.0.for_container("h1", "quota").expect("manager");
    m.create().expect("create");
    // `--cpus 0.5`, through the same mapping `run` uses.
    let r = crate::resources::Resources {
        nano_cpus: 500_000_000,
        ..Default::default()
    };
    let l = r.limits();
    assert_eq!((l.cpu_quota, l.cpu_period), (Some(50_000), Some(100_000)));
    m.apply(&l).expect("apply");
    let back = m.read_limits().expect("read back");
    assert_eq!(
        (back.cpu_quota, back.cpu_period),
        (Some(50_000), Some(100_000))
    );
    let _p = started(&m, "while :; do :; done");
    std::thread::sleep(Duration::from_millis(300));
    let (t0, c0) = (Instant::now(), cpu_ns(&m));
    std::thread::sleep(Duration::from_secs(1));
    let (dt, dc) = (t0.elapsed(), cpu_ns(&m) - c0);
    let cpus = dc as f64 / dt.as_nanos() as f64;
    eprintln!("quota 50000/100000: {cpus:.3} CPUs over {dt:?}");
    assert!((0.375..=0.625).contains(&cpus), "{cpus:.3} CPUs");
    m.kill_all().expect("kill_all");
}

#[test]
fn shares_1024_and_512_split_one_cpu_two_to_one() {
    let Some(g) = guard() else { return };
    let cpus = crate::resources::SysInfo::detect(Some(&g.0));
    if cpus.num_cpu < 2 {
        eprintln!("skipped: one CPU");
        return;
    }
    let mk = |id: &str, shares: u64| {
        let m = g.0.for_container("h1", id).expect("manager");
        m.create().expect("create");
        m.apply(&Limits {
            cpu_shares: Some(shares),
            cpuset_cpus: Some("0".into()),
            ..Limits::default()
        })
        .expect("apply");
        m
    };
    let (a, b) = (mk("heavy", 1024), mk("light", 512));
    let _pa = started(&a, "while :; do :; done");
    let _pb = started(&b, "while :; do :; done");
    std::thread::sleep(Duration::from_millis(300));
    let (a0, b0) = (cpu_ns(&a), cpu_ns(&b));
    std::thread::sleep(Duration::from_secs(2));
    let (da, db) = (cpu_ns(&a) - a0, cpu_ns(&b) - b0);
    let ratio = da as f64 / db.max(1) as f64;
    eprintln!(
        "shares 1024:512 on one CPU: {:.3}s vs {:.3}s, ratio {ratio:.2}",
        da as f64 / 1e9,
        db as f64 / 1e9
    );
    assert!((1.5..=2.7).contains(&ratio), "ratio {ratio:.2}");
    a.kill_all().expect("kill_all");
    b.kill_all().expect("kill_all");
}

#[test]
fn lowering_memory_on_a_running_process_takes_effect() {
    let Some(g) = guard() else { return };
    let m = g.0.for_container("h1", "update").expect("manager");
    m.create().expect("create");
    m.apply(&Limits {
        memory: Some(256 * MIB),
        ..Limits::default()
    })
    .expect("apply");
    let watch = OomWatch::start(&m);
    // Hold 40 MiB, then on a second line ask for 100 MiB more.
    let mut p = started(
        &m,
        "(head -c 40m /dev/zero; read more; head -c 100m /dev/zero) | tail -c 200m > /dev/null",
    );
    let usage = || stats::read_cgroup(&m, 0).expect("stats").memory.usage;
    assert!(
        wait_for(Duration::from_secs(10), || usage() >= 40 << 20),
        "never held 40m"
    );
    // `docker update -m 64m --memory-swap 128m` on the running container.
    let update = Limits {
        memory: Some(64 * MIB),
        memory_swap: Some(128 * MIB),
        ..Limits::default()
    };
    m.apply(&update)
        .or_else(|e| match e {
            CgroupError::MissingFile(_) => m.apply(&Limits {
                memory: Some(64 * MIB),
                ..Limits::default()
            }),
            e => Err(e),
        })
        .expect("update");
    assert_eq!(m.read_limits().expect("read").memory, Some(64 * MIB));
    assert!(
        p.child.try_wait().expect("wait").is_none(),
        "40m fits under 64m"
    );
    assert!(!watch.oom_killed(&m).expect("oom"));
    p.say("more");
    let st = p.wait_exit(Duration::from_secs(30));
    eprintln!(
        "update: exit {:?} after growing past the lowered limit",
        st.code()
    );
    assert_eq!(st.code(), Some(137));
    assert!(
        watch.oom_killed(&m).expect("oom"),
        "killed by the lowered limit"
    );
    m.remove().expect("remove");
}

#[test]
fn sysinfo_and_a_stats_frame_on_this_host() {
    let Some(g) = guard() else { return };
    let sys = crate::resources::SysInfo::detect(Some(&g.0));
    eprintln!("sysinfo: {sys:?}");
    assert!(sys.memory_limit && sys.pids_limit && sys.cpu_cfs);
    let m = g.0.for_container("h1", "stats").expect("manager");
    m.create().expect("create");
    let p = started(&m, "sleep 30");
    let mut s = StatsSampler::new(m.clone(), "id1", "/stats", Some(p.pid()));
    let first = s.sample().expect("sample");
    std::thread::sleep(Duration::from_millis(100));
    let second = s.sample().expect("sample");
    assert_eq!(second.preread, first.read);
    assert!(second.cpu_stats.system_cpu_usage > first.cpu_stats.system_cpu_usage);
    assert_eq!(second.cpu_stats.online_cpus as usize, sys.num_cpu);
    assert!(second.pids_stats.current >= 1);
    assert!(second.memory_stats.usage > 0 || g.0.layout() == Layout::Unified);
    m.kill_all().expect("kill_all");
}
