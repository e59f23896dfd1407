//! Content-addressed blob store shared by all daemons: `<data_root>/blobs/sha256/<hex>`.
//!
//! A blob is written to a temporary file beside its final place while it is hashed,
//! fsynced, then renamed to its digest; a blob already present is kept and the new
//! copy dropped, so each content is stored once. A reader sees a whole blob or none.

use crate::error::{IoContext, IoError};
use oci_spec::image::Sha256Digest;
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("digest mismatch: expected sha256:{expected}, got sha256:{actual}")]
    DigestMismatch { expected: String, actual: String },
}

/// `sha256:<hex>` for a digest.
pub fn digest_string(d: &Sha256Digest) -> String {
    format!("sha256:{}", d.digest())
}

/// Parse `sha256:<64 lowercase hex>` (or the bare hex) into a checked digest.
pub fn parse_digest(s: &str) -> Option<Sha256Digest> {
    Sha256Digest::from_str(s.strip_prefix("sha256:").unwrap_or(s)).ok()
}

/// The digest of `data`.
pub fn sha256_of(data: &[u8]) -> Sha256Digest {
    from_hasher(Sha256::new_with_prefix(data))
}

fn from_hasher(h: Sha256) -> Sha256Digest {
    let hex = hex::encode(h.finalize());
    // A sha256 hex string is always a valid digest.
    Sha256Digest::from_str(&hex).expect("hex-encoded sha256 is a valid digest")
}

/// Remove the work files and directories in `dir` named `<prefix><pid>-…`
/// whose process is gone: what a killed daemon left half-done. Those of this
/// process and of live ones stay (another store of the same data root may be
/// writing them right now).
pub fn remove_stale_work(dir: &Path, prefix: &str) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let me = std::process::id();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => {
                let _ = crate::fsutil::remove_tree_on_one_mount(&p);
            }
            _ => {
                let _ = fs::remove_file(&p);
            }
        }
    }
}

/// The blob store rooted at `<data_root>/blobs/sha256`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Open (create) the store under `data_root`; blobs half-written by a
    /// daemon that died (a pull killed half-way) are removed.
    pub fn open(data_root: &Path) -> Result<BlobStore, IoError> {
        let dir = data_root.join("blobs").join("sha256");
        fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        remove_stale_work(&dir, ".tmp-");
        Ok(BlobStore { dir })
    }

    /// Where the blob lives (whether or not it exists).
    pub fn path(&self, d: &Sha256Digest) -> PathBuf {
        self.dir.join(d.digest())
    }

    pub fn exists(&self, d: &Sha256Digest) -> bool {
        self.path(d).is_file()
    }

    /// Size in bytes of a stored blob.
    pub fn size(&self, d: &Sha256Digest) -> Result<u64, IoError> {
        let p = self.path(d);
        Ok(fs::metadata(&p).ctx("stat", &p)?.len())
    }

    /// Whole content of a stored blob.
    pub fn read(&self, d: &Sha256Digest) -> Result<Vec<u8>, IoError> {
        let p = self.path(d);
        fs::read(&p).ctx("read", &p)
    }

    /// Store `data`; returns its digest.
    pub fn put_bytes(&self, data: &[u8]) -> Result<Sha256Digest, IoError> {
        let (d, _) = self.put(&mut &data[..])?;
        Ok(d)
    }

    /// Store everything `src` yields; returns the digest and the size.
    pub fn put(&self, src: &mut dyn Read) -> Result<(Sha256Digest, u64), IoError> {
        let (tmp, digest, size) = self.write_temp(src)?;
        self.commit(&tmp, &digest)?;
        Ok((digest, size))
    }

    /// Store `src` and check that it hashes to `expected`.
    pub fn put_verified(
        &self,
        src: &mut dyn Read,
        expected: &Sha256Digest,
    ) -> Result<u64, StoreError> {
        let (tmp, digest, size) = self.write_temp(src)?;
        if &digest != expected {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::DigestMismatch {
                expected: expected.digest().to_string(),
                actual: digest.digest().to_string(),
            });
        }
        self.commit(&tmp, &digest)?;
        Ok(size)
    }

    /// Delete a blob; absent is fine.
    pub fn remove(&self, d: &Sha256Digest) -> Result<(), IoError> {
        let p = self.path(d);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(IoError::new("remove", p, e)),
            _ => Ok(()),
        }
    }

    fn write_temp(&self, src: &mut dyn Read) -> Result<(PathBuf, Sha256Digest, u64), IoError> {
        let tmp = self.dir.join(format!(
            ".tmp-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let mut f = File::create(&tmp).ctx("create", &tmp)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let res = (|| -> io::Result<()> {
            loop {
                let n = match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                hasher.update(&buf[..n]);
                f.write_all(&buf[..n])?;
                size += n as u64;
            }
            f.sync_all()
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(IoError::new("write blob", tmp, e));
        }
        Ok((tmp, from_hasher(hasher), size))
    }

    fn commit(&self, tmp: &Path, d: &Sha256Digest) -> Result<(), IoError> {
        let dst = self.path(d);
        if dst.is_file() {
            // Same content already stored: keep the existing file.
            fs::remove_file(tmp).ctx("remove", tmp)?;
            return Ok(());
        }
        fs::rename(tmp, &dst).ctx("rename", &dst)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .ctx("fsync dir", &self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_files_of_dead_processes_are_removed_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dead = {
            let mut c = std::process::Command::new("true").spawn().unwrap();
            let pid = c.id();
            c.wait().unwrap();
            pid
        };
        let me = std::process::id();
        let names = [
            format!(".tmp-{dead}-aa"),
            format!(".tmp-{me}-bb"),
            ".tmp-1-cc".to_string(),
            "0123abcd".to_string(),
            ".tmp-x-dd".to_string(),
        ];
        for n in &names {
            fs::write(dir.path().join(n), b"x").unwrap();
        }
        let half = dir.path().join(format!(".tmp-{dead}-layer"));
        fs::create_dir_all(half.join("usr/bin")).unwrap();
        fs::write(half.join("usr/bin/f"), b"x").unwrap();
        remove_stale_work(dir.path(), ".tmp-");
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = names[1..].to_vec();
        want.sort();
        assert_eq!(left, want);
    }

    #[test]
    fn put_hashes_stores_once_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path()).unwrap();
        let (d, n) = s.put(&mut &b"hello"[..]).unwrap();
        assert_eq!(
            d.digest(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(n, 5);
        assert!(s.exists(&d));
        assert_eq!(s.size(&d).unwrap(), 5);
        assert_eq!(s.read(&d).unwrap(), b"hello");
        assert_eq!(s.put_bytes(b"hello").unwrap(), d);
        let names: Vec<_> = fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert_eq!(names.len(), 1, "no temp file left and one copy");
        assert_eq!(digest_string(&d), format!("sha256:{}", d.digest()));
        assert_eq!(parse_digest(&digest_string(&d)), Some(d.clone()));
        s.remove(&d).unwrap();
        s.remove(&d).unwrap();
        assert!(!s.exists(&d));
    }

    #[test]
    fn verified_put_rejects_wrong_content() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobStore::open(dir.path()).unwrap();
        let want = sha256_of(b"a");
        assert!(matches!(
            s.put_verified(&mut &b"b"[..], &want),
            Err(StoreError::DigestMismatch { .. })
        ));
        assert!(!s.exists(&want));
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(s.put_verified(&mut &b"a"[..], &want).unwrap(), 1);
    }

    #[test]
    fn digest_parsing_is_checked() {
        assert!(parse_digest("sha256:abc").is_none());
        assert!(parse_digest(&"A".repeat(64)).is_none());
        assert!(parse_digest(&"a".repeat(64)).is_some());
    }
}
