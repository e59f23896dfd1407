//! `docker cp`, the engine's side: a container's files seen from the daemon
//! (`ContainerView`) and the three archive operations on them, as moby's
//! `daemon/archive_linux.go` and `containerfs_linux.go` do them: stat a path
//! (`HEAD /containers/{id}/archive`), archive it (`GET`), extract a tar into a
//! directory (`PUT`).
//!
//! A running container's files are those of its PID 1's root
//! (`/proc/PID/root`, opened once): the overlay with its volumes, binds and
//! tmpfs as the container itself sees them. A stopped (created or exited) one
//! is mounted for the occasion, as moby's `openContainerFS` does it, by a
//! thread of its own that unshares its mount namespace (nothing shows on the
//! machine, and it all goes with the thread): the overlay of the image's
//! layers, the init layer and the upper dir (a virtual host's layers through
//! idmapped mounts, as its containers see them), then the volumes, binds and
//! hosts files bound in at their destinations, made inside the root and never
//! through a symlink out of it, and fresh tmpfs. The thread keeps the namespace
//! while the view lives and unmounts when it goes; one such view of a container
//! at a time, so the overlay is never mounted twice by us.
//!
//! Everything else is `archive::in_root` on the root descriptor: lookups that
//! never leave the root, archives and extraction with moby's rules. A virtual
//! host's files are owned by its range of machine ids: archives show the ids
//! inside, extraction maps the archive's ids into the range.

use super::*;
use crate::archive::in_root::{self, ExtractOptions, IdMap, PathError, PathStat, Root};
use crate::runtime::spec::SpecMount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use shared::sync::Locked;
use std::collections::HashSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Condvar, OnceLock};

/// A container's files, as long as this lives.
pub struct ContainerView {
    /// Declared first: closed before the mounts go.
    pub root: Root,
    rec: ContainerInspect,
    /// The thread holding a stopped container's mounts; dropping ends it.
    _keeper: Option<std::sync::mpsc::Sender<()>>,
}

/// `PUT /containers/{id}/archive` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractRequest {
    /// `copyUIDGID`: everything owned by the container's user.
    pub copy_uid_gid: bool,
    /// `noOverwriteDirNonDir`.
    pub no_overwrite_dir_non_dir: bool,
}

/// A path ready to be archived (`GET`), with its view.
pub struct ArchiveSource {
    view: ContainerView,
    abs: String,
}

impl ArchiveSource {
    /// Write the tar; the container's mounts (if made) go when it is done.
    pub fn write_to(self, out: impl std::io::Write) -> std::io::Result<()> {
        self.view.root.write_resource(&self.abs, out)
    }
}

fn not_found(path: &str, key: &str) -> Error {
    Error::NotFound(format!("Could not find the file {path} in container {key}"))
}

/// moby: a missing path is "Could not find the file", anything else a 500.
fn path_error(e: PathError, path: &str, key: &str) -> Error {
    match e {
        PathError::NotFound(_) => not_found(path, key),
        PathError::Invalid(m) => Error::InvalidParameter(m),
        PathError::Failed(m) => Error::Internal(m),
    }
}

impl Daemon {
    /// `HEAD /containers/{id}/archive?path=`: the stat of `path`.
    pub fn archive_stat(&self, key: &str, path: &str) -> Result<PathStat> {
        let view = self.container_view(key)?;
        view.root.stat(path).map_err(|e| path_error(e, path, key))
    }

    /// `GET /containers/{id}/archive?path=`: the stat, and the tar to stream.
    pub fn archive_open(&self, key: &str, path: &str) -> Result<(PathStat, ArchiveSource)> {
        let view = self.container_view(key)?;
        let abs = in_root::preserve_trailing_dot_or_separator(&in_root::join("/", path), path);
        let stat = view.root.stat(&abs).map_err(|e| path_error(e, path, key))?;
        self.emit_container(&view.rec, "archive-path", &[]);
        Ok((stat, ArchiveSource { view, abs }))
    }

    /// `PUT /containers/{id}/archive?path=`: extract the (uncompressed) tar
    /// `input` into the directory `path`.
    pub fn extract_to_dir(
        &self,
        key: &str,
        path: &str,
        req: ExtractRequest,
        input: impl std::io::Read,
    ) -> Result<()> {
        let view = self.container_view(key)?;
        // Every symlink followed, the last one too: a link to a directory is
        // a fine destination.
        let (resolved, st) = view
            .root
            .eval_symlinks(&in_root::join("/", path))
            .map_err(|e| path_error(e, path, key))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(Error::InvalidParameter(
                "extraction point is not a directory".into(),
            ));
        }
        check_writable(&view.rec, &resolved)?;
        let chown_to = if req.copy_uid_gid && !view.rec.config.user.is_empty() {
            let passwd = view.root.read_small_file("/etc/passwd");
            let group = view.root.read_small_file("/etc/group");
            let u = crate::runtime::user::resolve(&view.rec.config.user, &passwd, &group)
                .map_err(Error::Internal)?;
            Some(match view.root.ids() {
                Some(m) => (m.to_host(u.uid)?, m.to_host(u.gid)?),
                None => (u.uid, u.gid),
            })
        } else {
            None
        };
        let opts = ExtractOptions {
            chown: true,
            chown_to,
            no_overwrite_dir_non_dir: req.no_overwrite_dir_non_dir,
            // Device nodes made for a virtual host's user would be the
            // machine's devices: skipped, as moby skips them in a user namespace.
            devices: self.virt.is_none(),
            rebase: Vec::new(),
        };
        view.root
            .extract(&resolved, &opts, input)
            .map_err(|e| path_error(e, path, key))?;
        self.emit_container(&view.rec, "extract-to-dir", &[]);
        Ok(())
    }

    /// The files of container `key`, running or not.
    pub fn container_view(&self, key: &str) -> Result<ContainerView> {
        for _ in 0..5 {
            let (rec, pid, exits) = {
                let st = self.lock();
                let id = resolve_in(&st, key)?;
                let e = st.get(&id).ok_or_else(|| no_such(key))?;
                let pid = (e.rec.state.running && e.rec.state.pid > 0).then_some(e.rec.state.pid);
                let exits = e.watch.borrow().exits;
                (e.rec.clone(), pid, exits)
            };
            let ids = self.virt.as_ref().map(|v| IdMap {
                base: v.uid_base,
                size: v.size,
            });
            let Some(pid) = pid else {
                return self.mount_stopped(rec, ids);
            };
            let root = Root::open(Path::new(&format!("/proc/{pid}/root")), ids);
            // The same run still: the root opened is this container's.
            let same = self.lock().get(&rec.id).is_some_and(|e| {
                e.rec.state.running && e.rec.state.pid == pid && e.watch.borrow().exits == exits
            });
            if let (true, Ok(root)) = (same, root) {
                return Ok(ContainerView {
                    root,
                    rec,
                    _keeper: None,
                });
            }
        }
        Err(Error::Conflict(format!(
            "container {key} keeps changing state, try again"
        )))
    }

    /// Mount a stopped container's files in a private mount namespace.
    fn mount_stopped(&self, rec: ContainerInspect, ids: Option<IdMap>) -> Result<ContainerView> {
        let dir = self.cdir(&rec.id);
        let mut lower = self.images.resolve(&rec.image)?.layers;
        lower.push(dir.join("init"));
        let mut mounts = self.runtime_mounts(&rec)?;
        for (file, dst) in [
            ("hosts", "/etc/hosts"),
            ("hostname", "/etc/hostname"),
            ("resolv.conf", "/etc/resolv.conf"),
        ] {
            if dir.join(file).is_file() && !mounts.iter().any(|m| m.destination == dst) {
                mounts.push(SpecMount {
                    kind: "bind".into(),
                    source: dir.join(file),
                    destination: dst.into(),
                    ..Default::default()
                });
            }
        }
        mounts.sort_by_key(|m| m.destination.split('/').filter(|c| !c.is_empty()).count());
        let vhost_init = match &self.virt {
            Some(v) => match v.init_pid.load(std::sync::atomic::Ordering::SeqCst) {
                0 => return Err(Error::Conflict("the virtual host is not running".into())),
                p => Some(p),
            },
            None => None,
        };
        let plan = MountPlan {
            rootfs: dir.join("rootfs"),
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            mounts,
            vhost_init,
        };
        let turn = Turn::take(&rec.id);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<OwnedFd, String>>(1);
        let (keep_tx, keep_rx) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("cp-mount".into())
            .spawn(move || {
                let _turn = turn;
                let res = plan.mount();
                let ok = res.is_ok();
                let _ = ready_tx.send(res);
                if ok {
                    // Until the view is dropped.
                    let _ = keep_rx.recv();
                    let _ = umount2(&plan.rootfs, MntFlags::MNT_DETACH);
                }
            })
            .map_err(|e| Error::Thread(format!("start a mount thread: {e}")))?;
        let fd = ready_rx
            .recv()
            .map_err(|_| Error::Thread("the mount thread ended".into()))?
            .map_err(|e| Error::Internal(format!("mounting the container's files: {e}")))?;
        Ok(ContainerView {
            root: Root::from_fd(fd, ids),
            rec,
            _keeper: Some(keep_tx),
        })
    }
}

/// moby's `checkWritablePath`: a path in a volume follows the volume's mode,
/// anything else the root's.
fn check_writable(rec: &ContainerInspect, abs: &str) -> Result<()> {
    let inside = |dst: &str| {
        let d = in_root::clean(dst);
        d == "/" || abs == d || abs.starts_with(&format!("{d}/"))
    };
    let mount = rec
        .mounts
        .iter()
        .filter_map(|v| serde_json::from_value::<crate::volume::MountPoint>(v.clone()).ok())
        .filter(|m| inside(&m.destination))
        .max_by_key(|m| m.destination.len());
    match mount {
        Some(m) if m.rw => Ok(()),
        Some(_) => Err(Error::InvalidParameter(
            "mounted volume is marked read-only".into(),
        )),
        None if rec.host_config.readonly_rootfs => Err(Error::InvalidParameter(
            "container rootfs is marked read-only".into(),
        )),
        None => Ok(()),
    }
}

/// One mounted view of a stopped container at a time: a second waits.
struct Turn(String);

fn turns() -> &'static (Mutex<HashSet<String>>, Condvar) {
    static T: OnceLock<(Mutex<HashSet<String>>, Condvar)> = OnceLock::new();
    T.get_or_init(|| (Mutex::new(HashSet::new()), Condvar::new()))
}

impl Turn {
    fn take(id: &str) -> Turn {
        let (m, cv) = turns();
        let mut held = m.locked();
        while held.contains(id) {
            held = cv.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.insert(id.to_string());
        Turn(id.to_string())
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (m, cv) = turns();
        m.locked().remove(&self.0);
        cv.notify_all();
    }
}

/// What a stopped container's view mounts.
struct MountPlan {
    rootfs: PathBuf,
    lower: Vec<PathBuf>,
    upper: PathBuf,
    work: PathBuf,
    mounts: Vec<SpecMount>,
    /// A virtual host's init: its user namespace maps the layers, its mount
    /// namespace holds the sources of its own binds.
    vhost_init: Option<i32>,
}

const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// Attach the detached tree `tree` on the directory or file held by `target`.
fn attach_on(tree: &OwnedFd, target: &OwnedFd) -> std::io::Result<()> {
    let empty = c"";
    // SAFETY: move_mount with two open descriptors and empty C strings.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn open_ns(pid: i32, ns: &str) -> std::result::Result<std::fs::File, String> {
    let p = format!("/proc/{pid}/ns/{ns}");
    std::fs::File::open(&p).map_err(|e| format!("open {p}: {e}"))
}

impl MountPlan {
    /// On this thread, alone: a private mount namespace with the container's
    /// root and mounts; returns the root, open.
    fn mount(&self) -> std::result::Result<OwnedFd, String> {
        use crate::runtime::sandbox::{clone_tree, idmap_in_place, make_readonly};
        use nix::sched::{setns, unshare, CloneFlags};
        // Our own cwd and root, and our own mounts; none goes back to the machine.
        unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare: {e}"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("make / private: {e}"))?;
        let mut pre: Vec<Option<OwnedFd>> = self.mounts.iter().map(|_| None).collect();
        if let Some(init) = self.vhost_init {
            let user = OwnedFd::from(open_ns(init, "user")?);
            for l in &self.lower {
                idmap_in_place(l, &user)
                    .map_err(|e| format!("idmapped mount of {}: {e}", l.display()))?;
            }
            if self.mounts.iter().any(|m| m.in_sandbox) {
                // The virtual host's own paths, cloned from its mount namespace.
                let own = std::fs::File::open("/proc/thread-self/ns/mnt")
                    .map_err(|e| format!("open our mount namespace: {e}"))?;
                let host = open_ns(init, "mnt")?;
                setns(&host, CloneFlags::CLONE_NEWNS)
                    .map_err(|e| format!("enter the host's mounts: {e}"))?;
                let cloned: Vec<std::result::Result<Option<OwnedFd>, String>> = self
                    .mounts
                    .iter()
                    .map(|m| {
                        if !(m.kind == "bind" && m.in_sandbox) {
                            return Ok(None);
                        }
                        clone_tree(&m.source, true)
                            .map(Some)
                            .map_err(|e| format!("bind source path {}: {e}", m.source.display()))
                    })
                    .collect();
                setns(&own, CloneFlags::CLONE_NEWNS)
                    .map_err(|e| format!("leave the host's mounts: {e}"))?;
                for (slot, c) in pre.iter_mut().zip(cloned) {
                    *slot = c?;
                }
            }
        }
        let base = self
            .lower
            .first()
            .and_then(|p| p.parent())
            .map(Path::to_path_buf);
        if let Some(b) = &base {
            // Layer paths relative to here keep the options within a page.
            std::env::set_current_dir(b).map_err(|e| format!("chdir {}: {e}", b.display()))?;
        }
        let spec = crate::runtime::RuntimeSpec {
            lower: self.lower.clone(),
            upper: self.upper.clone(),
            work: self.work.clone(),
            ..Default::default()
        };
        let opts = crate::runtime::child::overlay_options(&spec, base.as_deref());
        std::fs::create_dir_all(&self.rootfs)
            .map_err(|e| format!("mkdir {}: {e}", self.rootfs.display()))?;
        mount(
            Some("overlay"),
            &self.rootfs,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| format!("mount the overlay: {e}"))?;
        let root = Root::open(&self.rootfs, None).map_err(|e| format!("open the root: {e}"))?;
        for (m, tree) in self.mounts.iter().zip(pre) {
            let is_dir = match (&tree, m.kind.as_str()) {
                (Some(t), _) => nix::sys::stat::fstat(t.as_raw_fd())
                    .map(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR)
                    .unwrap_or(true),
                (None, "tmpfs") => true,
                (None, _) => match std::fs::metadata(&m.source) {
                    Ok(md) => md.is_dir(),
                    Err(e) => return Err(format!("bind source path {}: {e}", m.source.display())),
                },
            };
            let target = root
                .mount_point(&m.destination, is_dir)
                .map_err(|e| format!("mount point {}: {e}", m.destination))?;
            if m.kind == "tmpfs" {
                let (flags, data) = crate::runtime::child::tmpfs_options(&m.options);
                mount(
                    Some("tmpfs"),
                    format!("/proc/self/fd/{}", target.as_raw_fd()).as_str(),
                    Some("tmpfs"),
                    flags,
                    data.as_deref(),
                )
                .map_err(|e| format!("mount tmpfs on {}: {e}", m.destination))?;
                continue;
            }
            let tree = match tree {
                Some(t) => t,
                None => clone_tree(&m.source, true)
                    .map_err(|e| format!("bind source path {}: {e}", m.source.display()))?,
            };
            if m.readonly {
                make_readonly(&tree)
                    .map_err(|e| format!("read-only bind of {}: {e}", m.destination))?;
            }
            attach_on(&tree, &target)
                .map_err(|e| format!("bind mount on {}: {e}", m.destination))?;
        }
        // The root again: a descriptor taken before the binds sees them too
        // (they are mounts inside its tree), but take a fresh one all the same.
        let fd = nix::fcntl::open(
            &self.rootfs,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| format!("open the root: {e}"))?;
        drop(root);
        // SAFETY: open just returned this descriptor and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}
