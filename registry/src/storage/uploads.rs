//! Blob uploads on disk: `_uploads/<uuid>/data` grows by appends; its size is
//! the upload's offset, so an upload survives a restart of the registry. The
//! sha256 state is kept in memory per upload and rebuilt from the file when
//! the process has none (after a restart). Finishing moves the file to its
//! content-addressed place with a rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::PathBuf;

use sha2::{Digest as _, Sha256};

use super::{remove_tree, write_atomic, Storage};
use crate::reference::Digest;

/// The incremental hash of an upload's bytes and how many there are.
#[derive(Clone)]
pub struct HashState {
    pub hasher: Sha256,
    pub size: u64,
}

impl Default for HashState {
    fn default() -> Self {
        HashState {
            hasher: Sha256::new(),
            size: 0,
        }
    }
}

impl HashState {
    /// The digest of the bytes so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone().finalize().as_slice())
    }
}

/// An upload id is a UUID; refuse anything that could be a path.
pub fn valid_uuid(uuid: &str) -> bool {
    !uuid.is_empty() && uuid.len() <= 64 && uuid.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-')
}

impl Storage {
    fn upload_dir(&self, name: &str, uuid: &str) -> PathBuf {
        self.repo_dir(name).join("_uploads").join(uuid)
    }

    /// The content file of an upload.
    pub fn upload_data(&self, name: &str, uuid: &str) -> PathBuf {
        self.upload_dir(name, uuid).join("data")
    }

    /// Starts an upload; its uuid.
    pub fn create_upload(&self, name: &str) -> io::Result<String> {
        let h = super::random_hex(16);
        let uuid = format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        let dir = self.upload_dir(name, &uuid);
        fs::create_dir_all(&dir)?;
        File::create(dir.join("data"))?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        write_atomic(&dir.join("startedat"), now.as_bytes(), false)?;
        Ok(uuid)
    }

    /// The size of an upload so far; `None` when there is no such upload.
    pub fn upload_size(&self, name: &str, uuid: &str) -> io::Result<Option<u64>> {
        if !valid_uuid(uuid) {
            return Ok(None);
        }
        match fs::metadata(self.upload_data(name, uuid)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hashes an upload's file from the start (after a restart).
    pub fn rehash_upload(&self, name: &str, uuid: &str) -> io::Result<HashState> {
        let mut f = File::open(self.upload_data(name, uuid))?;
        let mut st = HashState::default();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            st.hasher.update(&buf[..n]);
            st.size += n as u64;
        }
        Ok(st)
    }

    /// The upload's file, opened for appending.
    pub fn open_upload_append(&self, name: &str, uuid: &str) -> io::Result<File> {
        OpenOptions::new()
            .append(true)
            .open(self.upload_data(name, uuid))
    }

    /// Moves a finished upload's content to the blob `d` (already verified),
    /// links it into the repository and removes the upload.
    pub fn commit_upload(&self, name: &str, uuid: &str, d: &Digest) -> io::Result<()> {
        let data = self.upload_data(name, uuid);
        let target = self.blob_path(d);
        if target.is_file() {
            // Same digest, same content: keep the stored file.
        } else {
            File::open(&data)?.sync_data()?;
            if let Some(dir) = target.parent() {
                fs::create_dir_all(dir)?;
            }
            fs::rename(&data, &target)?;
        }
        self.link_blob(name, d)?;
        remove_tree(&self.upload_dir(name, uuid))?;
        self.forget_upload(uuid);
        Ok(())
    }

    /// Removes an upload; false when there was none.
    pub fn cancel_upload(&self, name: &str, uuid: &str) -> io::Result<bool> {
        if !valid_uuid(uuid) {
            return Ok(false);
        }
        self.forget_upload(uuid);
        remove_tree(&self.upload_dir(name, uuid))
    }
}
