//! The build cache of one daemon: `<data_root>/daemons/<daemon>/build-cache.json`, a
//! map from a step's cache key to the image that step made.
//!
//! The classic builder finds a cached step among the children of the current
//! image whose config says the same instruction; we key the same facts (the parent
//! image, the instruction as history records it, the build args it used, for
//! COPY/ADD the checksum of the sources) into one digest, so a lookup is one map
//! read. An entry whose image is gone from the daemon is a miss. The file survives
//! daemon restarts; `docker builder prune` empties it.

use crate::error::IoError;
use crate::fsutil::{read_json, write_json_atomic};
use crate::store::{digest_string, sha256_of};
use serde::{Deserialize, Serialize};
use shared::sync::Locked;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    /// Cache key to image ID.
    steps: BTreeMap<String, String>,
}

/// One daemon's build cache.
#[derive(Debug)]
pub struct BuildCache {
    path: PathBuf,
    lock: Mutex<()>,
}

/// The cache key of a step: what it starts from and what it does.
pub fn step_key(parent: Option<&str>, created_by: &str, extra: &str) -> String {
    let text = format!("{}\n{created_by}\n{extra}", parent.unwrap_or("scratch"));
    digest_string(&sha256_of(text.as_bytes()))
}

impl BuildCache {
    pub fn open(host_dir: &Path) -> BuildCache {
        BuildCache {
            path: host_dir.join("build-cache.json"),
            lock: Mutex::new(()),
        }
    }

    fn load(&self) -> CacheFile {
        read_json(&self.path).ok().flatten().unwrap_or_default()
    }

    /// The image a step made before, if `exists` still says it is there.
    pub fn get(&self, key: &str, exists: impl Fn(&str) -> bool) -> Option<String> {
        let _g = self.lock.locked();
        self.load().steps.get(key).filter(|id| exists(id)).cloned()
    }

    pub fn put(&self, key: &str, image: &str) -> Result<(), IoError> {
        let _g = self.lock.locked();
        let mut f = self.load();
        f.steps.insert(key.to_string(), image.to_string());
        write_json_atomic(&self.path, &f)
    }

    /// Empty the cache; returns the images its entries named.
    pub fn clear(&self) -> Result<Vec<String>, IoError> {
        let _g = self.lock.locked();
        let f = self.load();
        write_json_atomic(&self.path, &CacheFile::default())?;
        let mut ids: Vec<String> = f.steps.into_values().collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_persist_and_missing_images_miss() {
        let dir = tempfile::tempdir().unwrap();
        let c = BuildCache::open(dir.path());
        let k = step_key(Some("sha256:p"), "/bin/sh -c echo", "");
        assert_ne!(k, step_key(Some("sha256:q"), "/bin/sh -c echo", ""));
        assert_ne!(k, step_key(Some("sha256:p"), "/bin/sh -c echo", "A=1"));
        c.put(&k, "sha256:img").unwrap();
        let again = BuildCache::open(dir.path());
        assert_eq!(again.get(&k, |_| true).as_deref(), Some("sha256:img"));
        assert_eq!(again.get(&k, |_| false), None);
        assert_eq!(again.clear().unwrap(), vec!["sha256:img".to_string()]);
        assert_eq!(again.get(&k, |_| true), None);
    }
}
