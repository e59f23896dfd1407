//! Progress as the Engine API streams it (`POST /images/create`, `push`): JSON
//! messages with `status`, `id` (a layer's short digest) and, while bytes move,
//! `progressDetail` and `progress` (the bar docker prints), so that the docker
//! CLI and ours draw the same lines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where progress messages go.
pub type Sink = Arc<dyn Fn(Value) + Send + Sync>;

/// A sink that drops everything.
pub fn discard() -> Sink {
    Arc::new(|_| {})
}

/// A message for layer `id`.
pub fn status(id: &str, status: &str) -> Value {
    json!({"status": status, "progressDetail": {}, "id": id})
}

/// `Retrying in N seconds` for layer `id`, as docker counts down a retry.
pub fn retrying(id: &str, wait: Duration) -> Value {
    let secs = wait.as_secs().max(1);
    let unit = if secs == 1 { "second" } else { "seconds" };
    status(id, &format!("Retrying in {secs} {unit}"))
}

/// A message without a layer.
pub fn line(status: &str) -> Value {
    json!({ "status": status })
}

/// `Downloading`/`Pushing`/`Extracting` with the bar.
pub fn bytes(id: &str, status: &str, current: u64, total: u64) -> Value {
    json!({
        "status": status,
        "progressDetail": {"current": current, "total": total},
        "progress": shared::units::progress_text(current, total),
        "id": id,
    })
}

/// The short id docker shows for a layer: 12 hex digits of its digest.
pub fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex[..hex.len().min(12)].to_string()
}

/// Sends byte progress at most every 100 ms (and always the last).
pub struct Throttle {
    sink: Sink,
    id: String,
    status: &'static str,
    total: u64,
    last: Option<Instant>,
}

impl Throttle {
    pub fn new(sink: Sink, id: &str, status: &'static str, total: u64) -> Throttle {
        Throttle {
            sink,
            id: id.to_string(),
            status,
            total,
            last: None,
        }
    }

    pub fn update(&mut self, current: u64) {
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if due || current >= self.total {
            self.last = Some(Instant::now());
            (self.sink)(bytes(&self.id, self.status, current, self.total));
        }
    }
}
