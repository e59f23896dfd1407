//! `docker pull`: manifest (an index picks the platform), config, then the
//! layers, several at once, each decompressed and extracted while it downloads.
//!
//! A layer's bytes go through [`LayerReader`]: the compressed stream is hashed
//! and counted, and decompressed (gzip, zstd or none, told by the bytes); only
//! when its hash and size match the manifest does the reader report its end.
//! The store hashes the tar as it writes it and commits it only when that is
//! the diff ID the config names, so nothing unverified is kept. A failed pull adds no image; layers verified before the failure
//! stay for the next pull, as Docker's do.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use super::client::{error_text, Client, Session};
use super::endpoint::endpoints;
use super::manifest::{self, Descriptor, Manifest, Platform};
use super::progress::{self, Sink, Throttle};
use super::{AuthConfig, RegistryError, Result};
use crate::image::ImageStore;
use crate::reference::Reference;
use crate::store::parse_digest;

/// The store behind any owner of one.
pub fn images<S: AsRef<ImageStore>>(s: &Arc<S>) -> &ImageStore {
    (**s).as_ref()
}

/// Whether the layer is in the store, extracted.
fn has_layer(st: &ImageStore, diff: &oci_spec::image::Sha256Digest) -> bool {
    st.blobs().exists(diff) && st.layer_dir(diff).is_dir()
}

/// Layers downloaded at once (Docker's default is 3).
pub const CONCURRENT_DOWNLOADS: usize = 3;
/// Attempts per layer when the connection fails (not when content is wrong).
const ATTEMPTS: u32 = 3;

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The reference (a default tag is added when there is none).
    pub reference: Reference,
    /// None: the machine's platform.
    pub platform: Option<Platform>,
    pub creds: AuthConfig,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image ID (`sha256:` of the config).
    pub id: String,
    /// The digest of the manifest (of the index, when there was one), as docker
    /// prints after `Digest:`.
    pub digest: String,
    /// The reference as tagged (`busybox:latest`).
    pub reference: Reference,
    /// False when the image was there already under that name.
    pub updated: bool,
}

/// Fetch a manifest by tag or digest: (bytes, content type, digest).
pub async fn get_manifest(
    session: &Session<'_>,
    reference: &str,
    display: &Reference,
) -> Result<(Vec<u8>, String, String)> {
    let url = session.url(&format!("manifests/{reference}")).await?;
    let resp = session
        .send(Method::GET, &url, |b| b.header("Accept", manifest::ACCEPT))
        .await?;
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp
        .bytes()
        .await
        .map_err(|e| super::client::transport_error(&Method::GET, &url, &e))?;
    if !status.is_success() {
        return Err(manifest_error(status, &body, display));
    }
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    if reference.starts_with("sha256:") && reference != digest {
        return Err(RegistryError::Verification(format!(
            "manifest verification failed for digest {reference}"
        )));
    }
    Ok((body.to_vec(), ctype, digest))
}

/// A manifest through the daemon's pull cache: a fresh one needs no request
/// at all, and concurrent pulls of one reference make one.
async fn cached_manifest(
    session: &Session<'_>,
    reference: &str,
    r: &Reference,
) -> Result<(Vec<u8>, String, String)> {
    let cache = session.cache();
    let key = super::cache::PullCache::key(
        &session.ep.host,
        &session.ep.repo,
        reference,
        session.user(),
    );
    let _one = super::cache::lock(&key).await;
    if let Some(hit) = cache.get(&key) {
        return Ok(hit);
    }
    session.authorize().await?;
    let got = get_manifest(session, reference, r).await?;
    cache.put(&key, &got.0, &got.1, &got.2);
    Ok(got)
}

/// Docker's words for a manifest that could not be had.
fn manifest_error(status: StatusCode, body: &[u8], r: &Reference) -> RegistryError {
    let text = error_text(status, body);
    let unknown_manifest = text.starts_with("manifest unknown");
    match status {
        StatusCode::NOT_FOUND if unknown_manifest || !text.starts_with("name unknown") => {
            RegistryError::ManifestUnknown {
                reference: r.familiar_string(),
                detail: if text == "not found" {
                    "manifest unknown".into()
                } else {
                    text
                },
            }
        }
        StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            RegistryError::PullDenied {
                name: r.familiar_name(),
                detail: text,
            }
        }
        _ => RegistryError::Registry(text),
    }
}

/// Fetch a small blob (a config) whole, verified.
async fn get_blob_bytes(session: &Session<'_>, d: &Descriptor) -> Result<Vec<u8>> {
    let url = session.url(&format!("blobs/{}", d.digest)).await?;
    let resp = session.send(Method::GET, &url, |b| b).await?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| super::client::transport_error(&Method::GET, &url, &e))?;
    if !status.is_success() {
        return Err(RegistryError::Registry(error_text(status, &body)));
    }
    let got = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    if got != d.digest || body.len() as u64 != d.size {
        return Err(RegistryError::Verification(format!(
            "{}: digest or size does not match what the manifest says (got {got}, {} bytes)",
            d.digest,
            body.len()
        )));
    }
    Ok(body.to_vec())
}

/// Every tag of `r`'s repository (`GET /v2/NAME/tags/list`, following `Link`
/// pages), for `pull --all-tags`.
pub async fn list_tags(client: &Client, r: &Reference, creds: AuthConfig) -> Result<Vec<String>> {
    let ep = super::endpoint::registry_endpoint(r, &client.options().insecure);
    let creds = client.options().pull_creds(r.domain(), &creds);
    let session = client.session(ep, creds, "pull");
    session.authorize().await?;
    let mut url = session.url("tags/list").await?;
    let mut tags = Vec::new();
    for _ in 0..100 {
        let resp = session.send(Method::GET, &url, |b| b).await?;
        let status = resp.status();
        let next = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(|l| l.split(';').next())
            .map(|l| {
                l.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            });
        let body = resp
            .bytes()
            .await
            .map_err(|e| super::client::transport_error(&Method::GET, &url, &e))?;
        if !status.is_success() {
            return Err(manifest_error(status, &body, r));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::Registry(format!("tags of {}: {e}", r.familiar_name())))?;
        tags.extend(
            v["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string)),
        );
        match next {
            Some(n) => {
                url = reqwest::Url::parse(&url)
                    .and_then(|u| u.join(&n))
                    .map_err(|e| RegistryError::Registry(format!("invalid Link {n}: {e}")))?
                    .to_string()
            }
            None => break,
        }
    }
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// Pull `req` into `store` (any owner of an [`ImageStore`], so that the work
/// that blocks can run on other threads), reporting to `sink`.
pub async fn pull<S>(client: &Client, store: Arc<S>, req: PullRequest, sink: Sink) -> Result<Pulled>
where
    S: AsRef<ImageStore> + Send + Sync + 'static,
{
    let r = req.reference.with_default_tag();
    let eps = endpoints(&r, &client.options().mirrors, &client.options().insecure);
    // A pull without credentials uses the machine's, where it has some.
    let creds = client.options().pull_creds(r.domain(), &req.creds);
    let mut last = None;
    for ep in eps {
        let mirror = ep.mirror;
        let session = client.session(ep, creds.clone(), "pull");
        match pull_from(
            &session,
            store.clone(),
            &r,
            req.platform.as_ref(),
            sink.clone(),
        )
        .await
        {
            Ok(p) => return Ok(p),
            // A mirror that fails is passed over, as Docker does.
            Err(e) if mirror => {
                tracing::warn!(
                    "pull of {} from mirror {}: {e}",
                    r.familiar_string(),
                    session.ep.host
                );
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| RegistryError::Internal("no endpoint".into())))
}

async fn pull_from<S>(
    session: &Session<'_>,
    store: Arc<S>,
    r: &Reference,
    platform: Option<&Platform>,
    sink: Sink,
) -> Result<Pulled>
where
    S: AsRef<ImageStore> + Send + Sync + 'static,
{
    let wanted = r.digest().or(r.tag()).unwrap_or("latest").to_string();
    // Nothing is said before the manifest is there: a pull that fails that
    // early is an HTTP error, as Docker's.
    let (bytes, ctype, top_digest) = cached_manifest(session, &wanted, r).await?;
    sink(match r.digest() {
        Some(_) => progress::line(&format!("Pulling from {}", path_for_display(r))),
        None => {
            serde_json::json!({"status": format!("Pulling from {}", path_for_display(r)), "id": wanted})
        }
    });
    let name = r.familiar_name();
    let image_manifest = match manifest::parse(&bytes, &ctype, &name)? {
        Manifest::Image(m) => m,
        Manifest::Index(index) => {
            let want = platform.cloned().unwrap_or_else(manifest::host_platform);
            let d = manifest::select(&index, &want)
                .ok_or_else(|| RegistryError::NoPlatform(want.to_string()))?;
            let (b, ct, _) = cached_manifest(session, &d.digest, r).await?;
            match manifest::parse(&b, &ct, &name)? {
                Manifest::Image(m) => m,
                Manifest::Index(_) => {
                    return Err(RegistryError::Unsupported(format!(
                        "{}: an index inside an index is not supported",
                        d.digest
                    )))
                }
            }
        }
    };
    // A config the store has (the image was pulled before) is not fetched.
    let config = match parse_digest(&image_manifest.config.digest)
        .filter(|d| images(&store).blobs().exists(d))
        .and_then(|d| images(&store).blobs().read(&d).ok())
    {
        Some(b) => b,
        None => {
            session.authorize().await?;
            get_blob_bytes(session, &image_manifest.config).await?
        }
    };
    let stored = crate::image::config::StoredConfig::parse(&config)
        .map_err(|e| RegistryError::Registry(format!("invalid image config: {e}")))?;
    if let Some(want) = platform {
        let got = Platform {
            os: stored.oci.os().to_string(),
            architecture: stored.oci.architecture().to_string(),
            variant: stored.oci.variant().clone(),
        };
        let variant_ok = want.variant.is_none() || want.variant == got.variant;
        if got.os != want.os || got.architecture != want.architecture || !variant_ok {
            return Err(RegistryError::InvalidParameter(format!(
                "image with reference {} was found but its platform ({got}) does not match the specified platform ({want})",
                r.familiar_string()
            )));
        }
    }
    let diff_ids = stored.diff_ids();
    let layers: Vec<Descriptor> = image_manifest
        .layers
        .iter()
        .filter(|l| l.media_type != manifest::DOCKER_FOREIGN_LAYER || l.urls.is_empty())
        .cloned()
        .collect();
    if layers.len() != diff_ids.len() {
        return Err(RegistryError::Registry(format!(
            "the manifest has {} layers and the config {} diff ids",
            layers.len(),
            diff_ids.len()
        )));
    }
    let previous = images(&store)
        .lookup_name(&r.canonical_string())
        .ok()
        .map(|(id, _)| id);

    // The layers: those present are skipped, the others fetched a few at once.
    let jobs: Vec<(Descriptor, String)> = layers.into_iter().zip(diff_ids).collect();
    let mut missing = 0;
    let mut waiting = Vec::new();
    let mut fetch = Vec::new();
    for (d, diff) in &jobs {
        let have = parse_digest(diff).is_some_and(|dd| has_layer(images(&store), &dd));
        let id = progress::short(&d.digest);
        if have {
            sink(progress::status(&id, "Already exists"));
        } else {
            fetch.push((d.clone(), diff.clone()));
            sink(progress::status(&id, "Pulling fs layer"));
            // Beyond the first few, a layer waits for a download slot.
            missing += 1;
            if missing > CONCURRENT_DOWNLOADS {
                waiting.push(id);
            }
        }
    }
    for id in waiting {
        sink(progress::status(&id, "Waiting"));
    }
    let results: Vec<Result<()>> = stream::iter(fetch.into_iter().map(|(d, diff)| {
        let store = store.clone();
        let sink = sink.clone();
        async move { fetch_layer(session, store, &d, &diff, sink).await }
    }))
    .buffer_unordered(CONCURRENT_DOWNLOADS)
    .collect()
    .await;
    for r in results {
        r?;
    }
    let st = store.clone();
    let reference = r.clone();
    // The name, and the digest the pull started from (RepoDigests).
    let digest = top_digest.clone();
    let id = tokio::task::spawn_blocking(move || {
        let id = images(&st).add_image(&config, Some(&reference))?;
        images(&st).add_digest(&id, &reference, &digest)?;
        Ok::<_, crate::image::ImageError>(id)
    })
    .await
    .map_err(|source| RegistryError::Task {
        what: "adding the image".into(),
        source,
    })??;
    for (d, diff) in &jobs {
        super::push::remember(
            images(&store),
            diff,
            &super::push::Known {
                digest: d.digest.clone(),
                size: d.size,
                media_type: d.media_type.clone(),
                registry: session.ep.host.clone(),
                repo: session.ep.repo.clone(),
            },
        );
    }
    let updated = previous.as_deref() != Some(id.as_str());
    sink(progress::line(&format!("Digest: {top_digest}")));
    sink(progress::line(&if updated {
        format!("Status: Downloaded newer image for {}", r.familiar_string())
    } else {
        format!("Status: Image is up to date for {}", r.familiar_string())
    }));
    Ok(Pulled {
        id,
        digest: top_digest,
        reference: r.clone(),
        updated,
    })
}

/// `library/busybox` for Hub, the path otherwise (as docker's first line).
fn path_for_display(r: &Reference) -> String {
    if r.domain() == crate::reference::DEFAULT_DOMAIN {
        r.path().to_string()
    } else {
        r.full_name()
    }
}

async fn fetch_layer<S>(
    session: &Session<'_>,
    store: Arc<S>,
    d: &Descriptor,
    diff_id: &str,
    sink: Sink,
) -> Result<()>
where
    S: AsRef<ImageStore> + Send + Sync + 'static,
{
    let id = progress::short(&d.digest);
    let diff = parse_digest(diff_id)
        .ok_or_else(|| RegistryError::Registry(format!("invalid diff id {diff_id}")))?;
    // One download per layer in the whole daemon: a concurrent pull of the
    // same layer (any host) waits, then finds it in the shared store.
    let _one = super::cache::lock(diff_id).await;
    if has_layer(images(&store), &diff) {
        sink(progress::status(&id, "Already exists"));
        return Ok(());
    }
    session.authorize().await?;
    let url = session.url(&format!("blobs/{}", d.digest)).await?;
    // The store extracts on a thread of its own while the bytes arrive.
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(16);
    let (verified_tx, verified_rx) = tokio::sync::oneshot::channel::<()>();
    let expect = (d.digest.clone(), d.size, diff);
    let st = store.clone();
    let consumer = tokio::task::spawn_blocking(move || {
        let reader = LayerReader::new(
            ChanReader {
                rx,
                buf: Bytes::new(),
            },
            expect.0,
            expect.1,
        )
        .map_err(|e| crate::image::ImageError::InvalidParameter(format!("reading layer: {e}")))?;
        let mut reader = AtEnd {
            inner: reader,
            tell: Some(verified_tx),
        };
        images(&st).register_layer_as(&mut reader, Some(&expect.2))
    });
    let downloaded = download(session, &url, d, &tx, &sink).await;
    if let Err(e) = &downloaded {
        let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
    }
    drop(tx);
    // Once the download is verified, the store extracts it (docker's
    // "Extracting").
    let mut consumer = consumer;
    let joined = tokio::select! {
        // The verification first: a small layer may be extracted already
        // when this is polled, and its "Download complete" must still show.
        biased;
        verified = verified_rx => {
            if verified.is_ok() && downloaded.is_ok() {
                sink(progress::status(&id, "Verifying Checksum"));
                sink(progress::status(&id, "Download complete"));
                sink(progress::status(&id, "Extracting"));
            }
            consumer.await
        }
        joined = &mut consumer => joined,
    };
    let res = joined.map_err(|source| RegistryError::Task {
        what: format!("extracting {}", d.digest),
        source,
    })?;
    downloaded?;
    match res {
        Ok(_) => {
            sink(progress::status(&id, "Pull complete"));
            Ok(())
        }
        Err(e) => {
            // The store wraps the reader's error in its own words (with its
            // paths); the reader's words are what docker says.
            let text = e.to_string();
            for key in [
                "filesystem layer verification failed",
                "layer verification failed",
                "unexpected EOF",
            ] {
                if let Some(i) = text.find(key) {
                    return Err(RegistryError::Verification(text[i..].to_string()));
                }
            }
            Err(e.into())
        }
    }
}

/// Send the blob's bytes to `tx`. A connection that fails is tried again
/// (with back-off, [`ATTEMPTS`] times in all) from where it broke: with
/// `Range: bytes=N-` where the registry honours it (206), else by skipping
/// the bytes already sent of a full answer. A registry that answers with an
/// error, or content that fails its checks (the consumer stops), is not
/// retried.
async fn download(
    session: &Session<'_>,
    url: &str,
    d: &Descriptor,
    tx: &tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    sink: &Sink,
) -> Result<()> {
    let id = progress::short(&d.digest);
    let mut bar = Throttle::new(sink.clone(), &id, "Downloading", d.size);
    let mut got = 0u64;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let from = got;
        let resp = session
            .send(Method::GET, url, |b| {
                if from > 0 {
                    b.header("Range", format!("bytes={from}-"))
                } else {
                    b
                }
            })
            .await;
        let failure = match resp {
            Err(e @ RegistryError::Transport(_)) => e,
            Err(e) => return Err(e),
            Ok(resp) => {
                let status = resp.status();
                // What the answer starts with, counted from the blob's start.
                let start = match status {
                    StatusCode::PARTIAL_CONTENT => content_range_start(resp.headers()),
                    s if s.is_success() => Some(0),
                    _ => None,
                };
                let Some(start) = start.filter(|s| *s <= from) else {
                    let body = resp.bytes().await.unwrap_or_default();
                    return Err(RegistryError::Registry(error_text(status, &body)));
                };
                let mut skip = from - start;
                let mut body = resp.bytes_stream();
                let mut broke = None;
                while let Some(chunk) = body.next().await {
                    match chunk {
                        Ok(mut c) => {
                            if skip > 0 {
                                let k = skip.min(c.len() as u64);
                                skip -= k;
                                c = c.slice(k as usize..);
                                if c.is_empty() {
                                    continue;
                                }
                            }
                            got += c.len() as u64;
                            bar.update(got);
                            if tx.send(Ok(c)).await.is_err() {
                                // The consumer stopped: its error tells why.
                                return Ok(());
                            }
                        }
                        Err(e) => {
                            broke = Some(super::client::transport_error(&Method::GET, url, &e));
                            break;
                        }
                    }
                }
                match broke {
                    None => return Ok(()),
                    Some(e) => e,
                }
            }
        };
        if attempt >= ATTEMPTS {
            return Err(failure);
        }
        let wait = Duration::from_millis(500 * u64::from(attempt));
        sink(progress::retrying(&id, wait));
        tracing::warn!("layer {} at byte {got}: {failure}; retrying", d.digest);
        tokio::time::sleep(wait).await;
    }
}

mod readers;

pub use readers::LayerReader;
use readers::*;

#[cfg(test)]
mod tests;
