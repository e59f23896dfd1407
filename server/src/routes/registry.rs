//! Registry endpoints: `POST /images/create?fromImage=` (pull),
//! `POST /images/{name}/push`, `POST /auth` (login), `GET /distribution/{name}/json`,
//! `GET /images/search`.
//!
//! Pull and push answer with Docker's JSON message stream. As in moby, an error
//! that happens before the first message is an HTTP error (the CLI prints
//! "Error response from daemon: ..."); after it, an `errorDetail` message.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::reference::Reference;
use engine::registry::progress::Sink;
use engine::registry::{pull, push, AuthConfig, RegistryError};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// The credentials the client sent (`X-Registry-Auth`).
pub fn creds(headers: &HeaderMap) -> ApiResult<AuthConfig> {
    match headers.get("x-registry-auth").and_then(|v| v.to_str().ok()) {
        Some(v) => AuthConfig::from_header(v).map_err(|e| ApiError::bad_request(e.to_string())),
        None => Ok(AuthConfig::default()),
    }
}

/// Run registry work for `domain` from the right network.
///
/// Docker Hub (and so its mirrors) is reached from the machine, through the
/// daemon's shared pull cache, for every host: a class pulling `ubuntu` costs
/// one Hub pull, and a virtual host whose egress policy is `registries` gets
/// Hub's images without reaching the internet itself. Any other registry is a
/// virtual host's own business: its requests leave from its own network
/// namespace (its `localhost:5000` is its own registry, its egress policy
/// applies, and it cannot reach the machine's loopback through the daemon), on
/// a thread of their own that entered it, with a client of their own.
async fn from_daemon_network<T, F, Fut>(
    st: &AppState,
    domain: &str,
    work: F,
) -> Result<T, RegistryError>
where
    T: Send + 'static,
    F: FnOnce(Arc<engine::registry::Client>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, RegistryError>> + Send + 'static,
{
    let netns = st
        .daemon
        .networks()
        .map(|n| n.netns().clone())
        .filter(|ns| !ns.is_own() && domain != engine::reference::DEFAULT_DOMAIN);
    let Some(ns) = netns else {
        return work(st.registry.clone()).await;
    };
    let mut opts = st.registry.options().clone();
    // Names are resolved by the machine, connections made from the virtual host.
    opts.resolve_on = Some(tokio::runtime::Handle::current());
    ns.run_task("registry-netns", move || async move {
        work(Arc::new(engine::registry::Client::new(opts)?)).await
    })
    .await
    .map_err(|e| engine::error::IoError::new("work in", "the virtual host's network", e))?
}

fn json_line(v: &Value) -> Bytes {
    Bytes::from(v.to_string() + "\r\n")
}

/// An error of work whose progress is a JSON message stream.
pub(super) trait StreamError: std::fmt::Display + Into<ApiError> + Send + 'static {
    /// The stream's last message when the error comes after the first one.
    fn error_detail(&self) -> Value {
        let msg = self.to_string();
        json!({"errorDetail": {"message": msg}, "error": msg})
    }
}

impl StreamError for RegistryError {}

/// Run `work` with a sink; answer with an HTTP error if it fails before its
/// first message, else stream its messages (and a late error as `errorDetail`).
pub(super) async fn stream_messages<F, Fut, E>(work: F) -> ApiResult<Response>
where
    F: FnOnce(Sink) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: StreamError,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let sink: Sink = {
        let tx = tx.clone();
        Arc::new(move |v| {
            let _ = tx.send(v);
        })
    };
    let task = tokio::spawn(async move {
        let r = work(sink).await;
        if let Err(e) = &r {
            // A late error is the stream's last message.
            let _ = tx.send(e.error_detail());
        }
        r
    });
    let first = rx.recv().await;
    let Some(first) = first else {
        // Nothing said: the work ended. Its result decides the answer.
        return match task.await {
            Ok(Ok(())) => Ok(([("Content-Type", "application/json")], "").into_response()),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            )),
        };
    };
    if first.get("errorDetail").is_some() {
        // The error came before any progress: an HTTP error.
        if let Ok(Err(e)) = task.await {
            return Err(e.into());
        }
    }
    let head =
        futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(json_line(&first)) });
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|v| (Ok(json_line(&v)), rx))
    });
    use futures_util::StreamExt;
    Ok((
        [("Content-Type", "application/json")],
        Body::from_stream(head.chain(rest)),
    )
        .into_response())
}

/// `POST /images/create?fromImage=NAME&tag=TAG&platform=P`.
pub async fn pull_image(
    st: AppState,
    from_image: String,
    tag: Option<String>,
    platform: Option<String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let creds = creds(headers)?;
    // `fromImage` may carry the tag or digest itself; `tag` may be a digest;
    // an empty `tag` with a bare name means every tag (`pull --all-tags`).
    let mut r = Reference::parse(&from_image).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let all_tags = tag.as_deref() == Some("") && r.explicit_tag().is_none() && r.digest().is_none();
    if let Some(t) = tag.filter(|t| !t.is_empty()) {
        r = if t.starts_with("sha256:") {
            Reference::parse(&format!("{}@{t}", r.full_name()))
        } else {
            r.with_tag(&t)
        }
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let platform = match platform.filter(|p| !p.is_empty()) {
        Some(p) => Some(engine::registry::manifest::parse_platform(&p)?),
        None => None,
    };
    stream_messages(move |sink| pull_into(st, r, all_tags, platform, creds, sink)).await
}

/// Pull `r` (every tag with `all_tags`) onto the request's host, progress to
/// `sink`, from the right network; `pull` events as moby sends them. Also what
/// a build's `FROM` uses.
///
/// A name the trainer preloaded (`dockhand image preload`) is taken from the
/// machine without the network.
/// The images the machine makes (`busybox`, `registry:2`, `docker:cli`, see
/// `engine::image::builtin`) are pulled from the registry when it answers (Docker
/// Hub or its mirror), and made when it does not: offline, behind a firewall or
/// rate-limited.
pub async fn pull_into(
    st: AppState,
    r: Reference,
    all_tags: bool,
    platform: Option<engine::registry::manifest::Platform>,
    creds: AuthConfig,
    sink: Sink,
) -> Result<(), RegistryError> {
    if !all_tags && r.digest().is_none() && adopt_preloaded(&st, &r, &sink).await? {
        return Ok(());
    }
    let builtin = (!all_tags)
        .then(|| engine::image::builtin::Builtin::for_reference(&r))
        .flatten();
    let pulled = pull_from_registry(&st, r.clone(), all_tags, platform, creds, sink.clone()).await;
    match (pulled, builtin) {
        (Ok(()), _) => Ok(()),
        (Err(e), Some(b)) => {
            tracing::info!(
                "{}: not pulled ({e}); made on this machine",
                r.familiar_string()
            );
            make_builtin(&st, &r, b, sink).await
        }
        (Err(e), None) => Err(e),
    }
}

/// Tag a trainer's image preloaded under `r`'s name (`dockhand image
/// preload`) into the request's host, without the network; false when
/// nothing is preloaded under that name.
async fn adopt_preloaded(st: &AppState, r: &Reference, sink: &Sink) -> Result<bool, RegistryError> {
    let name = r.with_default_tag();
    let daemon = st.daemon.clone();
    let key = name.canonical_string();
    let adopted = tokio::task::spawn_blocking(move || daemon.images.adopt_preloaded(&key))
        .await
        .map_err(|e| {
            RegistryError::Transport(format!("preloaded {}: {e}", r.familiar_string()))
        })??;
    if adopted.is_none() {
        return Ok(false);
    }
    let familiar = name.familiar_string();
    let tag = name.explicit_tag().unwrap_or("latest").to_string();
    sink(json!({"status": format!("Pulling from {}", repo_path(r)), "id": tag}));
    sink(json!({"status": "Preloaded on this machine"}));
    sink(json!({"status": format!("Status: Image is up to date for {familiar}")}));
    emit_pull(&st.daemon, &familiar);
    Ok(true)
}

/// The `pull` event, as moby sends it.
fn emit_pull(daemon: &engine::daemon::Daemon, name: &str) {
    let attrs = std::collections::BTreeMap::from([("name".to_string(), name.to_string())]);
    daemon.emit("image", "pull", name, attrs);
}

/// `library/busybox`, `me/app`, `localhost:5000/app`: the name `pull` prints.
fn repo_path(r: &Reference) -> String {
    let path = r.familiar_name();
    if path.contains('/') {
        path
    } else {
        format!("library/{path}")
    }
}

/// Make a builtin image on the request's host, with `pull`'s messages.
async fn make_builtin(
    st: &AppState,
    r: &Reference,
    b: engine::image::builtin::Builtin,
    sink: Sink,
) -> Result<(), RegistryError> {
    let tag = r.explicit_tag().unwrap_or("latest").to_string();
    let daemon = st.daemon.clone();
    let exe = std::env::current_exe().map_err(|e| {
        RegistryError::Image(engine::image::ImageError::Internal(format!(
            "finding this binary: {e}"
        )))
    })?;
    let t = tag.clone();
    let made = tokio::task::spawn_blocking(move || daemon.images.ensure_builtin(b, &t, &exe))
        .await
        .map_err(|e| RegistryError::Transport(format!("making {}: {e}", r.familiar_string())))??;
    let name = r.with_default_tag().familiar_string();
    sink(json!({"status": format!("Pulling from {}", repo_path(r)), "id": tag}));
    sink(json!({"status": b.made_from()}));
    let status = match made {
        Some(_) => format!("Status: Downloaded newer image for {name}"),
        None => format!("Status: Image is up to date for {name}"),
    };
    sink(json!({"status": status}));
    emit_pull(&st.daemon, &name);
    Ok(())
}

/// Pull `r` from its registry (see `pull_into`).
async fn pull_from_registry(
    st: &AppState,
    r: Reference,
    all_tags: bool,
    platform: Option<engine::registry::manifest::Platform>,
    creds: AuthConfig,
    sink: Sink,
) -> Result<(), RegistryError> {
    let daemon = st.daemon.clone();
    let h = daemon.clone();
    let domain = r.domain().to_string();
    let pulled = from_daemon_network(st, &domain, move |client| async move {
        let refs = if all_tags {
            let tags = pull::list_tags(&client, &r, creds.clone()).await?;
            tags.iter().filter_map(|t| r.with_tag(t).ok()).collect()
        } else {
            vec![r.with_default_tag()]
        };
        let mut out = Vec::new();
        for reference in refs {
            let req = pull::PullRequest {
                reference,
                platform: platform.clone(),
                creds: creds.clone(),
            };
            out.push(pull::pull(&client, h.clone(), req, sink.clone()).await?);
        }
        Ok(out)
    })
    .await?;
    for p in pulled {
        emit_pull(&daemon, &p.reference.familiar_string());
    }
    Ok(())
}

/// `POST /images/{name}/push?tag=`.
pub async fn push_image(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let creds = creds(&headers)?;
    let mut r = Reference::parse(&name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let tag = q.get("tag").filter(|t| !t.is_empty());
    if let Some(t) = tag {
        r = r
            .with_tag(t)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    // The repository must exist here (an HTTP error, before any message).
    let wanted = r.with_default_tag();
    if r.explicit_tag().is_some()
        && st
            .daemon
            .images
            .lookup_name(&wanted.canonical_string())
            .is_err()
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("No such image: {}", wanted.familiar_string()),
        ));
    }
    if r.explicit_tag().is_none() && st.daemon.images.tags_of(&r.full_name()).is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            ),
        ));
    }
    let all_tags = truthy_q(&q, "all") || r.explicit_tag().is_none();
    let req = push::PushRequest {
        reference: r,
        all_tags,
        creds,
    };
    let daemon = st.daemon.clone();
    stream_messages(move |sink| async move {
        let (h, rq) = (daemon.clone(), req.clone());
        let domain = req.reference.domain().to_string();
        let pushed = from_daemon_network(&st, &domain, move |client| async move {
            push::push(&client, h, rq, sink).await
        })
        .await?;
        for p in pushed {
            let name = format!("{}:{}", req.reference.familiar_name(), p.tag);
            let attrs = std::collections::BTreeMap::from([("name".to_string(), name.clone())]);
            daemon.emit("image", "push", &name, attrs);
        }
        Ok::<(), RegistryError>(())
    })
    .await
}

fn truthy_q(q: &HashMap<String, String>, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("1" | "true" | "True"))
}

/// `POST /auth`: check credentials against the registry.
pub async fn auth(State(st): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let mut a: AuthConfig = crate::error::json_body(&body)?;
    a.fill_from_auth();
    let domain = engine::registry::endpoint::login_domain(&a.server_address);
    from_daemon_network(&st, &domain, move |client| async move {
        engine::registry::client::login(&client, &a).await
    })
    .await?;
    Ok(Json(json!({"Status": "Login Succeeded", "IdentityToken": ""})).into_response())
}

/// `GET /distribution/{name}/json` (a name may hold slashes).
pub async fn distribution_dispatch(
    State(st): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    match rest.strip_suffix("/json") {
        Some(name) => distribution(st, name.to_string(), headers).await,
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("page not found: /distribution/{rest}"),
        )),
    }
}

/// The descriptor of what `name` points at on its registry, and the platforms
/// it has.
async fn distribution(st: AppState, name: String, headers: HeaderMap) -> ApiResult<Response> {
    let creds = creds(&headers)?;
    let r = Reference::parse(&name)
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .with_default_tag();
    let domain = r.domain().to_string();
    let v = from_daemon_network(&st, &domain, move |client| async move {
        engine::registry::client::inspect(&client, &r, creds).await
    })
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /images/search?term=&limit=&filters=`: ask the index the term names
/// (Docker Hub's, from the machine; any other from this host's network, like
/// a pull) and answer its results, filtered, as a JSON array.
pub async fn search(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    use engine::registry::search::{parse_limit, Search};
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    let limit = parse_limit(get("limit"))?;
    // As in moby, credentials that do not decode are no credentials.
    let creds = headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| AuthConfig::from_header(v).ok())
        .unwrap_or_default();
    let mut s = Search::new(get("term"), limit, get("filters"), creds)?;
    s.headers = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-meta-"))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let domain = s.domain().to_string();
    let results = from_daemon_network(
        &st,
        &domain,
        move |client| async move { s.run(&client).await },
    )
    .await?;
    Ok(Json(results).into_response())
}
