//! The HTTP API: the router, the shared state, authentication, the headers
//! every response carries, the access log, and the dispatch of `/v2/...`
//! paths (repository names contain slashes, so the path is split at its last
//! `/blobs/`, `/manifests/`, `/tags/` or `/referrers/`).

mod blobs;
mod discovery;
mod manifests;
mod uploads;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::auth::Htpasswd;
use crate::config::Config;
use crate::error::{Code, RegistryError, Result};
use crate::reference::valid_name;
use crate::storage::Storage;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub storage: Storage,
    pub delete_enabled: bool,
    pub auth: Option<Arc<Htpasswd>>,
    pub access_log: bool,
    pub headers: Arc<Vec<(HeaderName, HeaderValue)>>,
}

impl AppState {
    /// The state for a configuration: opens the storage and reads the htpasswd file.
    pub fn new(config: &Config) -> std::io::Result<AppState> {
        let storage = Storage::open(&config.root)?;
        let auth = match &config.htpasswd {
            Some(h) => Some(Arc::new(Htpasswd::load(&h.realm, &h.path)?)),
            None => None,
        };
        let mut headers = Vec::new();
        for (k, v) in &config.headers {
            match (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                (Ok(k), Ok(v)) => headers.push((k, v)),
                _ => crate::log::warn(&format!("http.headers: invalid header {k}: {v}")),
            }
        }
        Ok(AppState {
            storage,
            delete_enabled: config.delete_enabled,
            auth,
            access_log: config.access_log,
            headers: Arc::new(headers),
        })
    }
}

/// The registry's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), common))
        .with_state(state)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// Headers on every response, and the access-log line.
async fn common(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let log = st.access_log.then(|| {
        let h = req.headers();
        let text = |n: header::HeaderName| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let remote = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or("-".to_string(), |c| c.0.ip().to_string());
        (
            remote,
            req.method().to_string(),
            req.uri().to_string(),
            format!("{:?}", req.version()),
            text(header::REFERER),
            text(header::USER_AGENT),
        )
    });
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    for (k, v) in st.headers.iter() {
        h.insert(k.clone(), v.clone());
    }
    if let Some((remote, method, uri, version, referer, ua)) = log {
        let size = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let user = resp
            .extensions()
            .get::<AuthUser>()
            .map(|u| u.0.clone())
            .unwrap_or_default();
        let line = crate::log::Access {
            remote: &remote,
            user: &user,
            method: &method,
            uri: &uri,
            version: &version,
            status: resp.status().as_u16(),
            size,
            referer: &referer,
            user_agent: &ua,
        }
        .line();
        if crate::log::enabled(crate::log::Level::Info) {
            eprintln!("{line}");
        }
        crate::log::debug(&format!("request took {:?}", start.elapsed()));
    }
    resp
}

/// The authenticated user, for the access log.
#[derive(Clone)]
struct AuthUser(String);

/// The parsed `/v2/...` path.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Referrers(&'a str, &'a str),
    UploadStart(&'a str),
    Upload(&'a str, &'a str),
    Blob(&'a str, &'a str),
}

fn split_last<'a>(rest: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let i = rest.rfind(marker)?;
    let (name, tail) = (&rest[..i], &rest[i + marker.len()..]);
    (!name.is_empty() && !tail.is_empty() && !tail.contains('/')).then_some((name, tail))
}

/// Splits the path after `/v2/`.
fn route(rest: &str) -> Option<Route<'_>> {
    if rest.is_empty() {
        return Some(Route::Base);
    }
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::UploadStart(name));
    }
    if let Some((n, r)) = split_last(rest, "/manifests/") {
        return Some(Route::Manifest(n, r));
    }
    if let Some((n, d)) = split_last(rest, "/referrers/") {
        return Some(Route::Referrers(n, d));
    }
    if let Some((n, u)) = split_last(rest, "/blobs/uploads/") {
        return Some(Route::Upload(n, u));
    }
    if let Some((n, d)) = split_last(rest, "/blobs/") {
        return Some(Route::Blob(n, d));
    }
    None
}

/// Decodes `%XX` escapes (clients may send `sha256%3A...`).
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hexval = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters of a request.
pub(crate) fn query(req: &Request) -> HashMap<String, String> {
    Query::<HashMap<String, String>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default()
}

/// A header's text.
pub(crate) fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A response with a status, headers and a body.
pub(crate) fn respond(status: StatusCode, headers: &[(&str, String)], body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(*k), HeaderValue::try_from(v.as_str())) {
            r.headers_mut().append(k, v);
        }
    }
    r
}

/// An empty response (with `Content-Length: 0`).
pub(crate) fn empty(status: StatusCode, headers: &[(&str, String)]) -> Response {
    let mut r = respond(status, headers, Body::empty());
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// A JSON response.
pub(crate) fn json(
    status: StatusCode,
    content_type: &str,
    v: &serde_json::Value,
    extra: &[(&str, String)],
) -> Response {
    let body = v.to_string();
    let mut headers = vec![
        ("content-type", content_type.to_string()),
        ("content-length", body.len().to_string()),
    ];
    headers.extend(extra.iter().cloned());
    respond(status, &headers, Body::from(body))
}

async fn dispatch(State(st): State<AppState>, req: Request) -> Response {
    let mut user = None;
    if let Some(auth) = &st.auth {
        let given = header_str(req.headers(), "authorization");
        match auth.check(given).await {
            Some(u) => user = Some(u),
            None => {
                return RegistryError::new(Code::Unauthorized)
                    .header(header::WWW_AUTHENTICATE, &auth.challenge())
                    .into_response()
            }
        }
    }
    let head = req.method() == Method::HEAD;
    let mut resp = match handle(&st, req).await {
        Ok(r) => r,
        Err(e) if head => {
            // HEAD answers carry no body, but keep the status and headers.
            let mut r = e.into_response();
            *r.body_mut() = Body::empty();
            r.headers_mut().remove(header::CONTENT_LENGTH);
            r
        }
        Err(e) => e.into_response(),
    };
    if let Some(u) = user {
        resp.extensions_mut().insert(AuthUser(u));
    }
    resp
}

async fn handle(st: &AppState, req: Request) -> Result<Response> {
    let path = percent_decode(req.uri().path());
    let rest = path.strip_prefix("/v2").unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest).to_string();
    let Some(r) = route(&rest) else {
        return Ok(not_found().await);
    };
    let name = match &r {
        Route::Base | Route::Catalog => None,
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Referrers(n, _)
        | Route::UploadStart(n)
        | Route::Upload(n, _)
        | Route::Blob(n, _) => Some(*n),
    };
    if let Some(n) = name {
        if !valid_name(n) {
            return Err(RegistryError::new(Code::NameInvalid).detail(n.to_string()));
        }
    }
    let m = req.method().clone();
    let unsupported = || Err(RegistryError::new(Code::Unsupported));
    match r {
        Route::Base => match m {
            Method::GET | Method::HEAD => Ok(json(
                StatusCode::OK,
                "application/json; charset=utf-8",
                &serde_json::json!({}),
                &[],
            )),
            _ => unsupported(),
        },
        Route::Catalog => match m {
            Method::GET => discovery::catalog(st, &query(&req)).await,
            _ => unsupported(),
        },
        Route::Tags(n) => match m {
            Method::GET => discovery::tags(st, n, &query(&req)).await,
            _ => unsupported(),
        },
        Route::Referrers(n, d) => match m {
            Method::GET => discovery::referrers(st, n, d, &query(&req)).await,
            _ => unsupported(),
        },
        Route::Manifest(n, reference) => {
            let (n, reference) = (n.to_string(), reference.to_string());
            match m {
                Method::GET => manifests::get(st, &n, &reference, false).await,
                Method::HEAD => manifests::get(st, &n, &reference, true).await,
                Method::PUT => manifests::put(st, &n, &reference, req).await,
                Method::DELETE => manifests::delete(st, &n, &reference).await,
                _ => unsupported(),
            }
        }
        Route::Blob(n, d) => match m {
            Method::GET => blobs::get(st, n, d, req.headers(), false).await,
            Method::HEAD => blobs::get(st, n, d, req.headers(), true).await,
            Method::DELETE => blobs::delete(st, n, d).await,
            _ => unsupported(),
        },
        Route::UploadStart(n) => {
            let n = n.to_string();
            match m {
                Method::POST => uploads::start(st, &n, req).await,
                _ => unsupported(),
            }
        }
        Route::Upload(n, u) => {
            let (n, u) = (n.to_string(), u.to_string());
            match m {
                Method::GET | Method::HEAD => uploads::status(st, &n, &u).await,
                Method::PATCH => uploads::patch(st, &n, &u, req).await,
                Method::PUT => uploads::put(st, &n, &u, req).await,
                Method::DELETE => uploads::cancel(st, &n, &u).await,
                _ => unsupported(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(""), Some(Route::Base));
        assert_eq!(route("_catalog"), Some(Route::Catalog));
        assert_eq!(route("a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(route("a/blobs/uploads/"), Some(Route::UploadStart("a")));
        assert_eq!(
            route("a/blobs/uploads/u-1"),
            Some(Route::Upload("a", "u-1"))
        );
        assert_eq!(
            route("x/blobs/uploads/blobs/sha256:1"),
            Some(Route::Blob("x/blobs/uploads", "sha256:1"))
        );
        assert_eq!(
            route("m/manifests/n/manifests/latest"),
            Some(Route::Manifest("m/manifests/n", "latest"))
        );
        assert_eq!(
            route("a/referrers/sha256:1"),
            Some(Route::Referrers("a", "sha256:1"))
        );
        assert_eq!(route("a/nothing"), None);
        assert_eq!(percent_decode("sha256%3Aab%zz%4"), "sha256:ab%zz%4");
    }
}
