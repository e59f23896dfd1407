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
///   parent's `cgroup.subtree_control` enables, has empty procs, an unfrozen
///   `cgroup.events` and, if `kill_file`, a `cgroup.kill`.
/// - mkdir on v1: the child gets the parent's control files, empty (as the
///   kernel leaves `cpuset.cpus` empty), and `freezer.state` THAWED in a freezer
///   hierarchy.
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
            if self.kill_file {
                write(&dir.join("cgroup.kill"), "")?;
            }
            return Ok(());
        }
        for entry in fs::read_dir(parent)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                write(&dir.join(entry.file_name()), "")?;
            }
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
    v1_root(&root.join("cpu,cpuacct"), &[("cpu.shares", "1024")]);
    symlink("cpu,cpuacct", root.join("cpu")).expect("symlink");
    symlink("cpu,cpuacct", root.join("cpuacct")).expect("symlink");
    v1_root(
        &root.join("cpuset"),
        &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")],
    );
    for c in ["memory", "pids", "freezer", "blkio", "devices", "systemd"] {
        v1_root(&root.join(c), &[]);
    }
}

/// A hybrid host like the development machine: v1 controllers, each mounted
/// alone, plus an almost empty cgroup2 tree at `unified`.
pub(crate) fn hybrid(root: &Path) {
    v1_root(&root.join("cpu"), &[("cpu.shares", "1024")]);
    v1_root(&root.join("cpuacct"), &[]);
    v1_root(
        &root.join("cpuset"),
        &[("cpuset.cpus", "0-1\n"), ("cpuset.mems", "0\n")],
    );
    for c in ["memory", "pids", "freezer", "blkio", "devices", "systemd"] {
        v1_root(&root.join(c), &[]);
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
