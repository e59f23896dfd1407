//! The UI bundle (`scripts/build-web`'s output) at `/`. Page routes live in the
//! URL fragment, so any path that is not a file of the bundle gets `index.html`.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use std::path::{Path, PathBuf};

/// What the server answers when it was started without a UI bundle.
const NO_UI: &str = "<!doctype html><meta charset=utf-8><title>Dockhand</title>\
<body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;line-height:1.5\">\
<h1>Dockhand</h1><p>The playground's web UI is not built. Build it with \
<code>scripts/build-web</code> (into <code>target/ui</code>) or pass \
<code>--ui DIR</code> to <code>dockhand serve</code>.</p></body>";

/// The content type of a bundle file (Wasm must be `application/wasm` for the
/// browser to compile it while it downloads).
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "txt" | "xterm" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file under `dir` that `path` names, if it is a plain relative path to a
/// regular file (no `..`, no hidden names).
pub fn file_for(dir: &Path, path: &str) -> Option<PathBuf> {
    let rel = path.trim_start_matches('/');
    if rel.is_empty() {
        return None;
    }
    if rel
        .split('/')
        .any(|c| c.is_empty() || c.starts_with('.') || c.contains('\\'))
    {
        return None;
    }
    let p = dir.join(rel);
    p.is_file().then_some(p)
}

fn respond(status: StatusCode, ctype: &'static str, body: Body, head: bool) -> Response<Body> {
    let mut r = Response::new(if head { Body::empty() } else { body });
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    // The bundle's names carry no hash: let the browser revalidate each time.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Serve `path` from the bundle in `dir`.
pub async fn serve(dir: Option<&Path>, method: &Method, path: &str) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Body::from("method not allowed"),
            false,
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let head = method == Method::HEAD;
    let Some(dir) = dir else {
        return respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Body::from(NO_UI),
            head,
        );
    };
    let file = file_for(dir, path).unwrap_or_else(|| dir.join("index.html"));
    match tokio::fs::read(&file).await {
        Ok(bytes) => respond(StatusCode::OK, content_type(&file), Body::from(bytes), head),
        Err(e) => {
            tracing::error!("UI file {}: {e}", file.display());
            respond(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                Body::from("not found"),
                head,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_inside_the_bundle_are_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("xterm")).unwrap();
        std::fs::write(d.path().join("xterm/xterm.mjs"), "x").unwrap();
        std::fs::write(d.path().join(".secret"), "x").unwrap();
        assert!(file_for(d.path(), "/xterm/xterm.mjs").is_some());
        for p in [
            "/",
            "/xterm",
            "/../etc/passwd",
            "/xterm/../xterm/xterm.mjs",
            "/.secret",
            "//etc/passwd",
        ] {
            assert_eq!(file_for(d.path(), p), None, "{p}");
        }
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("a.mjs")),
            "text/javascript; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn unknown_paths_get_the_index_page() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("index.html"), "<!doctype html>app").unwrap();
        let r = serve(Some(d.path()), &Method::GET, "/anything/here").await;
        assert_eq!(r.status(), StatusCode::OK);
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert_eq!(&body[..], b"<!doctype html>app");
        let none = serve(None, &Method::GET, "/").await;
        assert_eq!(none.status(), StatusCode::OK);
        let post = serve(Some(d.path()), &Method::POST, "/").await;
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
