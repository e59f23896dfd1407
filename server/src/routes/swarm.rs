//! Swarm mode's endpoints. Dockhand does not run swarm mode, so it answers as a
//! dockerd that is not part of a swarm does: 503 with moby's messages. Clients
//! rely on this (docker-py's tests leave a swarm in every tear-down and expect
//! "not part of a swarm"; the docker CLI prints the manager message as is).

use crate::error::ApiError;
use axum::http::StatusCode;
use axum::routing::{any, get, post};
use axum::Router;

/// moby's `errNoSwarm`.
pub const NOT_PART: &str = "This node is not part of a swarm";
/// moby's answer on a node that is no manager.
pub const NOT_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
/// What we answer where dockerd would create or join a swarm.
pub const UNSUPPORTED: &str =
    "Dockhand does not run swarm mode: this node cannot initialize or join a swarm";

fn unavailable(msg: &'static str) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, msg.to_string())
}

async fn not_part() -> ApiError {
    unavailable(NOT_PART)
}

async fn not_manager() -> ApiError {
    unavailable(NOT_MANAGER)
}

async fn unsupported() -> ApiError {
    unavailable(UNSUPPORTED)
}

/// The swarm routes, merged into the Engine API's router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new()
        .route("/swarm", get(not_manager))
        .route("/swarm/init", post(unsupported))
        .route("/swarm/join", post(unsupported))
        .route("/swarm/leave", post(not_part))
        .route("/swarm/unlock", post(not_part))
        .route("/swarm/unlockkey", get(not_manager))
        .route("/swarm/update", post(not_manager));
    // Every object of swarm mode, listed, created, inspected, updated, removed
    // or asked for its logs, needs a manager.
    for object in ["services", "nodes", "tasks", "secrets", "configs"] {
        r = r
            .route(&format!("/{object}"), any(not_manager))
            .route(&format!("/{object}/{{*rest}}"), any(not_manager));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn answer(method: &str, path: &str) -> (StatusCode, String) {
        let app: Router = routes();
        let res = app
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (
            status,
            v["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    #[tokio::test]
    async fn a_node_outside_a_swarm_answers_as_dockerd() {
        let cases = [
            ("POST", "/swarm/leave", NOT_PART),
            ("GET", "/swarm", NOT_MANAGER),
            ("POST", "/swarm/init", UNSUPPORTED),
            ("POST", "/swarm/join", UNSUPPORTED),
            ("GET", "/services", NOT_MANAGER),
            ("POST", "/services/create", NOT_MANAGER),
            ("GET", "/nodes/abc", NOT_MANAGER),
            ("DELETE", "/secrets/abc", NOT_MANAGER),
            ("GET", "/tasks/t1/logs", NOT_MANAGER),
            ("POST", "/configs/create", NOT_MANAGER),
        ];
        for (method, path, want) in cases {
            assert_eq!(
                answer(method, path).await,
                (StatusCode::SERVICE_UNAVAILABLE, want.to_string()),
                "{method} {path}"
            );
        }
    }
}
