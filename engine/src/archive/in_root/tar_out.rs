//! Archiving a path as moby's `TarWithOptions` writes a copy resource.

use super::*;

/// Filesystems whose contents are the kernel's, not the container's.
pub(super) const KERNEL_FS: &[u64] = &[
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x1cd1,      // devpts
    0x1980_0202, // mqueue
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0x7363_6673, // securityfs
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0xcafe_4a11, // bpf
];

pub(super) fn is_kernel_fs(fd: RawFd) -> bool {
    let mut s = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills the struct for an open descriptor.
    if unsafe { libc::fstatfs(fd, s.as_mut_ptr()) } != 0 {
        return false;
    }
    // `f_type` is signed on glibc, unsigned on musl.
    // SAFETY: fstatfs succeeded and initialised it.
    let t = unsafe { s.assume_init() }.f_type as u64;
    KERNEL_FS.contains(&t)
}

/// Reads exactly `len` bytes: a file that shrank is padded with zeros, one that
/// grew is cut, so the tar header's size stays true.
pub(super) struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

pub(super) struct TarOut<W: Write> {
    b: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
    ids: Option<IdMap>,
}

impl<W: Write> TarOut<W> {
    fn header(&self, st: &FileStat, kind: tar::EntryType) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(st.st_mode & 0o7777);
        let (uid, gid) = match self.ids {
            Some(m) => (m.to_container(st.st_uid), m.to_container(st.st_gid)),
            None => (st.st_uid, st.st_gid),
        };
        h.set_uid(uid as u64);
        h.set_gid(gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        h
    }

    /// A GNU long name or long link record for a name that does not fit.
    fn long(&mut self, kind: tar::EntryType, bytes: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let mut data = bytes.to_vec();
        data.push(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, &data[..])
    }

    /// Append with the names exactly as given (no normalising).
    fn append(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        if name.len() > 100 {
            self.long(tar::EntryType::GNULongName, name)?;
        }
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        if let Some(l) = link {
            if l.len() > 100 {
                self.long(tar::EntryType::GNULongLink, l)?;
            }
            let n = l.len().min(100);
            h.as_old_mut().linkname[..n].copy_from_slice(&l[..n]);
        }
        h.set_cksum();
        self.b.append(&h, data)
    }

    /// moby keeps `security.capability` (a PAX record before the entry).
    fn capability(&mut self, f: &File) -> io::Result<()> {
        if let Ok(Some(v)) = xattr::FileExt::get_xattr(f, "security.capability") {
            self.b
                .append_pax_extensions([("SCHILY.xattr.security.capability", v.as_slice())])?;
        }
        Ok(())
    }

    /// The object `name` of directory `dir`, as `tar_name`; a directory with
    /// its tree.
    fn entry(
        &mut self,
        dir: RawFd,
        name: &OsStr,
        st: &FileStat,
        tar_name: &[u8],
    ) -> io::Result<()> {
        use tar::EntryType as T;
        match kind(st) {
            libc::S_IFDIR => {
                let fd = nix::fcntl::openat(
                    Some(dir),
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                );
                let fd = match fd {
                    Ok(fd) => fd,
                    Err(Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                // SAFETY: openat just returned this descriptor and nothing else owns it.
                let d = unsafe { File::from_raw_fd(fd) };
                self.directory(&d, tar_name)
            }
            libc::S_IFREG => {
                let fd = nix::fcntl::openat(
                    Some(dir),
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                    Mode::empty(),
                );
                let fd = match fd {
                    Ok(fd) => fd,
                    // Gone since it was listed.
                    Err(Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                // SAFETY: openat just returned this descriptor and nothing else owns it.
                let f = unsafe { File::from_raw_fd(fd) };
                let st = fstat(f.as_raw_fd())?;
                if kind(&st) != libc::S_IFREG {
                    return Ok(());
                }
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        let h = self.header(&st, T::Link);
                        return self.append(h, tar_name, Some(&first), io::empty());
                    }
                    self.links.insert(key, tar_name.to_vec());
                }
                self.capability(&f)?;
                let mut h = self.header(&st, T::Regular);
                h.set_size(st.st_size as u64);
                let len = st.st_size as u64;
                self.append(
                    h,
                    tar_name,
                    None,
                    Exact {
                        inner: f,
                        left: len,
                    },
                )
            }
            libc::S_IFLNK => {
                let target = match nix::fcntl::readlinkat(Some(dir), name) {
                    Ok(t) => t,
                    Err(Errno::ENOENT) => return Ok(()),
                    Err(e) => return Err(e.into()),
                };
                let h = self.header(st, T::Symlink);
                self.append(h, tar_name, Some(target.as_bytes()), io::empty())
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let k = match kind(st) {
                    libc::S_IFCHR => T::Char,
                    libc::S_IFBLK => T::Block,
                    _ => T::Fifo,
                };
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        let h = self.header(st, T::Link);
                        return self.append(h, tar_name, Some(&first), io::empty());
                    }
                    self.links.insert(key, tar_name.to_vec());
                }
                let mut h = self.header(st, k);
                if k != T::Fifo {
                    let rdev = st.st_rdev;
                    h.set_device_major(nix::sys::stat::major(rdev) as u32)?;
                    h.set_device_minor(nix::sys::stat::minor(rdev) as u32)?;
                }
                self.append(h, tar_name, None, io::empty())
            }
            // Sockets cannot be archived; moby skips them.
            _ => Ok(()),
        }
    }

    fn directory(&mut self, d: &File, tar_name: &[u8]) -> io::Result<()> {
        let st = fstat(d.as_raw_fd())?;
        let mut own = tar_name.to_vec();
        if !own.ends_with(b"/") {
            own.push(b'/');
        }
        self.capability(d)?;
        let h = self.header(&st, tar::EntryType::Directory);
        self.append(h, &own, None, io::empty())?;
        if is_kernel_fs(d.as_raw_fd()) {
            return Ok(());
        }
        let mut names: Vec<OsString> = Vec::new();
        let dup = nix::unistd::dup(d.as_raw_fd())?;
        let mut it = nix::dir::Dir::from_fd(dup)?;
        for e in it.iter() {
            let e = e?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        drop(it);
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            let st = match nix::sys::stat::fstatat(
                Some(d.as_raw_fd()),
                n.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) => st,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            let child = if tar_name == b"/" {
                [b"/", n.as_bytes()].concat()
            } else {
                [tar_name, b"/", n.as_bytes()].concat()
            };
            self.entry(d.as_raw_fd(), &n, &st, &child)?;
        }
        Ok(())
    }
}

impl Root {
    /// Write the tar of `path` (a directory with its tree), its top entry named
    /// `top` (`NAME`, `.`, or `/` whose entries are then `/x`). A last symlink
    /// is followed when `follow_last`.
    pub fn write_tree(
        &self,
        path: &str,
        follow_last: bool,
        top: &[u8],
        out: impl Write,
    ) -> io::Result<()> {
        let w = self
            .walk(path.as_bytes(), follow_last, Make::Nothing)
            .map_err(|e| to_io(op_err("lstat", path, e)))?;
        if !w.found() {
            return Err(to_io(op_err("lstat", path, Errno::ENOENT)));
        }
        let mut t = TarOut {
            b: tar::Builder::new(io::BufWriter::with_capacity(1 << 20, out)),
            links: HashMap::new(),
            ids: self.ids,
        };
        match w.steps.split_last() {
            Some((last, before)) => {
                let parent = self.at(before);
                let st = nix::sys::stat::fstatat(
                    Some(parent),
                    last.name.as_os_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                t.entry(parent, &last.name, &st, top)?;
            }
            None => {
                let fd = nix::fcntl::openat(
                    Some(self.fd.as_raw_fd()),
                    ".",
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                // SAFETY: openat just returned this descriptor and nothing else owns it.
                let d = unsafe { File::from_raw_fd(fd) };
                t.directory(&d, top)?;
            }
        }
        t.b.into_inner()?.flush()
    }

    /// moby's `containerArchivePath` after the stat: the tar of `abs` (a path
    /// as `PreserveTrailingDotOrSeparator` left it), entries named after its
    /// base name.
    pub fn write_resource(&self, abs: &str, out: impl Write) -> io::Result<()> {
        self.write_tree(abs, asserts_directory(abs), base(abs).as_bytes(), out)
    }
}
