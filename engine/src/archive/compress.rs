//! Recognise a compressed archive by its magic bytes (as Docker's
//! `DecompressStream` does) and hand back a reader of the plain tar.

use crate::image::ImageError;
use shared::sync::Locked;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

const GZIP: &[u8] = &[0x1f, 0x8b];
const BZIP2: &[u8] = b"BZh";
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// The plain tar inside `src`, which may be plain, gzip, bzip2 or xz.
pub fn decompressed(src: File) -> Result<Box<dyn Read + Send>, ImageError> {
    let mut br = BufReader::with_capacity(256 * 1024, src);
    let head = br
        .fill_buf()
        .map_err(|e| ImageError::InvalidParameter(format!("reading archive: {e}")))?
        .to_vec();
    if head.starts_with(GZIP) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(br)))
    } else if head.starts_with(BZIP2) {
        Ok(Box::new(bzip2::read::MultiBzDecoder::new(br)))
    } else if head.starts_with(XZ) {
        xz_reader(br)
    } else {
        Ok(Box::new(br))
    }
}

/// lzma-rs decodes into a writer: run it on a thread feeding a pipe, and report
/// its error (a truncated or corrupt stream) to the reader at the end.
fn xz_reader(mut src: BufReader<File>) -> Result<Box<dyn Read + Send>, ImageError> {
    let (r, w) = nix::unistd::pipe().map_err(|source| ImageError::Sys {
        op: "pipe for xz decoding",
        source,
    })?;
    let failed: Arc<Mutex<Option<String>>> = Arc::default();
    let report = failed.clone();
    std::thread::spawn(move || {
        let mut w = File::from(w);
        if let Err(e) = lzma_rs::xz_decompress(&mut src, &mut w) {
            // A reader that stopped early (broken pipe) is not a decoding error.
            let text = e.to_string();
            if !text.contains("Broken pipe") {
                *report.locked() = Some(text);
            }
        }
    });
    Ok(Box::new(PipeReader {
        inner: File::from(r),
        failed,
    }))
}

struct PipeReader {
    inner: File,
    failed: Arc<Mutex<Option<String>>>,
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(e) = self.failed.locked().take() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("xz: {e}"),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(data).unwrap();
        f.rewind().unwrap();
        let mut out = Vec::new();
        decompressed(f).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn plain_gzip_bzip2_and_xz_are_recognised() {
        let plain = b"hello archive".repeat(100);
        assert_eq!(roundtrip(&plain), plain);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        assert_eq!(roundtrip(&gz.finish().unwrap()), plain);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&plain).unwrap();
        assert_eq!(roundtrip(&bz.finish().unwrap()), plain);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &plain[..], &mut xz).unwrap();
        assert_eq!(roundtrip(&xz), plain);
    }

    #[test]
    fn truncated_xz_is_an_error() {
        let plain = b"some data that compresses".repeat(1000);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &plain[..], &mut xz).unwrap();
        xz.truncate(xz.len() / 2);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&xz).unwrap();
        f.rewind().unwrap();
        let mut out = Vec::new();
        assert!(decompressed(f).unwrap().read_to_end(&mut out).is_err());
    }
}
