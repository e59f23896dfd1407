//! Temp-dir trees laid out like the kernel's cgroupfs (youki's
//! `libcgroups/src/test.rs` idea), and a `TreeOps` that does by hand what the
//! kernel does on mkdir and rmdir in such a tree.

use super::common::TreeOps;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

/// Emulates cgroupfs mkdir/rmdir on plain directories.
///
/// - mkdir on v2 (the parent has `cgroup.controllers`): the child offers what the
///   parent's `cgroup.subtree_control` enables, with those controllers' files
///   (`v2_files`), empty procs, an unfrozen `cgroup.events` and, if
///   `kill_file`, a `cgroup.kill`.
/// - mkdir on v1: the child gets the parent's control files with their values,
///   except an empty process list and empty `cpuset.cpus`/`cpuset.mems` (as
///   the kernel leaves them), and `freezer.state` THAWED in a freezer hierarchy.
/// - rmdir: EBUSY while `cgroup.procs` lists a process, ENOTEMPTY with child
///   cgroups, else the control files go with the directory.
#[derive(Debug)]
pub(crate) struct EmulatedTree {
    pub kill_file: bool,
}

fn write(path: &Path, s: &str) -> io::Result<()> {
    fs::write(path, s)
}

impl TreeOps for EmulatedTree {
    fn mkdir(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir(dir)?;
        let parent = dir.parent().ok_or(io::ErrorKind::InvalidInput)?;
        write(&dir.join("cgroup.procs"), "")?;
        if parent.join("cgroup.controllers").exists() {
            let enabled = fs::read_to_string(parent.join("cgroup.subtree_control"))?;
            let offered: Vec<&str> = enabled
                .split_whitespace()
                .map(|c| c.trim_start_matches('+'))
                .collect();
            write(&dir.join("cgroup.controllers"), &offered.join(" "))?;
            write(&dir.join("cgroup.subtree_control"), "")?;
            write(&dir.join("cgroup.events"), "populated 0\nfrozen 0\n")?;
            write(&dir.join("cgroup.freeze"), "0")?;
            for c in &offered {
                for (file, value) in v2_files(c) {
                    write(&dir.join(file), value)?;
                }
            }
            if self.kill_file {
                write(&dir.join("cgroup.kill"), "")?;
            }
            return Ok(());
        }
        for entry in fs::read_dir(parent)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name();
            let starts_empty = matches!(
                name.to_str(),
                Some("cgroup.procs" | "tasks" | "cpuset.cpus" | "cpuset.mems")
            );
            let value = if starts_empty {
                String::new()
            } else {
                fs::read_to_string(entry.path())?
            };
            write(&dir.join(name), &value)?;
        }
        let in_freezer = parent.join("freezer.state").exists()
            || parent
                .file_name()
                .is_some_and(|n| n.to_string_lossy().split(',').any(|c| c == "freezer"));
        if in_freezer {
            write(&dir.join("freezer.state"), "THAWED\n")?;
        }
        Ok(())
    }

    fn rmdir(&self, dir: &Path) -> io::Result<()> {
        let procs = fs::read_to_string(dir.join("cgroup.procs"))?;
        if !procs.trim().is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        for entry in fs::read_dir(dir)? {
            if entry?.file_type()?.is_dir() {
                return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
            }
        }
        fs::remove_dir_all(dir)
    }
}

/// The control files a cgroup2 directory gets for an enabled controller, with
/// the values of a fresh cgroup.
pub(crate) fn v2_files(controller: &str) -> &'static [(&'static str, &'static str)] {
    match controller {
        "memory" => &[
            ("memory.max", "max\n"),
            ("memory.swap.max", "max\n"),
            ("memory.low", "0\n"),
            ("memory.current", "0\n"),
            ("memory.stat", "anon 0\nfile 0\ninactive_file 0\n"),
            ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
        ],
        "cpu" => &[
            ("cpu.weight", "100\n"),
            ("cpu.max", "max 100000\n"),
            ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"),
        ],
        "cpuset" => &[("cpuset.cpus", ""), ("cpuset.mems", "")],
        "pids" => &[("pids.max", "max\n"), ("pids.current", "0\n")],
        "io" => &[("io.weight", "default 100\n"), ("io.stat", "")],
        _ => &[],
    }
}

/// The control files of a v1 hierarchy's root, per controller.
fn v1_files(controller: &str) -> &'static [(&'static str, &'static str)] {
    match controller {
        "memory" => &[
            ("memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
            ("memory.soft_limit_in_bytes", "9223372036854771712\n"),
            ("memory.kmem.limit_in_bytes", "9223372036854771712\n"),
            ("memory.swappiness", "60\n"),
            (
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
            ),
            ("memory.usage_in_bytes", "0\n"),
            ("memory.max_usage_in_bytes", "0\n"),
            ("memory.failcnt", "0\n"),
            ("memory.stat", ""),
        ],
        "cpu" => &[
            ("cpu.shares", "1024\n"),
            ("cpu.cfs_period_us", "100000\n"),
            ("cpu.cfs_quota_us", "-1\n"),
            (
                "cpu.stat",
                "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
            ),
        ],
        "cpuacct" => &[
            ("cpuacct.usage", "0\n"),
            ("cpuacct.usage_percpu", "0 0\n"),
            ("cpuacct.stat", "user 0\nsystem 0\n"),
        ],
        "pids" => &[("pids.max", "max\n"), ("pids.current", "0\n")],
        "blkio" => &[
            ("blkio.weight", "500\n"),
            ("blkio.throttle.io_service_bytes_recursive", "Total 0\n"),
            ("blkio.throttle.io_serviced_recursive", "Total 0\n"),
        ],
        _ => &[],
    }
}

/// A v1 hierarchy root for the comma-separated `controllers`, with their files.
fn v1_controller_root(root: &Path, controllers: &str, extra: &[(&str, &str)]) {
    let mut files: Vec<(&str, &str)> = controllers
        .split(',')
        .flat_map(|c| v1_files(c).iter().copied())
        .collect();
    files.extend_from_slice(extra);
    v1_root(&root.join(controllers), &files);
}

fn v1_root(dir: &Path, extra: &[(&str, &str)]) {
    fs::create_dir_all(dir).expect("mkdir");
    for (f, v) in [
        ("cgroup.procs", ""),
        ("tasks", ""),
        ("notify_on_release", "0"),
    ]
    .iter()
    .chain(extra)
    {
        fs::write(dir.join(f), v).expect("write");
    }
}

/// A legacy host as many distributions mount it: `cpu,cpuacct` co-mounted with
/// symlinks, the other controllers alone, and systemd's named hierarchy.
pub(crate) fn legacy(root: &Path) {
    v1_controller_root(root, "cpu,cpuacct", &[]);
    symlink("cpu,cpuacct", root.join("cpu")).expect("symlink");
    symlink("cpu,cpuacct", root.join("cpuacct")).expect("symlink");
    v1_root(
        &root.join("cpuset"),
        &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")],
    );
    for c in ["memory", "pids", "freezer", "blkio", "devices", "systemd"] {
        v1_controller_root(root, c, &[]);
    }
}

/// A hybrid host like the development machine: v1 controllers, each mounted
/// alone, plus an almost empty cgroup2 tree at `unified`.
pub(crate) fn hybrid(root: &Path) {
    v1_controller_root(root, "cpu", &[]);
    v1_controller_root(root, "cpuacct", &[]);
    v1_root(
        &root.join("cpuset"),
        &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")],
    );
    for c in ["memory", "pids", "freezer", "blkio", "devices", "systemd"] {
        v1_controller_root(root, c, &[]);
    }
    unified(&root.join("unified"), "hugetlb");
}

/// A cgroup2 root offering `controllers`.
pub(crate) fn unified(root: &Path, controllers: &str) {
    fs::create_dir_all(root).expect("mkdir");
    for (f, v) in [
        ("cgroup.controllers", controllers),
        ("cgroup.subtree_control", ""),
        ("cgroup.procs", ""),
    ] {
        fs::write(root.join(f), v).expect("write");
    }
}
