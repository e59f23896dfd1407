//! Write images as Docker 25+ does: OCI layout + `manifest.json` + `repositories`.
//!
//! `SaveSet::prepare` resolves every name first, so that an unknown image is an
//! error before a single byte of the archive is sent; `write` then streams blobs
//! straight from the store (layers are stored uncompressed: their blob digest is
//! their diff ID, as in Docker's own archives).

use super::{MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST};
use crate::image::config::StoredConfig;
use crate::image::{ImageError, ImageStore};
use crate::reference::Reference;
use crate::store::{digest_string, parse_digest, sha256_of};
use oci_spec::image::Sha256Digest;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Write};

struct Entry {
    config: Sha256Digest,
    manifest: Vec<u8>,
    manifest_digest: Sha256Digest,
    layers: Vec<Sha256Digest>,
    refs: Vec<Reference>,
}

/// The images of one `save`, resolved.
pub struct SaveSet<'a> {
    store: &'a ImageStore,
    images: Vec<Entry>,
}

impl<'a> SaveSet<'a> {
    /// Resolve `names` (references or IDs) as docker does; a name without a tag
    /// means its `latest`.
    pub fn prepare(store: &'a ImageStore, names: &[String]) -> Result<SaveSet<'a>, ImageError> {
        let mut images: Vec<Entry> = Vec::new();
        for name in names {
            let (id, r) = store.lookup_name(name)?;
            let r = r
                .filter(|r| r.digest().is_none())
                .map(|r| r.with_default_tag());
            if let Some(e) = images.iter_mut().find(|e| digest_string(&e.config) == id) {
                if let Some(r) = r {
                    if !e.refs.contains(&r) {
                        e.refs.push(r);
                    }
                }
                continue;
            }
            let config = parse_digest(&id).ok_or_else(|| ImageError::NotFound(id.clone()))?;
            let cfg =
                StoredConfig::parse(&store.config_bytes(&id)?).map_err(ImageError::Internal)?;
            let layers = cfg
                .diff_ids()
                .iter()
                .map(|d| {
                    parse_digest(d)
                        .ok_or_else(|| ImageError::Internal(format!("invalid diff id {d}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for l in &layers {
                if !store.blobs().exists(l) {
                    return Err(ImageError::Internal(format!(
                        "layer {} of image {id} is missing from the store",
                        digest_string(l)
                    )));
                }
            }
            let manifest = store.manifest_bytes(&id)?;
            images.push(Entry {
                config,
                manifest_digest: sha256_of(&manifest),
                manifest,
                layers,
                refs: r.into_iter().collect(),
            });
        }
        Ok(SaveSet { store, images })
    }

    /// Total bytes of the blobs the archive will hold (for progress).
    pub fn content_size(&self) -> u64 {
        let mut seen = BTreeSet::new();
        let mut total = 0;
        for e in &self.images {
            for d in e.layers.iter().chain(std::iter::once(&e.config)) {
                if seen.insert(d.digest().to_string()) {
                    total += self.store.blobs().size(d).unwrap_or(0);
                }
            }
        }
        total
    }

    /// Stream the archive into `out`.
    pub fn write(&self, out: impl Write) -> io::Result<()> {
        let mut tar = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, out));
        dir(&mut tar, "blobs/")?;
        dir(&mut tar, "blobs/sha256/")?;
        let mut written = BTreeSet::new();
        for e in &self.images {
            for d in e.layers.iter().chain([&e.config]) {
                if written.insert(d.digest().to_string()) {
                    let p = self.store.blobs().path(d);
                    let f = File::open(&p).map_err(|err| {
                        io::Error::new(err.kind(), format!("open {}: {err}", p.display()))
                    })?;
                    let len = f.metadata()?.len();
                    let mut h = header(tar::EntryType::Regular, 0o644, len);
                    tar.append_data(&mut h, format!("blobs/sha256/{}", d.digest()), f)?;
                }
            }
            if written.insert(e.manifest_digest.digest().to_string()) {
                let name = format!("blobs/sha256/{}", e.manifest_digest.digest());
                file(&mut tar, &name, &e.manifest)?;
            }
        }
        file(&mut tar, "index.json", &self.index_json())?;
        file(&mut tar, "manifest.json", &self.manifest_json())?;
        file(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        file(&mut tar, "repositories", &self.repositories())?;
        tar.into_inner()?.flush()
    }

    fn index_json(&self) -> Vec<u8> {
        let mut manifests = Vec::new();
        for e in &self.images {
            let desc = |annotations: Option<Value>| {
                let mut d = json!({
                    "mediaType": MEDIA_OCI_MANIFEST,
                    "digest": digest_string(&e.manifest_digest),
                    "size": e.manifest.len(),
                });
                if let Some(a) = annotations {
                    d["annotations"] = a;
                }
                d
            };
            if e.refs.is_empty() {
                manifests.push(desc(None));
            }
            for r in &e.refs {
                manifests.push(desc(Some(json!({
                    "io.containerd.image.name": r.canonical_string(),
                    "org.opencontainers.image.ref.name": r.tag().unwrap_or("latest"),
                }))));
            }
        }
        let v = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_INDEX,
            "manifests": manifests,
        });
        serde_json::to_vec(&v).unwrap_or_default()
    }

    fn manifest_json(&self) -> Vec<u8> {
        let rows: Vec<Value> = self
            .images
            .iter()
            .map(|e| {
                let tags: Vec<String> = e.refs.iter().map(|r| r.familiar_string()).collect();
                json!({
                    "Config": format!("blobs/sha256/{}", e.config.digest()),
                    "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
                    "Layers": e.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest())).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::to_vec(&rows).unwrap_or_default()
    }

    /// `{"name": {"tag": "<top layer hex>"}}`, as Docker writes it.
    fn repositories(&self) -> Vec<u8> {
        let mut repos: Map<String, Value> = Map::new();
        for e in &self.images {
            let Some(top) = e.layers.last() else { continue };
            for r in &e.refs {
                let name = r.familiar_name();
                let tag = r.tag().unwrap_or("latest").to_string();
                let entry = repos.entry(name).or_insert_with(|| json!({}));
                entry[tag] = Value::from(top.digest().to_string());
            }
        }
        serde_json::to_vec(&Value::Object(repos)).unwrap_or_default()
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn dir(tar: &mut tar::Builder<impl Write>, name: &str) -> io::Result<()> {
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    tar.append_data(&mut h, name, io::empty())
}

fn file(tar: &mut tar::Builder<impl Write>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
    tar.append_data(&mut h, name, data)
}
