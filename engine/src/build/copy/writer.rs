//! Writing the copy as a layer tar: parents, entries, hard links, archives
//! extracted for ADD.

use super::*;

pub(super) struct Writer<'a, W: Write> {
    pub(super) tar: tar::Builder<BufWriter<W>>,
    pub(super) dest_view: &'a LayerView,
    pub(super) src: &'a LayerView,
    /// Directories already written.
    pub(super) done: HashSet<Vec<OsString>>,
    pub(super) owner: (u32, u32),
    pub(super) chmod: Option<u32>,
    pub(super) now: u64,
    pub(super) stats: CopyStats,
    /// (dev, ino) of copied files with several links → where the first went.
    pub(super) links: HashMap<(u64, u64), Vec<OsString>>,
}

impl<W: Write> Writer<'_, W> {
    pub(super) fn header(&self, kind: tar::EntryType, mode: u32, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode & 0o7777);
        h.set_uid(self.owner.0.into());
        h.set_gid(self.owner.1.into());
        h.set_mtime(mtime);
        h.set_size(0);
        h
    }

    pub(super) fn append(
        &mut self,
        h: &mut tar::Header,
        comps: &[OsString],
        data: impl Read,
    ) -> Result<(), CopyError> {
        self.stats.entries += 1;
        self.tar
            .append_data(h, rel_path(comps), data)
            .map_err(|e| internal("writing the layer", e))
    }

    pub(super) fn append_link(
        &mut self,
        h: &mut tar::Header,
        comps: &[OsString],
        target: &Path,
    ) -> Result<(), CopyError> {
        self.stats.entries += 1;
        self.tar
            .append_link(h, rel_path(comps), target)
            .map_err(|e| internal("writing the layer", e))
    }

    /// Write each parent of `comps` (not the root): an existing directory of
    /// the destination with its own metadata, a missing one 0755 owned by the
    /// chown user.
    pub(super) fn parents(&mut self, comps: &[OsString]) -> Result<(), CopyError> {
        for i in 1..comps.len() {
            self.existing_or_new_dir(&comps[..i], None)?;
        }
        Ok(())
    }

    /// Write the directory `comps`: its existing metadata in the destination,
    /// or `new` (mode, mtime) / 0755 now with the chown owner.
    pub(super) fn existing_or_new_dir(
        &mut self,
        comps: &[OsString],
        new: Option<(u32, u64)>,
    ) -> Result<(), CopyError> {
        if comps.is_empty() || self.done.contains(comps) {
            return Ok(());
        }
        let path = show(comps);
        let existing = self
            .dest_view
            .lookup(&path, false)
            .map_err(|e| internal(format!("stat {path}"), e))?
            .filter(|n| n.is_dir());
        let mut h = match existing {
            Some(n) => {
                let m = &n.meta;
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(m.mode() & 0o7777);
                h.set_uid(m.uid().into());
                h.set_gid(m.gid().into());
                h.set_mtime(m.mtime().max(0) as u64);
                h.set_size(0);
                h
            }
            None => {
                let (mode, mtime) = new.unwrap_or((0o755, self.now));
                self.header(tar::EntryType::Directory, mode, mtime)
            }
        };
        self.done.insert(comps.to_vec());
        self.append(&mut h, comps, io::empty())
    }

    /// A directory source: its contents into `dest`. The destination directory
    /// takes the source directory's mode and mtime (the tar's `.` entry in
    /// moby's CopyWithTar), its owner kept when it exists.
    pub(super) fn copy_dir_into(
        &mut self,
        dir: &Node,
        dest: &[OsString],
        dest_exists: bool,
    ) -> Result<(), CopyError> {
        self.parents(dest)?;
        let mode = self.chmod.unwrap_or(dir.meta.mode() & 0o7777);
        let mtime = dir.meta.mtime().max(0) as u64;
        if !self.done.contains(dest) {
            let owner = if dest_exists {
                let path = show(dest);
                match self.dest_view.lookup(&path, false) {
                    Ok(Some(n)) => (n.meta.uid(), n.meta.gid()),
                    _ => self.owner,
                }
            } else {
                self.owner
            };
            let mut h = self.header(tar::EntryType::Directory, mode, mtime);
            h.set_uid(owner.0.into());
            h.set_gid(owner.1.into());
            self.done.insert(dest.to_vec());
            self.append(&mut h, dest, io::empty())?;
        }
        self.copy_children(dir, dest)
    }

    pub(super) fn copy_children(&mut self, dir: &Node, dest: &[OsString]) -> Result<(), CopyError> {
        let kids = self
            .src
            .children(dir)
            .map_err(|e| internal(format!("reading {}", dir.view_path()), e))?;
        for k in kids {
            let mut t = dest.to_vec();
            t.push(k.comps.last().cloned().unwrap_or_default());
            self.copy_node(&k, &t)?;
        }
        Ok(())
    }

    /// Copy one node (a directory with its tree) to `target`.
    pub(super) fn copy_node(&mut self, n: &Node, target: &[OsString]) -> Result<(), CopyError> {
        self.parents(target)?;
        let m = &n.meta;
        let ft = m.file_type();
        let mtime = m.mtime().max(0) as u64;
        let mode = self.chmod.unwrap_or(m.mode() & 0o7777);
        let host = self.src.node_host_path(n);
        if ft.is_dir() {
            let mut h = self.header(tar::EntryType::Directory, mode, mtime);
            self.done.insert(target.to_vec());
            self.append(&mut h, target, io::empty())?;
            return self.copy_children(n, target);
        }
        if ft.is_symlink() {
            let link = std::fs::read_link(&host).map_err(|e| internal(n.view_path(), e))?;
            let mut h = self.header(tar::EntryType::Symlink, 0o777, mtime);
            return self.append_link(&mut h, target, &link);
        }
        if ft.is_file() {
            if m.nlink() > 1 {
                let key = (m.dev(), m.ino());
                if let Some(first) = self.links.get(&key).cloned() {
                    let mut h = self.header(tar::EntryType::Link, mode, mtime);
                    return self.append_link(&mut h, target, &rel_path(&first));
                }
                self.links.insert(key, target.to_vec());
            }
            let f = self
                .src
                .open_node(n)
                .map_err(|e| internal(n.view_path(), e))?;
            let len = m.len();
            let mut h = self.header(tar::EntryType::Regular, mode, mtime);
            h.set_size(len);
            self.append(&mut h, target, Exact::new(f, len))?;
            self.stats.bytes += len;
            return Ok(());
        }
        let kind = if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else {
            // Sockets are not archived (moby skips them).
            return Ok(());
        };
        let mut h = self.header(kind, mode, mtime);
        let rdev = m.rdev();
        let _ = h.set_device_major(libc::major(rdev));
        let _ = h.set_device_minor(libc::minor(rdev));
        self.append(&mut h, target, io::empty())
    }

    /// ADD of a local archive: its entries under `dest`, with their owners,
    /// modes and times.
    pub(super) fn extract_archive(
        &mut self,
        host: &Path,
        dest: &[OsString],
    ) -> Result<(), CopyError> {
        let bad = |e: &dyn std::fmt::Display| {
            CopyError::Input(format!("ADD failed: extracting {}: {e}", host.display()))
        };
        let f = File::open(host).map_err(|e| internal(host.display(), e))?;
        let r = crate::archive::decompressed(f).map_err(|e| bad(&e))?;
        let mut ar = tar::Archive::new(io::BufReader::with_capacity(BUF, r));
        self.parents(dest)?;
        self.existing_or_new_dir(dest, None)?;
        for entry in ar.entries().map_err(|e| bad(&e))? {
            let mut entry = entry.map_err(|e| bad(&e))?;
            let raw = entry.path_bytes().into_owned();
            let comps = crate::image::layer::clean_components(&raw).map_err(|e| bad(&e))?;
            let mut target = dest.to_vec();
            target.extend(comps);
            let src = entry.header().clone();
            let kind = src.entry_type();
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(src.mode().unwrap_or(0o644) & 0o7777);
            h.set_uid(src.uid().unwrap_or(0));
            h.set_gid(src.gid().unwrap_or(0));
            h.set_mtime(src.mtime().unwrap_or(0));
            h.set_size(0);
            use tar::EntryType as T;
            match kind {
                T::Directory => {
                    if target.len() <= dest.len() {
                        continue;
                    }
                    self.parents(&target)?;
                    self.done.insert(target.clone());
                    self.append(&mut h, &target, io::empty())?;
                }
                T::Regular | T::Continuous => {
                    if target.len() <= dest.len() {
                        continue;
                    }
                    self.parents(&target)?;
                    h.set_entry_type(T::Regular);
                    let len = entry.size();
                    h.set_size(len);
                    self.stats.entries += 1;
                    self.tar
                        .append_data(&mut h, rel_path(&target), Exact::new(&mut entry, len))
                        .map_err(|e| internal("writing the layer", e))?;
                    self.stats.bytes += len;
                }
                T::Symlink => {
                    self.parents(&target)?;
                    let link = entry.link_name_bytes().map(|b| b.into_owned());
                    let link = link.ok_or_else(|| bad(&"a symlink without target"))?;
                    self.append_link(&mut h, &target, Path::new(OsStr::from_bytes(&link)))?;
                }
                T::Link => {
                    self.parents(&target)?;
                    let link = entry.link_name_bytes().map(|b| b.into_owned());
                    let link = link.ok_or_else(|| bad(&"a hard link without target"))?;
                    let mut t = dest.to_vec();
                    t.extend(crate::image::layer::clean_components(&link).map_err(|e| bad(&e))?);
                    self.append_link(&mut h, &target, &rel_path(&t))?;
                }
                T::Char | T::Block | T::Fifo => {
                    self.parents(&target)?;
                    if let (Ok(Some(a)), Ok(Some(b))) = (src.device_major(), src.device_minor()) {
                        let _ = h.set_device_major(a);
                        let _ = h.set_device_minor(b);
                    }
                    self.append(&mut h, &target, io::empty())?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Exactly `len` bytes of `inner`: a file that shrank is padded with zeros, one
/// that grew is cut, so the tar stays well formed.
pub(super) struct Exact<R> {
    pub(super) inner: R,
    pub(super) left: u64,
    pub(super) eof: bool,
}

impl<R: Read> Exact<R> {
    pub(super) fn new(inner: R, len: u64) -> Self {
        Exact {
            inner,
            left: len,
            eof: false,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = if self.eof {
            0
        } else {
            self.inner.read(&mut buf[..want])?
        };
        let n = if n == 0 {
            self.eof = true;
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        Ok(n)
    }
}
