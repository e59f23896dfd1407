//! The per-daemon image index, `<data_root>/daemons/<daemon>/images.json`: which images a
//! daemon has, what they are called there, and per-image metadata. Image *content* is
//! shared; this file is what makes an image visible to a daemon. Written atomically.
//!
//! Names are moby's reference store in one map: tags (`docker.io/library/busybox:latest`)
//! and digest references (`docker.io/library/busybox@sha256:..`, an image's
//! `RepoDigests`: what it was pulled by or pushed as), each to an image ID.

use crate::error::IoError;
use crate::fsutil::{read_json, write_json_atomic};
use crate::reference::Reference;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Metadata of one image of a daemon.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageMeta {
    /// `sha256:` digest of the manifest blob.
    pub manifest: String,
    /// Diff IDs (`sha256:...`) of the layers, bottom-most first; kept here so content
    /// reference counting never has to read configs.
    pub layers: Vec<String>,
    /// RFC3339 time the image was last tagged on this daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
    /// The image this one was made from by `commit` or a build step (moby's
    /// parent link): an untagged parent with children is an intermediate image,
    /// hidden from lists without `all` and removed with its last child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// A daemon's index.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DaemonIndex {
    /// Reference key ([`crate::reference::Reference::index_key`]) to image ID:
    /// tags `docker.io/library/busybox:latest` and digest references
    /// `docker.io/library/busybox@sha256:<manifest digest>`.
    pub refs: BTreeMap<String, String>,
    /// Image ID (`sha256:...`) to metadata.
    pub images: BTreeMap<String, ImageMeta>,
    /// Images removed with `rmi -f` while stopped containers still use them:
    /// invisible to lists and names, reachable by full ID, content kept until
    /// `ImageStore::release_unused` finds them unused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retained: BTreeMap<String, ImageMeta>,
}

impl DaemonIndex {
    pub fn path(data_root: &Path, daemon: &str) -> PathBuf {
        crate::daemon::dir_in(data_root, daemon).join("images.json")
    }

    pub fn load(path: &Path) -> Result<DaemonIndex, IoError> {
        let mut idx: DaemonIndex = read_json(path)?.unwrap_or_default();
        // Older indexes could hold `NAME:TAG@DIGEST` (a pull by both): keyed by
        // the digest alone now, as moby stores it.
        let mixed: Vec<String> = idx
            .refs
            .keys()
            .filter(|k| is_digest_key(k))
            .filter(|k| Reference::parse(k).is_ok_and(|r| r.index_key() != **k))
            .cloned()
            .collect();
        for k in mixed {
            if let (Some(id), Ok(r)) = (idx.refs.remove(&k), Reference::parse(&k)) {
                idx.refs.entry(r.index_key()).or_insert(id);
            }
        }
        Ok(idx)
    }

    pub fn save(&self, path: &Path) -> Result<(), IoError> {
        write_json_atomic(path, self)
    }

    /// Metadata of a visible or retained image.
    pub fn meta(&self, id: &str) -> Option<&ImageMeta> {
        self.images.get(id).or_else(|| self.retained.get(id))
    }

    /// Reference keys (tags and digest references) that point at `id`, sorted
    /// as moby's `References` (lexically by the full name).
    pub fn refs_to(&self, id: &str) -> Vec<String> {
        self.refs
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Visible images whose parent is `id`.
    pub fn children(&self, id: &str) -> Vec<String> {
        self.images
            .iter()
            .filter(|(_, m)| m.parent.as_deref() == Some(id))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Images that are some visible image's parent.
    pub fn parents(&self) -> BTreeSet<&str> {
        self.images
            .values()
            .filter_map(|m| m.parent.as_deref())
            .collect()
    }

    /// An intermediate image: no name, and a child (`parents` from [`Self::parents`]).
    pub fn is_intermediate(&self, id: &str, parents: &BTreeSet<&str>) -> bool {
        parents.contains(id) && !self.refs.values().any(|v| v == id)
    }

    /// moby's dangling image: no name and no child.
    pub fn is_dangling(&self, id: &str) -> bool {
        self.refs_to(id).is_empty() && self.children(id).is_empty()
    }

    /// IDs whose hex starts with `prefix` (`sha256:` optional).
    pub fn ids_with_prefix(&self, prefix: &str) -> Vec<String> {
        let p = prefix.strip_prefix("sha256:").unwrap_or(prefix);
        self.images
            .keys()
            .filter(|id| id.strip_prefix("sha256:").is_some_and(|h| h.starts_with(p)))
            .cloned()
            .collect()
    }
}

/// Whether an index key is a digest reference (`NAME@sha256:..`) rather than a tag.
pub fn is_digest_key(key: &str) -> bool {
    key.contains('@')
}

/// Every content digest (images, manifests, layers) referenced by any daemon.
#[derive(Debug, Default)]
pub struct ContentRefs {
    pub images: BTreeSet<String>,
    pub manifests: BTreeSet<String>,
    pub layers: BTreeSet<String>,
}

/// Scan all `daemons/*/images.json`. `override_daemon` replaces one daemon's index by an
/// in-memory version (the caller's, not yet saved or just changed).
pub fn all_content_refs(
    data_root: &Path,
    override_daemon: Option<(&str, &DaemonIndex)>,
) -> Result<ContentRefs, IoError> {
    let mut out = ContentRefs::default();
    let mut add = |idx: &DaemonIndex| {
        for (id, m) in idx.images.iter().chain(idx.retained.iter()) {
            out.images.insert(id.clone());
            out.manifests.insert(m.manifest.clone());
            out.layers.extend(m.layers.iter().cloned());
        }
    };
    let daemons = data_root.join(crate::daemon::DAEMONS_DIR);
    let entries = match std::fs::read_dir(&daemons) {
        Ok(e) => e.collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(IoError::new("read dir", daemons, e)),
    };
    for e in entries {
        let e = e.map_err(|err| IoError::new("read dir", &daemons, err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some((h, _)) = override_daemon {
            if h == name {
                continue;
            }
        }
        add(&DaemonIndex::load(&e.path().join("images.json"))?);
    }
    if let Some((_, idx)) = override_daemon {
        add(idx);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_and_digest_key_is_loaded_as_the_digest_alone() {
        let dir = tempfile::tempdir().unwrap();
        let d = format!("sha256:{}", "ab".repeat(32));
        let mut a = DaemonIndex::default();
        a.refs
            .insert(format!("docker.io/library/x:1@{d}"), "sha256:a".into());
        a.refs
            .insert("docker.io/library/x:1".into(), "sha256:a".into());
        let p = DaemonIndex::path(dir.path(), "a");
        a.save(&p).unwrap();
        let b = DaemonIndex::load(&p).unwrap();
        assert_eq!(
            b.refs_to("sha256:a"),
            [
                "docker.io/library/x:1".to_string(),
                format!("docker.io/library/x@{d}")
            ]
        );
        assert!(is_digest_key(&format!("docker.io/library/x@{d}")));
        assert!(!is_digest_key("localhost:5000/x:1"));
    }

    #[test]
    fn scanning_all_hosts_sees_every_reference_and_overrides_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = DaemonIndex::default();
        a.images.insert(
            "sha256:a".into(),
            ImageMeta {
                manifest: "sha256:ma".into(),
                layers: vec!["sha256:l1".into()],
                ..Default::default()
            },
        );
        a.save(&DaemonIndex::path(dir.path(), "a")).unwrap();
        let mut b = DaemonIndex::default();
        b.images.insert(
            "sha256:b".into(),
            ImageMeta {
                manifest: "sha256:mb".into(),
                layers: vec!["sha256:l2".into()],
                ..Default::default()
            },
        );
        b.refs
            .insert("docker.io/library/x:latest".into(), "sha256:b".into());
        b.save(&DaemonIndex::path(dir.path(), "b")).unwrap();
        let r = all_content_refs(dir.path(), None).unwrap();
        assert_eq!(r.layers.len(), 2);
        let r = all_content_refs(dir.path(), Some(("b", &DaemonIndex::default()))).unwrap();
        assert_eq!(r.layers.into_iter().collect::<Vec<_>>(), ["sha256:l1"]);
        assert_eq!(b.refs_to("sha256:b"), ["docker.io/library/x:latest"]);
        assert_eq!(b.ids_with_prefix("sha256:"), ["sha256:b"]);
        assert!(all_content_refs(&dir.path().join("none"), None)
            .unwrap()
            .images
            .is_empty());
    }
}
