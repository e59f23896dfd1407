//! `POST /build` (the classic builder, as the docker CLI with `DOCKER_BUILDKIT=0`
//! or without buildx, and docker-py, call it) and `POST /build/prune`.
//!
//! The body is the context as a tar (plain, gzip, bzip2 or xz); it is extracted
//! while it arrives into a scratch directory of the host (on a virtual host's own
//! disk), and removed when the build ends. Errors before the first step are HTTP
//! errors; later ones end the JSON message stream with `errorDetail` (with a RUN's
//! exit code as `code`, which the CLI exits with).

use super::registry::{pull_into, stream_messages, StreamError};
use super::truthy;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use engine::build::exec::{BuildError, BuildOptions, PullFn};
use engine::reference::Reference;
use engine::registry::AuthConfig;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

/// The largest context accepted (bytes): beyond it the build is refused.
const MAX_CONTEXT: u64 = 8 << 30;

impl StreamError for BuildError {
    fn error_detail(&self) -> Value {
        let msg = self.to_string();
        match self {
            BuildError::Failed { code, .. } => {
                json!({"errorDetail": {"code": code, "message": msg}, "error": msg})
            }
            BuildError::BadRequest(_) | BuildError::Cancelled => {
                json!({"errorDetail": {"message": msg}, "error": msg})
            }
        }
    }
}

impl From<BuildError> for ApiError {
    fn from(e: BuildError) -> ApiError {
        match e {
            BuildError::BadRequest(m) => ApiError::bad_request(m),
            BuildError::Failed { message, .. } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
            }
            BuildError::Cancelled => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "build cancelled")
            }
        }
    }
}

fn json_param<T: serde::de::DeserializeOwned + Default>(
    q: &[(String, String)],
    key: &str,
) -> ApiResult<T> {
    match q.iter().find(|(k, _)| k == key) {
        Some((_, v)) if !v.is_empty() => serde_json::from_str(v)
            .map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}"))),
        _ => Ok(T::default()),
    }
}

fn int_param(q: &HashMap<String, String>, key: &str) -> ApiResult<Option<i64>> {
    match q.get(key).filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid {key}: {v}"))),
        None => Ok(None),
    }
}

/// The build options of the query, as moby's `newImageBuildOptions` reads them.
pub fn options(q: &[(String, String)]) -> ApiResult<BuildOptions> {
    // Go's `FormValue`: the first value of a parameter given twice (docker-py
    // sends `dockerfile` twice: the name, then the file's text).
    let mut last: HashMap<String, String> = HashMap::new();
    for (k, v) in q {
        last.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let get = |k: &str| last.get(k).cloned().unwrap_or_default();
    if get("version") == "2" {
        return Err(ApiError::bad_request(
            "BuildKit is not supported by this daemon: use the classic builder (DOCKER_BUILDKIT=0)",
        ));
    }
    let build_args: BTreeMap<String, Option<String>> = json_param(q, "buildargs")?;
    let labels: BTreeMap<String, String> = json_param(q, "labels")?;
    let cache_from: Vec<String> = json_param(q, "cachefrom")?;
    let extra_hosts = q
        .iter()
        .filter(|(k, _)| k == "extrahosts")
        .flat_map(|(_, v)| v.split(',').map(str::trim).map(str::to_string))
        .filter(|v| !v.is_empty())
        .collect();
    let dockerfile = match get("dockerfile") {
        d if d.is_empty() => "Dockerfile".to_string(),
        d => d,
    };
    Ok(BuildOptions {
        dockerfile,
        tags: q
            .iter()
            .filter(|(k, v)| k == "t" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect(),
        build_args,
        labels,
        no_cache: truthy(last.get("nocache")),
        pull: truthy(last.get("pull")),
        target: Some(get("target")).filter(|t| !t.is_empty()),
        network_mode: get("networkmode"),
        extra_hosts,
        shm_size: int_param(&last, "shmsize")?,
        memory: int_param(&last, "memory")?,
        cpu_shares: int_param(&last, "cpushares")?,
        platform: Some(get("platform")).filter(|t| !t.is_empty()),
        quiet: truthy(last.get("q")),
        force_rm: truthy(last.get("forcerm")),
        cache_from,
    })
}

/// `X-Registry-Config`: every registry's credentials, keyed by server address.
fn registry_config(headers: &HeaderMap) -> HashMap<String, AuthConfig> {
    let Some(v) = headers
        .get("x-registry-config")
        .and_then(|v| v.to_str().ok())
    else {
        return HashMap::new();
    };
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(v.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(v.trim()))
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// The credentials for `domain` among the client's: Docker Hub's under its index
/// address, others under their host name (with or without a scheme).
fn creds_for(all: &HashMap<String, AuthConfig>, domain: &str) -> AuthConfig {
    let hub = domain == engine::reference::DEFAULT_DOMAIN;
    all.iter()
        .find(|(k, _)| {
            let host = k
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or("");
            if hub {
                host == "index.docker.io" || host == "docker.io" || host == "registry-1.docker.io"
            } else {
                host == domain
            }
        })
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// A blocking reader over the request body's chunks.
struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Receive the context into a fresh scratch directory of the host.
async fn receive_context(st: &AppState, body: Body) -> ApiResult<PathBuf> {
    let dir = new_context_dir(st)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let into = dir.clone();
    let extract = tokio::task::spawn_blocking(move || {
        let mut r = ChunkReader {
            rx,
            cur: Bytes::new(),
        };
        let res = engine::build::context::receive(&mut r, &into, MAX_CONTEXT);
        // Drain what is left so the sender never blocks on a failed extraction.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        res
    });
    let mut stream = body.into_data_stream();
    let mut body_err = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                if tx.send(c).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                body_err = Some(e.to_string());
                break;
            }
        }
    }
    drop(tx);
    let res = extract.await.map_err(internal)?;
    let fail = match (body_err, res) {
        (Some(e), _) => Some(ApiError::bad_request(e)),
        (None, Err(e)) => Some(ApiError::bad_request(e.to_string())),
        (None, Ok(_)) => None,
    };
    if let Some(e) = fail {
        remove_dir(dir).await;
        return Err(e);
    }
    Ok(dir)
}

/// A `remote` context: a tarball (plain or compressed) or a Dockerfile at an
/// http(s) URL, fetched from the host's network. Git URLs are cloned by the
/// client (our CLI and docker's do).
async fn remote_context(st: &AppState, url: &str, dockerfile: &str) -> ApiResult<PathBuf> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::bad_request(format!(
            "unable to prepare context: remote context {url} is not an http(s) URL; clone Git repositories on the client"
        )));
    }
    let dir = new_context_dir(st)?;
    let dl = engine::build::downloads_dir(&dir);
    let fetched = async {
        std::fs::create_dir_all(&dl).map_err(internal)?;
        let file = dl.join("remote");
        engine::build::remote::fetch(&st.daemon, url, &file, MAX_CONTEXT).await?;
        let into = dir.clone();
        let name = dockerfile.to_string();
        tokio::task::spawn_blocking(move || -> ApiResult<()> {
            let f = std::fs::File::open(&file).map_err(internal)?;
            if engine::build::context::receive(f, &into, MAX_CONTEXT).is_ok() {
                return Ok(());
            }
            // Not an archive: the Dockerfile itself.
            let _ = std::fs::remove_dir_all(&into);
            std::fs::create_dir_all(&into).map_err(internal)?;
            let target = into.join(name.trim_start_matches('/'));
            if !target.starts_with(&into) || name.contains("..") {
                return Err(ApiError::bad_request(format!(
                    "invalid dockerfile name {name}"
                )));
            }
            std::fs::copy(&file, &target).map_err(internal)?;
            Ok(())
        })
        .await
        .map_err(internal)?
    }
    .await;
    remove_dir(dl).await;
    if let Err(e) = fetched {
        remove_dir(dir).await;
        return Err(e);
    }
    Ok(dir)
}

fn new_context_dir(st: &AppState) -> ApiResult<PathBuf> {
    let dir = st
        .daemon
        .images
        .scratch_dir()
        .join(format!("build-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).map_err(internal)?;
    Ok(dir)
}

async fn remove_dir(dir: PathBuf) {
    let _ = tokio::task::spawn_blocking(move || {
        if !dir.exists() {
            return;
        }
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(path = %dir.display(), error = %e, "cannot remove a build context");
        }
    })
    .await;
}

/// `POST /build`.
pub async fn build(
    State(st): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let opts = options(&q)?;
    let remote = q
        .iter()
        .find(|(k, v)| k == "remote" && !v.is_empty())
        .map(|(_, v)| v.clone());
    let auths = Arc::new(registry_config(&headers));
    let ctx = match remote {
        Some(url) => remote_context(&st, &url, &opts.dockerfile).await?,
        None => receive_context(&st, body).await?,
    };
    let pull_state = st.clone();
    let pull: PullFn = Arc::new(move |name: String, platform: Option<String>, sink| {
        let st = pull_state.clone();
        let auths = auths.clone();
        Box::pin(async move {
            let r = Reference::parse(&name).map_err(|e| e.to_string())?;
            let platform = match platform.filter(|p| !p.is_empty()) {
                Some(p) => Some(
                    engine::registry::manifest::parse_platform(&p).map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            let creds = creds_for(&auths, r.domain());
            pull_into(st, r, false, platform, creds, sink)
                .await
                .map_err(|e| e.to_string())
        })
    });
    let daemon = st.daemon.clone();
    stream_messages(move |sink| async move {
        let res = engine::build::exec::build(daemon, ctx.clone(), opts, sink, pull).await;
        remove_dir(engine::build::downloads_dir(&ctx)).await;
        remove_dir(ctx).await;
        res.map(|_| ())
    })
    .await
}

/// `POST /build/prune`: empty the build cache and remove the images only it kept
/// (no name, no child, no container).
pub async fn prune(State(st): State<AppState>) -> ApiResult<Response> {
    let daemon = st.daemon.clone();
    let v = tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let before = daemon.images.stored_bytes();
        let ids = engine::build::cache::BuildCache::open(daemon.dir())
            .clear()
            .map_err(internal)?;
        let mut deleted = Vec::new();
        for id in ids {
            if !daemon.image_users(&id).is_empty() {
                continue;
            }
            let h = daemon.clone();
            let users = move |i: &str| h.image_users(i);
            if !daemon.images.is_dangling(&id) {
                continue;
            }
            match daemon.images.remove(&id, false, &users) {
                Ok(_) => deleted.push(id),
                Err(e) => tracing::debug!(image = %id, error = %e, "build prune kept an image"),
            }
        }
        let mounts = daemon.dir().join("build-cache-mounts");
        if mounts.exists() {
            if let Ok(entries) = std::fs::read_dir(&mounts) {
                for e in entries.flatten() {
                    deleted.push(e.file_name().to_string_lossy().into_owned());
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let after = daemon.images.stored_bytes();
        Ok(json!({
            "CachesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
            "SpaceReclaimed": before.saturating_sub(after),
        }))
    })
    .await
    .map_err(internal)??;
    Ok(Json(v).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_read_the_query_as_moby() {
        let o = options(&q(&[
            ("t", "a:1"),
            ("t", "b"),
            ("buildargs", r#"{"X":"1","Y":null}"#),
            ("labels", r#"{"l":"v"}"#),
            ("nocache", "1"),
            ("target", "build"),
            ("extrahosts", "h1:1.2.3.4,h2:5.6.7.8"),
            ("shmsize", "1048576"),
            ("q", "true"),
        ]))
        .unwrap();
        assert_eq!(o.tags, vec!["a:1", "b"]);
        assert_eq!(o.dockerfile, "Dockerfile");
        assert_eq!(o.build_args.get("X"), Some(&Some("1".to_string())));
        assert_eq!(o.build_args.get("Y"), Some(&None));
        assert_eq!(o.labels.get("l").map(String::as_str), Some("v"));
        assert!(o.no_cache && o.quiet && !o.pull);
        assert_eq!(o.target.as_deref(), Some("build"));
        assert_eq!(o.extra_hosts, vec!["h1:1.2.3.4", "h2:5.6.7.8"]);
        assert_eq!(o.shm_size, Some(1 << 20));
        assert!(options(&q(&[("buildargs", "{")])).is_err());
        assert!(options(&q(&[("shmsize", "x")])).is_err());
        assert!(options(&q(&[("version", "2")])).is_err());
    }

    #[test]
    fn credentials_are_picked_by_registry() {
        let mut all = HashMap::new();
        all.insert(
            "https://index.docker.io/v1/".to_string(),
            AuthConfig {
                username: "hub".into(),
                ..Default::default()
            },
        );
        all.insert(
            "localhost:5000".to_string(),
            AuthConfig {
                username: "local".into(),
                ..Default::default()
            },
        );
        assert_eq!(creds_for(&all, "docker.io").username, "hub");
        assert_eq!(creds_for(&all, "localhost:5000").username, "local");
        assert_eq!(creds_for(&all, "other:5000").username, "");
    }
}
