//! The playground's HTTP surface (`shared::playground` documents every route):
//! REST under `/api`, the session and terminal WebSockets, the port proxy under
//! `/s/`, and the UI bundle everywhere else.
//!
//! REST calls carry the session token in `X-Dockhand-Token`; WebSockets in the
//! `token` query. A socket that may not connect is still accepted and then closed
//! with 4401 (token), 4404 (no such session, instance or tab) or 4410 (the session
//! ended), because a browser reports every refused handshake as 1006 and would
//! retry forever. Every authorized answer also sets the cookie that lets the
//! browser's port links through the proxy.

use super::proxy;
use super::session::{close_code_for, Playground, Session};
use crate::ApiError;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use shared::playground::{cluster, routes};
use shared::playground::{
    CloseReason, CreateSession, PlaygroundConfig, TabId, TerminalCreated, TOKEN_HEADER, TOKEN_QUERY,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The state of the playground's handlers.
#[derive(Clone)]
pub struct PgState {
    pub pg: Arc<Playground>,
    pub ui: Option<Arc<PathBuf>>,
}

use crate::error::ApiResult;

pub fn router(pg: Arc<Playground>) -> Router {
    let ui = pg.opts.ui_dir.clone().map(Arc::new);
    let st = PgState { pg, ui };
    super::upload_api::routes(super::workshop_api::routes(super::lesson_api::routes(
        Router::new(),
    )))
    .route("/api/config", get(config))
    .route(cluster::NODE_PATH, get(node_report))
    .route(cluster::HEALTH_PATH, get(|| async { "ok" }))
    .route(cluster::READY_PATH, get(ready))
    .route("/api/sessions", post(create_session))
    .route(
        "/api/sessions/{id}",
        get(get_session).delete(delete_session),
    )
    .route("/api/sessions/{id}/ws", get(session_ws))
    .route("/api/sessions/{id}/instances", post(add_instance))
    .route(
        "/api/sessions/{id}/instances/{name}",
        delete(remove_instance),
    )
    .route(
        "/api/sessions/{id}/instances/{name}/terminals",
        post(open_tab),
    )
    .route(
        "/api/sessions/{id}/instances/{name}/terminals/{tab}",
        get(terminal_ws).delete(close_tab),
    )
    .route("/api/{*rest}", any(api_not_found))
    .route("/s/{*rest}", any(proxy_route))
    .fallback(ui_route)
    .layer(axum::middleware::from_fn_with_state(
        st.clone(),
        from_proxied_pages,
    ))
    .layer(axum::middleware::from_fn_with_state(
        st.clone(),
        by_host_name,
    ))
    .with_state(st)
}

/// `GET /api/node`: this node's name, id prefix and room, for a gateway.
async fn node_report(State(st): State<PgState>) -> Json<cluster::NodeReport> {
    Json(st.pg.node_report())
}

/// Readiness: 200 while new sessions are taken (a full node is still ready:
/// it frees up as sessions end), 503 while draining.
async fn ready(State(st): State<PgState>) -> (StatusCode, &'static str) {
    if st.pg.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else {
        (StatusCode::OK, "ready")
    }
}

/// With `--port-domain`: a request for `NODE-PORT-SESSION.<domain>` is that
/// port's, whatever its path (host-name mode); anything else goes on.
async fn by_host_name(State(st): State<PgState>, req: Request, next: Next) -> Response {
    let Some(domain) = st.pg.opts.port_domain.as_deref() else {
        return next.run(req).await;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or_default();
    let Some((session, node, port)) = routes::parse_port_host(host, domain) else {
        return next.run(req).await;
    };
    let label = routes::port_host_label(&session, &node, port);
    let query_key = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == routes::PORT_KEY_QUERY)
            .map(|(_, v)| v.to_string())
    });
    let key = query_key
        .clone()
        .or_else(|| proxy::read_cookie(req.headers(), proxy::PORT_COOKIE));
    let s = match st.pg.authorize_port(&session, &label, key.as_deref()) {
        Ok(s) => s,
        Err(e) => return refused(e, "its port links carry the key"),
    };
    if query_key.is_some() {
        // The first visit: the key becomes a cookie of this host alone, and
        // the address loses it.
        let max_age = s.expires_at.saturating_sub(super::session::now());
        let to = proxy::without_port_key(req.uri().path(), req.uri().query());
        let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
        if let Ok(v) =
            HeaderValue::from_str(&proxy::port_cookie(key.as_deref().unwrap_or(""), max_age))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        return resp;
    }
    let rest = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let t = proxy::Target {
        session,
        node,
        port,
        rest,
        bare: false,
        by_host: true,
    };
    forward_to_instance(&s, &t, req).await
}

/// An authorization failure of a port request, as the page a browser shows.
/// `how` says where the right links are.
fn refused(e: ApiError, how: &str) -> Response {
    if e.status == StatusCode::UNAUTHORIZED {
        return proxy::error_page(
            StatusCode::UNAUTHORIZED,
            "This port belongs to another session",
            &format!("Open it from the playground page of its session ({how})."),
        );
    }
    proxy::error_page(e.status, "This session is not available", &e.message)
}

/// Send an authorized port request to its instance; the request counts as
/// the session's activity.
async fn forward_to_instance(s: &Session, t: &proxy::Target, req: Request) -> Response {
    let Some(inst) = s.instance(&t.node).filter(|i| !i.ip.is_empty()) else {
        return proxy::error_page(
            StatusCode::NOT_FOUND,
            &format!("This session has no instance {}", t.node),
            "It may have been removed.",
        );
    };
    s.touch();
    let addr = format!("{}:{}", inst.ip, t.port);
    proxy::forward(req, t, &addr).await
}

pub(super) fn token_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok())
}

/// The session of an authorized REST call; the call counts as activity.
pub(super) fn authed(st: &PgState, id: &str, headers: &HeaderMap) -> ApiResult<Arc<Session>> {
    let s = st.pg.authorize(id, token_of(headers))?;
    s.touch();
    Ok(s)
}

/// `resp` with the cookie that opens the session's port links.
fn with_cookie(mut resp: Response, s: &Session) -> Response {
    let max_age = s.expires_at.saturating_sub(super::session::now());
    if let Ok(v) = HeaderValue::from_str(&proxy::token_cookie(&s.id, s.token(), max_age)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn config(State(st): State<PgState>) -> Json<PlaygroundConfig> {
    let o = &st.pg.opts;
    Json(PlaygroundConfig {
        title: o.title.clone(),
        access_code_required: o.access_code.is_some(),
        max_instances: o.max_instances,
        max_terminals_per_instance: o.max_terminals,
        session_ttl_secs: o.session_ttl,
        idle_timeout_secs: o.idle_timeout,
        upload_limit_bytes: o.upload_limit,
        accepting_sessions: st.pg.accepting(),
        port_domain: o.port_domain.clone(),
        workshops: o.trainer_code.is_some(),
    })
}

async fn create_session(State(st): State<PgState>, body: Bytes) -> ApiResult<Response> {
    let req: CreateSession = if body.iter().all(u8::is_ascii_whitespace) {
        CreateSession::default()
    } else {
        crate::error::json_body(&body)?
    };
    let created = st.pg.create_session_in(
        req.access_code.as_deref(),
        req.workshop.as_deref(),
        req.name.as_deref(),
    )?;
    let s = st.pg.authorize(&created.id, Some(&created.token))?;
    Ok(with_cookie(
        (StatusCode::CREATED, Json(created)).into_response(),
        &s,
    ))
}

async fn get_session(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = authed(&st, &id, &headers)?;
    Ok(with_cookie(
        Json(s.info(st.pg.opts.max_instances)).into_response(),
        &s,
    ))
}

async fn delete_session(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    authed(&st, &id, &headers)?;
    st.pg.close_session(&id, CloseReason::Deleted).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_instance(
    State(st): State<PgState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = authed(&st, &id, &headers)?;
    let info = st.pg.add_instance(&s).await?;
    Ok(with_cookie(
        (StatusCode::CREATED, Json(info)).into_response(),
        &s,
    ))
}

async fn remove_instance(
    State(st): State<PgState>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let s = authed(&st, &id, &headers)?;
    st.pg.remove_instance(&s, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn open_tab(
    State(st): State<PgState>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let s = authed(&st, &id, &headers)?;
    let tab = st.pg.open_tab(&s, &name).await?;
    Ok((StatusCode::CREATED, Json(TerminalCreated { tab })).into_response())
}

async fn close_tab(
    State(st): State<PgState>,
    Path((id, name, tab)): Path<(String, String, TabId)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let s = authed(&st, &id, &headers)?;
    st.pg.close_tab(&s, &name, tab).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn close_with(mut socket: WebSocket, code: u16) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: "".into(),
        })))
        .await;
}

async fn session_ws(
    State(st): State<PgState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let auth = st.pg.authorize(&id, q.get(TOKEN_QUERY).map(String::as_str));
    let pg = st.pg.clone();
    ws.on_upgrade(move |socket| async move {
        match auth {
            Err(e) => close_with(socket, close_code_for(&e)).await,
            Ok(s) => {
                let (tx, rx) = socket.split();
                super::feed::serve_feed(pg, s, tx, rx).await;
            }
        }
    })
}

async fn terminal_ws(
    State(st): State<PgState>,
    Path((id, name, tab)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let target = st
        .pg
        .authorize(&id, q.get(TOKEN_QUERY).map(String::as_str))
        .and_then(|s| Ok((terminal_of(&s, &name, &tab)?, s)));
    match target {
        Ok((term, s)) => terminal_socket(ws, Ok(term), &q, move || s.touch(), false),
        Err(e) => terminal_socket(ws, Err(e), &q, || {}, false),
    }
}

/// Tab `tab` of instance `name` of `s`; 404 when there is none.
pub(super) fn terminal_of(
    s: &Session,
    name: &str,
    tab: &str,
) -> ApiResult<Arc<super::terminal::Terminal>> {
    tab.parse::<TabId>()
        .ok()
        .and_then(|t| s.instance(name)?.terminal(t))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such terminal"))
}

/// A terminal's socket from the `offset` in `q`: typed input goes to the
/// shell (`touch` notes it) unless `read_only`; a refused `target` is
/// accepted and closed with its code.
pub(super) fn terminal_socket(
    ws: WebSocketUpgrade,
    target: ApiResult<Arc<super::terminal::Terminal>>,
    q: &HashMap<String, String>,
    touch: impl Fn() + Send + 'static,
    read_only: bool,
) -> Response {
    let offset = q
        .get(shared::playground::OFFSET_QUERY)
        .and_then(|o| o.parse::<u64>().ok())
        .unwrap_or(0);
    ws.on_upgrade(move |socket| async move {
        match target {
            Err(e) => close_with(socket, close_code_for(&e)).await,
            Ok(term) => {
                let (tx, rx) = socket.split();
                super::terminal::serve_socket(term, offset, tx, rx, touch, read_only).await;
            }
        }
    })
}

async fn api_not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("page not found: {} {}", req.method(), req.uri().path()),
    )
}

async fn ui_route(State(st): State<PgState>, req: Request) -> Response {
    super::ui::serve(
        st.ui.as_deref().map(|p| p.as_path()),
        req.method(),
        req.uri().path(),
    )
    .await
}

async fn proxy_route(State(st): State<PgState>, req: Request) -> Response {
    match proxy::parse_target(req.uri().path(), req.uri().query()) {
        Some(t) => proxy_to(&st, t, req).await,
        None => proxy::error_page(
            StatusCode::NOT_FOUND,
            "No such port link",
            "Port links look like /s/SESSION/NODE/PORT/.",
        ),
    }
}

/// Authorize a proxy request by the session's cookie (or token header) and send it on.
async fn proxy_to(st: &PgState, t: proxy::Target, req: Request) -> Response {
    if t.bare {
        let to = match req.uri().query() {
            Some(q) => format!("{}/?{q}", t.prefix()),
            None => format!("{}/", t.prefix()),
        };
        return (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response();
    }
    let token = proxy::read_cookie(req.headers(), &proxy::cookie_name(&t.session))
        .or_else(|| token_of(req.headers()).map(String::from));
    let s = match st.pg.authorize(&t.session, token.as_deref()) {
        Ok(s) => s,
        Err(e) => return refused(e, "the port links there carry the session's key"),
    };
    forward_to_instance(&s, &t, req).await
}

/// Requests for absolute paths made from a proxied page go to that page's app.
async fn from_proxied_pages(State(st): State<PgState>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/s/") {
        if let Some(t) = proxy::referer_target(req.headers(), req.uri()) {
            let navigate = req
                .headers()
                .get("sec-fetch-mode")
                .is_some_and(|v| v == "navigate");
            if navigate && req.method() == Method::GET {
                let to = format!("{}{}", t.prefix(), t.rest);
                return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response();
            }
            return proxy_to(&st, t, req).await;
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playground::config::PlaygroundOptions;
    use axum::body::Body;
    use tower::ServiceExt;

    fn app(f: impl FnOnce(&mut PlaygroundOptions)) -> (Arc<Playground>, Router) {
        let mut o = PlaygroundOptions::default();
        f(&mut o);
        let pg = Playground::new(o, None);
        (pg.clone(), router(pg))
    }

    async fn call(
        app: &Router,
        req: axum::http::Request<Body>,
    ) -> (StatusCode, HeaderMap, serde_json::Value) {
        let r = app.clone().oneshot(req).await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        (status, headers, v)
    }

    fn req(method: &str, uri: &str, token: Option<&str>, body: &str) -> axum::http::Request<Body> {
        let mut b = axum::http::Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            b = b.header(TOKEN_HEADER, t);
        }
        b.body(Body::from(body.to_string())).unwrap()
    }

    #[tokio::test]
    async fn config_says_whether_sessions_are_accepted() {
        let (_pg, app) = app(|o| {
            o.max_sessions = 1;
            o.access_code = Some("c".into());
        });
        let (s, _, v) = call(&app, req("GET", "/api/config", None, "")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["accepting_sessions"], true);
        assert_eq!(v["access_code_required"], true);
        assert_eq!(v["max_instances"], 5);
        let (s, _, v) = call(&app, req("POST", "/api/sessions", None, "{}")).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(v["message"], shared::playground::WRONG_CODE_MESSAGE);
        let (s, h, _) = call(
            &app,
            req("POST", "/api/sessions", None, r#"{"access_code":"c"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
        assert!(h
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .contains("HttpOnly"));
        let (_, _, v) = call(&app, req("GET", "/api/config", None, "")).await;
        assert_eq!(v["accepting_sessions"], false);
        let (s, _, v) = call(
            &app,
            req("POST", "/api/sessions", None, r#"{"access_code":"c"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(v["message"], shared::playground::FULL_MESSAGE);
    }

    #[tokio::test]
    async fn a_node_reports_its_room_names_its_ids_and_drains() {
        let (pg, app) = app(|o| {
            o.max_sessions = 3;
            o.node_name = Some("worker-7".into());
            o.trainer_code = Some("t".into());
        });
        let prefix = cluster::id_prefix("worker-7");
        let (s, _, v) = call(&app, req("GET", cluster::NODE_PATH, None, "")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            (v["name"].as_str(), v["prefix"].as_str()),
            (Some("worker-7"), Some(prefix.as_str()))
        );
        assert_eq!(
            (v["sessions"].as_u64(), v["room"].as_u64()),
            (Some(0), Some(3))
        );
        let (_, _, created) = call(&app, req("POST", "/api/sessions", None, "{}")).await;
        let id = created["id"].as_str().unwrap();
        assert!(
            id.starts_with(&prefix) && id.len() == prefix.len() + 10,
            "{id}"
        );
        let (_, _, w) = call(
            &app,
            req("POST", "/api/workshops", None, r#"{"trainer_code":"t"}"#),
        )
        .await;
        assert!(w["id"].as_str().unwrap().starts_with(&prefix), "{w}");
        let code = w["join_code"].as_str().unwrap();
        let path = cluster::workshop_code(code);
        assert_eq!(
            call(&app, req("GET", &path, None, "")).await.0,
            StatusCode::NO_CONTENT
        );
        let other = cluster::workshop_code("ZZZZZZ");
        assert_eq!(
            call(&app, req("GET", &other, None, "")).await.0,
            StatusCode::NOT_FOUND
        );
        let (_, _, v) = call(&app, req("GET", cluster::NODE_PATH, None, "")).await;
        assert_eq!(
            (v["sessions"].as_u64(), v["room"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(
            call(&app, req("GET", cluster::READY_PATH, None, ""))
                .await
                .0,
            StatusCode::OK
        );

        pg.drain();
        assert_eq!(
            call(&app, req("GET", cluster::READY_PATH, None, ""))
                .await
                .0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            call(&app, req("GET", cluster::HEALTH_PATH, None, ""))
                .await
                .0,
            StatusCode::OK
        );
        let (s, _, v) = call(&app, req("POST", "/api/sessions", None, "{}")).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(v["message"], shared::playground::DRAINING_MESSAGE);
        let (s, _, _) = call(
            &app,
            req("POST", "/api/workshops", None, r#"{"trainer_code":"t"}"#),
        )
        .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        let (_, _, v) = call(&app, req("GET", cluster::NODE_PATH, None, "")).await;
        assert_eq!(
            (v["draining"].as_bool(), v["room"].as_u64()),
            (Some(true), Some(0))
        );
        let (_, _, v) = call(&app, req("GET", "/api/config", None, "")).await;
        assert_eq!(v["accepting_sessions"], false);
        // The open session goes on.
        let token = created["token"].as_str().unwrap();
        let (s, _, _) = call(
            &app,
            req("GET", &format!("/api/sessions/{id}"), Some(token), ""),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_lone_server_keeps_plain_ids() {
        let (_pg, app) = app(|_| {});
        let (_, _, created) = call(&app, req("POST", "/api/sessions", None, "{}")).await;
        assert_eq!(created["id"].as_str().unwrap().len(), 10);
        let (_, _, v) = call(&app, req("GET", cluster::NODE_PATH, None, "")).await;
        assert_eq!(
            (v["name"].as_str(), v["prefix"].as_str()),
            (Some(""), Some(""))
        );
    }

    #[tokio::test]
    async fn rest_calls_need_the_sessions_token() {
        let (_pg, app) = app(|_| {});
        let (_, _, created) = call(&app, req("POST", "/api/sessions", None, "")).await;
        let (id, token) = (
            created["id"].as_str().unwrap().to_string(),
            created["token"].as_str().unwrap().to_string(),
        );
        let path = format!("/api/sessions/{id}");
        let (s, _, v) = call(&app, req("GET", &path, Some(&token), "")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["id"], id.as_str());
        assert!(v["server_time"].as_u64().unwrap() >= v["created"].as_u64().unwrap());
        assert_eq!(
            call(&app, req("GET", &path, None, "")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&app, req("GET", &path, Some("x"), "")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(
                &app,
                req(
                    "DELETE",
                    &format!("{path}/instances/node1"),
                    Some(&token),
                    ""
                )
            )
            .await
            .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(
                &app,
                req(
                    "POST",
                    &format!("{path}/instances/node1/terminals"),
                    Some(&token),
                    ""
                )
            )
            .await
            .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, req("DELETE", &path, Some(&token), "")).await.0,
            StatusCode::NO_CONTENT
        );
        let (s, _, v) = call(&app, req("GET", &path, Some(&token), "")).await;
        assert_eq!(s, StatusCode::GONE);
        assert_eq!(v["message"], CloseReason::Deleted.message());
        assert_eq!(
            call(&app, req("GET", "/api/sessions/nosuch", Some(&token), ""))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, req("GET", "/api/nothing", None, "")).await.0,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn uploads_over_the_limit_are_refused_with_413() {
        let (_pg, app) = app(|o| o.upload_limit = 4);
        let (_, _, created) = call(&app, req("POST", "/api/sessions", None, "")).await;
        let (id, token) = (
            created["id"].as_str().unwrap(),
            created["token"].as_str().unwrap(),
        );
        let uri = format!("/api/sessions/{id}/instances/node1/upload?terminal=1&name=f&tar=0");
        let mut big = req("POST", &uri, Some(token), "12345");
        big.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        let (s, _, v) = call(&app, big).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(v["message"].as_str().unwrap().contains("4 bytes"));
        let bad = format!("/api/sessions/{id}/instances/node1/upload?terminal=1&name=..&tar=0");
        assert_eq!(
            call(&app, req("POST", &bad, Some(token), "1")).await.0,
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn the_proxy_wants_the_sessions_cookie_and_adds_the_slash() {
        let (_pg, app) = app(|_| {});
        let (_, h, created) = call(&app, req("POST", "/api/sessions", None, "")).await;
        let id = created["id"].as_str().unwrap();
        let (s, h2, _) = call(&app, req("GET", &format!("/s/{id}/node1/8080"), None, "")).await;
        assert_eq!(s, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(h2[header::LOCATION], format!("/s/{id}/node1/8080/"));
        let (s, _, _) = call(&app, req("GET", &format!("/s/{id}/node1/8080/"), None, "")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let cookie = h[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let with_cookie = axum::http::Request::get(format!("/s/{id}/node1/8080/"))
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap();
        // Authorized, but the session has no node1.
        assert_eq!(call(&app, with_cookie).await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn host_names_open_a_port_with_its_key_only() {
        let (_pg, app) = app(|o| o.port_domain = Some("localhost".into()));
        let (_, _, v) = call(&app, req("GET", "/api/config", None, "")).await;
        assert_eq!(v["port_domain"], "localhost");
        let (_, _, created) = call(&app, req("POST", "/api/sessions", None, "")).await;
        let (id, token) = (
            created["id"].as_str().unwrap(),
            created["token"].as_str().unwrap(),
        );
        let (_, _, other) = call(&app, req("POST", "/api/sessions", None, "")).await;
        let label = routes::port_host_label(id, "node1", 8080);
        let host = format!("{label}.localhost:8080");
        let get = |path: &str, cookie: Option<&str>| {
            let mut b = axum::http::Request::get(path).header(header::HOST, host.as_str());
            if let Some(c) = cookie {
                b = b.header(header::COOKIE, c);
            }
            b.body(Body::empty()).unwrap()
        };
        // No key, a wrong key, another session's key, the session's token itself.
        let other_key = routes::port_key(other["token"].as_str().unwrap(), &label);
        for path in [
            "/".to_string(),
            "/api/x".to_string(),
            format!("/?dh_port_key={other_key}"),
            format!("/?dh_port_key={token}"),
        ] {
            assert_eq!(
                call(&app, get(&path, None)).await.0,
                StatusCode::UNAUTHORIZED,
                "{path}"
            );
        }
        // The right key becomes this host's cookie; the address loses it.
        let key = routes::port_key(token, &label);
        let (s, h, _) = call(&app, get(&format!("/app?x=1&dh_port_key={key}"), None)).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert_eq!(h[header::LOCATION], "/app?x=1");
        let set = h[header::SET_COOKIE].to_str().unwrap();
        assert!(set.starts_with(&format!("dh_port={key}; Path=/;")), "{set}");
        assert!(set.contains("HttpOnly"), "{set}");
        // With it, any path is the app's (here: the session has no node1 yet).
        let cookie = format!("dh_port={key}");
        assert_eq!(
            call(&app, get("/api/config", Some(&cookie))).await.0,
            StatusCode::NOT_FOUND
        );
        // The key opens that port only.
        let (s, _, _) = call(
            &app,
            axum::http::Request::get("/")
                .header(header::HOST, format!("node1-8081-{id}.localhost"))
                .header(header::COOKIE, cookie.as_str())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // Other host names are the playground's own.
        let (s, _, v) = call(
            &app,
            axum::http::Request::get("/api/config")
                .header(header::HOST, "localhost:8080")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, v["port_domain"].as_str()),
            (StatusCode::OK, Some("localhost"))
        );
    }

    #[tokio::test]
    async fn the_ui_is_served_with_index_html_as_fallback() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("index.html"), "<!doctype html>ui").unwrap();
        std::fs::write(d.path().join("boot.js"), "boot()").unwrap();
        let dir = d.path().to_path_buf();
        let (_pg, app) = app(move |o| o.ui_dir = Some(dir));
        let r = app
            .clone()
            .oneshot(req("GET", "/boot.js", None, ""))
            .await
            .unwrap();
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let r = app
            .clone()
            .oneshot(req("GET", "/some/page", None, ""))
            .await
            .unwrap();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert_eq!(&body[..], b"<!doctype html>ui");
    }
}
