//! Where a repository lives and how to reach it, as Docker decides.
//!
//! - `docker.io` (and `index.docker.io`) is served by `registry-1.docker.io`, or by
//!   the configured mirrors first (`--registry-mirror`, Docker's daemon flag).
//! - Any other domain is the registry itself, `host[:port]`.
//! - A registry is *insecure* (plain HTTP allowed, certificates not checked) when
//!   its host is loopback (`localhost`, 127.0.0.0/8, `::1`) or matches an
//!   `--insecure-registry` entry (a `host[:port]` or a CIDR). Docker tries HTTPS
//!   first and falls back to HTTP for those; so do we.

use std::net::{IpAddr, Ipv4Addr};

use crate::reference::{Reference, DEFAULT_DOMAIN};

/// Docker Hub's registry host.
pub const HUB_REGISTRY: &str = "registry-1.docker.io";
/// The key Docker Hub credentials have in `config.json` and `X-Registry-Auth`.
pub const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// One `--insecure-registry` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insecure {
    /// `host` or `host:port`.
    Host(String),
    /// An IPv4 network: every registry whose host is an address in it.
    Cidr(Ipv4Addr, u8),
}

impl std::str::FromStr for Insecure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://");
        let s = s.trim_end_matches('/');
        if s.is_empty() {
            return Err("empty insecure registry".into());
        }
        if let Some((ip, len)) = s.split_once('/') {
            let ip: Ipv4Addr = ip
                .parse()
                .map_err(|_| format!("invalid insecure registry {s}: not a CIDR"))?;
            let len: u8 = len
                .parse()
                .ok()
                .filter(|l| *l <= 32)
                .ok_or_else(|| format!("invalid insecure registry {s}: bad prefix length"))?;
            return Ok(Insecure::Cidr(ip, len));
        }
        Ok(Insecure::Host(s.to_string()))
    }
}

/// The host part of `host[:port]` (IPv6 in brackets kept whole).
pub fn host_of(domain: &str) -> &str {
    if domain.starts_with('[') {
        return domain
            .split(']')
            .next()
            .map_or(domain, |h| &domain[..=h.len()]);
    }
    domain.split(':').next().unwrap_or(domain)
}

fn in_cidr(ip: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(net) & mask
}

/// Whether `domain` (`host[:port]`) may be reached over plain HTTP.
pub fn is_insecure(domain: &str, insecure: &[Insecure]) -> bool {
    let host = host_of(domain);
    let ip: Option<IpAddr> = host.trim_matches(|c| c == '[' || c == ']').parse().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    insecure.iter().any(|i| match i {
        Insecure::Host(h) => h == domain || h == host,
        Insecure::Cidr(net, len) => match ip {
            Some(IpAddr::V4(v4)) => in_cidr(v4, *net, *len),
            _ => false,
        },
    })
}

/// One place to ask for a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` as used in URLs.
    pub host: String,
    /// The repository path on that registry (`library/busybox`).
    pub repo: String,
    /// Plain HTTP allowed, certificates not checked.
    pub insecure: bool,
    /// A mirror of Docker Hub (a failure falls through to the next endpoint).
    pub mirror: bool,
}

/// The endpoints to try for `r`, in order: Docker Hub's mirrors, then the
/// registry itself.
pub fn endpoints(r: &Reference, mirrors: &[String], insecure: &[Insecure]) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if r.domain() == DEFAULT_DOMAIN {
        for m in mirrors {
            let host = m
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            out.push(Endpoint {
                insecure: m.starts_with("http://") || is_insecure(&host, insecure),
                host,
                repo: r.path().to_string(),
                mirror: true,
            });
        }
        out.push(Endpoint {
            host: HUB_REGISTRY.into(),
            repo: r.path().to_string(),
            insecure: false,
            mirror: false,
        });
    } else {
        out.push(Endpoint {
            host: r.domain().to_string(),
            repo: r.path().to_string(),
            insecure: is_insecure(r.domain(), insecure),
            mirror: false,
        });
    }
    out
}

/// The registry itself (never a mirror): where pushes, logins and tag lists go.
pub fn registry_endpoint(r: &Reference, insecure: &[Insecure]) -> Endpoint {
    let mut eps = endpoints(r, &[], insecure);
    eps.pop().expect("the registry is always the last endpoint")
}

/// The key credentials of `domain` have (`config.json`'s `auths`, the
/// `serveraddress` of `X-Registry-Auth`): Docker Hub's legacy URL, or the domain.
pub fn auth_key(domain: &str) -> String {
    if domain == DEFAULT_DOMAIN || domain == "index.docker.io" || domain == HUB_REGISTRY {
        HUB_AUTH_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// The registry domain a `docker login [SERVER]` argument names.
pub fn login_domain(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "" | "index.docker.io" | "docker.io" | HUB_REGISTRY => DEFAULT_DOMAIN.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_references_go_to_mirrors_then_registry_1() {
        let r = Reference::parse("busybox").unwrap();
        let e = endpoints(&r, &["http://mirror.local:5000/".into()], &[]);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].host, "mirror.local:5000");
        assert!(e[0].insecure && e[0].mirror);
        assert_eq!(e[1].host, HUB_REGISTRY);
        assert_eq!(e[1].repo, "library/busybox");
        assert!(!e[1].insecure);
        let r = Reference::parse("localhost:5000/team/app:1").unwrap();
        let e = endpoints(&r, &["http://mirror.local".into()], &[]);
        assert_eq!(e.len(), 1, "mirrors are for Docker Hub only");
        assert_eq!(e[0].host, "localhost:5000");
        assert_eq!(e[0].repo, "team/app");
        assert!(e[0].insecure);
    }

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        assert!(is_insecure("127.0.0.1:5000", &[]));
        assert!(is_insecure("127.9.9.9", &[]));
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("10.0.0.5:5000", &[]));
        let list: Vec<Insecure> = ["10.0.0.0/8", "reg.lan:5000", "other.lan"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(is_insecure("10.0.0.5:5000", &list));
        assert!(!is_insecure("11.0.0.5:5000", &list));
        assert!(is_insecure("reg.lan:5000", &list));
        assert!(!is_insecure("reg.lan:6000", &list));
        assert!(is_insecure("other.lan:443", &list));
        assert!("10.0.0.0/40".parse::<Insecure>().is_err());
    }

    #[test]
    fn credentials_are_keyed_as_docker_keys_them() {
        assert_eq!(auth_key("docker.io"), HUB_AUTH_KEY);
        assert_eq!(auth_key("localhost:5000"), "localhost:5000");
        assert_eq!(login_domain(""), "docker.io");
        assert_eq!(login_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(login_domain("http://127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
