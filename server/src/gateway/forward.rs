//! A request through to a node, as it came: method, path, headers (less
//! hop-by-hop ones, plus `X-Forwarded-*`) and body, streamed both ways; a
//! WebSocket handshake upgrades both sides and the bytes are copied.
//! Plain requests reuse pooled connections; upgrades get their own.

use super::api_error;
use super::nodes::url_host;
use crate::playground::proxy::{end_to_end, relay, wants_upgrade};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::time::Duration;

/// The gateway's pooled HTTP/1 client to its nodes.
pub type NodeClient = Client<HttpConnector, Body>;

/// How long a node may take to answer a request's head (making an instance
/// takes seconds; an upload of 50 MB a little more).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// Idle time before TCP keepalive probes a node's connection: a node whose
/// machine died is noticed on open terminals too, not after the kernel's
/// retransmission timeout.
const KEEPALIVE: Duration = Duration::from_secs(30);

pub fn client() -> NodeClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_keepalive(Some(KEEPALIVE));
    http.set_connect_timeout(Some(Duration::from_secs(3)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(http)
}

/// A node that could not be connected to (nothing was sent), and the request
/// when it is still whole (a WebSocket handshake: the caller can still
/// accept it and close it with a reason). Failures after the connection was
/// made are answered 502/504 by [`forward`] itself: they say nothing of the
/// node's health (a client's broken body looks the same).
#[derive(Debug)]
pub struct Unreachable {
    pub why: String,
    pub request: Option<Request>,
}

fn unreachable(why: String) -> Unreachable {
    Unreachable { why, request: None }
}

/// 400: a target that is no origin-form path.
fn bad_path(path: &str) -> Response<Body> {
    api_error(StatusCode::BAD_REQUEST, &format!("bad path {path:?}"))
}

/// 502: the node's connection broke before its answer (or the client's body
/// did).
fn broke_off(to: SocketAddr, e: &dyn std::fmt::Display) -> Response<Body> {
    tracing::debug!("{to}: {e}");
    api_error(
        StatusCode::BAD_GATEWAY,
        "The playground node's answer broke off. Please try again.",
    )
}

/// 504: the node took longer than [`ANSWER_TIMEOUT`].
fn timed_out(to: SocketAddr) -> Response<Body> {
    tracing::warn!("{to}: no answer within {}s", ANSWER_TIMEOUT.as_secs());
    api_error(
        StatusCode::GATEWAY_TIMEOUT,
        "The playground node did not answer in time. Please try again.",
    )
}

/// The headers a node gets: the client's end-to-end ones with `Host` as the
/// browser sent it (host-name port links are routed by it), and who asked.
fn upstream_headers(headers: &HeaderMap, peer: Option<SocketAddr>) -> HeaderMap {
    let mut out = end_to_end(headers);
    if let Some(peer) = peer {
        let ip = peer.ip().to_string();
        let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(before) => format!("{before}, {ip}"),
            None => ip,
        };
        if let Ok(v) = HeaderValue::from_str(&chain) {
            out.insert("x-forwarded-for", v);
        }
    }
    if !out.contains_key("x-forwarded-proto") {
        out.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    out
}

/// Send `req` to the node at `to`. `Err` when the node cannot be connected
/// to: the caller decides what the client hears.
pub async fn forward(
    client: &NodeClient,
    mut req: Request,
    to: SocketAddr,
) -> Result<Response<Body>, Unreachable> {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let Some(protocol) = wants_upgrade(req.headers()) else {
        let (parts, body) = req.into_parts();
        let Ok(uri) = Uri::builder()
            .scheme("http")
            .authority(url_host(to))
            .path_and_query(path.as_str())
            .build()
        else {
            return Ok(bad_path(&path));
        };
        let headers = upstream_headers(&parts.headers, peer);
        let mut up = hyper::Request::new(body);
        *up.method_mut() = parts.method;
        *up.uri_mut() = uri;
        *up.headers_mut() = headers;
        let resp = match tokio::time::timeout(ANSWER_TIMEOUT, client.request(up)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if e.is_connect() => return Err(unreachable(format!("{to}: {e}"))),
            Ok(Err(e)) => return Ok(broke_off(to, &e)),
            Err(_) => return Ok(timed_out(to)),
        };
        let (mut p, b) = resp.into_parts();
        p.headers = end_to_end(&p.headers);
        return Ok(Response::from_parts(p, Body::new(b)));
    };
    // A WebSocket: a connection of its own, upgraded on both sides.
    let connect =
        tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(to)).await;
    let tcp = match connect {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => {
            return Err(Unreachable {
                why: format!("{to}: {e}"),
                request: Some(req),
            })
        }
        Err(_) => {
            return Err(Unreachable {
                why: format!("{to}: connect timed out"),
                request: Some(req),
            })
        }
    };
    let _ = tcp.set_nodelay(true);
    let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(
        &socket2::TcpKeepalive::new()
            .with_time(KEEPALIVE)
            .with_interval(Duration::from_secs(10))
            .with_retries(3),
    );
    let client_upgrade = hyper::upgrade::on(&mut req);
    let (parts, body) = req.into_parts();
    let mut headers = upstream_headers(&parts.headers, peer);
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
    let (mut send, conn) = match hyper::client::conn::http1::Builder::new()
        .handshake::<_, Body>(TokioIo::new(tcp))
        .await
    {
        Ok(x) => x,
        Err(e) => return Ok(broke_off(to, &e)),
    };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut up = hyper::Request::new(body);
    *up.method_mut() = parts.method;
    *up.uri_mut() = match path.parse() {
        Ok(u) => u,
        Err(_) => return Ok(bad_path(&path)),
    };
    *up.headers_mut() = headers;
    let mut resp = match tokio::time::timeout(ANSWER_TIMEOUT, send.send_request(up)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Ok(broke_off(to, &e)),
        Err(_) => return Ok(timed_out(to)),
    };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut p, b) = resp.into_parts();
        p.headers = end_to_end(&p.headers);
        return Ok(Response::from_parts(p, Body::new(b)));
    }
    relay(client_upgrade, hyper::upgrade::on(&mut resp));
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *r.headers_mut() = resp.headers().clone();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_get_end_to_end_headers_and_who_asked() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            HeaderValue::from_static("node1-80-ab12x.play.example.org"),
        );
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-dockhand-token", HeaderValue::from_static("t"));
        h.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
        let out = upstream_headers(&h, Some(SocketAddr::from(([198, 51, 100, 7], 5555))));
        assert_eq!(out[header::HOST], "node1-80-ab12x.play.example.org");
        assert_eq!(out["x-dockhand-token"], "t");
        assert_eq!(out["x-forwarded-for"], "192.0.2.1, 198.51.100.7");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert!(out.get("x-secret").is_none() && out.get("keep-alive").is_none());
        assert!(out.get(header::CONNECTION).is_none());
    }

    #[test]
    fn websocket_handshakes_are_seen() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(wants_upgrade(&h).unwrap(), "websocket");
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert!(wants_upgrade(&h).is_none());
    }
}
