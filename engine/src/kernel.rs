//! The seam between the engine's decisions and the kernel work that needs
//! root: a virtual host's disk made, mounted and unmounted, whether a path is
//! a mount point, whether a process lives. [`Machine`] does it for real;
//! [`Recorder`] (tests) writes each call down, makes the files a real call
//! would make, and fails the calls a test names, so that the logic around
//! them (what is made in which order, what a failure undoes) is unit-tested
//! without root. The virtual host manager (`crate::vhost`) works through it.

use std::path::Path;

use futures_util::future::BoxFuture;

use crate::error::{Error, IoContext, Result};

/// What the engine asks of the kernel.
pub trait Kernel: Send + Sync {
    /// A sparse file `image` of `size` bytes with an ext4 file system on it.
    fn make_disk<'a>(&'a self, image: &'a Path, size: u64) -> BoxFuture<'a, Result<()>>;
    /// Mount the disk `image` at the existing directory `dir` (loop, nodev).
    fn mount_disk<'a>(&'a self, image: &'a Path, dir: &'a Path) -> BoxFuture<'a, Result<()>>;
    /// Unmount `dir`; `lazy` detaches it even while it is busy.
    fn unmount(&self, dir: &Path, lazy: bool) -> Result<()>;
    /// Whether `dir` is a mount point in the daemon's mount namespace.
    fn is_mounted(&self, dir: &Path) -> bool;
    /// Whether the process `pid` exists.
    fn process_alive(&self, pid: i64) -> bool;
}

/// The machine's kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Machine;

impl Kernel for Machine {
    /// No reserved blocks (the whole cap is usable) and no journal (a virtual
    /// host is ephemeral).
    fn make_disk<'a>(&'a self, image: &'a Path, size: u64) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            sparse_file(image, size)?;
            run(
                "mkfs.ext4",
                &[
                    "-q",
                    "-F",
                    "-m",
                    "0",
                    "-O",
                    "^has_journal,^resize_inode",
                    "-E",
                    "lazy_itable_init=1,nodiscard",
                    &image.display().to_string(),
                ],
            )
            .await
        })
    }

    fn mount_disk<'a>(&'a self, image: &'a Path, dir: &'a Path) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            run(
                "mount",
                &[
                    "-o",
                    "loop,nodev",
                    &image.display().to_string(),
                    &dir.display().to_string(),
                ],
            )
            .await
        })
    }

    fn unmount(&self, dir: &Path, lazy: bool) -> Result<()> {
        let flags = if lazy {
            nix::mount::MntFlags::MNT_DETACH
        } else {
            nix::mount::MntFlags::empty()
        };
        nix::mount::umount2(dir, flags).map_err(Error::sys(format!("umount {}", dir.display())))
    }

    fn is_mounted(&self, dir: &Path) -> bool {
        let p = dir.display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(p.as_str()))
    }

    fn process_alive(&self, pid: i64) -> bool {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
    }
}

/// A sparse file of `size` bytes at `image` (what mkfs formats).
fn sparse_file(image: &Path, size: u64) -> Result<()> {
    let f = std::fs::File::create(image).ctx("create", image)?;
    f.set_len(size).ctx("truncate", image)?;
    Ok(())
}

/// Run a tool to its end without holding a runtime thread.
async fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new(cmd)
        .args(args)
        .output()
        .await
        .map_err(|source| Error::Spawn {
            cmd: cmd.to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Tool {
            cmd: format!("{cmd} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
pub use double::{Call, Recorder};

#[cfg(test)]
mod double {
    use super::*;
    use shared::sync::Locked;
    use std::collections::BTreeSet;
    use std::path::PathBuf;
    use std::sync::Mutex;

    /// One call the engine made.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Call {
        MakeDisk { image: PathBuf, size: u64 },
        MountDisk { image: PathBuf, dir: PathBuf },
        Unmount { dir: PathBuf, lazy: bool },
    }

    impl Call {
        fn op(&self) -> &'static str {
            match self {
                Call::MakeDisk { .. } => "make_disk",
                Call::MountDisk { .. } => "mount_disk",
                Call::Unmount { .. } => "unmount",
            }
        }
    }

    /// The recording double, as close to the machine as a test needs: a
    /// make_disk makes the (sparse) file and then formats it, or fails after
    /// making it (as mkfs does); only a formatted image mounts, and a mount is
    /// remembered until its unmount; unmounting what is not mounted fails
    /// (EINVAL). The operations named by [`fail`] fail as a tool would
    /// (`Error::Tool`). It does not model a busy mount (EBUSY).
    ///
    /// [`fail`]: Recorder::fail
    #[derive(Debug, Default)]
    pub struct Recorder {
        calls: Mutex<Vec<Call>>,
        failing: Mutex<BTreeSet<&'static str>>,
        formatted: Mutex<BTreeSet<PathBuf>>,
        mounted: Mutex<BTreeSet<PathBuf>>,
        alive: Mutex<BTreeSet<i64>>,
    }

    impl Recorder {
        /// Make every later call of `op` ("make_disk", "mount_disk",
        /// "unmount") fail.
        pub fn fail(&self, op: &'static str) {
            self.failing.locked().insert(op);
        }

        /// The calls so far, in order.
        pub fn calls(&self) -> Vec<Call> {
            self.calls.locked().clone()
        }

        /// What is mounted now.
        pub fn mounted(&self) -> Vec<PathBuf> {
            self.mounted.locked().iter().cloned().collect()
        }

        /// Make `pid` a live process for `process_alive`.
        pub fn live_process(&self, pid: i64) {
            self.alive.locked().insert(pid);
        }

        fn record(&self, call: Call) -> Result<()> {
            let op = call.op();
            self.calls.locked().push(call);
            if self.failing.locked().contains(op) {
                return Err(Error::Tool {
                    cmd: op.to_string(),
                    stderr: "failed as the test asked".into(),
                });
            }
            Ok(())
        }
    }

    impl Kernel for Recorder {
        fn make_disk<'a>(&'a self, image: &'a Path, size: u64) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move {
                sparse_file(image, size)?;
                self.record(Call::MakeDisk {
                    image: image.to_path_buf(),
                    size,
                })?;
                self.formatted.locked().insert(image.to_path_buf());
                Ok(())
            })
        }

        fn mount_disk<'a>(&'a self, image: &'a Path, dir: &'a Path) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move {
                self.record(Call::MountDisk {
                    image: image.to_path_buf(),
                    dir: dir.to_path_buf(),
                })?;
                if !self.formatted.locked().contains(image) {
                    return Err(Error::Tool {
                        cmd: format!("mount {}", image.display()),
                        stderr: "wrong fs type, bad option, bad superblock".into(),
                    });
                }
                self.mounted.locked().insert(dir.to_path_buf());
                Ok(())
            })
        }

        /// What was written under the mount point was on the disk: it leaves
        /// the path with the unmount, as it would.
        fn unmount(&self, dir: &Path, lazy: bool) -> Result<()> {
            self.record(Call::Unmount {
                dir: dir.to_path_buf(),
                lazy,
            })?;
            if !self.mounted.locked().remove(dir) {
                return Err(Error::sys(format!("umount {}", dir.display()))(
                    nix::errno::Errno::EINVAL,
                ));
            }
            for e in std::fs::read_dir(dir).ctx("read dir", dir)?.flatten() {
                let p = e.path();
                let gone = if e.file_type().is_ok_and(|t| t.is_dir()) {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                gone.ctx("remove", &p)?;
            }
            Ok(())
        }

        fn is_mounted(&self, dir: &Path) -> bool {
            self.mounted.locked().contains(dir)
        }

        fn process_alive(&self, pid: i64) -> bool {
            self.alive.locked().contains(&pid)
        }
    }
}
