//! `dockhand serve`: the daemon (the machine's Docker API on its unix socket,
//! virtual hosts with their own sockets) plus the playground on a TCP address.
//! On SIGTERM/SIGINT every session is closed and its instances destroyed before
//! the process exits; a server that crashed leaves instances that the next one
//! removes at start.

use super::config::PlaygroundOptions;
use super::session::Playground;
use crate::{AppState, DaemonOptions, HostSockets};
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use engine::host::Host;
use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// Engine API calls whose success the routes do not report as an event
/// (they live in modules that emit nothing yet): the event that says what
/// changed, so `docker events` and the playground's panels see them too.
fn unreported_event(
    method: &Method,
    path: &str,
    query: &str,
) -> Option<(&'static str, &'static str, String)> {
    if method != Method::POST {
        return None;
    }
    let param = |k: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let container = |action: &str| -> Option<String> {
        let rest = path.strip_prefix("/containers/")?;
        let (id, a) = rest.rsplit_once('/')?;
        (a == action && !id.contains('/')).then(|| id.to_string())
    };
    match path {
        "/images/load" => Some(("image", "load", String::new())),
        "/commit" => Some(("container", "commit", param("container"))),
        "/images/prune" => Some(("image", "prune", String::new())),
        "/containers/prune" => Some(("container", "prune", String::new())),
        "/volumes/prune" => Some(("volume", "prune", String::new())),
        "/networks/prune" => Some(("network", "prune", String::new())),
        "/build" => Some(("image", "build", param("t"))),
        _ => ["rename", "pause", "unpause", "update"]
            .into_iter()
            .find_map(|action| container(action).map(|id| ("container", action, id))),
    }
}

async fn emit_unreported(host: Arc<Host>, req: Request, next: Next) -> Response {
    let ev = unreported_event(
        req.method(),
        req.uri().path(),
        req.uri().query().unwrap_or(""),
    );
    let resp = next.run(req).await;
    if let Some((typ, action, id)) = ev {
        if resp.status().is_success() {
            host.emit(typ, action, &id, BTreeMap::new());
        }
    }
    resp
}

/// Each virtual host's Docker API on its own socket, as the daemon serves it,
/// plus the events of the calls that emit none.
#[derive(Default)]
struct PlaygroundSockets {
    inner: HostSockets,
}

impl engine::vhost::ApiServer for PlaygroundSockets {
    fn serve(&self, host: Arc<Host>, socket: &Path) -> engine::error::Result<()> {
        let name = host.name().to_string();
        self.stop(&name);
        let _ = std::fs::remove_file(socket);
        let std_listener = std::os::unix::net::UnixListener::bind(socket)
            .map_err(|e| engine::Error::Internal(format!("bind {}: {e}", socket.display())))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| engine::Error::Internal(e.to_string()))?;
        let listener = tokio::net::UnixListener::from_std(std_listener)
            .map_err(|e| engine::Error::Internal(e.to_string()))?;
        let virt = host.virtual_ns().cloned();
        let events_host = host.clone();
        let state = AppState {
            host,
            data_root: self.inner.data_root.clone(),
            vhosts: None,
        };
        let router: Router = crate::routes::router()
            .with_state(state)
            .layer(axum::middleware::from_fn(
                move |req: Request, next: Next| emit_unreported(events_host.clone(), req, next),
            ))
            .layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    if let Some(v) = &virt {
                        v.touch();
                    }
                    next.run(req)
                },
            ));
        let svc = router.map_request(crate::rewrite as fn(Request) -> Request);
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                axum::ServiceExt::<Request>::into_make_service(svc),
            )
            .await;
        });
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, (task.abort_handle(), socket.to_path_buf()));
        Ok(())
    }

    fn stop(&self, name: &str) {
        self.inner.stop(name)
    }
}

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
    std::fs::create_dir_all(&opts.data_root)?;
    let exe = std::env::current_exe()?;
    let host = Host::open(&opts.data_root, "default", exe.clone(), opts.net.clone())
        .map_err(std::io::Error::other)?;
    if let Err(e) = host.reconcile_networks().await {
        tracing::error!("networking: {e}");
    }
    match host.images.ensure_busybox() {
        Ok(Some(id)) => tracing::info!("created busybox:latest ({id}) from the host's busybox"),
        Ok(None) => {}
        Err(e) => tracing::error!("{e}"),
    }
    if let Some(dir) = opts.socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::os::unix::net::UnixStream::connect(&opts.socket).is_ok() {
        return Err(std::io::Error::other(format!(
            "another daemon is already listening on {}",
            opts.socket.display()
        )));
    }
    let tcp = tokio::net::TcpListener::bind(pg_opts.listen)
        .await
        .map_err(|e| std::io::Error::other(format!("listen on {}: {e}", pg_opts.listen)))?;
    let _ = std::fs::remove_file(&opts.socket);
    let unix = tokio::net::UnixListener::bind(&opts.socket)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opts.socket, std::fs::Permissions::from_mode(0o660))?;
    let vhosts = engine::vhost::Manager::open(
        &opts.data_root,
        exe,
        opts.vhost_defaults.clone(),
        opts.playground.clone(),
        Box::new(PlaygroundSockets {
            inner: HostSockets {
                data_root: opts.data_root.clone(),
                ..Default::default()
            },
        }),
    )
    .await
    .map_err(std::io::Error::other)?;
    crate::routes::events::record(&host);
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
        host,
        data_root: opts.data_root.clone(),
        vhosts: Some(vhosts),
    });
    let docker_server = tokio::spawn(
        axum::serve(unix, axum::ServiceExt::<Request>::into_make_service(docker))
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    use axum::serve::ListenerExt;
    let web = super::api::router(pg.clone());
    let web_server = tokio::spawn(
        axum::serve(
            tcp.tap_io(|s| {
                let _ = s.set_nodelay(true);
            }),
            web.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(stop_rx))
        .into_future(),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_without_their_own_event_are_mapped_to_moby_events() {
        let p = Method::POST;
        assert_eq!(
            unreported_event(&p, "/commit", "container=abc&repo=x"),
            Some(("container", "commit", "abc".to_string()))
        );
        assert_eq!(
            unreported_event(&p, "/containers/web/rename", "name=x"),
            Some(("container", "rename", "web".to_string()))
        );
        assert_eq!(
            unreported_event(&p, "/images/load", ""),
            Some(("image", "load", String::new()))
        );
        assert_eq!(unreported_event(&p, "/containers/web/start", ""), None);
        assert_eq!(unreported_event(&Method::GET, "/commit", ""), None);
    }
}
