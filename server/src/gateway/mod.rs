//! `dockhand gateway`: the front door of a playground on many nodes. It keeps
//! no state of its own, so any number of replicas serve side by side:
//!
//! | request | goes to |
//! |---|---|
//! | `POST /api/sessions`, `POST /api/workshops` | the node with the most room ([`nodes::Nodes::place`]); a trainee's workshop code to the node whose workshop it is |
//! | anything about a session or workshop (`/api/sessions/{id}/…`, `/api/workshops/{id}/…`, `/s/{id}/…`, a host-name port link) | the node whose prefix starts the id (`shared::playground::cluster`) |
//! | the UI, `/api/config`, lessons | any node that answers, the roomiest first |
//! | `/healthz`, `/readyz`, `/api/gateway/nodes` | the gateway itself |
//!
//! Nodes are found in DNS ([`nodes::Discovery`], a headless Service) and asked
//! for their report every refresh. A session whose node does not answer gets
//! 503 "this session's node is unavailable" (a page, JSON, or a WebSocket
//! closed with 4410), never another node.

pub mod forward;
pub mod nodes;
#[cfg(test)]
mod tests;

use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use forward::{forward, NodeClient};
use nodes::{Discovery, NodeSource, Nodes, Route};
use shared::playground::cluster::{self, NodeReport};
use shared::playground::{close_code, CreateSession, NODE_UNAVAILABLE_MESSAGE};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What `dockhand gateway` is told.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// `--listen`.
    pub listen: SocketAddr,
    /// `--nodes`.
    pub nodes: NodeSource,
    /// `--dns-server`: ask this server instead of the system's.
    pub dns_server: Option<SocketAddr>,
    /// `--refresh`: how often the nodes are looked up and asked for reports.
    pub refresh: Duration,
    /// `--port-domain`, as the nodes have it: host-name port links are routed
    /// by the session in their name.
    pub port_domain: Option<String>,
}

/// Path of the gateway's view of its nodes.
pub const NODES_PATH: &str = "/api/gateway/nodes";

/// Largest body of a request the gateway reads itself (creating a session or
/// a workshop).
const SMALL_BODY: usize = 64 * 1024;

/// The gateway's state: its nodes and its client to them.
pub struct Gateway {
    pub nodes: Nodes,
    client: NodeClient,
    port_domain: Option<String>,
}

impl Gateway {
    pub fn new(port_domain: Option<String>) -> Arc<Gateway> {
        Arc::new(Gateway {
            nodes: Nodes::default(),
            client: forward::client(),
            port_domain,
        })
    }

    /// Look the nodes up and ask each for its report, all at once.
    pub async fn refresh(&self, discovery: &Discovery) {
        match discovery.addresses().await {
            // No records at all while nodes are known: more likely a DNS
            // hiccup than every node gone; they go down by their polls.
            Ok(addrs) if addrs.is_empty() && !self.nodes.addresses().is_empty() => {
                tracing::warn!("the nodes' name has no addresses now; keeping the known ones")
            }
            Ok(addrs) => self.nodes.set_addresses(&addrs),
            // Keep what was known: a DNS hiccup is no reason to lose nodes.
            Err(e) => tracing::warn!("{e}"),
        }
        self.poll().await;
    }

    /// Ask every known node for its report, all at once.
    pub async fn poll(&self) {
        let asks = self.nodes.addresses().into_iter().map(|a| async move {
            let r = self.report_of(a).await;
            self.nodes.reported(a, r);
        });
        futures_util::future::join_all(asks).await;
    }

    async fn report_of(&self, addr: SocketAddr) -> Option<NodeReport> {
        let body = self.get(addr, cluster::NODE_PATH).await?;
        serde_json::from_slice(&body).ok()
    }

    /// `GET path` on a node: its body when it answers 2xx within 2 s.
    async fn get(&self, addr: SocketAddr, path: &str) -> Option<Bytes> {
        let uri = format!("http://{}{path}", nodes::url_host(addr));
        let req = hyper::Request::get(uri).body(Body::empty()).ok()?;
        let ask = async {
            let resp = self.client.request(req).await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            http_body_util::BodyExt::collect(resp.into_body())
                .await
                .ok()
                .map(|b| b.to_bytes())
        };
        tokio::time::timeout(Duration::from_secs(2), ask)
            .await
            .ok()
            .flatten()
    }

    /// The node where the workshop with join code `code` is open.
    async fn workshop_node(&self, code: &str) -> Option<SocketAddr> {
        let code: String = code
            .trim()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        if code.is_empty() {
            return None;
        }
        let path = cluster::workshop_code(&code);
        let up: Vec<SocketAddr> = self
            .nodes
            .snapshot()
            .into_iter()
            .filter(|n| n.up)
            .map(|n| n.addr)
            .collect();
        let asks = up.iter().map(|a| {
            let path = path.clone();
            async move { self.get(*a, &path).await.map(|_| *a) }
        });
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .flatten()
            .next()
    }

    /// A request that makes a session or a workshop: to the roomiest node;
    /// one that cannot be reached or is full or draining by now (its answer
    /// is 503) passes it to the next.
    async fn place(&self, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let body = match axum::body::to_bytes(body, SMALL_BODY).await {
            Ok(b) => b,
            Err(_) => return api_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        };
        let mut tried = vec![];
        let joining = (parts.uri.path() == shared::playground::routes::sessions())
            .then(|| serde_json::from_slice::<CreateSession>(&body).ok())
            .flatten()
            .and_then(|c| c.workshop)
            .filter(|w| !w.trim().is_empty());
        if let Some(code) = joining {
            // A trainee joins a workshop: its node, or the roomiest, whose
            // answer says there is no such workshop.
            if let Some(a) = self.workshop_node(&code).await {
                if let Some(r) = self.send(&parts, &body, a).await {
                    return r;
                }
            }
        }
        let mut last = None;
        while let Some(a) = self.nodes.place(&tried) {
            tried.push(a);
            match self.send(&parts, &body, a).await {
                Some(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => last = Some(r),
                Some(r) => {
                    if r.status().is_success() {
                        self.nodes.placed(a);
                        // Its room now, with what other gateways placed
                        // there: replicas that place at once herd less.
                        if let Some(report) = self.report_of(a).await {
                            self.nodes.reported(a, Some(report));
                        }
                    }
                    return r;
                }
                None => {}
            }
        }
        last.unwrap_or_else(|| {
            api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                shared::playground::FULL_MESSAGE,
            )
        })
    }

    /// One buffered request to node `a`; `None` when it cannot be reached.
    async fn send(
        &self,
        parts: &axum::http::request::Parts,
        body: &Bytes,
        a: SocketAddr,
    ) -> Option<Response> {
        let mut req = Request::new(Body::from(body.clone()));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = parts.uri.clone();
        *req.headers_mut() = parts.headers.clone();
        if let Some(ci) = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
        {
            req.extensions_mut().insert(*ci);
        }
        match forward(&self.client, req, a).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!("{}", e.why);
                self.nodes.failed(a);
                None
            }
        }
    }
}

/// Every request the gateway takes.
pub async fn handle(State(g): State<Arc<Gateway>>, req: Request) -> Response {
    let path = req.uri().path();
    let method = req.method().clone();
    if !path.starts_with('/') {
        // `OPTIONS *` and the like: nothing of a node's.
        return api_error(
            StatusCode::BAD_REQUEST,
            "The request's target is not a path.",
        );
    }
    if method == Method::GET {
        match path {
            cluster::HEALTH_PATH => return "ok".into_response(),
            cluster::READY_PATH if g.nodes.any_up() => return "ready".into_response(),
            cluster::READY_PATH => {
                return (StatusCode::SERVICE_UNAVAILABLE, "no node answers").into_response()
            }
            NODES_PATH => return Json(nodes_view(&g)).into_response(),
            _ => {}
        }
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if let Some(id) = session_of(&req, host, g.port_domain.as_deref()) {
        let api = path.starts_with("/api/");
        return match g.nodes.route(&id) {
            Route::To(a) => match forward(&g.client, req, a).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("session {id}: {}", e.why);
                    g.nodes.failed(a);
                    unavailable(e.request, api).await
                }
            },
            Route::Unavailable => unavailable(Some(req), api).await,
        };
    }
    if method == Method::POST
        && (path == shared::playground::routes::sessions()
            || path == shared::playground::routes::workshops())
    {
        return g.place(req).await;
    }
    // About no session: any node; a plain GET is tried on a second one; a
    // WebSocket goes as it is (its upgrade cannot be buffered).
    if crate::playground::proxy::wants_upgrade(req.headers()).is_some() {
        let Some(a) = g.nodes.any(&[]) else {
            return api_error(StatusCode::SERVICE_UNAVAILABLE, NO_NODE_MESSAGE);
        };
        return match forward(&g.client, req, a).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("{}", e.why);
                g.nodes.failed(a);
                api_error(StatusCode::SERVICE_UNAVAILABLE, NO_NODE_MESSAGE)
            }
        };
    }
    let retry = method == Method::GET || method == Method::HEAD;
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, SMALL_BODY).await {
        Ok(b) => b,
        Err(_) => return api_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let mut tried = vec![];
    while let Some(a) = g.nodes.any(&tried) {
        tried.push(a);
        if let Some(r) = g.send(&parts, &body, a).await {
            return r;
        }
        if !retry {
            break;
        }
    }
    api_error(StatusCode::SERVICE_UNAVAILABLE, NO_NODE_MESSAGE)
}

/// The answer when no node answers at all.
const NO_NODE_MESSAGE: &str = "No playground node answers right now. Please try again in a minute.";

/// The session a request is about, as its node will see it: a host-name
/// port link's, else (outside `/s/`) that of the proxied page it came from
/// (its `Referer`: an app's absolute paths), else the one in its path.
fn session_of(req: &Request, host: &str, port_domain: Option<&str>) -> Option<String> {
    let path = req.uri().path();
    let by_host = port_domain
        .and_then(|d| shared::playground::routes::parse_port_host(host, d))
        .map(|(session, _, _)| session);
    by_host
        .or_else(|| {
            (!path.starts_with("/s/"))
                .then(|| crate::playground::proxy::referer_target(req.headers(), req.uri()))
                .flatten()
                .map(|t| t.session)
        })
        .or_else(|| cluster::routed_id(path))
}

/// `GET /api/gateway/nodes`: the gateway's table.
fn nodes_view(g: &Gateway) -> serde_json::Value {
    let all: Vec<serde_json::Value> = g
        .nodes
        .snapshot()
        .into_iter()
        .map(|n| {
            serde_json::json!({
                "address": n.addr.to_string(),
                "up": n.up,
                "placed_since_report": n.placed,
                "report": n.report,
            })
        })
        .collect();
    serde_json::Value::Array(all)
}

/// An answer of the gateway's own, as Docker's JSON error.
fn api_error(status: StatusCode, message: &str) -> Response {
    crate::ApiError::new(status, message).into_response()
}

/// The answer about a session whose node is gone, in the form the asker
/// reads: a WebSocket accepted and closed with 4410 (a browser reports a
/// refused handshake as 1006 and retries), JSON under `/api/` (`api`), a
/// page elsewhere (a port link). `req`: the request, when it is still whole.
async fn unavailable(req: Option<Request>, api: bool) -> Response {
    if let Some(req) =
        req.filter(|r| crate::playground::proxy::wants_upgrade(r.headers()).is_some())
    {
        if let Ok(ws) = WebSocketUpgrade::from_request(req, &()).await {
            return ws.on_upgrade(|mut socket| async move {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: close_code::GONE,
                        reason: NODE_UNAVAILABLE_MESSAGE.into(),
                    })))
                    .await;
            });
        }
    }
    if api {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, NODE_UNAVAILABLE_MESSAGE);
    }
    crate::playground::proxy::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "This session's node is unavailable",
        NODE_UNAVAILABLE_MESSAGE,
    )
}

/// Run `dockhand gateway` until SIGTERM/SIGINT. Builds its own tokio runtime.
pub fn run(opts: GatewayOptions) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(opts))
}

async fn serve(opts: GatewayOptions) -> std::io::Result<()> {
    let discovery =
        Discovery::new(opts.nodes.clone(), opts.dns_server).map_err(std::io::Error::other)?;
    let tcp = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| std::io::Error::other(format!("listen on {}: {e}", opts.listen)))?;
    let listen = tcp.local_addr()?;
    let g = Gateway::new(opts.port_domain.clone());
    g.refresh(&discovery).await;
    let refresher = {
        let g = g.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(opts.refresh).await;
                g.refresh(&discovery).await;
            }
        })
    };
    let app = axum::Router::new().fallback(handle).with_state(g.clone());
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    use axum::serve::ListenerExt;
    let server = tokio::spawn(crate::listen::serve(
        tcp.tap_io(|s| {
            let _ = s.set_nodelay(true);
        }),
        app,
        |_, addr: &SocketAddr| *addr,
        |addr: &SocketAddr| Some(addr.ip()),
        // Behind an Ingress every client has its address: one client is
        // capped there (deploy/kubernetes/ingress.yaml), not per peer here.
        crate::listen::Limits {
            per_peer: None,
            ..crate::listen::Limits::PLAYGROUND
        },
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));
    tracing::info!(
        "gateway on http://{listen}/ for the nodes at {}:{} ({} answer now)",
        opts.nodes.name,
        opts.nodes.port,
        g.nodes.snapshot().iter().filter(|n| n.up).count()
    );
    crate::playground::server::signal().await;
    tracing::info!("gateway stopping");
    refresher.abort();
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(3), server).await;
    Ok(())
}
