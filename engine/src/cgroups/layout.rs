//! Which cgroup layout a host has, found by looking at its cgroupfs root.
//!
//! - **Unified**: a cgroup2 filesystem is mounted at the root itself.
//! - **Legacy**: the root is a tmpfs holding one cgroup v1 mount per controller
//!   (or per group of co-mounted controllers: `cpu,cpuacct` with `cpu` and
//!   `cpuacct` symlinks to it), and no cgroup2 tree.
//! - **Hybrid**: legacy plus a cgroup2 tree at `<root>/unified`, which systemd uses
//!   for process tracking only; the controllers stay on v1.
//!
//! On a real host `statfs` says which filesystem a directory is. A temp-dir tree in
//! tests cannot fake that, so the same markers the kernel leaves stand in for it:
//! `cgroup.controllers` exists only in a cgroup2 directory, `cgroup.procs` in both.

use super::error::CgroupError;
use crate::error::IoContext;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
use std::path::{Path, PathBuf};

/// The three ways a host can mount cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Unified,
    Legacy,
    Hybrid,
}

impl Layout {
    /// What `docker info` shows as "Cgroup Version": the version that holds the
    /// controllers, so "1" for hybrid hosts.
    pub fn version(self) -> &'static str {
        match self {
            Layout::Unified => "2",
            Layout::Legacy | Layout::Hybrid => "1",
        }
    }
}

/// The controllers the engine uses, under their v1 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Controller {
    Cpu,
    Cpuacct,
    Cpuset,
    Memory,
    Pids,
    Freezer,
    Blkio,
    Devices,
}

impl Controller {
    pub const ALL: [Controller; 8] = [
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Memory,
        Controller::Pids,
        Controller::Freezer,
        Controller::Blkio,
        Controller::Devices,
    ];

    /// The name in a v1 mount's directory name and in `/proc/PID/cgroup`.
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
            Controller::Blkio => "blkio",
            Controller::Devices => "devices",
        }
    }

    pub fn from_v1_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.v1_name() == name)
    }
}

/// One v1 hierarchy: where it is mounted and which controllers it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    pub mount: PathBuf,
    pub controllers: Vec<Controller>,
}

/// What detection found under a cgroupfs root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Detected {
    pub layout: Layout,
    /// v1 hierarchies carrying at least one controller we use, each mount once.
    pub v1: Vec<V1Hierarchy>,
    /// The cgroup2 tree: the root itself (unified) or `<root>/unified` (hybrid).
    pub unified: Option<PathBuf>,
}

fn magic_is(path: &Path, magic: nix::sys::statfs::FsType) -> bool {
    statfs(path)
        .map(|s| s.filesystem_type() == magic)
        .unwrap_or(false)
}

fn is_cgroup2(dir: &Path) -> bool {
    magic_is(dir, CGROUP2_SUPER_MAGIC) || dir.join("cgroup.controllers").is_file()
}

fn is_cgroup1(dir: &Path) -> bool {
    magic_is(dir, CGROUP_SUPER_MAGIC)
        || (dir.join("cgroup.procs").is_file() && !dir.join("cgroup.controllers").exists())
}

/// Look at `root` and tell its layout and hierarchies.
pub(crate) fn detect(root: &Path) -> Result<Detected, CgroupError> {
    if is_cgroup2(root) {
        return Ok(Detected {
            layout: Layout::Unified,
            v1: Vec::new(),
            unified: Some(root.to_path_buf()),
        });
    }
    let entries = std::fs::read_dir(root).ctx("read dir", root)?;
    let mut v1: Vec<V1Hierarchy> = Vec::new();
    let mut unified = None;
    for entry in entries {
        let entry = entry.ctx("read dir", root)?;
        let path = entry.path();
        // Symlinks (`cpu -> cpu,cpuacct`) name a mount we meet under its real name.
        let file_type = entry.file_type().ctx("stat", &path)?;
        if !file_type.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "unified" && is_cgroup2(&path) {
            unified = Some(path);
            continue;
        }
        let mut controllers: Vec<Controller> = name
            .split(',')
            .filter_map(Controller::from_v1_name)
            .collect();
        if controllers.is_empty() || !is_cgroup1(&path) {
            continue;
        }
        controllers.sort();
        v1.push(V1Hierarchy {
            mount: path,
            controllers,
        });
    }
    v1.sort_by(|a, b| a.mount.cmp(&b.mount));
    let layout = match (v1.is_empty(), unified.is_some()) {
        (true, _) => return Err(CgroupError::NoCgroupfs(root.to_path_buf())),
        (false, true) => Layout::Hybrid,
        (false, false) => Layout::Legacy,
    };
    Ok(Detected {
        layout,
        v1,
        unified,
    })
}
