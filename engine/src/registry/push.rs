//! `docker push`: each layer is found on the registry (`HEAD`), mounted from
//! another repository of the same registry, or compressed and uploaded; then the
//! config, then the manifest.
//!
//! The store keeps layers uncompressed, by diff ID. What a layer was called on a
//! registry (its compressed digest, size, media type, registry and repository) is
//! remembered in `<data_root>/distribution/<diff-id hex>.json` when it is pulled
//! or pushed, so a push of a pulled image sends the digests the registry knows
//! ("Layer already exists", "Mounted from"), as Docker's v2 metadata does.
//! Compression is deterministic (gzip, no timestamp), so a re-push of a layer
//! made here sends identical digests too.

use shared::sync::Locked;
use std::io::{Read, Write};
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::client::{error_text, Client, Session};
use super::manifest;
use super::progress::{self, Sink, Throttle};
use super::pull::images;
use super::{AuthConfig, RegistryError, Result};
use crate::error::IoContext;
use crate::image::ImageStore;
use crate::reference::Reference;
use crate::store::parse_digest;

/// A layer's name on a registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Known {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// `host[:port]` of the registry.
    pub registry: String,
    /// The repository path on it.
    pub repo: String,
}

fn known_path(store: &ImageStore, diff_id: &str) -> std::path::PathBuf {
    let hex = diff_id.split_once(':').map_or(diff_id, |(_, h)| h);
    store
        .data_root()
        .join("distribution")
        .join(format!("{hex}.json"))
}

/// What is known of `diff_id` on registries.
pub fn known(store: &ImageStore, diff_id: &str) -> Vec<Known> {
    crate::fsutil::read_json::<Vec<Known>>(&known_path(store, diff_id))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Remember that `diff_id` is `k` (best effort: a lost entry costs an upload).
pub fn remember(store: &ImageStore, diff_id: &str, k: &Known) {
    let path = known_path(store, diff_id);
    let mut all = known(store, diff_id);
    if all.contains(k) {
        return;
    }
    all.retain(|x| !(x.registry == k.registry && x.repo == k.repo));
    all.push(k.clone());
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = crate::fsutil::write_json_atomic(&path, &all) {
        tracing::warn!("remembering layer {diff_id}: {e}");
    }
}

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// `name[:tag]`; without a tag every tag of the repository is pushed.
    pub reference: Reference,
    pub all_tags: bool,
    pub creds: AuthConfig,
}

/// One pushed tag.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub tag: String,
    pub digest: String,
    pub size: u64,
}

/// Push `req` from `store`, reporting to `sink`.
pub async fn push<S>(
    client: &Client,
    store: Arc<S>,
    req: PushRequest,
    sink: Sink,
) -> Result<Vec<Pushed>>
where
    S: AsRef<ImageStore> + Send + Sync + 'static,
{
    let r = &req.reference;
    let tags: Vec<Reference> = if req.all_tags || r.explicit_tag().is_none() && r.digest().is_none()
    {
        let tags = images(&store).tags_of(&r.full_name());
        if tags.is_empty() {
            return Err(RegistryError::InvalidParameter(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            )));
        }
        tags.iter().filter_map(|t| r.with_tag(t).ok()).collect()
    } else {
        vec![r.clone()]
    };
    // Pushes go to the registry itself, never to a mirror.
    let ep = super::endpoint::registry_endpoint(r, &client.options().insecure);
    let session = client.session(ep, req.creds.clone(), "pull,push");
    sink(progress::line(&format!(
        "The push refers to repository [{}]",
        r.full_name()
    )));
    session.authorize().await?;
    let mut out = Vec::new();
    for t in tags {
        out.push(push_tag(&session, store.clone(), &t, sink.clone()).await?);
    }
    Ok(out)
}

async fn push_tag<S>(
    session: &Session<'_>,
    store: Arc<S>,
    r: &Reference,
    sink: Sink,
) -> Result<Pushed>
where
    S: AsRef<ImageStore> + Send + Sync + 'static,
{
    let name = r.familiar_string();
    let st = images(&store);
    let (id, _) = st.lookup_name(&r.canonical_string()).map_err(|_| {
        RegistryError::InvalidParameter(format!(
            "An image does not exist locally with the tag: {}",
            r.familiar_name()
        ))
    })?;
    let config = st.config_bytes(&id)?;
    let stored = crate::image::config::StoredConfig::parse(&config)
        .map_err(|e| RegistryError::Internal(format!("image config of {name}: {e}")))?;
    let diff_ids = stored.diff_ids();
    // Docker lists the top layer first.
    for d in diff_ids.iter().rev() {
        sink(progress::status(&progress::short(d), "Preparing"));
    }
    // Layers are compressed and sent a few at once (the manifest keeps their
    // order).
    let layers: Vec<Known> = futures_util::stream::iter(diff_ids.iter().cloned().map(|d| {
        let (store, sink) = (store.clone(), sink.clone());
        async move { push_layer(session, store, &d, sink).await }
    }))
    .buffered(super::pull::CONCURRENT_DOWNLOADS)
    .collect::<Vec<Result<Known>>>()
    .await
    .into_iter()
    .collect::<Result<_>>()?;
    let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(&config)));
    if !blob_exists(session, &config_digest).await? {
        let body = config.clone();
        upload(
            session,
            &config_digest,
            body.len() as u64,
            reqwest::Body::from(body),
        )
        .await?;
    }
    let oci = layers
        .iter()
        .any(|l| l.media_type.starts_with("application/vnd.oci."));
    let (mt, config_mt) = if oci {
        (
            manifest::OCI_MANIFEST,
            "application/vnd.oci.image.config.v1+json",
        )
    } else {
        (manifest::DOCKER_MANIFEST, manifest::DOCKER_CONFIG)
    };
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": config_mt, "size": config.len(), "digest": config_digest},
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": l.media_type, "size": l.size, "digest": l.digest,
        })).collect::<Vec<_>>(),
    });
    let body = serde_json::to_vec_pretty(&doc).map_err(|source| RegistryError::Encode {
        what: "the image manifest",
        source,
    })?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    let tag = r.tag().unwrap_or("latest").to_string();
    let url = session.url(&format!("manifests/{tag}")).await?;
    let size = body.len() as u64;
    let resp = session
        .send(Method::PUT, &url, |b| {
            b.header("Content-Type", mt).body(body.clone())
        })
        .await?;
    let status = resp.status();
    if !status.is_success() {
        let text = error_text(status, &resp.bytes().await.unwrap_or_default());
        return Err(push_error(status, text));
    }
    images(&store).add_digest(&id, r, &digest)?;
    sink(progress::line(&format!(
        "{tag}: digest: {digest} size: {size}"
    )));
    sink(serde_json::json!({
        "progressDetail": {},
        "aux": {"Tag": tag, "Digest": digest, "Size": size},
    }));
    Ok(Pushed { tag, digest, size })
}

fn push_error(status: StatusCode, text: String) -> RegistryError {
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        RegistryError::Unauthorized(text)
    } else {
        RegistryError::Registry(text)
    }
}

async fn blob_exists(session: &Session<'_>, digest: &str) -> Result<bool> {
    let url = session.url(&format!("blobs/{digest}")).await?;
    let resp = session.send(Method::HEAD, &url, |b| b).await?;
    match resp.status() {
        s if s.is_success() => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        s => Err(push_error(s, error_text(s, &[]))),
    }
}

/// The layer's descriptor on the registry after making sure it is there.
async fn push_layer<S>(
    session: &Session<'_>,
    store: Arc<S>,
    diff_id: &str,
    sink: Sink,
) -> Result<Known>
where
    S: AsRef<ImageStore> + Send + Sync + 'static,
{
    let id = progress::short(diff_id);
    let host = session.ep.host.clone();
    let repo = session.ep.repo.clone();
    let st = images(&store);
    // Known on this registry: here already, or mounted from its repository.
    for k in known(st, diff_id)
        .into_iter()
        .filter(|k| k.registry == host)
    {
        if blob_exists(session, &k.digest).await? {
            sink(progress::status(&id, "Layer already exists"));
            let k = Known {
                repo: repo.clone(),
                ..k
            };
            remember(st, diff_id, &k);
            return Ok(k);
        }
        if k.repo != repo {
            let url = session
                .url(&format!(
                    "blobs/uploads/?mount={}&from={}",
                    k.digest, k.repo
                ))
                .await?;
            let resp = session
                .send(Method::POST, &url, |b| b.header("Content-Length", "0"))
                .await?;
            if resp.status() == StatusCode::CREATED {
                sink(progress::status(&id, &format!("Mounted from {}", k.repo)));
                let k = Known {
                    repo: repo.clone(),
                    ..k
                };
                remember(st, diff_id, &k);
                return Ok(k);
            }
        }
    }
    // Compress it (deterministically) to a scratch file.
    let diff = parse_digest(diff_id)
        .ok_or_else(|| RegistryError::Internal(format!("invalid diff id {diff_id}")))?;
    let src = st.blobs().path(&diff);
    let scratch = st.scratch_dir();
    let (file, digest, size) = tokio::task::spawn_blocking(move || compress(&src, &scratch))
        .await
        .map_err(|source| RegistryError::Task {
            what: format!("compressing {diff_id}"),
            source,
        })??;
    let k = Known {
        digest: digest.clone(),
        size,
        media_type: manifest::DOCKER_LAYER_GZIP.into(),
        registry: host,
        repo,
    };
    if blob_exists(session, &digest).await? {
        sink(progress::status(&id, "Layer already exists"));
    } else {
        upload_file(session, &digest, size, file.path(), &id, &sink).await?;
        sink(progress::status(&id, "Pushed"));
    }
    remember(st, diff_id, &k);
    Ok(k)
}

use futures_util::StreamExt;

/// `len` bytes of a file from its current position, as a stream of chunks,
/// reporting each chunk's end (counted from `base`) to `bar`.
fn file_stream(
    f: tokio::fs::File,
    len: u64,
    base: u64,
    bar: Arc<std::sync::Mutex<Throttle>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::unfold((f, 0u64), move |(mut f, done)| {
        let bar = bar.clone();
        async move {
            use tokio::io::AsyncReadExt;
            if done >= len {
                return None;
            }
            let mut buf = vec![0u8; (256 * 1024).min(len - done) as usize];
            match f.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the layer's scratch file ended early",
                    )),
                    (f, len),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    let done = done + n as u64;
                    bar.locked().update(base + done);
                    Some((Ok(bytes::Bytes::from(buf)), (f, done)))
                }
                Err(e) => Some((Err(e), (f, len))),
            }
        }
    })
}

/// gzip `src` into a temporary file under `dir`: (file, digest, size).
fn compress(
    src: &std::path::Path,
    dir: &std::path::Path,
) -> Result<(tempfile_like::Temp, String, u64)> {
    std::fs::create_dir_all(dir).ctx("create dir", dir)?;
    let mut input = std::fs::File::open(src).ctx("open", src)?;
    let temp = tempfile_like::Temp::new_in(dir).ctx("create a file in", dir)?;
    struct Hashing<W> {
        w: W,
        h: Sha256,
        n: u64,
    }
    impl<W: Write> Write for Hashing<W> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let k = self.w.write(b)?;
            self.h.update(&b[..k]);
            self.n += k as u64;
            Ok(k)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.w.flush()
        }
    }
    let out = Hashing {
        w: std::io::BufWriter::new(temp.file().try_clone().ctx("reopen", temp.path())?),
        h: Sha256::new(),
        n: 0,
    };
    let mut enc = flate2::GzBuilder::new().write(out, flate2::Compression::fast());
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input.read(&mut buf).ctx("read", src)?;
        if n == 0 {
            break;
        }
        enc.write_all(&buf[..n]).ctx("write", temp.path())?;
    }
    let mut out = enc.finish().ctx("write", temp.path())?;
    out.flush().ctx("write", temp.path())?;
    let digest = format!("sha256:{}", hex::encode(out.h.finalize()));
    Ok((temp, digest, out.n))
}

/// A scratch file removed when dropped.
mod tempfile_like {
    use std::fs::File;
    use std::path::{Path, PathBuf};

    pub struct Temp {
        path: PathBuf,
        file: File,
    }

    impl Temp {
        pub fn new_in(dir: &Path) -> std::io::Result<Temp> {
            let path = dir.join(format!(
                ".push-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            Ok(Temp { path, file })
        }
        pub fn file(&self) -> &File {
            &self.file
        }
        pub fn path(&self) -> &Path {
            &self.path
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Blobs up to this size go in one request; larger ones in chunks of it, each
/// retried on its own (a flaky link, or a proxy in front of the registry that
/// limits request bodies, costs one chunk, not the whole layer).
pub const CHUNK: u64 = 32 * 1024 * 1024;
/// Attempts per chunk when the connection or the registry fails.
const ATTEMPTS: u32 = 3;

/// Start an upload (`POST /blobs/uploads/`): the absolute URL to send it to.
async fn start_upload(session: &Session<'_>) -> Result<reqwest::Url> {
    let url = session.url("blobs/uploads/").await?;
    let resp = session
        .send(Method::POST, &url, |b| b.header("Content-Length", "0"))
        .await?;
    let status = resp.status();
    if status != StatusCode::ACCEPTED {
        let text = error_text(status, &resp.bytes().await.unwrap_or_default());
        return Err(push_error(status, text));
    }
    location(&url, &resp)
}

/// The `Location` of an upload answer, resolved against the request's URL.
fn location(url: &str, resp: &reqwest::Response) -> Result<reqwest::Url> {
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Registry("upload answered without a Location".into()))?;
    let base = reqwest::Url::parse(url).map_err(|source| RegistryError::Url {
        url: url.to_string(),
        source,
    })?;
    base.join(loc)
        .map_err(|e| RegistryError::Registry(format!("invalid upload location {loc}: {e}")))
}

/// Finish an upload: `PUT <location>?digest=` with the last bytes (if any).
async fn finish_upload(
    session: &Session<'_>,
    mut loc: reqwest::Url,
    digest: &str,
    len: u64,
    body: reqwest::Body,
) -> Result<()> {
    loc.query_pairs_mut().append_pair("digest", digest);
    // A body that is a stream cannot be sent twice: no retry through `send`.
    let resp = session
        .send_once(
            Method::PUT,
            loc.as_str(),
            |b| {
                b.header("Content-Type", "application/octet-stream")
                    .header("Content-Length", len.to_string())
            },
            body,
        )
        .await?;
    let status = resp.status();
    if status != StatusCode::CREATED {
        let text = error_text(status, &resp.bytes().await.unwrap_or_default());
        return Err(push_error(status, text));
    }
    Ok(())
}

/// Upload a blob held in memory, in one request (`POST`, then `PUT` with it).
async fn upload(session: &Session<'_>, digest: &str, size: u64, body: reqwest::Body) -> Result<()> {
    let loc = start_upload(session).await?;
    finish_upload(session, loc, digest, size, body).await
}

/// Upload a layer from its scratch file, showing the `Pushing` bar: in one
/// request up to [`CHUNK`] bytes; beyond, in `PATCH` requests of `CHUNK` bytes
/// with `Content-Range` (the distribution spec's chunked upload). A chunk that
/// fails is sent again from where the registry says the upload stands
/// (`GET <location>` answers its `Range`).
async fn upload_file(
    session: &Session<'_>,
    digest: &str,
    size: u64,
    path: &std::path::Path,
    id: &str,
    sink: &Sink,
) -> Result<()> {
    let bar = Arc::new(std::sync::Mutex::new(Throttle::new(
        sink.clone(),
        id,
        "Pushing",
        size,
    )));
    let open = |offset: u64, len: u64| {
        let bar = bar.clone();
        async move {
            use tokio::io::AsyncSeekExt;
            let mut f = tokio::fs::File::open(path).await.ctx("open", path)?;
            f.seek(std::io::SeekFrom::Start(offset))
                .await
                .ctx("seek", path)?;
            Ok::<_, RegistryError>(reqwest::Body::wrap_stream(file_stream(f, len, offset, bar)))
        }
    };
    let mut loc = start_upload(session).await?;
    if size <= CHUNK {
        return finish_upload(session, loc, digest, size, open(0, size).await?).await;
    }
    let mut offset = 0u64;
    let mut attempt = 0;
    while offset < size {
        let len = (size - offset).min(CHUNK);
        let range = format!("{offset}-{}", offset + len - 1);
        let sent = session
            .send_once(
                Method::PATCH,
                loc.as_str(),
                |b| {
                    b.header("Content-Type", "application/octet-stream")
                        .header("Content-Range", &range)
                        .header("Content-Length", len.to_string())
                },
                open(offset, len).await?,
            )
            .await;
        let failure = match sent {
            Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                loc = location(loc.as_str(), &resp)?;
                offset += len;
                attempt = 0;
                continue;
            }
            Ok(resp) if !resp.status().is_server_error() => {
                let status = resp.status();
                let text = error_text(status, &resp.bytes().await.unwrap_or_default());
                return Err(push_error(status, text));
            }
            Ok(resp) => {
                let status = resp.status();
                push_error(
                    status,
                    error_text(status, &resp.bytes().await.unwrap_or_default()),
                )
            }
            Err(e @ RegistryError::Transport(_)) => e,
            Err(e) => return Err(e),
        };
        attempt += 1;
        if attempt >= ATTEMPTS {
            return Err(failure);
        }
        let wait = std::time::Duration::from_millis(500 * u64::from(attempt));
        sink(progress::retrying(id, wait));
        tracing::warn!("chunk {range} of {digest}: {failure}; retrying");
        tokio::time::sleep(wait).await;
        (loc, offset) = upload_status(session, &loc).await?;
    }
    finish_upload(session, loc, digest, 0, reqwest::Body::from(Vec::new())).await
}

/// Where an upload stands: its `Location` and the next byte it expects
/// (`GET <location>` answers `204` with `Range: 0-LAST`).
async fn upload_status(session: &Session<'_>, loc: &reqwest::Url) -> Result<(reqwest::Url, u64)> {
    let resp = session.send(Method::GET, loc.as_str(), |b| b).await?;
    let status = resp.status();
    if status != StatusCode::NO_CONTENT && !status.is_success() {
        let text = error_text(status, &resp.bytes().await.unwrap_or_default());
        return Err(push_error(status, text));
    }
    let next = resp
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.trim().trim_start_matches("bytes=").split_once('-'))
        .and_then(|(_, last)| last.trim().parse::<u64>().ok())
        // distribution says `0-0` for an empty upload as for one byte; a
        // chunk is never one byte, so `0-0` is read as nothing.
        .map_or(0, |last| if last == 0 { 0 } else { last + 1 });
    let loc = match resp.headers().get("location") {
        Some(_) => location(loc.as_str(), &resp)?,
        None => loc.clone(),
    };
    Ok((loc, next))
}
