//! Image endpoints: list, inspect, history, tag, remove, and `images/create` for
//! `import` (`fromSrc`); `fromImage` pulls (see `registry`).

use super::truthy;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

type Q = Query<HashMap<String, String>>;

/// An image event (`docker events`, the playground's panels) with the name
/// attribute moby gives.
fn emit(st: &AppState, action: &str, id: &str, name: &str) {
    let attrs = BTreeMap::from([("name".to_string(), name.to_string())]);
    st.daemon.emit("image", action, id, attrs);
}

fn image_id(st: &AppState, name: &str) -> String {
    st.daemon
        .images
        .inspect(name)
        .map(|i| i.id)
        .unwrap_or_else(|_| name.to_string())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

pub async fn list(State(st): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let mut rows = st.daemon.images.list(truthy(q.get("all")));
    let filters =
        engine::container::parse_filters(q.get("filters").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
    for (k, vals) in &filters {
        match k.as_str() {
            // As moby: `true` lists the images without a tag (those with
            // digest references only among them); `false` those with any name.
            "dangling" => {
                let want = vals.iter().any(|v| v == "true" || v == "1");
                rows.retain(|r| {
                    if want {
                        r.repo_tags.is_empty()
                    } else {
                        !r.repo_tags.is_empty() || !r.repo_digests.is_empty()
                    }
                });
            }
            // As moby: an image is listed under the names (tags and digest
            // references) that match only.
            "reference" => {
                for r in rows.iter_mut() {
                    r.repo_tags
                        .retain(|t| vals.iter().any(|v| reference_matches(v, t)));
                    r.repo_digests
                        .retain(|t| vals.iter().any(|v| reference_matches(v, t)));
                }
                rows.retain(|r| !r.repo_tags.is_empty() || !r.repo_digests.is_empty());
            }
            // Every label value must match (moby's `MatchKVList`).
            "label" => rows.retain(|r| {
                vals.iter()
                    .all(|v| engine::filters::label_matches(&r.labels, v))
            }),
            // Created before / after the named image (its ID or a name).
            "before" | "since" => {
                let mut created = Vec::new();
                for v in vals {
                    let no_such =
                        || ApiError::new(StatusCode::NOT_FOUND, format!("No such image: {v}"));
                    let id = st.daemon.images.resolve(v).map_err(|_| no_such())?.id;
                    // Only here: a second listing, for the named image's time.
                    let c = st.daemon.images.list(true).into_iter().find(|r| r.id == id);
                    created.push(c.ok_or_else(no_such)?.created);
                }
                let before = k == "before";
                rows.retain(|r| {
                    created.iter().all(|c| {
                        if before {
                            r.created < *c
                        } else {
                            r.created > *c
                        }
                    })
                });
            }
            other => return Err(ApiError::bad_request(format!("invalid filter '{other}'"))),
        }
    }
    if truthy(q.get("shared-size")) || q.contains_key("all") {
        for r in &mut rows {
            r.containers = st.daemon.image_users(&r.id).len() as i64;
        }
    }
    Ok(Json(rows).into_response())
}

/// `reference` filters (`busybox`, `busybox:latest`, `bu*`,
/// `docker.io/library/busybox`) against a familiar tag or digest reference: as
/// moby, the pattern may match its familiar form, familiar name, full form or
/// full name.
fn reference_matches(pattern: &str, name: &str) -> bool {
    let Ok(r) = engine::reference::Reference::parse(name) else {
        return glob(pattern, name);
    };
    [
        r.familiar_string(),
        r.familiar_name(),
        r.with_default_tag().to_string(),
        r.full_name(),
    ]
    .iter()
    .any(|t| glob(pattern, t))
}

/// Go's `path.Match` for `*` and `?`: neither matches a `/`.
fn glob(p: &str, s: &str) -> bool {
    let mut pc = p.chars();
    match pc.next() {
        None => s.is_empty(),
        Some('*') => {
            let rest = pc.as_str();
            let mut i = 0;
            loop {
                if glob(rest, &s[i..]) {
                    return true;
                }
                match s[i..].chars().next() {
                    Some(c) if c != '/' => i += c.len_utf8(),
                    _ => return false,
                }
            }
        }
        Some('?') => {
            let mut sc = s.chars();
            matches!(sc.next(), Some(c) if c != '/') && glob(pc.as_str(), sc.as_str())
        }
        Some(c) => {
            let mut sc = s.chars();
            sc.next() == Some(c) && glob(pc.as_str(), sc.as_str())
        }
    }
}

/// Split `NAME/SUFFIX` where NAME may contain slashes.
fn split_suffix<'a>(rest: &'a str, suffixes: &[&'a str]) -> Option<(&'a str, &'a str)> {
    suffixes
        .iter()
        .find_map(|s| rest.strip_suffix(&format!("/{s}")).map(|n| (n, *s)))
}

pub async fn get_dispatch(
    State(st): State<AppState>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    match split_suffix(&rest, &["json", "history", "get"]) {
        Some((name, "json")) => Ok(Json(st.daemon.images.inspect(name)?).into_response()),
        Some((name, "get")) => {
            let resp = super::archive::save(st.clone(), vec![name.to_string()]).await?;
            emit(&st, "save", &image_id(&st, name), name);
            Ok(resp)
        }
        Some((name, "history")) => Ok(Json(st.daemon.images.history(name)?).into_response()),
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("page not found: /images/{rest}"),
        )),
    }
}

pub async fn post_dispatch(
    State(st): State<AppState>,
    Path(rest): Path<String>,
    Query(q): Q,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    match split_suffix(&rest, &["tag", "push"]) {
        Some((name, "tag")) => {
            let repo = q.get("repo").cloned().unwrap_or_default();
            let target = match q.get("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{repo}:{t}"),
                None => repo,
            };
            st.daemon.images.tag(name, &target)?;
            // moby names the tag as people write it: `app:latest`.
            let full = engine::reference::Reference::parse(&target)
                .map(|r| r.with_default_tag().familiar_string())
                .unwrap_or_else(|_| target.clone());
            emit(&st, "tag", &image_id(&st, &full), &full);
            Ok(StatusCode::CREATED.into_response())
        }
        Some((name, "push")) => {
            super::registry::push_image(State(st), Path(name.to_string()), Query(q), headers).await
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("page not found: /images/{rest}"),
        )),
    }
}

pub async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<Response> {
    let daemon = st.daemon.clone();
    let force = truthy(q.get("force"));
    let users = move |id: &str| daemon.image_users(id);
    let id = image_id(&st, &name);
    let rows = st.daemon.images.remove(&name, force, &users)?;
    for row in &rows {
        match row {
            shared::api::ImageDeleteItem::Untagged(r) => emit(&st, "untag", &id, r),
            shared::api::ImageDeleteItem::Deleted(d) => emit(&st, "delete", d, d),
        }
    }
    Ok(Json(rows).into_response())
}

/// `POST /images/create`: `fromSrc=-` imports the body; `fromImage` pulls.
pub async fn create(
    State(st): State<AppState>,
    Query(q): Query<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    if let Some(image) = get("fromImage") {
        return super::registry::pull_image(st, image, get("tag"), get("platform"), &headers).await;
    }
    let Some(src) = get("fromSrc") else {
        return Err(ApiError::bad_request("fromImage or fromSrc is required"));
    };
    let changes: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "changes")
        .map(|(_, v)| v.clone())
        .collect();
    let message = get("message").unwrap_or_default();
    let reference = match (
        get("repo").filter(|r| !r.is_empty()),
        get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(r), Some(t)) => Some(format!("{r}:{t}")),
        (Some(r), None) => Some(r),
        _ => None,
    };
    // Spool the body (or the download) to a temporary file: layers can be large.
    let mut status_lines = String::new();
    let spool = if src == "-" {
        super::archive::spool_body(&st, body).await?
    } else {
        status_lines.push_str(
            &(serde_json::json!({ "status": format!("Downloading from {src}") }).to_string()
                + "\r\n"),
        );
        let spool = scratch_file(&st.daemon).map_err(internal)?;
        download(&src, spool.try_clone().map_err(internal)?).await?;
        spool
    };
    let daemon = st.daemon.clone();
    let id = tokio::task::spawn_blocking(move || -> ApiResult<String> {
        let mut f = spool;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0)).map_err(internal)?;
        // Like Docker, take the rootfs plain, gzip, bzip2 or xz compressed.
        let mut r: Box<dyn Read + Send> = engine::archive::decompressed(f)?;
        Ok(daemon
            .images
            .import(&mut r, reference.as_deref(), &changes, &message)?)
    })
    .await
    .map_err(internal)??;
    emit(&st, "import", &id, &id);
    let line = serde_json::json!({ "status": id }).to_string() + "\r\n";
    Ok(([("Content-Type", "application/json")], status_lines + &line).into_response())
}

/// `import URL`: fetch an `http://` URL the host can reach into `dst`.
async fn download(url: &str, dst: std::fs::File) -> ApiResult<()> {
    use http_body_util::BodyExt;
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| ApiError::bad_request(format!("invalid URL {url}: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(ApiError::bad_request(format!(
            "importing from {url}: only http:// URLs are supported"
        )));
    }
    let host = uri
        .host()
        .ok_or_else(|| ApiError::bad_request(format!("invalid URL {url}: no host")))?
        .to_string();
    let port = uri.port_u16().unwrap_or(80);
    let fail = |e: &dyn std::fmt::Display| internal(format!("Get \"{url}\": {e}"));
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| fail(&e))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| fail(&e))?;
    tokio::spawn(conn);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let req = hyper::Request::get(path)
        .header("Host", uri.authority().map(|a| a.as_str()).unwrap_or(&host))
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| fail(&e))?;
    let resp = send.send_request(req).await.map_err(|e| fail(&e))?;
    if !resp.status().is_success() {
        return Err(internal(format!(
            "Get \"{url}\": unexpected status {}",
            resp.status()
        )));
    }
    let mut body = resp.into_body();
    let mut file = tokio::fs::File::from_std(dst);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| fail(&e))?;
        if let Some(data) = frame.data_ref() {
            tokio::io::AsyncWriteExt::write_all(&mut file, data)
                .await
                .map_err(internal)?;
        }
    }
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(internal)?;
    Ok(())
}

/// An unnamed temporary file under the data root (same filesystem as the store).
/// An unnamed file in the daemon's scratch directory (on a virtual daemon's own
/// disk, so that uploads count against it).
pub(crate) fn scratch_file(daemon: &engine::daemon::Daemon) -> std::io::Result<std::fs::File> {
    let dir = daemon.images.scratch_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags_tmpfile()
        .open(&dir)
}

trait TmpFile {
    fn custom_flags_tmpfile(&mut self) -> &mut Self;
}

impl TmpFile for std::fs::OpenOptions {
    fn custom_flags_tmpfile(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_TMPFILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_like_docker() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(reference_matches("bu*", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
        assert!(reference_matches(
            "docker.io/library/busybox",
            "busybox:latest"
        ));
        assert!(reference_matches(
            "docker.io/library/busybox:latest",
            "busybox:latest"
        ));
        let d = format!("busybox@sha256:{}", "ab".repeat(32));
        assert!(reference_matches("busybox", &d));
        assert!(reference_matches("bu*", &d));
        assert!(!reference_matches("alpine", &d));
        assert!(reference_matches("myorg/*", "myorg/app:1"));
        assert!(!reference_matches("*", "myorg/app:1"));
        assert!(reference_matches("b?sybox", "busybox:latest"));
    }

    #[test]
    fn names_with_slashes_split_from_their_suffix() {
        assert_eq!(
            split_suffix("myorg/app:1/json", &["json"]),
            Some(("myorg/app:1", "json"))
        );
        assert_eq!(
            split_suffix("busybox/history", &["json", "history"]),
            Some(("busybox", "history"))
        );
        assert_eq!(split_suffix("busybox", &["json"]), None);
    }
}
