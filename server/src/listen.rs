//! Serving HTTP with limits. `axum::serve` has none: a client that opens
//! connections and sends its headers a byte a minute (slowloris) holds a file
//! descriptor of the daemon each, for ever; from inside a virtual host a
//! trainee can open thousands and starve every other tenant. Here each
//! listener has a cap on its open connections (a connection over it waits in
//! the listen backlog, so only the one who holds them waits), an optional cap
//! per peer address (the playground's TCP port), and hyper's header read
//! timeout: a request head must arrive whole within it, also on an idle
//! keep-alive connection. Oversized heads are refused by hyper (431); bodies
//! by each handler's own limit (413).

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::Request;
use axum::response::Response;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use shared::sync::Locked;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tower::Service;
use tower::ServiceExt;

/// What one listener allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open connections at once.
    pub connections: usize,
    /// Open connections of one peer address at once (TCP listeners); a
    /// connection over it is closed at once.
    pub per_peer: Option<usize>,
    /// Time for a request head to arrive whole.
    pub header_timeout: Duration,
}

impl Limits {
    /// The machine's API socket (root's): its clients are scripts and SDKs.
    pub const MACHINE: Limits = Limits {
        connections: 4096,
        per_peer: None,
        header_timeout: Duration::from_secs(30),
    };
    /// A virtual host's API socket: one trainee's docker CLI and compose.
    pub const VIRTUAL_HOST: Limits = Limits {
        connections: 128,
        per_peer: None,
        header_timeout: Duration::from_secs(30),
    };
    /// The playground's web port: browsers, a classroom often behind one
    /// address (a few connections per trainee: page, feeds, terminals).
    pub const PLAYGROUND: Limits = Limits {
        connections: 16384,
        per_peer: Some(2048),
        header_timeout: Duration::from_secs(30),
    };
}

/// Peer addresses and their open connections.
type Peers = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One open connection of a peer, counted until dropped.
struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl PeerSlot {
    fn take(peers: &Peers, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut m = peers.locked();
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            peers: peers.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut m = self.peers.locked();
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serve `service` on `listener` within `limits` until `shutdown` resolves,
/// then finish the open connections gracefully (as `axum::serve` does).
/// Requests carry `ConnectInfo(info(io, addr))`; `peer` names a connection's
/// address for the per-peer cap.
pub async fn serve<L, I, S>(
    mut listener: L,
    service: S,
    info: impl Fn(&L::Io, &L::Addr) -> I,
    peer: impl Fn(&L::Addr) -> Option<IpAddr>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    L: Listener,
    I: Clone + Send + Sync + 'static,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    let slots = Arc::new(Semaphore::new(limits.connections.max(1)));
    let peers: Peers = Arc::default();
    // Told to stop; its receivers, one per open connection, tell when all
    // have ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (io, addr) = tokio::select! {
            c = listener.accept() => c,
            _ = &mut shutdown => break,
        };
        let peer_slot = match (limits.per_peer, peer(&addr)) {
            (Some(max), Some(ip)) => match PeerSlot::take(&peers, ip, max) {
                Some(s) => Some(s),
                None => {
                    tracing::debug!(%ip, "connection over the per-address limit closed");
                    continue;
                }
            },
            _ => None,
        };
        let ci = info(&io, &addr);
        let svc = service
            .clone()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(ci.clone()));
                req.map(Body::new)
            });
        let svc = TowerToHyperService::new(svc);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(io), svc)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::trace!("connection ended: {e}");
                        }
                        break;
                    }
                    _ = stop.wait_for(|s| *s), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop((slot, peer_slot, stop));
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(stop_rx);
    stop_tx.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    /// A head that never ends (slowloris).
    const PARTIAL: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";

    fn app() -> axum::Router {
        axum::Router::new().route("/", get(|| async { "ok" }))
    }

    /// Read until the peer closes (bounded), as text.
    async fn read_all(s: &mut (impl AsyncReadExt + Unpin)) -> String {
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn slow_heads_time_out_and_the_cap_queues_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let limits = Limits {
            connections: 2,
            per_peer: None,
            header_timeout: Duration::from_millis(300),
        };
        tokio::spawn(serve(
            listener,
            app(),
            |_, _| (),
            |_| None,
            limits,
            std::future::pending(),
        ));
        let mut slow = vec![];
        for _ in 0..2 {
            let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
            s.write_all(PARTIAL).await.unwrap();
            slow.push(s);
        }
        // Over the cap: accepted only when a slot frees.
        let mut third = tokio::net::UnixStream::connect(&path).await.unwrap();
        third.write_all(REQUEST).await.unwrap();
        let mut b = [0u8; 1];
        assert!(
            tokio::time::timeout(Duration::from_millis(100), third.read(&mut b))
                .await
                .is_err(),
            "served beyond the cap"
        );
        // The slow ones are closed at the header timeout, unanswered or with
        // hyper's 408; then the third is served.
        for s in &mut slow {
            let text = read_all(s).await;
            assert!(
                text.is_empty() || text.starts_with("HTTP/1.1 408"),
                "{text}"
            );
        }
        let text = read_all(&mut third).await;
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("ok"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn one_address_over_its_share_is_closed_and_others_are_served() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits {
            connections: 64,
            per_peer: Some(2),
            header_timeout: Duration::from_secs(30),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            app(),
            |_, a: &std::net::SocketAddr| *a,
            |a: &std::net::SocketAddr| Some(a.ip()),
            limits,
            async {
                let _ = stopped.await;
            },
        ));
        let mut held = vec![];
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(PARTIAL).await.unwrap();
            held.push(s);
        }
        // Let the server count both before the third arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut over = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = over.write_all(REQUEST).await;
        assert_eq!(
            read_all(&mut over).await,
            "",
            "the third of one address is served"
        );
        // Once one of its connections closes, the address is served again.
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = tokio::net::TcpStream::connect(addr).await.unwrap();
        again.write_all(REQUEST).await.unwrap();
        assert!(read_all(&mut again).await.ends_with("ok"));
        // Shutdown: the listener stops, open connections end, serve returns.
        drop(held);
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}
