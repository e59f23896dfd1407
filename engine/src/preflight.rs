//! What the machine's kernel must offer, checked once when the daemon starts,
//! so that a missing feature is a clear message at start-up instead of a
//! container or a virtual host failing half-way later.
//!
//! Containers need overlayfs and the mount, pid, net, ipc and uts namespaces.
//! Virtual hosts (the playground) also need user namespaces, idmapped mounts on
//! the data root's filesystem (Linux 5.12 for ext4, xfs and btrfs; 6.3 for
//! tmpfs), the memory, cpu and pids cgroup controllers for their caps, and the
//! nftables bridge family for their address guard. `dockhand serve` refuses to
//! start without them; `dockhand daemon` starts and logs what virtual hosts
//! would lack (its containers do not need them).
//!
//! Each probe does the real thing on a scratch directory of the data root and
//! undoes it: an overlay mount, an idmapped clone of a mount that is never
//! attached, `nft --check` of a bridge table (checked by the kernel, not
//! committed).

use shared::go::{errno_text, io_text};
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Who needs a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Every container.
    Containers,
    /// Virtual hosts: the playground and `dockhand host create`.
    VirtualHosts,
}

/// A feature the kernel (or the machine) does not offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub need: Need,
    /// What is missing, e.g. "idmapped mounts on /var/lib/dockhand".
    pub feature: String,
    /// What the probe saw.
    pub cause: String,
    /// What to do about it.
    pub fix: &'static str,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.feature, self.cause, self.fix)
    }
}

/// The results of every probe.
#[derive(Debug, Default)]
pub struct Report {
    pub missing: Vec<Missing>,
}

impl Report {
    /// What the given users need and do not have.
    pub fn lacking(&self, need: Need) -> impl Iterator<Item = &Missing> {
        self.missing.iter().filter(move |m| m.need == need)
    }

    /// One message naming everything `need` lacks, or `None`.
    pub fn error_for(&self, need: Need) -> Option<String> {
        let what: Vec<String> = self.lacking(need).map(|m| m.to_string()).collect();
        if what.is_empty() {
            return None;
        }
        let who = match need {
            Need::Containers => "containers",
            Need::VirtualHosts => "virtual hosts",
        };
        Some(format!(
            "this machine's kernel lacks what {who} need: {}",
            what.join("; ")
        ))
    }
}

/// Probes the kernel with scratch files under `data_root` (which exists).
/// `cgroup_controllers` are the controllers the daemon's cgroups can use
/// (v1 names), `None` when it has no cgroups at all.
pub fn check(data_root: &Path, cgroup_controllers: Option<&[&str]>) -> Report {
    let mut r = Report::default();
    for ns in ["mnt", "pid", "net", "ipc", "uts"] {
        if !Path::new("/proc/self/ns").join(ns).exists() {
            r.missing.push(Missing {
                need: Need::Containers,
                feature: format!("the {ns} namespace"),
                cause: format!("/proc/self/ns/{ns} does not exist"),
                fix: "use a kernel built with namespaces (CONFIG_NAMESPACES and its options)",
            });
        }
    }
    let scratch = Scratch::new(data_root);
    match &scratch {
        Ok(s) => {
            if let Err(e) = s.overlay() {
                r.missing.push(Missing {
                    need: Need::Containers,
                    feature: "overlayfs".into(),
                    cause: e,
                    fix: "load the overlay module (modprobe overlay) or use a kernel with CONFIG_OVERLAY_FS",
                });
            }
        }
        Err(e) => r.missing.push(Missing {
            need: Need::Containers,
            feature: format!("a scratch directory in {}", data_root.display()),
            cause: e.clone(),
            fix: "give the daemon a writable --data-root",
        }),
    }
    match max_user_namespaces() {
        Some(0) => r.missing.push(Missing {
            need: Need::VirtualHosts,
            feature: "user namespaces".into(),
            cause: "user.max_user_namespaces is 0".into(),
            fix: "allow them: sysctl -w user.max_user_namespaces=15000",
        }),
        None => r.missing.push(Missing {
            need: Need::VirtualHosts,
            feature: "user namespaces".into(),
            cause: "/proc/sys/user/max_user_namespaces does not exist".into(),
            fix: "use a kernel built with CONFIG_USER_NS",
        }),
        Some(_) => {
            if let Ok(s) = &scratch {
                if let Err(e) = s.idmapped_mount() {
                    r.missing.push(Missing {
                        need: Need::VirtualHosts,
                        feature: format!("idmapped mounts on {}", data_root.display()),
                        cause: e,
                        fix: "put the data root on ext4, xfs or btrfs (Linux 5.12 or later; tmpfs needs 6.3)",
                    });
                }
            }
        }
    }
    match cgroup_controllers {
        None => r.missing.push(Missing {
            need: Need::VirtualHosts,
            feature: "cgroups".into(),
            cause: "no usable cgroup hierarchy at /sys/fs/cgroup".into(),
            fix: "mount cgroup2 at /sys/fs/cgroup (or the v1 controllers under it)",
        }),
        Some(have) => {
            for c in ["memory", "cpu", "pids"] {
                if !have.contains(&c) {
                    r.missing.push(Missing {
                        need: Need::VirtualHosts,
                        feature: format!("the {c} cgroup controller"),
                        cause: format!("not among the daemon's controllers ({})", have.join(" ")),
                        fix: "enable it (on cgroup v2: in the parent's cgroup.subtree_control; at boot: do not list it in cgroup_disable=)",
                    });
                }
            }
        }
    }
    if let Err(e) = nft_bridge_family() {
        r.missing.push(Missing {
            need: Need::VirtualHosts,
            feature: "the nftables bridge family".into(),
            cause: e,
            fix: "install nftables (nft) and use a kernel with nf_tables' bridge family (CONFIG_NF_TABLES_BRIDGE)",
        });
    }
    r
}

fn max_user_namespaces() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A scratch directory under the data root, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new(data_root: &Path) -> Result<Scratch, String> {
        // One name: what a daemon killed mid-check left is cleared here.
        let dir = data_root.join("preflight");
        let _ = nix::mount::umount2(&dir.join("merged"), nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["lower", "upper", "work", "merged"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| format!("{}: {}", dir.display(), io_text(&e)))?;
        }
        Ok(Scratch { dir })
    }

    /// Mounts an overlay of the scratch directories and unmounts it.
    fn overlay(&self) -> Result<(), String> {
        use nix::mount::{mount, umount2, MntFlags, MsFlags};
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            self.dir.join("lower").display(),
            self.dir.join("upper").display(),
            self.dir.join("work").display()
        );
        let merged = self.dir.join("merged");
        mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| format!("mount -t overlay: {}", errno_text(e as i32)))?;
        umount2(&merged, MntFlags::MNT_DETACH)
            .map_err(|e| format!("umount overlay: {}", errno_text(e as i32)))
    }

    /// Makes an idmapped, detached clone of the scratch directory's mount for
    /// a new user namespace (held by a child that sleeps), then drops it.
    fn idmapped_mount(&self) -> Result<(), String> {
        let mut child = Command::new("sleep");
        child
            .arg("30")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec the child only calls unshare(2),
        // which is async-signal-safe and touches no memory of the parent.
        unsafe {
            child.pre_exec(|| {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = child.spawn().map_err(|e| {
            format!(
                "no process for the probe (sleep in a new user namespace): {}",
                io_text(&e)
            )
        })?;
        let r = (|| {
            let pid = child.id();
            let userns = wait_for_userns(pid)?;
            for map in ["uid_map", "gid_map"] {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(format!("/proc/{pid}/{map}"))
                    .and_then(|mut f| f.write_all(b"0 1000000 65536\n"))
                    .map_err(|e| format!("writing {map}: {}", io_text(&e)))?;
            }
            let fd = crate::runtime::sandbox::clone_tree(&self.dir, false)
                .map_err(|e| format!("open_tree: {}", io_text(&e)))?;
            crate::runtime::sandbox::set_idmap(&fd, &userns)
                .map_err(|e| format!("mount_setattr(MOUNT_ATTR_IDMAP): {}", io_text(&e)))
        })();
        let _ = child.kill();
        let _ = child.wait();
        r
    }
}

/// The user namespace of `pid` once it differs from ours.
fn wait_for_userns(pid: u32) -> Result<std::os::fd::OwnedFd, String> {
    use std::os::unix::fs::MetadataExt as _;
    let ours = std::fs::metadata("/proc/self/ns/user")
        .map_err(|e| format!("/proc/self/ns/user: {}", io_text(&e)))?
        .ino();
    let path = format!("/proc/{pid}/ns/user");
    for _ in 0..200 {
        if let Ok(m) = std::fs::metadata(&path) {
            if m.ino() != ours {
                let f =
                    std::fs::File::open(&path).map_err(|e| format!("{path}: {}", io_text(&e)))?;
                return Ok(f.into());
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Err("the child did not enter a new user namespace".into())
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir.join("merged"), nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `nft --check` of a bridge-family table with a prerouting filter chain: the
/// kernel validates the transaction and nothing is committed.
fn nft_bridge_family() -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["--check", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {}", io_text(&e)))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(
            b"add table bridge dockhand_preflight\n\
              add chain bridge dockhand_preflight guard { type filter hook prerouting priority -200; policy accept; }\n",
        );
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("nft: {}", io_text(&e)))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft --check: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(need: Need, feature: &str) -> Missing {
        Missing {
            need,
            feature: feature.into(),
            cause: "seen".into(),
            fix: "do this",
        }
    }

    #[test]
    fn errors_name_what_each_user_lacks() {
        let r = Report {
            missing: vec![
                missing(Need::VirtualHosts, "idmapped mounts on /x"),
                missing(Need::VirtualHosts, "the pids cgroup controller"),
            ],
        };
        assert_eq!(r.error_for(Need::Containers), None);
        assert_eq!(
            r.error_for(Need::VirtualHosts).unwrap(),
            "this machine's kernel lacks what virtual hosts need: \
             idmapped mounts on /x (seen): do this; the pids cgroup controller (seen): do this"
        );
    }

    #[test]
    fn a_data_root_that_is_not_a_folder_is_reported_in_gos_words() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("root");
        std::fs::write(&file, "").unwrap();
        let r = check(&file, None);
        let scratch: Vec<_> = r
            .lacking(Need::Containers)
            .filter(|m| m.feature.starts_with("a scratch directory"))
            .collect();
        assert_eq!(scratch.len(), 1, "{:?}", r.missing);
        assert_eq!(
            scratch[0].cause,
            format!("{}: not a directory", file.join("preflight").display())
        );
    }

    #[test]
    fn a_missing_controller_is_reported_for_virtual_hosts() {
        crate::testing::require_root!();
        let dir = tempfile::tempdir().unwrap();
        let r = check(dir.path(), Some(&["cpu", "memory"]));
        let pids: Vec<_> = r
            .lacking(Need::VirtualHosts)
            .filter(|m| m.feature.contains("pids"))
            .collect();
        assert_eq!(pids.len(), 1, "{:?}", r.missing);
        let none = check(dir.path(), None);
        assert!(none
            .lacking(Need::VirtualHosts)
            .any(|m| m.feature == "cgroups"));
        // The scratch directory is gone, whatever the probes found.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
