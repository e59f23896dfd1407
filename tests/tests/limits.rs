//! Resource limits measured on the real kernel: memory (OOM kill), pids, CPU
//! quota, live `update`, `stats`, and Docker's validation errors.

use dockhand_tests::Daemon;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The container's cgroup directory of one controller hierarchy, if mounted.
fn cgroup_dir(d: &Daemon, id: &str, controller_file: &str) -> Option<PathBuf> {
    d.leftover_cgroups()
        .into_iter()
        .find(|p| p.ends_with(id) && p.join(controller_file).exists())
}

/// CPU time used by a container's cgroup so far, in seconds (v1 or v2 counters).
fn cpu_seconds(d: &Daemon, id: &str) -> f64 {
    let dir = cgroup_dir(d, id, "cpuacct.usage")
        .or_else(|| cgroup_dir(d, id, "cpu.stat"))
        .expect("cpu cgroup");
    if let Ok(t) = std::fs::read_to_string(dir.join("cpuacct.usage")) {
        return t.trim().parse::<f64>().unwrap() / 1e9;
    }
    let stat = std::fs::read_to_string(dir.join("cpu.stat")).unwrap();
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .unwrap()
        .trim()
        .parse::<f64>()
        .unwrap()
        / 1e6
}

#[test]
fn memory_limit_ooms_a_hog_with_137_and_oomkilled() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // tmpfs pages are charged to the cgroup and cannot be reclaimed without swap.
    let r = d.cli(&[
        "run",
        "--name",
        "hog",
        "-m",
        "32m",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/fill",
        "bs=1M",
        "count=60",
    ]);
    assert_eq!(r.code(), 137, "{}", r.stderr());
    assert_eq!(
        d.cli(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            "hog"
        ])
        .ok(),
        "true 137"
    );
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.HostConfig.Memory}}", "hog"])
            .ok(),
        (32 << 20).to_string()
    );
    // Under the limit nothing happens.
    let ok = d.cli(&[
        "run",
        "--rm",
        "-m",
        "32m",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/fill",
        "bs=1M",
        "count=8",
    ]);
    assert_eq!(ok.code(), 0, "{}", ok.stderr());
}

#[test]
fn pids_limit_stops_a_fork_loop() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // The loop runs in a subshell (a refused fork ends it); PID 1 then becomes
    // `sleep` without forking, so the container outlives the loop.
    let id = d
        .cli(&[
            "run",
            "-d",
            "--pids-limit",
            "20",
            "busybox",
            "sh",
            "-c",
            "(for i in $(seq 1 60); do sleep 30 & done) 2>/dev/null; exec sleep 30",
        ])
        .ok();
    let dir = cgroup_dir(&d, &id, "pids.max").expect("pids cgroup");
    assert_eq!(
        std::fs::read_to_string(dir.join("pids.max"))
            .unwrap()
            .trim(),
        "20"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut peak, mut refused) = (0u64, 0u64);
    while Instant::now() < deadline && refused == 0 {
        let cur = std::fs::read_to_string(dir.join("pids.current")).unwrap_or_default();
        peak = peak.max(cur.trim().parse().unwrap_or(0));
        let events = std::fs::read_to_string(dir.join("pids.events")).unwrap_or_default();
        refused = events
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused > 0, "the kernel refused forks past the limit");
    assert!(peak <= 20, "never more than 20 tasks, saw {peak}");
    let left: usize = d.cli(&["top", &id]).ok().lines().count() - 1;
    assert!(
        (10..=20).contains(&left),
        "the container keeps what fitted: {left} processes"
    );
}

#[test]
fn cpus_half_uses_about_half_a_cpu() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let id = d
        .cli(&[
            "run",
            "-d",
            "--cpus",
            "0.5",
            "busybox",
            "sh",
            "-c",
            "while :; do :; done",
        ])
        .ok();
    let usage = || cpu_seconds(&d, &id);
    std::thread::sleep(Duration::from_millis(300));
    let (u0, t0) = (usage(), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let cpus = (usage() - u0) / t0.elapsed().as_secs_f64();
    assert!(
        (0.35..=0.65).contains(&cpus),
        "busy loop under --cpus 0.5 used {cpus:.3} CPUs"
    );
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.HostConfig.NanoCpus}}", &id])
            .ok(),
        "500000000"
    );
}

#[test]
fn update_lowers_memory_on_the_running_process() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let id = d
        .cli(&[
            "run", "-d", "--name", "upd", "-m", "256m", "busybox", "sleep", "300",
        ])
        .ok();
    d.cli(&[
        "exec",
        "upd",
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/a",
        "bs=1M",
        "count=40",
    ])
    .ok();
    assert_eq!(
        d.cli(&["update", "-m", "64m", "--memory-swap", "64m", "upd"])
            .ok(),
        "upd"
    );
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.HostConfig.Memory}}", "upd"])
            .ok(),
        (64 << 20).to_string()
    );
    if let Some(dir) = cgroup_dir(&d, &id, "memory.limit_in_bytes") {
        assert_eq!(
            std::fs::read_to_string(dir.join("memory.limit_in_bytes"))
                .unwrap()
                .trim(),
            (64 << 20).to_string()
        );
    }
    // Growing past the new limit is now fatal for the writer.
    let r = d.cli(&[
        "exec",
        "upd",
        "dd",
        "if=/dev/zero",
        "of=/dev/shm/b",
        "bs=1M",
        "count=40",
    ]);
    assert_eq!(r.code(), 137, "{}", r.stderr());
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Running}}", "upd"]).ok(),
        "true",
        "only the writer was killed"
    );
    // Lowering below usage (40 MB of tmpfs pages, which cannot be reclaimed
    // without swap): cgroup v1 refuses the write, reported as docker does;
    // cgroup v2 accepts it and the kernel OOM-kills what holds the memory, as
    // under dockerd.
    let v2 = d.cli(&["info", "-f", "{{.CgroupVersion}}"]).ok() == "2";
    let r = d.cli(&["update", "-m", "6m", "--memory-swap", "6m", "upd"]);
    if !v2 {
        assert_ne!(r.code(), 0);
        return;
    }
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.cli(&["inspect", "-f", "{{.State.Running}}", "upd"]).ok() == "true" {
        assert!(
            Instant::now() < deadline,
            "the container outlived its limit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        d.cli(&[
            "inspect",
            "-f",
            "{{.State.OOMKilled}} {{.State.ExitCode}}",
            "upd"
        ])
        .ok(),
        "true 137"
    );
}

#[test]
fn stats_show_dockers_columns_from_the_cgroup() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run", "-d", "--name", "st", "-m", "32m", "busybox", "sleep", "300",
    ])
    .ok();
    let out = d.cli(&["stats", "--no-stream", "st"]).ok();
    let mut lines = out.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains(" st ") && row.contains("/ 32MiB") && row.trim_end().ends_with('1'),
        "{row}"
    );
    let fmt = d
        .cli(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "st",
        ])
        .ok();
    assert_eq!(fmt, "st 1");
}

#[test]
fn invalid_limits_get_dockers_errors_and_create_nothing() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let r = d.cli(&["run", "--rm", "-m", "1m", "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr().contains("Minimum memory limit allowed is 6MB"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&[
        "run",
        "--rm",
        "-m",
        "64m",
        "--memory-swap",
        "32m",
        "busybox",
        "true",
    ]);
    assert!(
        r.stderr()
            .contains("Minimum memoryswap limit should be larger than memory limit"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&[
        "run",
        "--rm",
        "--cpus",
        "0.5",
        "--cpu-period",
        "50000",
        "busybox",
        "true",
    ]);
    assert!(
        r.stderr()
            .contains("Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        "{}",
        r.stderr()
    );
    let r = d.cli(&["run", "--rm", "-m", "lots", "busybox", "true"]);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr()
            .contains("invalid argument \"lots\" for \"-m, --memory\" flag"),
        "{}",
        r.stderr()
    );
    assert_eq!(d.cli(&["ps", "-aq"]).ok(), "");
    assert!(d
        .leftover_cgroups()
        .iter()
        .all(|p| p.file_name().map(|n| n.len() != 64).unwrap_or(true)));
}

#[test]
fn cpu_shares_split_one_cpu_about_two_to_one() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let busy = |name: &str, shares: &str| {
        d.cli(&[
            "run",
            "-d",
            "--name",
            name,
            "--cpuset-cpus",
            "0",
            "-c",
            shares,
            "busybox",
            "sh",
            "-c",
            "while :; do :; done",
        ])
        .ok()
    };
    let a = busy("heavy", "1024");
    let b = busy("light", "512");
    let usage = |id: &str| cpu_seconds(&d, id);
    std::thread::sleep(Duration::from_millis(300));
    let (a0, b0) = (usage(&a), usage(&b));
    std::thread::sleep(Duration::from_secs(2));
    let (da, db) = (usage(&a) - a0, usage(&b) - b0);
    let ratio = da / db;
    assert!(
        (1.5..=2.6).contains(&ratio),
        "shares 1024:512 gave {da:.3}s vs {db:.3}s (ratio {ratio:.2})"
    );
}
