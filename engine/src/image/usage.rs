//! What images occupy, for `system df` and the prune commands, and the clean-up of
//! layers a failed `load` registered but no image ended up using.
//!
//! Layers are stored once per content (by diff ID), so the space an image uses on
//! its own is the size of the layers no other image shares.

use super::index::all_content_refs;
use super::{ImageError, ImageStore};
use crate::store::{digest_string, parse_digest};
use oci_spec::image::Sha256Digest;
use std::fs;

/// One image of a daemon with its layers and their sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    pub id: String,
    /// Familiar `name:tag` references.
    pub repo_tags: Vec<String>,
    /// Familiar `name@sha256:..` digest references.
    pub repo_digests: Vec<String>,
    /// `(diff ID, size)`, bottom-most first.
    pub layers: Vec<(String, u64)>,
    /// Unix seconds.
    pub created: i64,
}

impl ImageUsage {
    /// Sum of the image's layer sizes.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|(_, s)| s).sum()
    }
}

impl ImageStore {
    /// Every visible image of this daemon with its layers; as moby's `system df`,
    /// intermediate images (no name, children) are left out: their layers are
    /// their children's.
    pub fn usage(&self) -> Vec<ImageUsage> {
        let idx = self.lock_index().clone();
        let parents = idx.parents();
        let mut out = Vec::new();
        for (id, meta) in &idx.images {
            if idx.is_intermediate(id, &parents) {
                continue;
            }
            let created = self
                .stored_config(id)
                .ok()
                .and_then(|c| c.created())
                .map(|t| t.timestamp())
                .unwrap_or(0);
            let layers = meta
                .layers
                .iter()
                .map(|d| {
                    let size = parse_digest(d)
                        .and_then(|g| self.blobs().size(&g).ok())
                        .unwrap_or(0);
                    (d.clone(), size)
                })
                .collect();
            let (repo_tags, repo_digests) = Self::repo_names(&idx, id);
            out.push(ImageUsage {
                id: id.clone(),
                repo_tags,
                repo_digests,
                layers,
                created,
            });
        }
        out
    }

    /// Remove the blobs and extracted directories of `diff_ids` that no image of
    /// any daemon refers to (a `load` that failed half-way leaves nothing behind).
    pub fn drop_unreferenced_layers(&self, diff_ids: &[Sha256Digest]) -> Result<(), ImageError> {
        let idx = self.lock_index();
        let _content = self.content_lock()?;
        let refs = all_content_refs(self.data_root(), Some((self.daemon(), &idx)))?;
        for d in diff_ids {
            if refs.layers.contains(&digest_string(d)) {
                continue;
            }
            let dir = self.layer_dir(d);
            if dir.exists() {
                let trash = self.data_root().join("layers").join(format!(
                    ".trash-{}-{:016x}",
                    d.digest(),
                    rand::random::<u64>()
                ));
                if fs::rename(&dir, &trash).is_ok() {
                    let _ = fs::remove_dir_all(&trash);
                }
            }
            self.blobs().remove(d)?;
        }
        Ok(())
    }

    /// Bytes of every blob in the shared store (for reclaimed-space accounting).
    pub fn stored_bytes(&self) -> u64 {
        let dir = self.data_root().join("blobs").join("sha256");
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}
