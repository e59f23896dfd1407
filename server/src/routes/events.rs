//! `GET /events`: the daemon's engine events as moby streams them, one JSON
//! message per line, for as long as the client listens (or until `until`).
//!
//! The engine publishes events on a broadcast channel and keeps no history, so a
//! recorder per daemon keeps the last [`HISTORY`] events (as moby's events service
//! does) from the first time the daemon's events are asked for, or from when the
//! playground starts watching it ([`record`]). `since` replays what the recorder
//! has; `until` in the past answers with the history alone and ends. Filters are
//! moby's (`daemon/events/filter.go`): `type`, `event`, `container`, `image`,
//! `label`, `network`, `volume`, `scope`; other keys moby knows are accepted and
//! match nothing of ours, unknown keys are refused with 400 as moby refuses them.

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use engine::daemon::Daemon;
use shared::api::EventMessage;
use shared::sync::Locked;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use tokio::sync::broadcast::error::RecvError;

/// Events a daemon's recorder keeps for `since` (moby keeps 256).
pub const HISTORY: usize = 256;

/// Filter keys moby accepts on `/events`.
const KNOWN_FILTERS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

type History = Arc<Mutex<VecDeque<EventMessage>>>;
type Recorders = Mutex<HashMap<usize, (Weak<Daemon>, History)>>;

/// Recorders by daemon (keyed by the `Arc`'s address; the weak pointer tells a
/// live daemon from a dropped one whose address was reused).
fn recorders() -> &'static Recorders {
    static R: OnceLock<Recorders> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Start keeping `daemon`'s recent events (idempotent). Needs a tokio runtime.
pub fn record(daemon: &Arc<Daemon>) -> History {
    let key = Arc::as_ptr(daemon) as usize;
    let mut all = recorders().locked();
    all.retain(|_, (w, _)| w.strong_count() > 0);
    if let Some((w, h)) = all.get(&key) {
        if w.upgrade().is_some_and(|x| Arc::ptr_eq(&x, daemon)) {
            return h.clone();
        }
    }
    let history: History = Default::default();
    all.insert(key, (Arc::downgrade(daemon), history.clone()));
    let mut rx = daemon.events();
    let h = history.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let mut q = h.locked();
                    if q.len() == HISTORY {
                        q.pop_front();
                    }
                    q.push_back(ev);
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    });
    history
}

/// A point in time as the API gives it (moby's `GetTimestamp`): Unix seconds
/// with an optional fraction (`1700000000.123456789`, what the docker CLI
/// sends), RFC 3339, or a Go duration before now. In nanoseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    engine::filters::parse_timestamp(s, engine::filters::now_nanos())
}

/// moby's event filters.
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    f: engine::container::Filters,
}

/// `name:tag` -> `name` (a digest or a registry port is left alone).
fn strip_tag(s: &str) -> &str {
    match s.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') && !name.contains('@') => name,
        _ => s,
    }
}

impl EventFilter {
    pub fn parse(json: &str) -> Result<Self, String> {
        let f = engine::container::parse_filters(json)?;
        if let Some(k) = f.keys().find(|k| !KNOWN_FILTERS.contains(&k.as_str())) {
            return Err(format!("invalid filter '{k}'"));
        }
        Ok(EventFilter { f })
    }

    fn values(&self, key: &str) -> Option<&Vec<String>> {
        self.f.get(key).filter(|v| !v.is_empty())
    }

    /// No filter for `key`, or one of its values equals one of `candidates`.
    fn exact(&self, key: &str, candidates: &[&str]) -> bool {
        self.values(key)
            .is_none_or(|vals| vals.iter().any(|v| candidates.contains(&v.as_str())))
    }

    /// No filter for `key`, or one of `candidates` starts with one of its values.
    fn fuzzy(&self, key: &str, candidates: &[&str]) -> bool {
        self.values(key).is_none_or(|vals| {
            vals.iter().any(|v| {
                candidates
                    .iter()
                    .any(|c| !c.is_empty() && c.starts_with(v.as_str()))
            })
        })
    }

    pub fn matches(&self, ev: &EventMessage) -> bool {
        let attrs = &ev.actor.attributes;
        let attr = |k: &str| attrs.get(k).map(String::as_str).unwrap_or("");
        let id = ev.actor.id.as_str();
        // `exec_start: sh -c ...` matches the filter `exec_start`.
        let event_ok = match self.values("event") {
            None => true,
            Some(vals) => vals.iter().any(|v| {
                v == &ev.action
                    || (matches!(v.as_str(), "health_status" | "exec_create" | "exec_start")
                        && ev.action.starts_with(v.as_str()))
            }),
        };
        let fuzzy_name = |key: &str, typ: &str| {
            self.values(key).is_none() || (ev.typ == typ && self.fuzzy(key, &[id, attr("name")]))
        };
        let image_name = if ev.typ == "image" {
            attr("name")
        } else {
            attr("image")
        };
        let labels_ok = self.values("label").is_none_or(|vals| {
            vals.iter().all(|v| match v.split_once('=') {
                Some((k, val)) => attrs.get(k).is_some_and(|x| x == val),
                None => attrs.contains_key(v),
            })
        });
        event_ok
            && self.exact("type", &[ev.typ.as_str()])
            && self.exact("scope", &[ev.scope.as_str()])
            && fuzzy_name("container", "container")
            && fuzzy_name("network", "network")
            && fuzzy_name("volume", "volume")
            && self.exact(
                "image",
                &[id, image_name, strip_tag(id), strip_tag(image_name)],
            )
            && labels_ok
            && ["config", "daemon", "node", "plugin", "secret", "service"]
                .iter()
                .all(|k| self.values(k).is_none())
    }
}

fn nanos_of(ev: &EventMessage) -> i64 {
    if ev.time_nano != 0 {
        ev.time_nano
    } else {
        ev.time.saturating_mul(1_000_000_000)
    }
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn line(ev: &EventMessage) -> Bytes {
    let mut v = serde_json::to_vec(ev).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

struct StreamState {
    backlog: VecDeque<EventMessage>,
    rx: tokio::sync::broadcast::Receiver<EventMessage>,
    filter: EventFilter,
    since: Option<i64>,
    until: Option<i64>,
    /// Live events at or before this were already sent from the history.
    replayed_to: i64,
    deadline: Option<tokio::time::Instant>,
}

/// The events of `daemon` that pass `filter`, between `since` and `until`
/// (nanoseconds), as newline-terminated JSON chunks.
pub fn event_stream(
    daemon: &Arc<Daemon>,
    filter: EventFilter,
    since: Option<i64>,
    until: Option<i64>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    // Subscribe before reading the history, so nothing falls between them.
    let rx = daemon.events();
    let history = record(daemon);
    let now = now_nanos();
    let backlog: VecDeque<EventMessage> = match since {
        Some(s) => history
            .locked()
            .iter()
            .filter(|e| nanos_of(e) >= s && until.is_none_or(|u| nanos_of(e) <= u))
            .filter(|e| filter.matches(e))
            .cloned()
            .collect(),
        None => VecDeque::new(),
    };
    let replayed_to = backlog.back().map(nanos_of).unwrap_or(i64::MIN);
    let deadline = until.map(|u| {
        let wait = u.saturating_sub(now).max(0) as u64;
        tokio::time::Instant::now() + std::time::Duration::from_nanos(wait)
    });
    let st = StreamState {
        backlog,
        rx,
        filter,
        since,
        until,
        replayed_to,
        deadline,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        if let Some(ev) = st.backlog.pop_front() {
            return Some((Ok(line(&ev)), st));
        }
        loop {
            let next = match st.deadline {
                Some(d) => tokio::select! {
                    r = st.rx.recv() => r,
                    _ = tokio::time::sleep_until(d) => return None,
                },
                None => st.rx.recv().await,
            };
            match next {
                Ok(ev) => {
                    let t = nanos_of(&ev);
                    if t <= st.replayed_to
                        || st.since.is_some_and(|s| t < s)
                        || st.until.is_some_and(|u| t > u)
                        || !st.filter.matches(&ev)
                    {
                        continue;
                    }
                    return Some((Ok(line(&ev)), st));
                }
                // A slow reader misses events, but the stream goes on.
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("events: a slow client missed {n} events");
                    continue;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

pub async fn events(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let filter = EventFilter::parse(q.get("filters").map(String::as_str).unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let time = |k: &str| -> ApiResult<Option<i64>> {
        match q.get(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).map_err(ApiError::bad_request),
        }
    };
    let (since, until) = (time("since")?, time("until")?);
    let body = Body::from_stream(event_stream(&st.daemon, filter, since, until));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Engine API calls whose success the routes do not report as an event
/// (they live in modules that emit nothing yet): the event that says what
/// changed, so `docker events` and the playground's panels see them too.
fn unreported_event(
    method: &axum::http::Method,
    path: &str,
    query: &str,
) -> Option<(&'static str, &'static str, String)> {
    if method != axum::http::Method::POST {
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

/// Middleware of every Engine API socket: the event of a call that emits none itself.
pub(crate) async fn emit_unreported(
    daemon: Arc<Daemon>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let ev = unreported_event(
        req.method(),
        req.uri().path(),
        req.uri().query().unwrap_or(""),
    );
    let resp = next.run(req).await;
    if let Some((typ, action, id)) = ev {
        if resp.status().is_success() {
            daemon.emit(typ, action, &id, Default::default());
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ev(typ: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: typ.into(),
            action: action.into(),
            actor: shared::api::EventActor {
                id: id.into(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    fn filter(json: &str) -> EventFilter {
        EventFilter::parse(json).unwrap()
    }

    #[test]
    fn timestamps_take_seconds_fractions_and_rfc3339() {
        assert_eq!(parse_time("12").unwrap(), 12_000_000_000);
        assert_eq!(parse_time("12.5").unwrap(), 12_500_000_000);
        assert_eq!(parse_time("12.000000001").unwrap(), 12_000_000_001);
        assert_eq!(parse_time("1970-01-01T00:00:10Z").unwrap(), 10_000_000_000);
        assert!(parse_time("soon").is_err());
        assert!(parse_time("1.0000000001").is_err());
    }

    #[test]
    fn type_and_event_filters_match_exactly_except_exec_prefixes() {
        let start = ev("container", "start", "abc", &[("name", "web")]);
        let exec = ev(
            "container",
            "exec_start: sh -c ls",
            "abc",
            &[("name", "web")],
        );
        assert!(filter("").matches(&start));
        assert!(filter(r#"{"type":{"container":true}}"#).matches(&start));
        assert!(!filter(r#"{"type":["image"]}"#).matches(&start));
        assert!(filter(r#"{"event":["start","die"]}"#).matches(&start));
        assert!(!filter(r#"{"event":["sta"]}"#).matches(&start));
        assert!(filter(r#"{"event":["exec_start"]}"#).matches(&exec));
    }

    #[test]
    fn container_filter_takes_id_prefixes_and_names_and_drops_other_types() {
        let start = ev("container", "start", "abcdef", &[("name", "web")]);
        assert!(filter(r#"{"container":["abc"]}"#).matches(&start));
        assert!(filter(r#"{"container":["web"]}"#).matches(&start));
        assert!(!filter(r#"{"container":["db"]}"#).matches(&start));
        let net = ev("network", "create", "abcdef", &[("name", "web")]);
        assert!(!filter(r#"{"container":["web"]}"#).matches(&net));
    }

    #[test]
    fn image_filter_matches_container_images_and_image_events_without_tags() {
        let run = ev("container", "start", "c1", &[("image", "busybox:latest")]);
        assert!(filter(r#"{"image":["busybox"]}"#).matches(&run));
        assert!(filter(r#"{"image":["busybox:latest"]}"#).matches(&run));
        assert!(!filter(r#"{"image":["alpine"]}"#).matches(&run));
        let tag = ev("image", "tag", "sha256:1", &[("name", "me/app:v1")]);
        assert!(filter(r#"{"image":["me/app"]}"#).matches(&tag));
        assert!(filter(r#"{"image":["sha256:1"]}"#).matches(&tag));
        let reg = ev("image", "tag", "x", &[("name", "localhost:5000/app")]);
        assert!(filter(r#"{"image":["localhost:5000/app"]}"#).matches(&reg));
    }

    #[test]
    fn label_filters_all_have_to_match() {
        let e = ev("container", "start", "c", &[("a", "1"), ("b", "2")]);
        assert!(filter(r#"{"label":["a","b=2"]}"#).matches(&e));
        assert!(!filter(r#"{"label":["a","b=3"]}"#).matches(&e));
    }

    #[test]
    fn unknown_filters_are_refused_like_moby() {
        assert_eq!(
            EventFilter::parse(r#"{"colour":["red"]}"#).unwrap_err(),
            "invalid filter 'colour'"
        );
        assert!(!filter(r#"{"service":["x"]}"#).matches(&ev("container", "start", "c", &[])));
    }

    #[test]
    fn calls_without_their_own_event_are_mapped_to_moby_events() {
        let p = axum::http::Method::POST;
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
        assert_eq!(
            unreported_event(&axum::http::Method::GET, "/commit", ""),
            None
        );
    }
}
