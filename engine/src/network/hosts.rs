//! The files and variables a container's network gives it, as pure functions:
//! `/etc/hosts`, `/etc/resolv.conf` and the legacy `--link` environment.
//!
//! Docker writes /etc/hosts as the localhost block, then `--add-host` entries, then
//! one line per legacy link (`IP\talias hostname name`), then the container's own
//! address and hostname. On user networks resolv.conf points at the embedded DNS
//! server (127.0.0.11) and keeps the host's search domains and options; on the
//! default bridge it is the host's file without loopback resolvers (they would
//! point into the container), or Google's public resolvers if none remain.

use std::net::Ipv4Addr;

/// The localhost block Docker puts at the top of every /etc/hosts.
pub const HOSTS_BASE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The embedded DNS server's address inside each container on a user network.
pub const EMBEDDED_DNS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// A legacy link as /etc/hosts and the environment need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The alias given with `--link name:alias` (the name if none).
    pub alias: String,
    /// The linked container's name without the leading `/`.
    pub name: String,
    /// The linked container's hostname (its short id by default).
    pub hostname: String,
    pub ip: Ipv4Addr,
    /// Exposed ports of the linked container as (port, "tcp"|"udp").
    pub ports: Vec<(u16, String)>,
    /// The linked container's environment, `KEY=value`.
    pub env: Vec<String>,
}

/// The content of a container's /etc/hosts.
///
/// `extra_hosts` are `--add-host` values (`name:ip`, `name=ip`, or `name:host-gateway`);
/// `host-gateway` becomes `host_gateway` (the default bridge's gateway). Entries that
/// do not parse are skipped (the CLI validated them already).
pub fn hosts_file(
    hostname: &str,
    domainname: &str,
    own_ip: Option<Ipv4Addr>,
    extra_hosts: &[String],
    host_gateway: Ipv4Addr,
    links: &[LinkInfo],
) -> String {
    let mut out = String::from(HOSTS_BASE);
    for entry in extra_hosts {
        let Some((name, ip)) = split_extra_host(entry) else {
            continue;
        };
        let ip = if ip == "host-gateway" {
            host_gateway.to_string()
        } else {
            ip.to_string()
        };
        out.push_str(&format!("{ip}\t{name}\n"));
    }
    for l in links {
        let mut names = format!("{} {}", l.alias, l.hostname);
        if l.alias != l.name {
            names.push(' ');
            names.push_str(&l.name);
        }
        out.push_str(&format!("{}\t{}\n", l.ip, names));
    }
    if let Some(ip) = own_ip {
        if domainname.is_empty() {
            out.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            out.push_str(&format!("{ip}\t{hostname}.{domainname} {hostname}\n"));
        }
    }
    out
}

/// `name:ip` (Docker's form; the IP may be IPv6 and hold colons) or `name=ip`.
fn split_extra_host(entry: &str) -> Option<(&str, &str)> {
    let (name, ip) = entry.split_once('=').or_else(|| entry.split_once(':'))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || ip.is_empty() {
        return None;
    }
    Some((name, ip))
}

/// Nameservers of a host resolv.conf that are usable from another namespace
/// (loopback ones are not).
pub fn host_nameservers(host_resolv: &str) -> Vec<String> {
    host_resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|ns| ns.trim().to_string())
        .filter(|ns| !ns.is_empty())
        .collect()
}

fn is_loopback(ns: &str) -> bool {
    ns.starts_with("127.") || ns == "::1"
}

/// The container's /etc/resolv.conf. `embedded_dns` is true on user networks.
pub fn resolv_conf(host_resolv: &str, embedded_dns: bool) -> String {
    let mut out = String::new();
    if embedded_dns {
        let mut options: Vec<String> = Vec::new();
        for line in host_resolv.lines() {
            let t = line.trim();
            if t.starts_with("search") || t.starts_with("domain") {
                out.push_str(t);
                out.push('\n');
            } else if let Some(o) = t.strip_prefix("options") {
                options.extend(o.split_whitespace().map(str::to_string));
            }
        }
        out.push_str(&format!("nameserver {EMBEDDED_DNS}\n"));
        options.retain(|o| !o.starts_with("ndots:"));
        options.push("ndots:0".into());
        out.push_str(&format!("options {}\n", options.join(" ")));
        return out;
    }
    let mut servers = 0;
    for line in host_resolv.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            if is_loopback(ns.trim()) {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// Legacy link variables for a container named `parent` (without `/`), in Docker's
/// order: `ALIAS_PORT`, then per port `..._PORT_80_TCP`, `_ADDR`, `_PORT`, `_PROTO`,
/// then `ALIAS_NAME=/parent/alias` and `ALIAS_ENV_*` (without HOME and PATH).
pub fn link_env(parent: &str, link: &LinkInfo) -> Vec<String> {
    let alias = link.alias.to_uppercase().replace('-', "_");
    let mut ports = link.ports.clone();
    ports.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let mut env = Vec::new();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{alias}_PORT={proto}://{}:{p}", link.ip));
    }
    for (p, proto) in &ports {
        let key = format!("{alias}_PORT_{p}_{}", proto.to_uppercase());
        env.push(format!("{key}={proto}://{}:{p}", link.ip));
        env.push(format!("{key}_ADDR={}", link.ip));
        env.push(format!("{key}_PORT={p}"));
        env.push(format!("{key}_PROTO={proto}"));
    }
    env.push(format!(
        "{alias}_NAME=/{}/{}",
        parent.trim_start_matches('/'),
        link.alias
    ));
    for kv in &link.env {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        if k == "HOME" || k == "PATH" {
            continue;
        }
        env.push(format!("{alias}_ENV_{k}={v}"));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> LinkInfo {
        LinkInfo {
            alias: "db-main".into(),
            name: "database".into(),
            hostname: "0123456789ab".into(),
            ip: Ipv4Addr::new(172, 17, 0, 3),
            ports: vec![(5432, "tcp".into()), (80, "tcp".into())],
            env: vec![
                "PATH=/usr/bin".into(),
                "POSTGRES_PASSWORD=x=y".into(),
                "HOME=/root".into(),
            ],
        }
    }

    #[test]
    fn hosts_file_has_localhost_extra_links_and_own_line_in_docker_order() {
        let h = hosts_file(
            "abcdef012345",
            "",
            Some(Ipv4Addr::new(172, 17, 0, 2)),
            &[
                "host.docker.internal:host-gateway".into(),
                "db=10.0.0.5".into(),
            ],
            Ipv4Addr::new(172, 17, 0, 1),
            &[link()],
        );
        let expected = format!(
            "{HOSTS_BASE}172.17.0.1\thost.docker.internal\n10.0.0.5\tdb\n172.17.0.3\tdb-main 0123456789ab database\n172.17.0.2\tabcdef012345\n"
        );
        assert_eq!(h, expected);
    }

    #[test]
    fn hosts_file_without_network_has_no_own_line() {
        let h = hosts_file("h", "example.com", None, &[], Ipv4Addr::LOCALHOST, &[]);
        assert_eq!(h, HOSTS_BASE);
        let h = hosts_file(
            "h",
            "example.com",
            Some(Ipv4Addr::new(10, 0, 0, 2)),
            &[],
            Ipv4Addr::LOCALHOST,
            &[],
        );
        assert!(h.ends_with("10.0.0.2\th.example.com h\n"));
    }

    #[test]
    fn resolv_conf_default_bridge_drops_loopback_resolvers() {
        let host =
            "search corp.example\nnameserver 127.0.0.53\nnameserver 10.1.1.1\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, false),
            "search corp.example\nnameserver 10.1.1.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.53\n", false),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn resolv_conf_user_network_points_at_embedded_dns() {
        let host = "search corp.example\nnameserver 10.1.1.1\noptions edns0 ndots:2\n";
        assert_eq!(
            resolv_conf(host, true),
            "search corp.example\nnameserver 127.0.0.11\noptions edns0 ndots:0\n"
        );
    }

    #[test]
    fn link_env_matches_docker_names() {
        let env = link_env("/web", &link());
        assert_eq!(
            env,
            vec![
                "DB_MAIN_PORT=tcp://172.17.0.3:80",
                "DB_MAIN_PORT_80_TCP=tcp://172.17.0.3:80",
                "DB_MAIN_PORT_80_TCP_ADDR=172.17.0.3",
                "DB_MAIN_PORT_80_TCP_PORT=80",
                "DB_MAIN_PORT_80_TCP_PROTO=tcp",
                "DB_MAIN_PORT_5432_TCP=tcp://172.17.0.3:5432",
                "DB_MAIN_PORT_5432_TCP_ADDR=172.17.0.3",
                "DB_MAIN_PORT_5432_TCP_PORT=5432",
                "DB_MAIN_PORT_5432_TCP_PROTO=tcp",
                "DB_MAIN_NAME=/web/db-main",
                "DB_MAIN_ENV_POSTGRES_PASSWORD=x=y",
            ]
        );
    }

    #[test]
    fn host_nameservers_lists_all() {
        assert_eq!(
            host_nameservers("nameserver 1.1.1.1\n# x\nnameserver 127.0.0.53\n"),
            vec!["1.1.1.1", "127.0.0.53"]
        );
    }
}
