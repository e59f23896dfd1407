//! Virtual hosts on the wire: `POST /dockhand/hosts/create`, `GET /dockhand/hosts`,
//! `GET /dockhand/hosts/{name}`, `DELETE /dockhand/hosts/{name}`, and the shell
//! API `POST /dockhand/hosts/{name}/exec` (then `/exec/{id}/start` and
//! `/exec/{id}/resize` on the same prefix, as Docker's exec API).

use serde::{Deserialize, Serialize};

/// What a virtual host may use. `None` fields take the daemon's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VhostLimits {
    /// Memory of the whole host (its shells and containers), bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// CPUs in billionths (Docker's `NanoCpus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// Size of its disk, bytes: writing past it fails with ENOSPC inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<i64>,
}

/// `POST /dockhand/hosts/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VhostCreateRequest {
    /// The host's name in the API (unique); generated when empty.
    #[serde(default)]
    pub name: String,
    /// What `hostname` says inside (default: the name).
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub limits: VhostLimits,
    /// Destroyed this long after creation (seconds; 0: the daemon's default,
    /// negative: never).
    #[serde(default)]
    pub ttl: i64,
    /// Destroyed after this long without use (seconds; as `ttl`).
    #[serde(default)]
    pub idle_timeout: i64,
    /// Hosts that name the same session network reach each other by hostname.
    #[serde(default)]
    pub session: String,
    /// Egress policy: "none", "registries" or "all" (empty: the default).
    #[serde(default)]
    pub egress: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A virtual host, as `inspect` and `ls` show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VhostInfo {
    pub name: String,
    pub hostname: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339, empty when it never expires.
    #[serde(default)]
    pub expires_at: String,
    /// Seconds; 0 when there is no idle timeout.
    #[serde(default)]
    pub idle_timeout: i64,
    /// RFC 3339 of the last use seen.
    #[serde(default)]
    pub last_active: String,
    pub limits: VhostLimits,
    #[serde(default)]
    pub session: String,
    #[serde(default)]
    pub egress: String,
    /// Its address on the playground network (empty without one).
    #[serde(default, rename = "IPAddress")]
    pub ip_address: String,
    /// The Docker API socket of the host, on the machine.
    #[serde(default)]
    pub socket: String,
    /// First uid of its range on the machine (root inside).
    #[serde(default)]
    pub uid_base: u32,
    /// "running" or "dead".
    pub state: String,
    /// Containers (not counting its own init).
    #[serde(default)]
    pub containers: usize,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}
