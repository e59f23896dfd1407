//! Streaming between HTTP bodies and files without buffering whole bodies:
//! request bodies are appended to an upload file (and hashed) on blocking
//! threads fed through bounded channels, with the file's writeback started as
//! it grows; blob files are mapped and their pages handed to the response
//! body without a copy through a buffer.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::Digest as _;

use crate::storage::HashState;

/// Chunks read from a blob file per channel message.
const READ_CHUNK: usize = 1 << 20;
/// The write buffer of uploads.
const WRITE_BUF: usize = 1 << 20;
/// Chunks in flight between the network and the disk.
const CHANNEL_DEPTH: usize = 16;

/// Writeback of an upload's file is started every this many bytes, so that
/// the fsync when it is committed has little left to wait for.
const WRITEBACK_STEP: u64 = 8 << 20;

/// Starts writeback of a file's dirty pages without waiting for it.
fn start_writeback(file: &File) {
    let fd = file.as_raw_fd();
    // SAFETY: sync_file_range on an open descriptor; offset 0 and length 0
    // mean the whole file; SYNC_FILE_RANGE_WRITE only queues the writes.
    unsafe {
        libc::sync_file_range(fd, 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Why an append stopped early.
#[derive(Debug)]
pub enum AppendError {
    /// The request body failed (client gone): what was received is kept.
    Body(String),
    /// Writing failed: the file may hold bytes the hash state has not seen.
    Io(io::Error),
}

/// Appends a request body to `file`, continuing `state`. Returns the new state
/// (`None` when it no longer matches the file) and the result. Writing and
/// hashing run on two blocking threads, each fed the same chunks.
pub async fn append(
    body: Body,
    file: File,
    state: HashState,
) -> (Option<HashState>, Result<(), AppendError>) {
    let (wtx, mut wrx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let (htx, mut hrx) = tokio::sync::mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let writer = tokio::task::spawn_blocking(move || {
        let mut w = BufWriter::with_capacity(WRITE_BUF, file);
        let mut written = 0u64;
        let mut kicked = 0u64;
        while let Some(chunk) = wrx.blocking_recv() {
            w.write_all(&chunk)?;
            written += chunk.len() as u64;
            if written - kicked >= WRITEBACK_STEP {
                w.flush()?;
                start_writeback(w.get_ref());
                kicked = written;
            }
        }
        w.flush()?;
        Ok::<u64, io::Error>(written)
    });
    let hasher = tokio::task::spawn_blocking(move || {
        let mut st = state;
        while let Some(chunk) = hrx.blocking_recv() {
            st.hasher.update(&chunk);
            st.size += chunk.len() as u64;
        }
        st
    });
    let mut stream = body.into_data_stream();
    let mut body_err = None;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(b) if b.is_empty() => {}
            Ok(b) => {
                // The writer first: a chunk is hashed only once it is queued
                // for the file; if the writer is gone its error is reported.
                if wtx.send(b.clone()).await.is_err() || htx.send(b).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                body_err = Some(e.to_string());
                break;
            }
        }
    }
    drop(wtx);
    drop(htx);
    let written = writer
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
    let st = hasher.await.ok();
    match (written, body_err) {
        (Err(e), _) => (None, Err(AppendError::Io(e))),
        (Ok(_), Some(e)) => (st, Err(AppendError::Body(e))),
        (Ok(_), None) => (st, Ok(())),
    }
}

/// Blobs up to this size are read into memory in one go (with their open);
/// larger ones are mapped.
pub const SMALL_BLOB: u64 = 1 << 20;
/// The slices of a mapped blob handed to the connection, each made resident
/// (read from disk if need be) on a blocking thread first.
const MAP_SLICE: usize = 8 << 20;
/// `madvise` advice: fault the range in (Linux 5.14).
const MADV_POPULATE_READ: libc::c_int = 22;

/// A read-only shared mapping of (part of) a file: the page cache's pages,
/// sent without copying them through a buffer.
///
/// Sound only for files nobody writes or truncates while mapped: blob files
/// are written under a temporary name and renamed into place, and afterwards
/// only ever unlinked (which keeps the mapped inode alive), never rewritten.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned; nothing aliases it mutably.
unsafe impl Send for Mapping {}
// SAFETY: as above; shared reads of read-only memory are fine from any thread.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` (> 0) bytes of `file` from `offset` (page-aligned).
    fn new(file: File, offset: u64, len: usize) -> Result<Mapping, File> {
        // SAFETY: a new read-only mapping at an address the kernel chooses
        // (addr NULL) of a descriptor open for reading; no existing memory is
        // affected. The result is checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(file);
        }
        // The mapping keeps the file's content; the descriptor may close.
        Ok(Mapping { ptr, len })
    }
}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is a live read-only mapping owned by self, and
        // the file behind it is never modified (see the type's comment).
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no slice of it
        // outlives self (Bytes owns self until its last clone is dropped).
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// `len` (> 0) bytes of `file` from `offset`, mapped (`Bytes` over the
/// mapping); the file back when it cannot be mapped.
fn map_bytes(file: File, offset: u64, len: u64) -> Result<Bytes, File> {
    let page = page_size() as u64;
    let base = offset & !(page - 1);
    let skip = (offset - base) as usize;
    let Some(total) = usize::try_from(len).ok().and_then(|l| l.checked_add(skip)) else {
        return Err(file);
    };
    let m = Mapping::new(file, base, total)?;
    Ok(Bytes::from_owner(m).slice(skip..))
}

/// Reads a whole (small) file of `len` bytes.
pub fn read_small(file: &mut File, len: u64) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf)?;
    if (buf.len() as u64) < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "blob shorter than its size",
        ));
    }
    Ok(Bytes::from(buf))
}

/// A response body of `len` (> 0) bytes of `file` from `offset`: the file is
/// mapped and handed to the connection in slices, each made resident on a
/// blocking thread first (so the connection's thread does not wait on the
/// disk); the bytes are never copied in user space. Where the file cannot be
/// mapped it is read in chunks.
pub fn file_body(file: File, offset: u64, len: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        let whole = match map_bytes(file, offset, len) {
            Ok(b) => b,
            Err(file) => return send_reads(file, offset, len, &tx),
        };
        let mut at = 0usize;
        while at < whole.len() {
            let n = (whole.len() - at).min(MAP_SLICE);
            let slice = whole.slice(at..at + n);
            populate(&slice);
            at += n;
            if tx.blocking_send(Ok(slice)).is_err() {
                return; // the client went away
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

/// Makes a slice of a mapping resident (reads it from disk now if it is not
/// cached), so that the connection's thread does not fault on it.
fn populate(b: &[u8]) {
    if b.is_empty() {
        return;
    }
    let page = page_size();
    let start = b.as_ptr() as usize;
    let aligned = start & !(page - 1);
    // SAFETY: `b` lies in a mapping that starts on a page boundary, so the
    // page-aligned range [aligned, start + len) is mapped too.
    // MADV_POPULATE_READ (Linux 5.14) only faults pages in.
    let r = unsafe {
        libc::madvise(
            aligned as *mut libc::c_void,
            start + b.len() - aligned,
            MADV_POPULATE_READ,
        )
    };
    if r != 0 {
        // Older kernels: fault the pages in by reading a byte of each.
        let mut sum = 0u8;
        for i in (0..b.len()).step_by(page) {
            sum = sum.wrapping_add(b[i]);
        }
        std::hint::black_box(sum);
    }
}

/// Sends `len` bytes of `file` from `offset`, read in chunks.
fn send_reads(
    mut file: File,
    offset: u64,
    len: u64,
    tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
) {
    if offset > 0 {
        if let Err(e) = file.seek(SeekFrom::Start(offset)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
    }
    let mut left = len;
    while left > 0 {
        let n = left.min(READ_CHUNK as u64);
        // read_to_end reads into the spare capacity: no zeroing.
        let mut buf = Vec::with_capacity(n as usize);
        let got = match (&mut file).take(n).read_to_end(&mut buf) {
            Ok(k) => k,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        if got == 0 {
            let _ = tx.blocking_send(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob shorter than its size",
            )));
            return;
        }
        left -= got as u64;
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return; // the client went away
        }
    }
}
