//! Manifests, tags, referrers and repository listing in the storage: a
//! manifest is a blob plus a revision link in its repository; tags and the
//! referrers index are link files.

use std::fs;
use std::io;
use std::path::Path;

use super::{list_digests, list_dir, read_link, remove_tree, write_atomic, Storage};
use crate::reference::Digest;

/// A manifest as pushed.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub bytes: Vec<u8>,
    /// The Content-Type it was pushed with (or its `mediaType` field).
    pub media_type: String,
}

impl Storage {
    /// The manifest a tag points to.
    pub fn resolve_tag(&self, name: &str, tag: &str) -> io::Result<Option<Digest>> {
        read_link(&self.tags_dir(name).join(tag).join("current/link"))
    }

    /// Whether the repository has the manifest.
    pub fn has_manifest(&self, name: &str, d: &Digest) -> bool {
        self.revision_dir(name, d).join("link").is_file()
    }

    /// Reads a manifest of the repository.
    pub fn read_manifest(&self, name: &str, d: &Digest) -> io::Result<Option<StoredManifest>> {
        if !self.has_manifest(name, d) {
            return Ok(None);
        }
        let Some(bytes) = self.read_blob(d)? else {
            return Ok(None);
        };
        let media_type = match fs::read_to_string(self.revision_dir(name, d).join("mediatype")) {
            Ok(m) if !m.trim().is_empty() => m.trim().to_string(),
            _ => serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
                .unwrap_or_else(|| crate::manifest::OCI_MANIFEST.to_string()),
        };
        Ok(Some(StoredManifest {
            digest: d.clone(),
            bytes,
            media_type,
        }))
    }

    /// Stores a manifest's bytes and links it into the repository.
    pub fn put_manifest(
        &self,
        name: &str,
        d: &Digest,
        bytes: &[u8],
        media_type: &str,
    ) -> io::Result<()> {
        self.put_blob(d, bytes)?;
        let dir = self.revision_dir(name, d);
        write_atomic(&dir.join("mediatype"), media_type.as_bytes(), false)?;
        write_atomic(&dir.join("link"), d.to_string().as_bytes(), false)
    }

    /// Points a tag at a manifest.
    pub fn tag(&self, name: &str, tag: &str, d: &Digest) -> io::Result<()> {
        let dir = self.tags_dir(name).join(tag);
        let link = d.to_string();
        let index = dir
            .join("index")
            .join(&d.algorithm)
            .join(&d.hex)
            .join("link");
        write_atomic(&index, link.as_bytes(), false)?;
        write_atomic(&dir.join("current/link"), link.as_bytes(), false)
    }

    /// Removes a tag; false when it did not exist.
    pub fn untag(&self, name: &str, tag: &str) -> io::Result<bool> {
        if self.resolve_tag(name, tag)?.is_none() {
            return Ok(false);
        }
        remove_tree(&self.tags_dir(name).join(tag))
    }

    /// The tags of a repository, sorted; `None` when it has never had one.
    pub fn tags(&self, name: &str) -> io::Result<Option<Vec<String>>> {
        let dir = self.tags_dir(name);
        if !dir.is_dir() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for t in list_dir(&dir)? {
            if dir.join(&t).join("current/link").is_file() {
                out.push(t);
            }
        }
        out.sort();
        Ok(Some(out))
    }

    /// The tags pointing at a manifest.
    pub fn tags_of(&self, name: &str, d: &Digest) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for t in self.tags(name)?.unwrap_or_default() {
            if self.resolve_tag(name, &t)?.as_ref() == Some(d) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The manifests of a repository.
    pub fn revisions(&self, name: &str) -> io::Result<Vec<Digest>> {
        list_digests(&self.repo_dir(name).join("_manifests/revisions"))
    }

    /// The blobs linked into a repository.
    pub fn layers(&self, name: &str) -> io::Result<Vec<Digest>> {
        list_digests(&self.repo_dir(name).join("_layers"))
    }

    /// Removes a manifest from a repository with the tags pointing at it and
    /// its referrers-index entry; false when the repository did not have it.
    pub fn delete_manifest(&self, name: &str, d: &Digest) -> io::Result<bool> {
        let Some(m) = self.read_manifest(name, d)? else {
            return Ok(false);
        };
        for t in self.tags_of(name, d)? {
            remove_tree(&self.tags_dir(name).join(t))?;
        }
        if let Some(subject) = crate::manifest::subject_of(&m.bytes) {
            remove_tree(
                &self
                    .referrers_dir(name, &subject)
                    .join(&d.algorithm)
                    .join(&d.hex),
            )?;
        }
        remove_tree(&self.revision_dir(name, d))
    }

    /// Records that manifest `d` refers to `subject`.
    pub fn add_referrer(&self, name: &str, subject: &Digest, d: &Digest) -> io::Result<()> {
        let link = self
            .referrers_dir(name, subject)
            .join(&d.algorithm)
            .join(&d.hex)
            .join("link");
        write_atomic(&link, d.to_string().as_bytes(), false)
    }

    /// The manifests of the repository that refer to `subject`.
    pub fn referrers(&self, name: &str, subject: &Digest) -> io::Result<Vec<Digest>> {
        let all = list_digests(&self.referrers_dir(name, subject))?;
        Ok(all
            .into_iter()
            .filter(|d| self.has_manifest(name, d))
            .collect())
    }

    /// Every repository (a directory with `_manifests`), sorted.
    pub fn repositories(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        walk_repos(&self.repos_dir(), "", &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Every directory holding a repository (`_layers`, `_manifests` or `_uploads`).
    pub fn repository_dirs(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        walk_any_repo(&self.repos_dir(), "", &mut out)?;
        out.sort();
        Ok(out)
    }
}

fn walk_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    for e in list_dir(dir)? {
        if e.starts_with('_') {
            if e == "_manifests" && !prefix.is_empty() {
                out.push(prefix.to_string());
            }
            continue;
        }
        let p = dir.join(&e);
        if p.is_dir() {
            let name = if prefix.is_empty() {
                e
            } else {
                format!("{prefix}/{e}")
            };
            walk_repos(&p, &name, out)?;
        }
    }
    Ok(())
}

fn walk_any_repo(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let mut is_repo = false;
    for e in list_dir(dir)? {
        if e.starts_with('_') {
            is_repo = true;
            continue;
        }
        let p = dir.join(&e);
        if p.is_dir() {
            let name = if prefix.is_empty() {
                e
            } else {
                format!("{prefix}/{e}")
            };
            walk_any_repo(&p, &name, out)?;
        }
    }
    if is_repo && !prefix.is_empty() {
        out.push(prefix.to_string());
    }
    Ok(())
}
