//! The readers a layer goes through while it streams in: resumed ranges,
//! the channel from the download, digest verification, decompression.

use super::*;

/// The first byte of a `Content-Range: bytes FIRST-LAST/SIZE` answer.
pub(super) fn content_range_start(h: &reqwest::header::HeaderMap) -> Option<u64> {
    let v = h.get("content-range")?.to_str().ok()?;
    let range = v.trim().strip_prefix("bytes ")?;
    range.split_once('-')?.0.trim().parse().ok()
}

/// Tells once when its reader has ended well (a [`LayerReader`] ends only
/// when the download is verified).
pub(super) struct AtEnd<R> {
    pub(super) inner: R,
    pub(super) tell: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<R: Read> Read for AtEnd<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        if n == 0 && !out.is_empty() {
            if let Some(t) = self.tell.take() {
                let _ = t.send(());
            }
        }
        Ok(n)
    }
}

/// Bytes from the download task.
pub(super) struct ChanReader {
    pub(super) rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    pub(super) buf: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}

/// Hashes and counts what passes; at the end, fails unless it is `digest` and
/// `size` (so the reader above never sees an end of unverified content).
pub(super) struct Verify<R> {
    pub(super) inner: R,
    pub(super) hasher: Sha256,
    pub(super) n: u64,
    pub(super) digest: String,
    pub(super) size: u64,
    pub(super) checked: bool,
}

impl<R: Read> Read for Verify<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(out)?;
        if k > 0 {
            self.hasher.update(&out[..k]);
            self.n += k as u64;
            if self.n > self.size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "verification failed for {}: more than {} bytes",
                        self.digest, self.size
                    ),
                ));
            }
            return Ok(k);
        }
        if !self.checked {
            self.checked = true;
            if self.n != self.size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "unexpected EOF: {} of {} bytes of {}",
                        self.n, self.size, self.digest
                    ),
                ));
            }
            let got = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if got != self.digest {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "filesystem layer verification failed for digest {}",
                        self.digest
                    ),
                ));
            }
        }
        Ok(0)
    }
}

pub(super) enum Decoder<R: BufRead> {
    Gzip(flate2::bufread::MultiGzDecoder<R>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
    Plain(R),
}

impl<R: BufRead> Decoder<R> {
    pub(super) fn inner(&mut self) -> &mut R {
        match self {
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
            Decoder::Plain(r) => r,
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.read(out),
            Decoder::Zstd(d) => d.read(out),
            Decoder::Plain(r) => r.read(out),
        }
    }
}

/// A layer's tar out of its compressed download, which is verified (its
/// digest and size) before the tar's end is reported.
pub struct LayerReader<R: Read> {
    pub(super) dec: Decoder<BufReader<Verify<R>>>,
    pub(super) done: bool,
}

impl<R: Read> LayerReader<R> {
    /// `digest`/`size`: the compressed blob's.
    pub fn new(inner: R, digest: String, size: u64) -> io::Result<LayerReader<R>> {
        let mut br = BufReader::with_capacity(
            256 * 1024,
            Verify {
                inner,
                hasher: Sha256::new(),
                n: 0,
                digest,
                size,
                checked: false,
            },
        );
        let head = br.fill_buf()?;
        let dec = if head.starts_with(&[0x1f, 0x8b]) {
            Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(br))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(br)?)
        } else {
            Decoder::Plain(br)
        };
        Ok(LayerReader { dec, done: false })
    }
}

impl<R: Read> Read for LayerReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let k = match self.dec.read(out) {
            Ok(k) => k,
            Err(e) => {
                // Bytes that do not decompress: if the download is not what the
                // manifest says, that is the error to report (as Docker, which
                // checks the digest first).
                return Err(match io::copy(self.dec.inner(), &mut io::sink()) {
                    Err(v) if v.to_string().contains("verification failed") => v,
                    _ => e,
                });
            }
        };
        if k > 0 {
            return Ok(k);
        }
        // The end of the tar: the rest of the download must be there and right.
        io::copy(self.dec.inner(), &mut io::sink())?;
        self.done = true;
        Ok(0)
    }
}
