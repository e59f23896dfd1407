//! Dockhand's HTTP side: the Docker Engine API served on a unix socket, so that our
//! CLI and the real docker CLI both drive the engine. Versioned (`/v1.47/...`) and
//! unversioned paths are served alike; errors are Docker's `{"message": ...}`.

#![recursion_limit = "256"]

mod error;
pub mod gateway;
pub mod lessons;
mod listen;
pub mod playground;
mod routes;

pub use error::ApiError;
pub use playground::{run_serve, PlaygroundOptions};

use axum::extract::Request;
use axum::Router;
use engine::daemon::Daemon;
use shared::sync::Locked;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

/// What `dockhand daemon` is started with (dockerd's flag names).
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// `--data-root`, default `/var/lib/dockhand`.
    pub data_root: PathBuf,
    /// `-H unix:///PATH`, default `/run/dockhand.sock`.
    pub socket: PathBuf,
    /// Bridge, subnets and firewall chain names (`--bridge`, `--bip`,
    /// `--default-address-pool`, ...). `None` disables container networking.
    pub net: Option<engine::network::NetConfig>,
    /// Defaults of new virtual hosts.
    pub vhost_defaults: engine::vhost::Defaults,
    /// Virtual hosts' network on the machine; `None`: virtual hosts get loopback only.
    pub playground: Option<engine::network::PlaygroundNetworkConfig>,
    /// `--registry-mirror`, `--insecure-registry`.
    pub registry: engine::registry::RegistryOptions,
    /// `--preload`: archives, OCI layouts or directories of them, loaded into
    /// the machine's store at start (absolute paths).
    pub preload: Vec<PathBuf>,
}

/// Shared state of the API handlers.
#[derive(Clone)]
pub struct AppState {
    pub daemon: Arc<Daemon>,
    pub data_root: PathBuf,
    /// Virtual hosts: on the machine's socket only.
    pub vhosts: Option<Arc<engine::vhost::Manager>>,
    /// The registry client (pull, push, login), one per daemon.
    pub registry: Arc<engine::registry::Client>,
}

/// Serves each virtual host's Docker API on its own socket.
#[derive(Default)]
pub struct DaemonSockets {
    data_root: PathBuf,
    registry: Option<Arc<engine::registry::Client>>,
    tasks: std::sync::Mutex<std::collections::HashMap<String, (tokio::task::AbortHandle, PathBuf)>>,
}

impl engine::vhost::ApiServer for DaemonSockets {
    fn serve(&self, daemon: Arc<Daemon>, socket: &std::path::Path) -> engine::error::Result<()> {
        let name = daemon.name().to_string();
        self.stop(&name);
        let _ = std::fs::remove_file(socket);
        use engine::error::IoContext;
        let listener = engine::unix_socket::bind_tokio(socket).ctx("bind", socket)?;
        let registry = self
            .registry
            .clone()
            .ok_or_else(|| engine::Error::Internal("no registry client".into()))?;
        let svc = engine_api(AppState {
            daemon,
            data_root: self.data_root.clone(),
            vhosts: None,
            registry,
        });
        let task = tokio::spawn(listen::serve(
            listener,
            svc,
            conn_fd,
            |_| None,
            listen::Limits::VIRTUAL_HOST,
            std::future::pending(),
        ));
        self.tasks
            .locked()
            .insert(name, (task.abort_handle(), socket.to_path_buf()));
        Ok(())
    }

    fn stop(&self, name: &str) {
        if let Some((task, path)) = self.tasks.locked().remove(name) {
            task.abort();
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Strip an API version prefix (`/v1.47/containers/json` -> `/containers/json`).
/// Versions below the minimum are refused as Docker does.
fn strip_version(path: &str) -> Result<Option<String>, String> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(None);
    };
    let Some((ver, tail)) = rest.split_once('/') else {
        return Ok(None);
    };
    let mut parts = ver.split('.');
    let (Some(maj), Some(min), None) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (Ok(maj), Ok(min)) = (maj.parse::<u32>(), min.parse::<u32>()) else {
        return Ok(None);
    };
    let parse = |v: &str| -> (u32, u32) {
        let (a, b) = v.split_once('.').unwrap_or((v, "0"));
        (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
    };
    if (maj, min) < parse(shared::MIN_API_VERSION) {
        return Err(format!(
            "client version {maj}.{min} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            shared::MIN_API_VERSION
        ));
    }
    if (maj, min) > parse(shared::API_VERSION) {
        return Err(format!(
            "client version {maj}.{min} is too new. Maximum supported API version is {}",
            shared::API_VERSION
        ));
    }
    Ok(Some(format!("/{tail}")))
}

/// The Engine API service: the router behind a rewrite of versioned paths, which
/// must run before routing.
pub type App = tower::util::MapRequest<Router, fn(Request) -> Request>;

fn rewrite(mut req: Request) -> Request {
    let path = req.uri().path().to_string();
    match strip_version(&path) {
        Ok(Some(new)) => {
            let pq = match req.uri().query() {
                Some(q) => format!("{new}?{q}"),
                None => new,
            };
            if let Ok(uri) = pq.parse() {
                *req.uri_mut() = uri;
            }
        }
        Ok(None) => {}
        Err(msg) => {
            req.extensions_mut().insert(routes::VersionError(msg));
        }
    }
    req
}

pub fn app(state: AppState) -> App {
    engine_api(state)
}

/// The Engine API of one daemon, as every socket serves it: the routes, the events
/// of calls whose handlers emit none, and (in a virtual host) the use that keeps
/// it from idling out.
fn engine_api(state: AppState) -> App {
    let daemon = state.daemon.clone();
    let virt = daemon.virtual_ns().cloned();
    let router: Router = routes::router()
        .with_state(state)
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: axum::middleware::Next| {
                routes::events::emit_unreported(daemon.clone(), req, next)
            },
        ))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: axum::middleware::Next| {
                if let Some(v) = &virt {
                    v.touch();
                }
                next.run(req)
            },
        ));
    router.map_request(rewrite as fn(Request) -> Request)
}

/// What `daemon` and `serve` do first: a check that no live daemon owns the
/// socket, the data root moved to today's layout, and the machine's daemon
/// opened with its networks and busybox. What the kernel lacks is found first
/// ([`engine::preflight`]): missing container features stop any daemon;
/// missing virtual host features stop the playground (`playground` true) and
/// are logged by a plain daemon, whose containers do not need them.
pub(crate) async fn open_machine(
    opts: &DaemonOptions,
    playground: bool,
) -> std::io::Result<Arc<Daemon>> {
    use engine::preflight::Need;
    if let Some(dir) = opts.socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket file left by a daemon that died is stale; a live daemon answers.
    if engine::unix_socket::connect_blocking(&opts.socket).is_ok() {
        return Err(std::io::Error::other(format!(
            "another daemon is already listening on {}",
            opts.socket.display()
        )));
    }
    std::fs::create_dir_all(&opts.data_root)?;
    // Only after that check: no live daemon (of any version) serves this socket.
    engine::daemon::migrate_data_root(&opts.data_root).map_err(std::io::Error::other)?;
    let exe = std::env::current_exe()?;
    let daemon = Daemon::open(&opts.data_root, "default", exe, opts.net.clone())
        .map_err(std::io::Error::other)?;
    let report = {
        let root = opts.data_root.clone();
        let controllers = daemon.cgroup_controllers();
        tokio::task::spawn_blocking(move || engine::preflight::check(&root, controllers.as_deref()))
            .await
            .map_err(std::io::Error::other)?
    };
    tracing::info!(
        "kernel check: {}",
        if report.missing.is_empty() {
            "everything containers and virtual hosts need is present".to_string()
        } else {
            format!("{} missing", report.missing.len())
        }
    );
    if let Some(e) = report.error_for(Need::Containers) {
        return Err(std::io::Error::other(e));
    }
    if let Some(e) = report.error_for(Need::VirtualHosts) {
        if playground {
            return Err(std::io::Error::other(format!(
                "{e}; the playground's instances are virtual hosts"
            )));
        }
        tracing::warn!("{e}; `host create` will fail");
    }
    if let Err(e) = daemon.reconcile_networks().await {
        tracing::error!("networking: {e}");
    }
    match daemon.images.ensure_busybox() {
        Ok(Some(id)) => tracing::info!("created busybox:latest ({id}) from the machine's busybox"),
        Ok(None) => {}
        Err(e) => tracing::error!("{e}"),
    }
    routes::preload::at_start(&daemon, &opts.preload).await?;
    Ok(daemon)
}

/// The machine's API socket (a stale file replaced), mode 0660.
pub(crate) fn bind_api_socket(path: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    let _ = std::fs::remove_file(path);
    let listener = engine::unix_socket::bind_tokio(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// The virtual hosts, each served on its own socket: the manager adopts
/// those that live on and removes the rest. Then the half-made image content
/// a killed daemon left is swept: only now is every live virtual host's disk,
/// with its index, mounted, and nothing is served yet.
pub(crate) async fn open_vhosts(
    opts: &DaemonOptions,
    daemon: &Daemon,
    registry: &Arc<engine::registry::Client>,
) -> std::io::Result<Arc<engine::vhost::Manager>> {
    let m = engine::vhost::Manager::open(
        &opts.data_root,
        std::env::current_exe()?,
        opts.vhost_defaults.clone(),
        opts.playground.clone(),
        Box::new(DaemonSockets {
            data_root: opts.data_root.clone(),
            registry: Some(registry.clone()),
            ..Default::default()
        }),
    )
    .await
    .map_err(std::io::Error::other)?;
    if let Err(e) = daemon.images.sweep_unreferenced() {
        tracing::warn!("sweeping unreferenced content: {e}");
    }
    Ok(m)
}

/// The daemon's registry client.
pub(crate) fn registry_client(
    opts: &DaemonOptions,
) -> std::io::Result<Arc<engine::registry::Client>> {
    engine::registry::Client::new(opts.registry.clone())
        .map(Arc::new)
        .map_err(std::io::Error::other)
}

/// Run the daemon until SIGTERM/SIGINT. Builds its own tokio runtime.
pub fn run_daemon(opts: DaemonOptions) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(opts))
}

async fn serve(opts: DaemonOptions) -> std::io::Result<()> {
    let daemon = open_machine(&opts, false).await?;
    let listener = bind_api_socket(&opts.socket)?;
    tracing::info!("API listening on unix://{}", opts.socket.display());
    let registry = registry_client(&opts)?;
    let vhosts = open_vhosts(&opts, &daemon, &registry).await?;
    let state = AppState {
        daemon,
        data_root: opts.data_root.clone(),
        vhosts: Some(vhosts),
        registry,
    };
    let svc = app(state);
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::info!("shutting down; containers keep running under their monitors");
    };
    listen::serve(
        listener,
        svc,
        conn_fd,
        |_| None,
        listen::Limits::MACHINE,
        shutdown,
    )
    .await;
    let _ = std::fs::remove_file(&opts.socket);
    Ok(())
}

/// A unix socket connection's descriptor, for the handlers that hijack it.
fn conn_fd(io: &tokio::net::UnixStream, _: &tokio::net::unix::SocketAddr) -> routes::ConnFd {
    use std::os::fd::AsRawFd;
    routes::ConnFd(io.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes_are_stripped_and_checked() {
        assert_eq!(
            strip_version("/v1.47/containers/json").unwrap().as_deref(),
            Some("/containers/json")
        );
        assert_eq!(
            strip_version("/v1.24/_ping").unwrap().as_deref(),
            Some("/_ping")
        );
        assert_eq!(strip_version("/containers/json").unwrap(), None);
        assert_eq!(strip_version("/volumes/x").unwrap(), None);
        assert!(strip_version("/v1.12/info")
            .unwrap_err()
            .contains("too old"));
        assert!(strip_version("/v9.99/info")
            .unwrap_err()
            .contains("too new"));
    }
}
