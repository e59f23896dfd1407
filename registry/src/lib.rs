//! The registry server (`dockhand registry`): the OCI distribution-spec v1.1
//! and the Docker Registry HTTP API v2, stored on a directory in
//! distribution's layout; a drop-in for distribution's `registry serve`.
//!
//! Modules: [`config`] (the YAML configuration and `REGISTRY_*` overrides),
//! [`handlers`] (the HTTP API, [`router`]), [`storage`] (blobs, manifests,
//! tags and uploads on disk), [`gc`] (the `garbage-collect` command),
//! [`auth`] (htpasswd), [`body`] (streaming), [`manifest`] (manifest
//! checks), [`reference`] (names and digests), [`error`], [`log`].

pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod gc;
pub mod handlers;
pub mod log;
pub mod manifest;
pub mod reference;
pub mod storage;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::{Config, LoadOptions};
pub use gc::{garbage_collect, GcOptions, GcReport};
pub use handlers::{router, AppState};

/// Binds `http.addr`: `:port` is every interface (IPv6 and IPv4 when the
/// host has IPv6, else IPv4).
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    if let Some(port) = addr.strip_prefix(':') {
        return match TcpListener::bind(format!("[::]:{port}")).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(format!("0.0.0.0:{port}")).await,
        };
    }
    TcpListener::bind(addr).await
}

/// Serves the registry until `shutdown` completes; then in-flight requests
/// get `http.draingracetimeout` to finish.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    log::set_level(config.log_level);
    let state = AppState::new(&config)?;
    let listener = bind(&config.addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("listen tcp {}: {e}", config.addr)))?;
    log::info(&format!("listening on {}", listener.local_addr()?));
    serve_listener(listener, state, shutdown, config.drain_timeout).await
}

/// Serves on a bound listener (tests use `127.0.0.1:0`).
pub async fn serve_listener(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        log::info("shutting down");
        let _ = tx.send(());
    });
    let drained = async move {
        if rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(drain).await;
    };
    tokio::select! {
        r = server => r,
        () = drained => Ok(()),
    }
}
