//! `/networks`: create, list, inspect, remove, prune, connect, disconnect.

use super::truthy;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use engine::network::{CreateOptions, Networks};
use serde_json::{json, Value};
use shared::api::str_map;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

type Q = Query<HashMap<String, String>>;

fn nets(st: &AppState) -> ApiResult<Arc<Networks>> {
    st.daemon.networks().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "networking is disabled on this daemon",
        )
    })
}

/// `POST /dockhand/iptables`: a virtual host's `iptables -L`, `-S` and
/// `iptables-save`, run read-only in its namespace. The machine's own
/// daemon has no such route: there the real iptables is at hand.
pub async fn list_rules(
    State(st): State<AppState>,
    Json(req): Json<shared::api::RuleListingRequest>,
) -> ApiResult<Response> {
    if st.daemon.virtual_ns().is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "rule listings are served to virtual hosts; on the machine, run iptables itself",
        ));
    }
    let (exit_code, stdout, stderr) = nets(&st)?.list_rules(&req.program, &req.args).await?;
    Ok(Json(shared::api::RuleListingResponse {
        exit_code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
    .into_response())
}

/// A network event with moby's attributes (`name`, `type`, and `container`
/// for connect/disconnect).
fn emit(st: &AppState, action: &str, net: &Value, container: Option<String>) {
    let s = |k: &str| net[k].as_str().unwrap_or_default().to_string();
    let mut attrs = BTreeMap::from([
        ("name".to_string(), s("Name")),
        ("type".to_string(), s("Driver")),
    ]);
    if let Some(c) = container {
        attrs.insert("container".into(), c);
    }
    st.daemon.emit("network", action, &s("Id"), attrs);
}

fn body_json(body: &Bytes) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    crate::error::json_body(body)
}

pub async fn create(State(st): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let v = body_json(&body)?;
    let name = v["Name"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request("network name is required"));
    }
    let mut opts = CreateOptions {
        driver: v["Driver"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(String::from),
        internal: v["Internal"].as_bool().unwrap_or(false),
        attachable: v["Attachable"].as_bool().unwrap_or(false),
        labels: str_map(&v["Labels"]),
        options: str_map(&v["Options"]),
        ipv6: v["EnableIPv6"].as_bool().unwrap_or(false),
        ..Default::default()
    };
    // One IPv4 and one IPv6 pool at most, told apart by their subnet.
    for cfg in v["IPAM"]["Config"].as_array().into_iter().flatten() {
        let field = |k: &str| cfg[k].as_str().filter(|s| !s.is_empty()).map(String::from);
        let subnet = field("Subnet");
        let v6 = subnet.as_deref().is_some_and(|s| s.contains(':'))
            || (subnet.is_none() && field("Gateway").is_some_and(|g| g.contains(':')));
        let (s, g, r) = if v6 {
            (&mut opts.subnet6, &mut opts.gateway6, &mut opts.ip_range6)
        } else {
            (&mut opts.subnet, &mut opts.gateway, &mut opts.ip_range)
        };
        if s.is_some() {
            return Err(ApiError::bad_request(format!(
                "more than one IPv{} subnet: Dockhand networks have one IPv4 and at most one IPv6 subnet",
                if v6 { 6 } else { 4 }
            )));
        }
        *s = subnet;
        *g = field("Gateway");
        *r = field("IPRange");
        opts.aux_addresses
            .extend(str_map(&cfg["AuxiliaryAddresses"]));
    }
    let id = nets(&st)?.create(name, opts).await?;
    if let Ok(net) = nets(&st)?.inspect(&id) {
        emit(&st, "create", &net, None);
    }
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warning": ""}))).into_response())
}

pub async fn list(State(st): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let mut all = nets(&st)?.list()?;
    let filters =
        engine::container::parse_filters(q.get("filters").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
    for (k, vals) in &filters {
        if k == "label" {
            // Every label value must match (moby's `MatchKVList`).
            all.retain(|n| {
                let labels: BTreeMap<String, String> =
                    serde_json::from_value(n["Labels"].clone()).unwrap_or_default();
                vals.iter()
                    .all(|v| engine::filters::label_matches(&labels, v))
            });
            continue;
        }
        all.retain(|n| {
            vals.iter().any(|v| match k.as_str() {
                "name" => n["Name"].as_str().is_some_and(|x| x.contains(v.as_str())),
                "id" => n["Id"].as_str().is_some_and(|x| x.starts_with(v.as_str())),
                "driver" => n["Driver"].as_str() == Some(v.as_str()),
                "type" => {
                    let builtin = matches!(n["Name"].as_str(), Some("bridge" | "host" | "none"));
                    (v == "builtin") == builtin
                }
                "scope" => n["Scope"].as_str() == Some(v.as_str()),
                _ => true,
            })
        });
    }
    Ok(Json(all).into_response())
}

pub async fn inspect(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(nets(&st)?.inspect(&id)?).into_response())
}

pub async fn remove(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let net = nets(&st)?.inspect(&id)?;
    nets(&st)?.remove(&id).await?;
    emit(&st, "destroy", &net, None);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(State(st): State<AppState>, Query(q): Q) -> ApiResult<Response> {
    let filters =
        engine::container::parse_filters(q.get("filters").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
    let before = nets(&st)?.list()?;
    let deleted = nets(&st)?.prune_where(&filters).await?;
    for net in before.iter().filter(|n| {
        deleted
            .iter()
            .any(|d| n["Name"].as_str() == Some(d.as_str()))
    }) {
        emit(&st, "destroy", net, None);
    }
    Ok(Json(json!({ "NetworksDeleted": deleted })).into_response())
}

pub async fn connect(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let v = body_json(&body)?;
    let container = v["Container"].as_str().unwrap_or_default();
    st.daemon
        .network_connect(&id, container, v["EndpointConfig"].clone())
        .await?;
    if let Ok(net) = nets(&st)?.inspect(&id) {
        emit(&st, "connect", &net, st.daemon.resolve(container).ok());
    }
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let v = body_json(&body)?;
    let container = v["Container"].as_str().unwrap_or_default();
    let _force = truthy(v["Force"].as_bool().map(|b| b.to_string()).as_ref());
    st.daemon.network_disconnect(&id, container).await?;
    if let Ok(net) = nets(&st)?.inspect(&id) {
        emit(&st, "disconnect", &net, st.daemon.resolve(container).ok());
    }
    Ok(StatusCode::OK)
}
