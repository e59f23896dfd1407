//! A playground over many nodes (`dockhand serve --node-name`, `dockhand
//! gateway`): what a node reports about itself, and how a session's id names
//! the node that holds it.
//!
//! A node's session and workshop ids start with its *prefix*, four characters
//! derived from its name. The gateway learns every node's prefix from its report
//! and routes anything about a session to the node whose prefix starts the id:
//! it keeps no table of sessions, so any replica routes any session.

use serde::{Deserialize, Serialize};

/// `GET /api/node`: a node's identity and room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// `--node-name` (a Kubernetes node's or pod's name).
    pub name: String,
    /// What its session and workshop ids start with ([`id_prefix`] of the name).
    pub prefix: String,
    /// Open sessions.
    pub sessions: u32,
    /// `--max-sessions`.
    pub max_sessions: u32,
    /// Instances made or being made.
    pub instances: u32,
    /// Instances the node may run in all.
    pub max_instances: u32,
    /// New sessions it would take now: free session slots, bounded by free
    /// instance slots; 0 while draining.
    pub room: u32,
    /// Stopping: it takes no new sessions, its sessions go on to their end.
    pub draining: bool,
}

/// Length of a node's id prefix.
pub const PREFIX_LEN: usize = 4;

/// Path of [`NodeReport`].
pub const NODE_PATH: &str = "/api/node";
/// Liveness: 200 while the process serves.
pub const HEALTH_PATH: &str = "/healthz";
/// Readiness: 200 while it takes new sessions (a node) or knows a node (a
/// gateway), 503 otherwise.
pub const READY_PATH: &str = "/readyz";

/// `GET`: 204 when a workshop with this join code is open on the node, 404
/// when not (a gateway asks every node where a trainee's code belongs).
pub fn workshop_code(code: &str) -> String {
    format!("/api/workshops/codes/{code}")
}

/// The prefix of a node's ids: FNV-1a of its name in base 36, four
/// characters of `[a-z0-9]` like the rest of an id.
pub fn id_prefix(node_name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node_name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..PREFIX_LEN)
        .map(|_| {
            let c = (h % 36) as u8;
            h /= 36;
            (if c < 10 { b'0' + c } else { b'a' + c - 10 }) as char
        })
        .collect()
}

/// The prefix a session or workshop id carries, if it is long enough to carry one.
pub fn prefix_of(id: &str) -> Option<&str> {
    (id.len() > PREFIX_LEN && id.is_char_boundary(PREFIX_LEN)).then(|| &id[..PREFIX_LEN])
}

/// The session a playground request's path is about: the `{id}` of
/// `/api/sessions/{id}/...`, `/s/{id}/...`, and of a workshop's
/// `/api/workshops/{id}/...`; `None` for a request about no session (the UI,
/// `/api/config`, creating a session). A gateway asks the `Host` of a
/// host-name port link and the `Referer` of a proxied page first.
pub fn routed_id(path: &str) -> Option<String> {
    let rest = path
        .strip_prefix("/api/sessions/")
        .or_else(|| path.strip_prefix("/api/workshops/"))
        .or_else(|| path.strip_prefix("/s/"))?;
    let id = rest.split(['/', '?']).next().unwrap_or_default();
    (id != "codes" && super::is_url_safe_id(id)).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_four_id_characters_and_differ_by_name() {
        let a = id_prefix("worker-1");
        let b = id_prefix("worker-2");
        assert_eq!(a.len(), PREFIX_LEN);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, b);
        assert_eq!(a, id_prefix("worker-1"), "the same name, the same prefix");
        // 200 node names, no two alike (36^4 = 1.7 million prefixes).
        let all: std::collections::HashSet<String> =
            (0..200).map(|i| id_prefix(&format!("node-{i}"))).collect();
        assert_eq!(all.len(), 200);
    }

    #[test]
    fn an_id_carries_its_prefix() {
        assert_eq!(prefix_of("ab12xyzxyzxyzq"), Some("ab12"));
        assert_eq!(prefix_of("ab12"), None, "a prefix alone is no id");
        assert_eq!(prefix_of(""), None);
    }

    #[test]
    fn the_session_of_a_request_comes_from_its_path() {
        assert_eq!(routed_id("/api/sessions/ab12x/ws"), Some("ab12x".into()));
        assert_eq!(routed_id("/api/sessions/ab12x"), Some("ab12x".into()));
        assert_eq!(
            routed_id("/api/sessions/ab12x/instances/node1/terminals/1"),
            Some("ab12x".into())
        );
        assert_eq!(routed_id("/s/ab12x/node1/80/"), Some("ab12x".into()));
        assert_eq!(routed_id("/api/workshops/ab12w/ws"), Some("ab12w".into()));
        assert_eq!(routed_id("/api/sessions"), None);
        assert_eq!(routed_id("/api/workshops"), None);
        assert_eq!(routed_id("/api/workshops/codes/ABC123"), None);
        assert_eq!(routed_id("/api/config"), None);
        assert_eq!(routed_id("/"), None);
        assert_eq!(routed_id("/api/sessions/a%20b/ws"), None);
    }
}
