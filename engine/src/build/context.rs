//! The build context as `POST /build` carries it: a tar, plain or compressed
//! with gzip, bzip2 or xz (told by its first bytes, as moby's `DecompressStream`),
//! extracted while it arrives into a directory the caller made (and removes).
//!
//! The tar is hostile: it is extracted by `image::layer::extract_with`, every
//! path resolved inside the directory (`openat2(RESOLVE_IN_ROOT)`), names with
//! `..` above the root refused, `.wh.` names kept as plain files, devices and
//! fifos skipped, owners not applied (COPY writes 0:0 unless `--chown`), modes
//! and times kept. A body that is not a tar fails as Go's `archive/tar` does in
//! moby (`unexpected EOF`, `archive/tar: invalid tar header`).
//!
//! `read_dockerfile` finds the Dockerfile as moby's classic builder does
//! (`builder/remotecontext/detect.go`).

use crate::image::layer::{extract_with, ExtractOptions, LayerError};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

const GZIP: &[u8] = &[0x1f, 0x8b];
const BZIP2: &[u8] = b"BZh";
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// The Dockerfile name used when none is given.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Errors receiving a context or finding its Dockerfile; all are the client's
/// fault (HTTP 400) except `Io`.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The body is not a (compressed) tar, or holds a bad entry.
    #[error("{0}")]
    Archive(String),
    /// More content than the limit.
    #[error("the build context is larger than the limit of {0} bytes")]
    TooLarge(u64),
    /// The Dockerfile is missing, outside the context, or unreadable.
    #[error("{0}")]
    Dockerfile(String),
    /// The machine failed (disk full, permissions).
    #[error("{0}")]
    Io(String),
}

impl ContextError {
    /// True when the request is at fault (a 400, not a 500).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ContextError::Io(_))
    }
}

impl From<LayerError> for ContextError {
    fn from(e: LayerError) -> Self {
        match e {
            LayerError::TooLarge(n) => ContextError::TooLarge(n),
            e if e.is_bad_input() => ContextError::Archive(e.to_string()),
            LayerError::Sys { source, .. } if is_read_error(&source) => {
                ContextError::Archive(source.to_string())
            }
            e => ContextError::Io(e.to_string()),
        }
    }
}

/// Errors of the body's stream (truncated compression etc.) come back through
/// the tar reader as `Sys { op: "write" }` with these kinds.
fn is_read_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

/// What `receive` extracted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveStats {
    /// Tar entries read.
    pub entries: u64,
    /// Bytes of file content written.
    pub content_bytes: u64,
}

/// Extract the context tar `src` (plain, gzip, bzip2 or xz) into the existing
/// directory `dir`, refusing more than `limit` bytes of file content. On error
/// `dir` may hold part of the context: the caller removes it.
pub fn receive<R: Read + Send>(
    src: R,
    dir: &Path,
    limit: u64,
) -> Result<ReceiveStats, ContextError> {
    let mut br = BufReader::with_capacity(1 << 20, src);
    let head = br
        .fill_buf()
        .map_err(|e| ContextError::Archive(format!("reading the build context: {e}")))?
        .to_vec();
    if head.starts_with(GZIP) {
        untar(flate2::read::MultiGzDecoder::new(br), dir, limit)
    } else if head.starts_with(BZIP2) {
        untar(bzip2::read::MultiBzDecoder::new(br), dir, limit)
    } else if head.starts_with(XZ) {
        untar_xz(br, dir, limit)
    } else {
        untar(br, dir, limit)
    }
}

/// lzma-rs decodes into a writer: decode on a scoped thread into a pipe that
/// the extraction reads.
fn untar_xz<R: BufRead + Send>(
    mut src: R,
    dir: &Path,
    limit: u64,
) -> Result<ReceiveStats, ContextError> {
    let (r, w) =
        nix::unistd::pipe().map_err(|e| ContextError::Io(format!("pipe for xz decoding: {e}")))?;
    std::thread::scope(|s| {
        let decoder = s.spawn(move || {
            let mut w = std::fs::File::from(w);
            lzma_rs::xz_decompress(&mut src, &mut w).map_err(|e| e.to_string())
        });
        let res = untar(std::fs::File::from(r), dir, limit);
        // The read end is closed now, so a decoder still writing stops (EPIPE).
        let decoded = decoder
            .join()
            .unwrap_or_else(|_| Err("xz decoder panicked".into()));
        match (res, decoded) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) if !e.contains("Broken pipe") => {
                Err(ContextError::Archive(format!("xz: {e}")))
            }
            (Ok(st), _) => Ok(st),
        }
    })
}

/// Check the first header as Go's `archive/tar` would, then extract.
fn untar(mut src: impl Read, dir: &Path, limit: u64) -> Result<ReceiveStats, ContextError> {
    let mut head = Vec::with_capacity(512);
    (&mut src)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| ContextError::Archive(e.to_string()))?;
    check_header(&head)?;
    if head.is_empty() {
        return Ok(ReceiveStats::default());
    }
    extract(
        UnterminatedTail::new(io::Cursor::new(head).chain(src)),
        dir,
        limit,
    )
}

/// A tar stream that may end right after its last entry's content, without the
/// padding and the two zero blocks (docker CLI 28 sends this for a Dockerfile
/// outside the context; Go's reader takes it as a clean end). It follows the
/// entry boundaries and, when the input ends exactly where an entry's content
/// ends, supplies the missing padding and end blocks; an end anywhere else
/// (a truncated header or content) stays an early end of input.
struct UnterminatedTail<R> {
    inner: R,
    /// Bytes read from `inner`.
    pos: u64,
    /// Where the next header starts (a multiple of 512).
    next_header: u64,
    /// Where the current entry's content ends (`next_header` minus padding).
    content_end: u64,
    header: Vec<u8>,
    /// Zero bytes still to supply after a clean early end.
    tail: u64,
    ended: bool,
}

impl<R: Read> UnterminatedTail<R> {
    fn new(inner: R) -> Self {
        UnterminatedTail {
            inner,
            pos: 0,
            next_header: 0,
            content_end: 0,
            header: Vec::with_capacity(512),
            tail: 0,
            ended: false,
        }
    }

    /// Track the header bytes in `buf` (read at `start`).
    fn follow(&mut self, start: u64, buf: &[u8]) {
        let mut off = 0usize;
        while off < buf.len() {
            let at = start + off as u64;
            if at < self.next_header {
                off += (self.next_header - at).min((buf.len() - off) as u64) as usize;
                continue;
            }
            let want = 512 - self.header.len();
            let take = want.min(buf.len() - off);
            self.header.extend_from_slice(&buf[off..off + take]);
            off += take;
            if self.header.len() == 512 {
                let size = if self.header.iter().all(|b| *b == 0) {
                    0
                } else {
                    tar::Header::from_byte_slice(&self.header)
                        .entry_size()
                        .unwrap_or(0)
                };
                let base = self.next_header + 512;
                self.content_end = base + size;
                self.next_header = base + size.div_ceil(512) * 512;
                self.header.clear();
            }
        }
    }
}

impl<R: Read> Read for UnterminatedTail<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended {
            let n = (self.tail.min(buf.len() as u64)) as usize;
            buf[..n].fill(0);
            self.tail -= n as u64;
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            let start = self.pos;
            self.pos += n as u64;
            self.follow(start, &buf[..n]);
            return Ok(n);
        }
        self.ended = true;
        if self.header.is_empty() && self.pos == self.content_end && self.pos > 0 {
            self.tail = (self.next_header - self.pos) + 1024;
        }
        self.read(buf)
    }
}

fn extract(src: impl Read, dir: &Path, limit: u64) -> Result<ReceiveStats, ContextError> {
    let opts = ExtractOptions {
        whiteouts: false,
        chown: false,
        devices: false,
        limit: Some(limit),
    };
    let st = extract_with(src, dir, &opts)?;
    Ok(ReceiveStats {
        entries: st.entries,
        content_bytes: st.content_bytes,
    })
}

/// An empty body is an empty context; a short one or a block that is not a tar
/// header fails with Go's texts.
fn check_header(head: &[u8]) -> Result<(), ContextError> {
    if head.is_empty() {
        return Ok(());
    }
    if head.len() < 512 {
        return Err(ContextError::Archive("unexpected EOF".into()));
    }
    if head.iter().all(|&b| b == 0) {
        // The end-of-archive marker: an empty tar.
        return Ok(());
    }
    if valid_header(head) {
        Ok(())
    } else {
        Err(ContextError::Archive(
            "archive/tar: invalid tar header".into(),
        ))
    }
}

/// Whether a 512-byte block is a tar header (its checksum matches, signed or
/// unsigned as Go accepts).
pub(super) fn valid_header(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    let stored = parse_octal(&head[148..156]);
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in head[..512].iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    matches!(stored, Some(s) if s == unsigned || s as i64 == signed)
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let s: Vec<u8> = field
        .iter()
        .copied()
        .filter(|&b| b != 0 && b != b' ')
        .collect();
    if s.is_empty() {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

/// The Dockerfile's path in `ctx_dir`, as moby's classic builder finds it:
/// `name` relative to the context (empty: `Dockerfile`, falling back to
/// `dockerfile`), symlinks followed inside the context, never outside it.
pub fn dockerfile_path(ctx_dir: &Path, name: &str) -> Result<PathBuf, ContextError> {
    let view = super::copy::LayerView::new(vec![ctx_dir.to_path_buf()]);
    let requested = if name.is_empty() {
        DEFAULT_DOCKERFILE
    } else {
        name
    };
    let rel = requested.trim_start_matches('/');
    // moby: filepath.Join of the context and the name, refused when it climbs out.
    let joined = crate::image::changes::clean_path(&format!("/{rel}"));
    if climbs_out(rel) {
        return Err(ContextError::Dockerfile(format!(
            "The Dockerfile ({requested}) must be within the build context"
        )));
    }
    let found = view
        .host_path(&joined)
        .map_err(|e| ContextError::Io(e.to_string()))?;
    let found = match found {
        Some(p) => Some(p),
        None if name.is_empty() || name == DEFAULT_DOCKERFILE => {
            let lower =
                crate::image::changes::clean_path(&format!("/{}", rel.to_ascii_lowercase()));
            if lower == joined {
                None
            } else {
                view.host_path(&lower)
                    .map_err(|e| ContextError::Io(e.to_string()))?
            }
        }
        None => None,
    };
    match found {
        Some(p) if p.is_file() => Ok(p),
        Some(_) => Err(ContextError::Dockerfile(format!(
            "Cannot locate specified Dockerfile: {requested}"
        ))),
        None => Err(ContextError::Dockerfile(format!(
            "Cannot locate specified Dockerfile: {requested}"
        ))),
    }
}

fn climbs_out(rel: &str) -> bool {
    let mut depth: i64 = 0;
    for c in rel.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// The Dockerfile's text (see `dockerfile_path`).
pub fn read_dockerfile(ctx_dir: &Path, name: &str) -> Result<String, ContextError> {
    let p = dockerfile_path(ctx_dir, name)?;
    let bytes = std::fs::read(&p)
        .map_err(|e| ContextError::Dockerfile(format!("failed to read Dockerfile: {e}")))?;
    // A UTF-8 byte order mark is dropped, as moby's parser does.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// The `.dockerignore` of the context, its text (empty when missing).
/// Matching the patterns is `build::dockerignore`'s job; the caller removes
/// what they exclude (moby keeps the Dockerfile and `.dockerignore` themselves
/// when excluded).
pub fn read_dockerignore(ctx_dir: &Path) -> Result<String, ContextError> {
    // Resolved inside the context: a symlink never reads a file of the machine.
    let view = super::copy::LayerView::new(vec![ctx_dir.to_path_buf()]);
    let p = match view.host_path("/.dockerignore") {
        Ok(Some(p)) if p.is_file() => p,
        Ok(_) => return Ok(String::new()),
        Err(e) => return Err(ContextError::Io(format!("reading .dockerignore: {e}"))),
    };
    match std::fs::read(p) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => Err(ContextError::Io(format!("reading .dockerignore: {e}"))),
    }
}

/// After the Dockerfile is read: remove `.dockerignore` and the Dockerfile
/// from the context when the `.dockerignore` patterns exclude them, as moby's
/// `removeDockerfile` does (the client removed everything else it excludes).
/// `excluded` is the `.dockerignore` matcher (`build::dockerignore`), given
/// the slash-separated path relative to the context; it is asked only when
/// the context has a `.dockerignore`.
pub fn remove_excluded_dockerfile(
    ctx_dir: &Path,
    dockerfile: &str,
    excluded: impl Fn(&str) -> bool,
) -> Result<(), ContextError> {
    let view = super::copy::LayerView::new(vec![ctx_dir.to_path_buf()]);
    if !matches!(view.lstat("/.dockerignore"), Ok(Some(_))) {
        return Ok(());
    }
    let name = if dockerfile.is_empty() {
        DEFAULT_DOCKERFILE
    } else {
        dockerfile
    };
    for rel in [".dockerignore", name] {
        let clean = crate::image::changes::clean_path(&format!("/{rel}"));
        let rel = clean.trim_start_matches('/');
        if rel.is_empty() || !excluded(rel) {
            continue;
        }
        // The last component is removed, not what a symlink there points at.
        let Ok(Some(node)) = view.lookup(&clean, false) else {
            continue;
        };
        let p = view.node_host_path(&node);
        let res = if node.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        if let Err(e) = res {
            tracing::warn!(path = %rel, error = %e, "cannot remove an excluded file from the context");
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
