//! `docker rmi`, following moby's `daemon/images/image_delete.go`: removing by
//! name untags (and deletes the image only when that was its last name and no
//! container uses it); removing by ID deletes, refusing when the image has several
//! names (unless forced) or is used by a container (a running one even if forced).
//!
//! Names are tags and digest references alike. `rmi NAME@sha256:..` removes that
//! digest reference; removing a tag that was its repository's last tag on the
//! image removes that repository's digest references too ("Untagged:" each).
//! Removing by ID counts as "one name" (no `-f` needed) when every reference is
//! of one repository with at most one tag.
//!
//! Content (config, manifest, layer blobs, extracted layers) goes only when no image
//! of any daemon still refers to it. An image forced away while stopped containers use
//! it is *retained*: hidden, reachable by full ID, content kept, until
//! `release_unused` finds no container using it.

use super::index::{all_content_refs, is_digest_key, DaemonIndex};
use super::{short_id, ImageError, ImageStore};
use crate::reference::Reference;
use crate::store::{digest_string, parse_digest, sha256_of};
use shared::api::ImageDeleteItem;
use std::fs;

/// Containers using an image: `(container_id, running)`.
pub type Users<'a> = &'a dyn Fn(&str) -> Vec<(String, bool)>;

struct Conflict {
    hard: bool,
    used: bool,
    message: String,
}

impl Conflict {
    fn text(&self, id: &str) -> String {
        let how = if self.hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        format!(
            "conflict: unable to delete {} ({how}) - {}",
            short_id(id),
            self.message
        )
    }
}

/// `busybox:latest`, `busybox@sha256:..` for an index key.
fn familiar(key: &str) -> String {
    Reference::parse(key)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| key.to_string())
}

/// The repository (`docker.io/library/busybox`) of an index key.
fn ref_name(key: &str) -> Option<String> {
    Reference::parse(key).ok().map(|r| r.full_name())
}

/// moby's `isSingleReference`: the references (index keys) are all of one
/// repository with at most one tag. False for none.
fn is_single_reference(refs: &[String]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut tags = refs.iter().filter(|k| !is_digest_key(k));
    let single = match (tags.next(), tags.next()) {
        (_, Some(_)) => return false,
        (Some(t), None) => t,
        (None, None) => &refs[0],
    };
    let digest_repos: std::collections::BTreeSet<Option<String>> = refs
        .iter()
        .filter(|k| is_digest_key(k))
        .map(|k| ref_name(k))
        .collect();
    digest_repos.len() == 1 && digest_repos.contains(&ref_name(single))
}

/// True when `input` names the image by (a prefix of) its ID.
fn is_id_prefix(id: &str, input: &str) -> bool {
    id.starts_with(input)
        || id
            .split_once(':')
            .is_some_and(|(_, hex)| hex.starts_with(input))
}

/// moby's `checkImageDeleteConflict`. `soft` adds the conflicts `-f` overrides;
/// `active_refs` checks remaining names as one of them.
fn check_conflict(
    idx: &DaemonIndex,
    id: &str,
    users: &[(String, bool)],
    soft: bool,
    active_refs: bool,
) -> Option<Conflict> {
    if !idx.children(id).is_empty() {
        return Some(Conflict {
            hard: true,
            used: false,
            message: "image has dependent child images".into(),
        });
    }
    if let Some((c, _)) = users.iter().find(|(_, running)| *running) {
        return Some(Conflict {
            hard: true,
            used: true,
            message: format!("image is being used by running container {}", short_id(c)),
        });
    }
    if soft && active_refs && !idx.refs_to(id).is_empty() {
        return Some(Conflict {
            hard: false,
            used: false,
            message: "image is referenced in multiple repositories".into(),
        });
    }
    if soft {
        if let Some((c, _)) = users.iter().find(|(_, running)| !*running) {
            return Some(Conflict {
                hard: false,
                used: true,
                message: format!("image is being used by stopped container {}", short_id(c)),
            });
        }
    }
    None
}

impl ImageStore {
    /// `DELETE /images/{name}?force=`.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        users: Users<'_>,
    ) -> Result<Vec<ImageDeleteItem>, ImageError> {
        let mut idx = self.lock_index();
        let (id, matched) = self.lookup(&idx, name_or_id)?;
        if !idx.images.contains_key(&id) {
            // A retained image (only reachable by full ID) has nothing left to remove.
            return Err(ImageError::NotFound(name_or_id.to_string()));
        }
        let mut next = idx.clone();
        let mut records = Vec::new();
        let using = users(&id);
        let repo_refs = next.refs_to(&id);
        let mut quiet = false;
        match matched.filter(|_| !is_id_prefix(&id, name_or_id)) {
            Some(r) => {
                if !force && is_single_reference(&repo_refs) {
                    if let Some((c, _)) = using.first() {
                        return Err(ImageError::Conflict(format!(
                            "conflict: unable to remove repository reference {name_or_id:?} (must force) - container {} is using its referenced image {}",
                            short_id(c),
                            short_id(&id)
                        )));
                    }
                }
                next.refs.remove(&r.index_key());
                records.push(ImageDeleteItem::Untagged(r.familiar_string()));
                // A tag gone and no other tag of its repository left: the
                // repository's digest references go too (moby's rule).
                if r.digest().is_none() {
                    let repo = r.full_name();
                    let remaining = next.refs_to(&id);
                    let in_repo = |k: &String| ref_name(k).as_deref() == Some(repo.as_str());
                    if !remaining.iter().any(|k| !is_digest_key(k) && in_repo(k)) {
                        for k in remaining.iter().filter(|k| is_digest_key(k) && in_repo(k)) {
                            next.refs.remove(k);
                            records.push(ImageDeleteItem::Untagged(familiar(k)));
                        }
                    }
                }
                if !next.refs_to(&id).is_empty() {
                    self.save_index(&next)?;
                    *idx = next;
                    return Ok(records);
                }
                quiet = true;
            }
            None => {
                if is_single_reference(&repo_refs) {
                    if let Some(c) = check_conflict(&next, &id, &using, !force, false) {
                        return Err(ImageError::Conflict(c.text(&id)));
                    }
                    self.untag_all(&mut next, &id, &mut records);
                }
            }
        }
        if let Some(c) = check_conflict(&next, &id, &using, !force, true) {
            let dangling = next.is_dangling(&id);
            if quiet && (!dangling || c.used) {
                // The name is gone; the image stays for its containers.
                self.save_index(&next)?;
                *idx = next;
                return Ok(records);
            }
            return Err(ImageError::Conflict(c.text(&id)));
        }
        self.untag_all(&mut next, &id, &mut records);
        let meta = next.images.remove(&id);
        let manifest = meta.as_ref().map(|m| m.manifest.clone());
        let parent = meta.as_ref().and_then(|m| m.parent.clone());
        let retain = !using.is_empty();
        if let (true, Some(m)) = (retain, meta) {
            next.retained.insert(id.clone(), m);
        }
        let _content = self.content_lock()?;
        self.save_index(&next)?;
        *idx = next;
        records.push(ImageDeleteItem::Deleted(id.clone()));
        if !retain {
            records.extend(self.delete_unreferenced(&idx, &id, manifest.as_deref())?);
        }
        // moby: then the parent, quietly, if that left it nameless, childless
        // and unused (a build's intermediate images go with the image).
        let mut parent = parent;
        while let Some(p) = parent.take() {
            if !idx.images.contains_key(&p) || !idx.is_dangling(&p) || !users(&p).is_empty() {
                break;
            }
            let mut next = idx.clone();
            let meta = next.images.remove(&p);
            parent = meta.as_ref().and_then(|m| m.parent.clone());
            self.save_index(&next)?;
            *idx = next;
            records.push(ImageDeleteItem::Deleted(p.clone()));
            let manifest = meta.map(|m| m.manifest);
            records.extend(self.delete_unreferenced(&idx, &p, manifest.as_deref())?);
        }
        Ok(records)
    }

    /// Drop retained images no container uses any more, and their content.
    pub fn release_unused(&self, users: Users<'_>) -> Result<Vec<ImageDeleteItem>, ImageError> {
        let mut idx = self.lock_index();
        let unused: Vec<String> = idx
            .retained
            .keys()
            .filter(|id| users(id).is_empty())
            .cloned()
            .collect();
        if unused.is_empty() {
            return Ok(Vec::new());
        }
        let mut next = idx.clone();
        let mut manifests = Vec::new();
        for id in &unused {
            manifests.push(next.retained.remove(id).map(|m| m.manifest));
        }
        let _content = self.content_lock()?;
        self.save_index(&next)?;
        *idx = next;
        let mut records = Vec::new();
        for (id, m) in unused.iter().zip(&manifests) {
            records.extend(self.delete_unreferenced(&idx, id, m.as_deref())?);
        }
        Ok(records)
    }

    /// Remove every tag and digest reference of `id`, in moby's order.
    fn untag_all(&self, idx: &mut DaemonIndex, id: &str, records: &mut Vec<ImageDeleteItem>) {
        for r in idx.refs_to(id) {
            idx.refs.remove(&r);
            records.push(ImageDeleteItem::Untagged(familiar(&r)));
        }
    }

    /// Delete the content of image `id` that no daemon refers to any more. Called with
    /// the content lock held and `idx` (this daemon's new index) saved. Returns the
    /// `Deleted: <chain id>` rows of removed layers, top first, as docker prints them.
    pub(super) fn delete_unreferenced(
        &self,
        idx: &DaemonIndex,
        id: &str,
        manifest: Option<&str>,
    ) -> Result<Vec<ImageDeleteItem>, ImageError> {
        let refs = all_content_refs(self.data_root(), Some((self.daemon(), idx)))?;
        if let Some(m) = manifest
            .filter(|m| !refs.manifests.contains(*m))
            .and_then(parse_digest)
        {
            self.blobs().remove(&m)?;
        }
        if refs.images.contains(id) {
            return Ok(Vec::new());
        }
        let Some(cfg_digest) = parse_digest(id) else {
            return Ok(Vec::new());
        };
        let cfg = self.stored_config(id).ok();
        self.blobs().remove(&cfg_digest)?;
        let mut records = Vec::new();
        let Some(cfg) = cfg else { return Ok(records) };
        let diff_ids = cfg.diff_ids();
        let chain = chain_ids(&diff_ids);
        for (d, chain_id) in diff_ids.iter().zip(chain.iter()).rev() {
            if refs.layers.contains(d) {
                continue;
            }
            let Some(digest) = parse_digest(d) else {
                continue;
            };
            let dir = self.layer_dir(&digest);
            if dir.exists() {
                let trash = self.data_root().join("layers").join(format!(
                    ".trash-{}-{:016x}",
                    digest.digest(),
                    rand::random::<u64>()
                ));
                fs::rename(&dir, &trash)
                    .map_err(|e| crate::error::IoError::new("rename", &dir, e))?;
                if let Err(e) = fs::remove_dir_all(&trash) {
                    tracing::warn!(path = %trash.display(), error = %e, "cannot remove layer; retried at next open");
                }
            }
            self.blobs().remove(&digest)?;
            records.push(ImageDeleteItem::Deleted(chain_id.clone()));
        }
        Ok(records)
    }
}

/// Chain IDs of a layer stack: the first is its diff ID, each next is
/// `sha256(parent_chain + " " + diff_id)`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => digest_string(&sha256_of(format!("{parent} {d}").as_bytes())),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(
            c[1],
            digest_string(&sha256_of(format!("{a} {b}").as_bytes()))
        );
    }

    #[test]
    fn id_prefixes() {
        let id = format!("sha256:{}", "5b0d59".repeat(10) + "abcd");
        assert!(is_id_prefix(&id, "5b0d"));
        assert!(is_id_prefix(&id, "sha256:5b0d"));
        assert!(!is_id_prefix(&id, "busybox"));
    }
}
