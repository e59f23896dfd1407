//! The Engine API's routes. Image names contain slashes, so image routes take the
//! rest of the path and dispatch on its last segment, as moby's `{name:.*}` does.

mod archive;
mod attach;
mod attach_ws;
mod build;
mod container_archive;
mod containers;
pub(crate) mod events;
mod hijack;
mod images;
mod networks;
pub(crate) mod preload;
mod registry;
mod swarm;
mod system;
mod vhosts;
mod volumes;

pub use hijack::ConnFd;

use crate::AppState;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;

/// Set by the version rewrite when a client asks for an API version we do not speak.
#[derive(Clone, Debug)]
pub struct VersionError(pub String);

async fn check_version(req: Request, next: Next) -> Response {
    if let Some(VersionError(msg)) = req.extensions().get::<VersionError>() {
        return crate::ApiError::bad_request(msg.clone()).into_response();
    }
    next.run(req).await
}

async fn not_found(req: Request) -> Response {
    crate::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!("page not found: {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/dockhand/hosts/create", post(vhosts::create))
        .route("/dockhand/hosts", get(vhosts::list))
        .route("/dockhand/images/preload", post(preload::preload))
        .route("/dockhand/iptables", post(networks::list_rules))
        .route(
            "/dockhand/hosts/{name}",
            get(vhosts::inspect).delete(vhosts::remove),
        )
        .route("/dockhand/hosts/{name}/exec", post(vhosts::exec_create))
        .route(
            "/dockhand/hosts/{name}/exec/{id}/start",
            post(vhosts::exec_start),
        )
        .route(
            "/dockhand/hosts/{name}/exec/{id}/resize",
            post(vhosts::exec_resize),
        )
        .route(
            "/dockhand/hosts/{name}/exec/{id}/json",
            get(vhosts::exec_inspect),
        )
        .route("/events", get(events::events))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/attach/ws", get(attach_ws::attach_ws))
        .route("/containers/{id}/exec", post(containers::exec_create))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/exec/{id}/start", post(attach::exec_start))
        .route("/exec/{id}/resize", post(containers::exec_resize))
        .route("/exec/{id}/json", get(containers::exec_inspect))
        .route("/containers/{id}", delete(containers::remove))
        .route("/containers/{id}/{alias}", delete(containers::remove_link))
        .route("/containers/{id}/export", get(archive::export))
        .route("/containers/{id}/changes", get(archive::changes))
        .route(
            "/containers/{id}/archive",
            get(container_archive::get)
                .head(container_archive::head)
                .put(container_archive::put),
        )
        .route("/containers/prune", post(archive::containers_prune))
        .route("/commit", post(archive::commit))
        .route("/system/df", get(archive::system_df))
        .route("/images/get", get(archive::save_many))
        .route("/images/load", post(archive::load))
        .route("/images/prune", post(archive::images_prune))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::create))
        .route("/auth", post(registry::auth))
        .route("/images/search", get(registry::search))
        .route(
            "/distribution/{*name}",
            get(registry::distribution_dispatch),
        )
        .route(
            "/images/{*rest}",
            get(images::get_dispatch)
                .post(images::post_dispatch)
                .delete(images::remove),
        )
        .merge(swarm::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn(check_version))
}

/// Docker's boolean query values: `1`, `true`, `True`.
pub fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|s| matches!(s.as_str(), "1" | "true" | "True" | "TRUE"))
}
