//! The port proxy: `/s/{session}/{node}/{port}/rest` is `http://<node's
//! address>:{port}/rest`, for the members of that session only.
//!
//! The browser opens port links as ordinary navigations, which carry no header of
//! ours, so the session's token travels in a cookie (`dh_{session}`, `HttpOnly`,
//! path `/s/{session}/`) that every authorized API answer sets; the cookie is
//! taken out before the request goes on, so the app never sees it. WebSocket
//! upgrades are passed through (both sides upgraded, bytes copied both ways).
//!
//! What a path proxy can do for apps that use absolute paths:
//! * redirects: `Location: /x` and `Location: http://<node address>:<port>/x`
//!   come back as `/s/{session}/{node}/{port}/x`;
//! * cookies the app sets for `Path=/` are scoped to its prefix;
//! * requests for absolute paths made *from* a proxied page (`<script
//!   src="/app.js">`, `fetch("/api/items")`) carry that page's address in
//!   `Referer`: they are sent to the same app ([`referer_target`]), navigations
//!   by a redirect so that the page's own relative links keep working.
//!
//! What it cannot do: absolute URLs built in JavaScript for WebSockets (browsers
//! send no `Referer` on a WebSocket handshake), pages served with
//! `Referrer-Policy: no-referrer`, absolute paths in the very first request typed
//! by hand, and apps that check the `Host` header. Those need a host name per
//! port: with `--port-domain DOMAIN` every port is also served at
//! `NODE-PORT-SESSION.DOMAIN` (`localhost` needs no DNS: browsers resolve
//! `*.localhost` to loopback), where the app has its own origin and nothing is
//! rewritten. A link there carries the port's key
//! ([`shared::playground::routes::port_key`], derived from the session's
//! token and the host label) once; the proxy trades it for a cookie on that
//! host alone and redirects to the same address without it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// The pieces of `/s/{session}/{node}/{port}/rest?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub session: String,
    pub node: String,
    pub port: u16,
    /// The path on the app, from `/`, with the query.
    pub rest: String,
    /// `true` when the path ended at the port (no `/` after it).
    pub bare: bool,
    /// Reached by its own host name (`--port-domain`): the app is at `/`,
    /// nothing is rewritten.
    pub by_host: bool,
}

impl Target {
    /// `/s/{session}/{node}/{port}`.
    pub fn prefix(&self) -> String {
        format!("/s/{}/{}/{}", self.session, self.node, self.port)
    }
}

/// Parse a proxy path (with its query, if any).
pub fn parse_target(path: &str, query: Option<&str>) -> Option<Target> {
    let rest = path.strip_prefix("/s/")?;
    let mut parts = rest.splitn(4, '/');
    let session = parts.next()?;
    let node = parts.next()?;
    let port: u16 = parts.next()?.parse().ok().filter(|p| *p > 0)?;
    let tail = parts.next();
    if !shared::playground::is_url_safe_id(session) || !shared::playground::is_url_safe_id(node) {
        return None;
    }
    let mut rest = format!("/{}", tail.unwrap_or(""));
    if let Some(q) = query {
        rest.push('?');
        rest.push_str(q);
    }
    Some(Target {
        session: session.into(),
        node: node.into(),
        port,
        rest,
        bare: tail.is_none(),
        by_host: false,
    })
}

/// The cookie that opens one port in host-name mode (on that host only).
pub const PORT_COOKIE: &str = "dh_port";

/// `Set-Cookie` for a port's key on its own host.
pub fn port_cookie(key: &str, max_age: u64) -> String {
    format!("{PORT_COOKIE}={key}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax")
}

/// A request's path and query without the port-key parameter: where the
/// first visit of a host-mode link redirects to.
pub fn without_port_key(path: &str, query: Option<&str>) -> String {
    let key = shared::playground::routes::PORT_KEY_QUERY;
    let kept: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(key))
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// The cookie that carries a session's token to the proxy.
pub fn cookie_name(session: &str) -> String {
    format!("dh_{session}")
}

/// `Set-Cookie` for the session's token. Its path is `/`, not the session's
/// `/s/SESSION/`: an app's absolute-path requests (`fetch("/api")`, a
/// stylesheet at `/app.css`) leave the prefix and find their port by their
/// `Referer`, and must still carry the token. No app ever sees it: the proxy
/// removes every cookie of ours before forwarding ([`strip_our_cookies`]).
pub fn token_cookie(session: &str, token: &str, max_age: u64) -> String {
    format!(
        "{}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax",
        cookie_name(session)
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The names of our cookies: session tokens ([`cookie_name`]) and port keys
/// ([`PORT_COOKIE`]).
const OUR_COOKIES: &str = "dh_";

/// `Cookie` headers without any of our cookies: no app sees the token of its
/// own session or of another one open in the same browser.
pub fn strip_our_cookies(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|kv| {
            !kv.is_empty()
                && kv
                    .split_once('=')
                    .is_none_or(|(k, _)| !k.starts_with(OUR_COOKIES))
        })
        .map(String::from)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
}

/// `Location` as the browser must see it: the app's absolute paths and its own
/// origin (`http://<addr>:<port>`) mapped under the prefix.
pub fn rewrite_location(location: &str, prefix: &str, upstream: &str) -> String {
    let origin = format!("http://{upstream}");
    if let Some(rest) = location.strip_prefix(&origin) {
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            let rest = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("/{rest}")
            };
            return format!("{prefix}{rest}");
        }
    }
    if location.starts_with('/') && !location.starts_with("//") && !location.starts_with(prefix) {
        return format!("{prefix}{location}");
    }
    location.to_string()
}

/// `Refresh` (`5; url=/next`, a redirect after a delay) with its URL mapped as
/// [`rewrite_location`] maps a `Location`. Without a URL it reloads the page,
/// which is under the prefix already.
pub fn rewrite_refresh(refresh: &str, prefix: &str, upstream: &str) -> String {
    let Some(cut) = refresh.find([';', ',']) else {
        return refresh.to_string();
    };
    let (delay, rest) = (refresh[..cut].trim(), refresh[cut + 1..].trim_start());
    let url = match rest.get(..4) {
        Some(k) if k.eq_ignore_ascii_case("url=") => rest[4..].trim(),
        _ => rest.trim(),
    };
    let unquoted = url
        .strip_prefix(['"', '\''])
        .map(|u| u.trim_end_matches(['"', '\'']))
        .unwrap_or(url);
    if unquoted.is_empty() {
        return refresh.to_string();
    }
    format!(
        "{delay}; url={}",
        rewrite_location(unquoted, prefix, upstream)
    )
}

/// `Set-Cookie` with its `Path` moved under the prefix (no `Path` means the
/// request's directory, which is under the prefix already).
pub fn rewrite_cookie_path(cookie: &str, prefix: &str) -> String {
    cookie
        .split(';')
        .map(|part| {
            let t = part.trim_start();
            match t.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("path") && v.starts_with('/') => {
                    let lead = &part[..part.len() - t.len()];
                    if v.starts_with(prefix) {
                        part.to_string()
                    } else {
                        format!("{lead}Path={prefix}{v}")
                    }
                }
                _ => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// For a request outside `/s/` made from a proxied page: the proxy path it was
/// meant for (from the page's `Referer`).
pub fn referer_target(headers: &HeaderMap, uri: &Uri) -> Option<Target> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    // Only the path of the Referer counts; its host is ours when it is a proxy page.
    let path = match referer.find("://") {
        Some(i) => {
            let after = &referer[i + 3..];
            &after[after.find('/')?..]
        }
        None => referer,
    };
    let page = parse_target(path.split(['?', '#']).next()?, None)?;
    if page.bare {
        return None;
    }
    parse_target(&format!("{}{}", page.prefix(), uri.path()), uri.query())
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Headers minus hop-by-hop ones (and those the `Connection` header names).
pub(crate) fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::new();
    for (k, v) in headers {
        if !is_hop_by_hop(k) && !named.iter().any(|n| n == k.as_str()) {
            out.append(k.clone(), v.clone());
        }
    }
    out
}

/// The protocol a request asks to upgrade to (`websocket`), if it asks.
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let conn_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    conn_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

/// Once both sides of a protocol switch are upgraded, copy bytes both ways
/// until either ends (the port proxy's and the gateway's WebSockets).
pub(crate) fn relay(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (Ok(c), Ok(u)) = (client.await, upstream.await) else {
            return;
        };
        let (mut c, mut u) = (TokioIo::new(c), TokioIo::new(u));
        let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
    });
}

/// A short page for the browser when the app cannot be reached.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response<Body> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>{t}</title>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;line-height:1.5\">\
         <h1 style=\"font-size:1.4em\">{t}</h1><p>{d}</p></body>",
        t = esc(title),
        d = esc(detail)
    );
    let mut r = Response::new(Body::from(html));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Send `req` (already authorized) to `addr` (`ip:port`) as `target.rest`.
pub async fn forward(mut req: Request, target: &Target, addr: &str) -> Response<Body> {
    let prefix = target.prefix();
    let upgrade = wants_upgrade(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let mut headers = end_to_end(&parts.headers);
    strip_our_cookies(&mut headers);
    headers.remove(shared::playground::TOKEN_HEADER);
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
        if target.by_host {
            // The app sees the name the browser used, as behind any proxy.
            headers.insert(header::HOST, host.clone());
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if !target.by_host {
        if let Ok(v) = HeaderValue::from_str(&prefix) {
            headers.insert("x-forwarded-prefix", v);
        }
    }
    if let Some(ci) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        if let Ok(v) = HeaderValue::from_str(&ci.0.ip().to_string()) {
            headers.insert("x-forwarded-for", v);
        }
    }
    if let Some(u) = &upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, u.clone());
    }
    let (title, unreachable) = (
        format!("Nothing answers on port {} of {}", target.port, target.node),
        "Start a service that listens on this port (for example `docker run -d -p 8080:80 busybox httpd -f -p 80`), then reload this page.",
    );
    let connect =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await;
    let tcp = match connect {
        Ok(Ok(t)) => t,
        Ok(Err(_)) | Err(_) => return error_page(StatusCode::BAD_GATEWAY, &title, unreachable),
    };
    let _ = tcp.set_nodelay(true);
    let (mut send, conn) = match hyper::client::conn::http1::Builder::new()
        .handshake::<_, Body>(TokioIo::new(tcp))
        .await
    {
        Ok(x) => x,
        Err(_) => return error_page(StatusCode::BAD_GATEWAY, &title, unreachable),
    };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut up = hyper::Request::new(body);
    *up.method_mut() = parts.method.clone();
    *up.uri_mut() = match target.rest.parse() {
        Ok(u) => u,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "Bad path", &target.rest),
    };
    *up.headers_mut() = headers;
    let mut resp = match send.send_request(up).await {
        Ok(r) => r,
        Err(e) => {
            return error_page(
                StatusCode::BAD_GATEWAY,
                &format!("Port {} of {} did not answer", target.port, target.node),
                &format!("The connection broke: {e}."),
            )
        }
    };
    let status = resp.status();
    let mut out_headers = if status == StatusCode::SWITCHING_PROTOCOLS {
        resp.headers().clone()
    } else {
        end_to_end(resp.headers())
    };
    if target.by_host {
        // Its own origin: the app's paths and cookies are right as they are.
    } else if let Some(loc) = out_headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        let new = rewrite_location(loc, &prefix, addr);
        if let Ok(v) = HeaderValue::from_str(&new) {
            out_headers.insert(header::LOCATION, v);
        }
    }
    if let Some(refresh) = out_headers
        .get("refresh")
        .and_then(|v| v.to_str().ok())
        .filter(|_| !target.by_host)
    {
        if let Ok(v) = HeaderValue::from_str(&rewrite_refresh(refresh, &prefix, addr)) {
            out_headers.insert("refresh", v);
        }
    }
    let cookies: Vec<HeaderValue> = out_headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| HeaderValue::from_str(&rewrite_cookie_path(c, &prefix)).ok())
        .collect();
    if !cookies.is_empty() && !target.by_host {
        out_headers.remove(header::SET_COOKIE);
        for c in cookies {
            out_headers.append(header::SET_COOKIE, c);
        }
    }
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return error_page(
                StatusCode::BAD_GATEWAY,
                &title,
                "Unexpected protocol switch.",
            );
        };
        relay(client_upgrade, hyper::upgrade::on(&mut resp));
        let mut r = Response::new(Body::empty());
        *r.status_mut() = status;
        *r.headers_mut() = out_headers;
        return r;
    }
    let mut r = Response::new(Body::new(resp.into_body()));
    *r.status_mut() = status;
    *r.headers_mut() = out_headers;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_split_into_session_node_port_and_rest() {
        let t = parse_target("/s/abc/node1/8080/a/b", Some("x=1")).unwrap();
        assert_eq!(
            (
                t.session.as_str(),
                t.node.as_str(),
                t.port,
                t.rest.as_str(),
                t.bare
            ),
            ("abc", "node1", 8080, "/a/b?x=1", false)
        );
        assert_eq!(t.prefix(), "/s/abc/node1/8080");
        let bare = parse_target("/s/abc/node1/8080", None).unwrap();
        assert!(bare.bare);
        assert_eq!(bare.rest, "/");
        assert_eq!(parse_target("/s/abc/node1/8080/", None).unwrap().rest, "/");
        for bad in [
            "/s/abc/node1/0/",
            "/s/abc/node1/x/",
            "/s/a b/node1/80/",
            "/s/abc/",
            "/x/abc/n/80/",
        ] {
            assert_eq!(parse_target(bad, None), None, "{bad}");
        }
    }

    #[test]
    fn redirects_to_absolute_paths_stay_under_the_prefix() {
        let p = "/s/abc/node1/8080";
        let up = "10.0.0.2:8080";
        assert_eq!(rewrite_location("/login", p, up), "/s/abc/node1/8080/login");
        assert_eq!(
            rewrite_location("http://10.0.0.2:8080/x?y", p, up),
            "/s/abc/node1/8080/x?y"
        );
        assert_eq!(
            rewrite_location("http://10.0.0.2:8080", p, up),
            "/s/abc/node1/8080/"
        );
        assert_eq!(rewrite_location("next", p, up), "next");
        assert_eq!(
            rewrite_location("https://example.com/", p, up),
            "https://example.com/"
        );
        assert_eq!(
            rewrite_location("//cdn.example/x", p, up),
            "//cdn.example/x"
        );
        assert_eq!(
            rewrite_location("/s/abc/node1/8080/x", p, up),
            "/s/abc/node1/8080/x"
        );
    }

    #[test]
    fn refresh_redirects_stay_under_the_prefix() {
        let p = "/s/abc/node1/8080";
        let up = "10.0.0.2:8080";
        for (given, want) in [
            ("0; url=/login", "0; url=/s/abc/node1/8080/login"),
            ("5;URL='/a b'", "5; url=/s/abc/node1/8080/a b"),
            (
                "3, url=\"http://10.0.0.2:8080/x\"",
                "3; url=/s/abc/node1/8080/x",
            ),
            ("2; /plain", "2; url=/s/abc/node1/8080/plain"),
            ("1; url=https://example.com/", "1; url=https://example.com/"),
            ("1; url=next", "1; url=next"),
        ] {
            assert_eq!(rewrite_refresh(given, p, up), want, "{given}");
        }
        // A bare delay reloads the page, which is under the prefix already.
        assert_eq!(rewrite_refresh("10", p, up), "10");
        assert_eq!(rewrite_refresh("10;", p, up), "10;");
    }

    #[test]
    fn app_cookies_are_scoped_to_the_prefix() {
        let p = "/s/abc/node1/8080";
        assert_eq!(
            rewrite_cookie_path("sid=1; Path=/; HttpOnly", p),
            "sid=1; Path=/s/abc/node1/8080/; HttpOnly"
        );
        assert_eq!(
            rewrite_cookie_path("a=b; path=/app", p),
            "a=b; Path=/s/abc/node1/8080/app"
        );
        assert_eq!(rewrite_cookie_path("a=b", p), "a=b");
    }

    #[test]
    fn our_cookie_is_read_and_stripped_and_others_pass() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "theme=dark; dh_abc=T0K; x=1; dh_other=T2; dh_port=K"
                .parse()
                .unwrap(),
        );
        assert_eq!(read_cookie(&h, "dh_abc").as_deref(), Some("T0K"));
        assert_eq!(read_cookie(&h, "dh_ab"), None);
        strip_our_cookies(&mut h);
        assert_eq!(h.get(header::COOKIE).unwrap(), "theme=dark; x=1");
        let mut only = HeaderMap::new();
        only.insert(header::COOKIE, "dh_abc=T".parse().unwrap());
        strip_our_cookies(&mut only);
        assert!(only.get(header::COOKIE).is_none());
        assert!(token_cookie("abc", "T", 60).contains("dh_abc=T; Path=/; Max-Age=60; HttpOnly"));
    }

    #[test]
    fn absolute_requests_from_a_proxied_page_find_their_app() {
        let mut h = HeaderMap::new();
        h.insert(
            header::REFERER,
            "http://play.example:8080/s/abc/node1/8080/dir/page.html?q"
                .parse()
                .unwrap(),
        );
        let uri: Uri = "/static/app.js?v=2".parse().unwrap();
        let t = referer_target(&h, &uri).unwrap();
        assert_eq!(t.prefix(), "/s/abc/node1/8080");
        assert_eq!(t.rest, "/static/app.js?v=2");
        h.insert(
            header::REFERER,
            "http://play.example:8080/".parse().unwrap(),
        );
        assert_eq!(referer_target(&h, &uri), None);
        assert_eq!(referer_target(&HeaderMap::new(), &uri), None);
    }

    #[test]
    fn hop_by_hop_headers_do_not_cross_and_upgrades_are_seen() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            "keep-alive, X-Secret, Upgrade".parse().unwrap(),
        );
        h.insert("x-secret", "1".parse().unwrap());
        h.insert(header::UPGRADE, "websocket".parse().unwrap());
        h.insert(header::ACCEPT, "*/*".parse().unwrap());
        let e = end_to_end(&h);
        assert_eq!(e.len(), 1);
        assert!(e.contains_key(header::ACCEPT));
        assert_eq!(wants_upgrade(&h).unwrap(), "websocket");
    }
}
