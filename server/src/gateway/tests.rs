//! The gateway over HTTP without root: fake nodes on loopback (their report,
//! session creation and a session's page), the gateway's router in front.

use super::*;
use axum::routing::{get, post};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fake node named `name` with `room` sessions of room: `GET /api/node`,
/// `POST /api/sessions` (ids with its prefix), `GET /api/sessions/{id}`
/// (answers with its name) and `/` (its name).
async fn fake_node(name: &'static str, room: u32) -> SocketAddr {
    let made = Arc::new(AtomicU32::new(0));
    let prefix = cluster::id_prefix(name);
    let report = {
        let (made, prefix) = (made.clone(), prefix.clone());
        move || {
            let sessions = made.load(Ordering::SeqCst);
            Json(NodeReport {
                name: name.into(),
                prefix: prefix.clone(),
                sessions,
                max_sessions: room,
                instances: sessions,
                max_instances: room * 5,
                room: room.saturating_sub(sessions),
                draining: false,
            })
        }
    };
    let create = {
        let made = made.clone();
        move |body: Bytes| async move {
            let n = made.fetch_add(1, Ordering::SeqCst);
            let code = serde_json::from_slice::<CreateSession>(&body)
                .ok()
                .and_then(|c| c.workshop)
                .unwrap_or_default();
            let id = format!("{prefix}{n:010}");
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "id": id, "token": "t", "workshop": code })),
            )
        }
    };
    let app = axum::Router::new()
        .route(cluster::NODE_PATH, get(move || async move { report() }))
        .route("/api/sessions", post(create))
        .route(
            "/api/sessions/{id}",
            get(move |headers: axum::http::HeaderMap| async move {
                let fwd = headers
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                Json(serde_json::json!({ "node": name, "forwarded_for": fwd }))
            }),
        )
        .route(
            "/api/workshops/codes/{code}",
            get(
                move |axum::extract::Path(code): axum::extract::Path<String>| async move {
                    if code == format!("W{name}").replace('-', "") {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::NOT_FOUND
                    }
                },
            ),
        )
        .route(
            "/api/sessions/{id}/echo",
            post(|body: Bytes| async move { body }),
        )
        .fallback(move || async move { format!("page of {name}") });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    addr
}

/// The gateway's router on loopback.
async fn gateway_on(g: Arc<Gateway>) -> SocketAddr {
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(g)
        .into_make_service_with_connect_info::<SocketAddr>();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    addr
}

async fn call(to: SocketAddr, method: &str, path: &str, body: &str) -> (StatusCode, String) {
    let client = forward::client();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{to}{path}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn id_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn sessions_are_placed_by_room_and_routed_by_their_id() {
    let (a, b) = (fake_node("node-a", 4).await, fake_node("node-b", 2).await);
    let g = Gateway::new(None);
    g.nodes.set_addresses(&[a, b]);
    g.poll().await;
    let gw = gateway_on(g.clone()).await;
    assert_eq!(call(gw, "GET", "/readyz", "").await.0, StatusCode::OK);

    // 4 and 2 slots: two on a, then one each, then a full a answers for both.
    let mut ids = vec![];
    for _ in 0..4 {
        let (st, body) = call(gw, "POST", "/api/sessions", "{}").await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        ids.push(id_of(&body));
    }
    let on_a = ids
        .iter()
        .filter(|id| id.starts_with(&cluster::id_prefix("node-a")))
        .count();
    assert_eq!(on_a, 3, "{ids:?}");
    for id in &ids {
        let (st, body) = call(gw, "GET", &format!("/api/sessions/{id}"), "").await;
        assert_eq!(st, StatusCode::OK);
        let want = if id.starts_with(&cluster::id_prefix("node-a")) {
            "node-a"
        } else {
            "node-b"
        };
        assert!(body.contains(want), "{id}: {body}");
        assert!(
            body.contains("127.0.0.1"),
            "the node sees who asked: {body}"
        );
    }
    // About no session: a node's page.
    let (st, page) = call(gw, "GET", "/", "").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.starts_with("page of node-"), "{page}");
    // A workshop's code goes to its node, whatever the room.
    let (st, body) = call(gw, "POST", "/api/sessions", r#"{"workshop":"Wnodeb"}"#).await;
    assert_eq!(st, StatusCode::CREATED);
    assert!(
        id_of(&body).starts_with(&cluster::id_prefix("node-b")),
        "{body}"
    );
    let nodes: serde_json::Value =
        serde_json::from_str(&call(gw, "GET", NODES_PATH, "").await.1).unwrap();
    assert_eq!(nodes.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_session_whose_node_is_gone_is_said_to_be_unavailable() {
    let a = fake_node("node-a", 4).await;
    // An address where nothing listens: a node that died.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let g = Gateway::new(None);
    g.nodes.set_addresses(&[a, dead]);
    g.poll().await;
    let gw = gateway_on(g.clone()).await;
    // Its last report said it was node-b; then it stopped answering.
    g.nodes.reported(
        dead,
        Some(NodeReport {
            name: "node-b".into(),
            prefix: cluster::id_prefix("node-b"),
            sessions: 1,
            max_sessions: 9,
            instances: 1,
            max_instances: 9,
            room: 8,
            draining: false,
        }),
    );
    let id = format!("{}0000000001", cluster::id_prefix("node-b"));
    let (st, body) = call(gw, "GET", &format!("/api/sessions/{id}"), "").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains(NODE_UNAVAILABLE_MESSAGE), "{body}");
    let (st, page) = call(gw, "GET", &format!("/s/{id}/node1/80/"), "").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.contains("<h1") && page.contains("node is unavailable"),
        "{page}"
    );
    // The failed request marked it down: new sessions go to node-a only.
    for _ in 0..3 {
        let (st, body) = call(gw, "POST", "/api/sessions", "{}").await;
        assert_eq!(st, StatusCode::CREATED);
        assert!(id_of(&body).starts_with(&cluster::id_prefix("node-a")));
    }
    // An id no node has.
    let (st, _) = call(gw, "GET", "/api/sessions/zzzz0000000001", "").await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    // No node at all: not ready, and sessions cannot be made.
    let lonely = Gateway::new(None);
    let gw2 = gateway_on(lonely).await;
    assert_eq!(
        call(gw2, "GET", "/readyz", "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(gw2, "POST", "/api/sessions", "{}").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(call(gw2, "GET", "/healthz", "").await.0, StatusCode::OK);
}

/// A DNS server on loopback that answers every A query with `ips` as they are
/// then, as a headless Service's name is answered.
async fn fake_dns(ips: Arc<std::sync::Mutex<Vec<std::net::Ipv4Addr>>>) -> SocketAddr {
    use hickory_resolver::proto::op::{Message, OpCode};
    use hickory_resolver::proto::rr::{rdata::A, RData, Record, RecordType};
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, OpCode::Query);
            for query in &q.queries {
                r.add_query(query.clone());
                if query.query_type() == RecordType::A {
                    let now = ips.lock().unwrap().clone();
                    for ip in &now {
                        r.add_answer(Record::from_rdata(
                            query.name().clone(),
                            30,
                            RData::A(A(*ip)),
                        ));
                    }
                }
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), from).await;
        }
    });
    addr
}

#[tokio::test]
async fn nodes_are_every_address_of_the_name_each_time_it_is_asked() {
    let ips = Arc::new(std::sync::Mutex::new(vec![
        std::net::Ipv4Addr::new(10, 9, 0, 3),
        std::net::Ipv4Addr::new(10, 9, 0, 2),
    ]));
    let dns = fake_dns(ips.clone()).await;
    let source: NodeSource = "dns:dockhand-node.dockhand.svc.cluster.local:8080"
        .parse()
        .unwrap();
    let d = Discovery::new(source, Some(dns)).unwrap();
    let addrs =
        |list: &[&str]| -> Vec<SocketAddr> { list.iter().map(|a| a.parse().unwrap()).collect() };
    assert_eq!(
        d.addresses().await.unwrap(),
        addrs(&["10.9.0.2:8080", "10.9.0.3:8080"])
    );
    // A node leaves the records: the next look-up (no cache) has it gone.
    ips.lock().unwrap().remove(0);
    assert_eq!(d.addresses().await.unwrap(), addrs(&["10.9.0.2:8080"]));
    ips.lock().unwrap().clear();
    assert_eq!(d.addresses().await.unwrap(), addrs(&[]));
}

/// One raw request to `to` (for what a client library will not send): the
/// answer's status line.
async fn raw(to: SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(to).await.unwrap();
    c.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), c.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// What a client sends never takes a node out: a target that is no path,
/// a body that breaks off.
#[tokio::test]
async fn a_clients_bad_request_leaves_its_node_up() {
    let a = fake_node("node-a", 4).await;
    let g = Gateway::new(None);
    g.nodes.set_addresses(&[a]);
    g.poll().await;
    let gw = gateway_on(g.clone()).await;
    let status = raw(gw, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(status.contains(" 400 "), "{status}");
    let id = format!("{}0000000001", cluster::id_prefix("node-a"));
    let broken = format!(
        "POST /api/sessions/{id}/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
    );
    let status = raw(gw, &broken).await;
    assert!(
        status.contains(" 502 ") || status.contains(" 400 "),
        "{status}"
    );
    assert!(
        g.nodes.snapshot()[0].up,
        "a client's broken body took the node out"
    );
    let (st, body) = call(gw, "POST", &format!("/api/sessions/{id}/echo"), "intact").await;
    assert_eq!((st, body.as_str()), (StatusCode::OK, "intact"));
}

#[tokio::test]
async fn a_server_without_a_node_name_gets_no_sessions() {
    let nodes = Nodes::default();
    let a = SocketAddr::from(([127, 0, 0, 1], 1));
    nodes.set_addresses(&[a]);
    nodes.reported(
        a,
        Some(NodeReport {
            name: String::new(),
            prefix: String::new(),
            sessions: 0,
            max_sessions: 9,
            instances: 0,
            max_instances: 9,
            room: 9,
            draining: false,
        }),
    );
    assert_eq!(nodes.place(&[]), None);
    assert_eq!(nodes.any(&[]), Some(a), "it still serves the UI");
}

#[tokio::test]
async fn an_empty_dns_answer_keeps_the_known_nodes() {
    let a = fake_node("node-a", 4).await;
    let ips = Arc::new(std::sync::Mutex::new(vec![std::net::Ipv4Addr::LOCALHOST]));
    let dns = fake_dns(ips.clone()).await;
    let source: NodeSource = format!("dns:nodes.test:{}", a.port()).parse().unwrap();
    let d = Discovery::new(source, Some(dns)).unwrap();
    let g = Gateway::new(None);
    g.refresh(&d).await;
    assert!(g.nodes.any_up());
    ips.lock().unwrap().clear();
    g.refresh(&d).await;
    assert_eq!(g.nodes.addresses(), vec![a]);
    assert!(g.nodes.any_up(), "still polled and up");
}

#[test]
fn a_requests_session_is_read_from_its_host_then_referer_then_path() {
    let req = |path: &str, referer: Option<&str>| {
        let mut b = Request::builder().uri(path);
        if let Some(r) = referer {
            b = b.header(axum::http::header::REFERER, r);
        }
        b.body(Body::empty()).unwrap()
    };
    let d = Some("play.example.org");
    // A host-name port link: its host names the session, whatever the path.
    assert_eq!(
        session_of(
            &req("/api/sessions/ab12y", None),
            "node1-8080-ab12x.play.example.org",
            d
        ),
        Some("ab12x".into())
    );
    // An absolute path fetched by a proxied page belongs to that page's session.
    assert_eq!(
        session_of(
            &req(
                "/app.css",
                Some("http://play.example.org/s/ab12z/node1/80/")
            ),
            "play.example.org",
            d
        ),
        Some("ab12z".into())
    );
    // The proxy's own paths and the API name their session.
    assert_eq!(
        session_of(
            &req(
                "/s/ab12x/node1/80/",
                Some("http://play.example.org/s/ab12z/node1/80/")
            ),
            "play.example.org",
            d
        ),
        Some("ab12x".into())
    );
    assert_eq!(
        session_of(&req("/api/sessions/ab12x/ws", None), "play.example.org", d),
        Some("ab12x".into())
    );
    // The page, the config and new sessions are about none.
    for path in ["/", "/api/config", "/api/sessions"] {
        assert_eq!(
            session_of(&req(path, None), "play.example.org", d),
            None,
            "{path}"
        );
    }
    // Without --port-domain a host is only a host.
    assert_eq!(
        session_of(&req("/", None), "node1-8080-ab12x.play.example.org", None),
        None
    );
}
