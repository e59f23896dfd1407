//! `dockhand serve`: the daemon (the machine's Docker API on its unix socket,
//! virtual hosts with their own sockets) plus the playground on a TCP address.
//! On SIGTERM/SIGINT every session is closed and its instances destroyed before
//! the process exits; a server that crashed leaves instances that the next one
//! removes at start. With `--drain-deadline` the first signal drains instead:
//! no new sessions (readiness fails, `POST /api/sessions` answers 503), the
//! open ones run to their end, and whatever is left at the deadline (or at a
//! second signal) is closed as above.

use super::config::PlaygroundOptions;
use super::session::Playground;
use crate::{AppState, DaemonOptions};
use std::net::SocketAddr;
use std::time::Duration;

/// SIGTERM or SIGINT.
pub(crate) async fn signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Take no new sessions and wait until the open ones have ended, the deadline
/// has passed, or another signal came.
async fn drain(pg: &std::sync::Arc<Playground>) {
    pg.drain();
    let deadline = Duration::from_secs(pg.opts.drain_deadline);
    tracing::info!(
        "draining: no new sessions; {} open ones may run for up to {}s (signal again to stop now)",
        pg.session_count(),
        deadline.as_secs()
    );
    let ended = async {
        while pg.session_count() > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = ended => tracing::info!("drained: every session has ended"),
        _ = tokio::time::sleep(deadline) => tracing::info!("drain deadline reached"),
        _ = signal() => tracing::info!("signalled again: stopping now"),
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
    // A node behind gateways sees them as its peers: the per-peer cap is
    // theirs to apply to the real clients.
    let web_limits = if pg.opts.node_name.is_some() {
        crate::listen::Limits {
            per_peer: None,
            ..crate::listen::Limits::PLAYGROUND
        }
    } else {
        crate::listen::Limits::PLAYGROUND
    };
    let web_server = tokio::spawn(crate::listen::serve(
        tcp.tap_io(|s| {
            let _ = s.set_nodelay(true);
        }),
        web,
        |_, addr: &SocketAddr| *addr,
        |addr: &SocketAddr| Some(addr.ip()),
        web_limits,
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
    if pg.opts.drain_deadline > 0 {
        drain(&pg).await;
    }
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
