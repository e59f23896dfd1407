//! `host ls`: one row per virtual host, limits in binary units as they were given,
//! the time left before it expires.

use crate::commands::system::info::human_binary_size;
use crate::format::humanize::{go_fmt_g, human_duration};
use crate::format::table::Row;
use chrono::{DateTime, Utc};
use shared::vhost::VhostInfo;

pub const LS_DEFAULT: &str = "table {{.Name}}\t{{.Hostname}}\t{{.State}}\t{{.IP}}\t{{.Containers}}\t{{.Memory}}\t{{.CPUs}}\t{{.Disk}}\t{{.Expires}}";

pub const LS_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Hostname", "HOSTNAME"),
    ("State", "STATE"),
    ("IP", "IP"),
    ("Containers", "CONTAINERS"),
    ("Memory", "MEMORY"),
    ("CPUs", "CPUS"),
    ("PidsLimit", "PIDS LIMIT"),
    ("Disk", "DISK"),
    ("Expires", "EXPIRES"),
    ("ExpiresAt", "EXPIRES AT"),
    ("IdleTimeout", "IDLE TIMEOUT"),
    ("LastActive", "LAST ACTIVE"),
    ("Created", "CREATED"),
    ("Session", "SESSION"),
    ("Egress", "EGRESS"),
    ("Socket", "SOCKET"),
    ("Labels", "LABELS"),
];

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.into()
    }
}

/// A limit that is set: 0 and below mean none, as Docker's do.
fn limit(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v > 0)
}

/// "in 3 hours", "never" (no TTL), "expired", or the daemon's text if it is not
/// RFC 3339.
pub fn expires_text(expires_at: &str, now: DateTime<Utc>) -> String {
    if expires_at.is_empty() {
        return "never".into();
    }
    let Ok(t) = DateTime::parse_from_rfc3339(expires_at) else {
        return expires_at.into();
    };
    let left = t.with_timezone(&Utc) - now;
    match left.to_std() {
        Ok(d) if !d.is_zero() => {
            // go-units capitalises "About an hour" to start a sentence.
            let h = human_duration(d);
            let mut c = h.chars();
            let first = c.next().map(|f| f.to_lowercase().to_string());
            format!("in {}{}", first.unwrap_or_default(), c.as_str())
        }
        _ => "expired".into(),
    }
}

/// One `host ls` row: limits in binary units as they were given (`512MiB`),
/// "-" where nothing is set.
pub fn host_row(h: &VhostInfo, now: DateTime<Utc>) -> Row {
    let size = |v: Option<i64>| limit(v).map_or("-".into(), |b| human_binary_size(b as f64));
    let mut r = Row::new();
    let mut put = |k: &str, v: String| {
        r.insert(k.to_string(), v);
    };
    put("Name", h.name.clone());
    put("Hostname", or_dash(&h.hostname));
    put("State", h.state.clone());
    put("IP", or_dash(&h.ip_address));
    put("Containers", h.containers.to_string());
    put("Memory", size(h.limits.memory));
    put(
        "CPUs",
        limit(h.limits.nano_cpus).map_or("-".into(), |n| go_fmt_g(n as f64 / 1e9, 6)),
    );
    put(
        "PidsLimit",
        limit(h.limits.pids_limit).map_or("-".into(), |n| n.to_string()),
    );
    put("Disk", size(h.limits.disk));
    put("Expires", expires_text(&h.expires_at, now));
    put("ExpiresAt", or_dash(&h.expires_at));
    put(
        "IdleTimeout",
        if h.idle_timeout > 0 {
            human_duration(std::time::Duration::from_secs(h.idle_timeout as u64))
        } else {
            "-".into()
        },
    );
    put("LastActive", or_dash(&h.last_active));
    put("Created", h.created.clone());
    put("Session", or_dash(&h.session));
    put("Egress", or_dash(&h.egress));
    put("Socket", h.socket.clone());
    put(
        "Labels",
        h.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    r
}

/// The rows of `host ls`, by name.
pub fn ls_rows(mut hosts: Vec<VhostInfo>, now: DateTime<Utc>) -> Vec<Row> {
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    hosts.iter().map(|h| host_row(h, now)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::table::render;
    use shared::vhost::VhostLimits;
    use std::collections::BTreeMap;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn info() -> VhostInfo {
        VhostInfo {
            name: "lab".into(),
            hostname: "box".into(),
            created: "2025-03-01T11:00:00Z".into(),
            expires_at: "2025-03-01T15:00:00+00:00".into(),
            idle_timeout: 1800,
            last_active: "2025-03-01T11:59:00Z".into(),
            limits: VhostLimits {
                memory: Some(512 << 20),
                nano_cpus: Some(1_500_000_000),
                pids_limit: None,
                disk: Some(2 << 30),
            },
            session: String::new(),
            egress: "all".into(),
            ip_address: "10.88.0.2".into(),
            socket: "/var/lib/dockhand/vhosts/lab/docker.sock".into(),
            uid_base: 100_000,
            state: "running".into(),
            containers: 2,
            labels: BTreeMap::from([("course".to_string(), "k8s".to_string())]),
        }
    }

    #[test]
    fn expiry_reads_as_time_left() {
        assert_eq!(expires_text("", now()), "never");
        assert_eq!(expires_text("2025-03-01T15:00:00Z", now()), "in 3 hours");
        assert_eq!(
            expires_text("2025-03-01T13:05:00+01:00", now()),
            "in 5 minutes"
        );
        assert_eq!(
            expires_text("2025-03-01T13:00:00Z", now()),
            "in about an hour"
        );
        assert_eq!(expires_text("2025-03-01T12:00:00Z", now()), "expired");
        assert_eq!(expires_text("2025-03-01T11:00:00Z", now()), "expired");
        assert_eq!(expires_text("tomorrow", now()), "tomorrow");
    }

    #[test]
    fn ls_table_shows_limits_in_binary_units_and_dashes_for_unset() {
        let mut bare = info();
        bare.name = "a-bare".into();
        bare.ip_address = String::new();
        bare.expires_at = String::new();
        bare.limits = VhostLimits::default();
        bare.containers = 0;
        let rows = ls_rows(vec![info(), bare], now());
        let out = render(LS_DEFAULT, &rows, LS_HEADERS).unwrap();
        let lines: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines,
            vec![
                vec![
                    "NAME",
                    "HOSTNAME",
                    "STATE",
                    "IP",
                    "CONTAINERS",
                    "MEMORY",
                    "CPUS",
                    "DISK",
                    "EXPIRES"
                ],
                vec!["a-bare", "box", "running", "-", "0", "-", "-", "-", "never"],
                vec![
                    "lab",
                    "box",
                    "running",
                    "10.88.0.2",
                    "2",
                    "512MiB",
                    "1.5",
                    "2GiB",
                    "in",
                    "3",
                    "hours"
                ],
            ]
        );
        let r = &rows[1];
        assert_eq!(r["IdleTimeout"], "30 minutes");
        assert_eq!(r["PidsLimit"], "-");
        assert_eq!(r["Labels"], "course=k8s");
        assert_eq!(r["Session"], "-");
        let custom = render("{{.Name}} {{.Egress}} {{.Socket}}", &rows[1..], LS_HEADERS).unwrap();
        assert_eq!(custom, "lab all /var/lib/dockhand/vhosts/lab/docker.sock\n");
    }
}
