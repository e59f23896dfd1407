//! `dockhand serve`: the daemon (the machine's Docker API on its unix socket,
//! virtual hosts with their own sockets) plus the playground on a TCP address.
//! On SIGTERM/SIGINT every session is closed and its instances destroyed before
//! the process exits; a server that crashed leaves instances that the next one
//! removes at start.

use super::config::PlaygroundOptions;
use super::session::Playground;
use crate::{AppState, DaemonOptions};
use std::net::SocketAddr;
use std::time::Duration;

async fn signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Run `dockhand serve` until SIGTERM/SIGINT. Builds its own tokio runtime.
pub fn run(opts: DaemonOptions, pg: PlaygroundOptions) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(opts, pg))
}

async fn serve(opts: DaemonOptions, pg_opts: PlaygroundOptions) -> std::io::Result<()> {
    let daemon = crate::open_machine(&opts, true).await?;
    // The playground's address before the socket: a taken port fails first.
    let tcp = tokio::net::TcpListener::bind(pg_opts.listen)
        .await
        .map_err(|e| std::io::Error::other(format!("listen on {}: {e}", pg_opts.listen)))?;
    let unix = crate::bind_api_socket(&opts.socket)?;
    let registry = crate::registry_client(&opts)?;
    let vhosts = crate::open_vhosts(&opts, &daemon, &registry).await?;
    crate::routes::events::record(&daemon);
    let ui = pg_opts.ui_dir.clone();
    let listen = tcp.local_addr()?;
    let pg = Playground::new(pg_opts, Some(vhosts.clone()));
    pg.remove_orphans().await;
    let clock = {
        let pg = pg.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                pg.tick().await;
            }
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let docker = crate::app(AppState {
        daemon,
        data_root: opts.data_root.clone(),
        vhosts: Some(vhosts),
        registry,
    });
    let docker_server = tokio::spawn(crate::listen::serve(
        unix,
        docker,
        crate::conn_fd,
        |_| None,
        crate::listen::Limits::MACHINE,
        stopped(stop_rx.clone()),
    ));
    use axum::serve::ListenerExt;
    let web = super::api::router(pg.clone());
    let web_server = tokio::spawn(crate::listen::serve(
        tcp.tap_io(|s| {
            let _ = s.set_nodelay(true);
        }),
        web,
        |_, addr: &SocketAddr| *addr,
        |addr: &SocketAddr| Some(addr.ip()),
        crate::listen::Limits::PLAYGROUND,
        stopped(stop_rx),
    ));
    tracing::info!("Docker API on unix://{}", opts.socket.display());
    match &ui {
        Some(dir) => tracing::info!("playground on http://{listen}/ (UI from {})", dir.display()),
        None => tracing::warn!(
            "playground on http://{listen}/ without its UI: build it with scripts/build-web"
        ),
    }
    signal().await;
    tracing::info!("shutting down: closing the sessions and removing their instances");
    clock.abort();
    pg.shutdown().await;
    let _ = stop_tx.send(true);
    // Streams (`docker events`, attach) may hold connections open: wait a little.
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        let _ = docker_server.await;
        let _ = web_server.await;
    })
    .await;
    let _ = std::fs::remove_file(&opts.socket);
    Ok(())
}
