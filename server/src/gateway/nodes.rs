//! The nodes a gateway knows: found in DNS (a headless Service's records),
//! each asked for its report ([`NodeReport`]) every refresh, and chosen for a
//! new session by room.

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use shared::playground::cluster::NodeReport;
use shared::sync::Locked;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// Where the nodes are listed: `dns:NAME:PORT`, every address NAME resolves
/// to (a headless Service's A/AAAA records) at PORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSource {
    pub name: String,
    pub port: u16,
}

impl std::str::FromStr for NodeSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let want = "want dns:NAME:PORT, e.g. dns:dockhand-node.dockhand.svc.cluster.local:8080";
        let rest = s
            .strip_prefix("dns:")
            .ok_or_else(|| format!("invalid node source {s:?}: {want}"))?;
        let (name, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("invalid node source {s:?}: no port: {want}"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid node source {s:?}: bad port {port:?}"))?;
        let name = name.trim_end_matches('.');
        if !shared::playground::is_dns_name(name) {
            return Err(format!(
                "invalid node source {s:?}: {name:?} is no DNS name"
            ));
        }
        Ok(NodeSource {
            name: name.to_string(),
            port,
        })
    }
}

/// Looks the node source up.
pub struct Discovery {
    source: NodeSource,
    resolver: TokioResolver,
}

impl Discovery {
    /// With the system's resolver configuration (`/etc/resolv.conf`: a pod's
    /// cluster DNS and search domains), or `server` alone. No cache: every
    /// refresh asks again.
    pub fn new(source: NodeSource, server: Option<SocketAddr>) -> Result<Discovery, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    provider,
                )
            }
            None => TokioResolver::builder(provider)
                .map_err(|e| format!("reading the system's DNS configuration: {e}"))?,
        };
        let opts = builder.options_mut();
        opts.cache_size = 0;
        opts.timeout = std::time::Duration::from_secs(2);
        opts.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|e| format!("making a DNS resolver: {e}"))?;
        Ok(Discovery { source, resolver })
    }

    /// Every node address now; an empty list when the name has no records.
    pub async fn addresses(&self) -> Result<Vec<SocketAddr>, String> {
        // A dotted name is taken as complete (no search domains tried); a
        // short one (`dockhand-node`) goes through the pod's search list.
        let name = if self.source.name.contains('.') {
            format!("{}.", self.source.name)
        } else {
            self.source.name.clone()
        };
        match self.resolver.lookup_ip(name.as_str()).await {
            Ok(ips) => {
                let mut all: Vec<SocketAddr> = ips
                    .iter()
                    .map(|ip| SocketAddr::new(ip, self.source.port))
                    .collect();
                all.sort();
                all.dedup();
                Ok(all)
            }
            Err(e) if e.is_no_records_found() => Ok(vec![]),
            Err(e) => Err(format!("looking up {}: {e}", self.source.name)),
        }
    }
}

/// One node as the gateway sees it.
#[derive(Debug, Clone)]
pub struct Node {
    pub addr: SocketAddr,
    /// Its last report; kept while it does not answer, so that its sessions
    /// are known to be its (and unavailable).
    pub report: Option<NodeReport>,
    /// It answered the last time it was asked, and no request failed since.
    pub up: bool,
    /// Sessions this gateway placed on it since its last report.
    pub placed: u32,
}

impl Node {
    /// Room for new sessions as far as this gateway knows.
    fn room(&self) -> u32 {
        match &self.report {
            Some(r) if self.up && !r.draining => r.room.saturating_sub(self.placed),
            _ => 0,
        }
    }

    /// Up, not draining, and with a prefix (a server without `--node-name`
    /// makes ids no gateway can route).
    fn takes_sessions(&self) -> bool {
        self.up
            && self
                .report
                .as_ref()
                .is_some_and(|r| !r.draining && !r.prefix.is_empty())
    }
}

/// Where a request about a session goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To this node.
    To(SocketAddr),
    /// Its node is known but down, or no known node has its prefix.
    Unavailable,
}

/// Every node the gateway knows, by address.
#[derive(Default)]
pub struct Nodes {
    all: Mutex<BTreeMap<SocketAddr, Node>>,
}

impl Nodes {
    /// The addresses the source lists now: new ones are added (down until
    /// they report), missing ones are forgotten.
    pub fn set_addresses(&self, addrs: &[SocketAddr]) {
        let mut all = self.all.locked();
        all.retain(|a, _| addrs.contains(a));
        for a in addrs {
            all.entry(*a).or_insert_with(|| Node {
                addr: *a,
                report: None,
                up: false,
                placed: 0,
            });
        }
    }

    /// A node's answer to `GET /api/node` (`None`: it did not answer).
    pub fn reported(&self, addr: SocketAddr, report: Option<NodeReport>) {
        let mut all = self.all.locked();
        let Some(first) = all.get(&addr).map(|n| n.report.is_none()) else {
            return;
        };
        let Some(r) = report else {
            if let Some(n) = all.get_mut(&addr) {
                self.down_locked(n);
            }
            return;
        };
        if first && r.prefix.is_empty() {
            tracing::warn!("the server at {addr} has no --node-name: it gets no sessions");
        }
        let twin = all
            .values()
            .filter_map(|o| o.report.as_ref())
            .find(|o| !r.prefix.is_empty() && o.prefix == r.prefix && o.name != r.name);
        if let (true, Some(other)) = (first, twin) {
            tracing::warn!(
                "nodes {} and {} have one id prefix ({}): give one of them another --node-name",
                other.name,
                r.name,
                r.prefix
            );
        }
        let Some(n) = all.get_mut(&addr) else {
            return;
        };
        if n.report.as_ref().is_some_and(|old| old.name != r.name) || !n.up {
            tracing::info!(
                "node {} at {addr} is up ({} of {} sessions{})",
                r.name,
                r.sessions,
                r.max_sessions,
                if r.draining { ", draining" } else { "" }
            );
        }
        n.report = Some(r);
        n.up = true;
        n.placed = 0;
    }

    /// A request to it failed: no more sessions go there until it reports again.
    pub fn failed(&self, addr: SocketAddr) {
        if let Some(n) = self.all.locked().get_mut(&addr) {
            self.down_locked(n);
        }
    }

    fn down_locked(&self, n: &mut Node) {
        if n.up {
            let name = n.report.as_ref().map_or("?", |r| r.name.as_str());
            tracing::warn!("node {name} at {} does not answer", n.addr);
        }
        n.up = false;
    }

    /// A session was placed on it.
    pub fn placed(&self, addr: SocketAddr) {
        if let Some(n) = self.all.locked().get_mut(&addr) {
            n.placed += 1;
        }
    }

    /// The node for a new session: the one with the most room, then the
    /// fewest sessions; among full nodes one that takes sessions (its answer
    /// says it is full). `skip`: nodes already tried.
    pub fn place(&self, skip: &[SocketAddr]) -> Option<SocketAddr> {
        let all = self.all.locked();
        all.values()
            .filter(|n| n.takes_sessions() && !skip.contains(&n.addr))
            .max_by_key(|n| {
                let sessions = n.report.as_ref().map_or(0, |r| r.sessions) + n.placed;
                (
                    n.room(),
                    std::cmp::Reverse(sessions),
                    std::cmp::Reverse(n.addr),
                )
            })
            .map(|n| n.addr)
    }

    /// Any node that answers, for requests about no session (the UI, the
    /// config, lessons): the one [`Nodes::place`] would choose, else any up.
    pub fn any(&self, skip: &[SocketAddr]) -> Option<SocketAddr> {
        self.place(skip).or_else(|| {
            let all = self.all.locked();
            all.values()
                .find(|n| n.up && !skip.contains(&n.addr))
                .map(|n| n.addr)
        })
    }

    /// The node of the session or workshop `id`, by its prefix.
    pub fn route(&self, id: &str) -> Route {
        let Some(prefix) = shared::playground::cluster::prefix_of(id) else {
            return Route::Unavailable;
        };
        let all = self.all.locked();
        let mut owners = all
            .values()
            .filter(|n| n.report.as_ref().is_some_and(|r| r.prefix == prefix));
        // Two addresses with one prefix: a node that came back at a new
        // address before the old one left the records; the one that answers.
        let first = owners.clone().find(|n| n.up).or_else(|| owners.next());
        match first {
            Some(n) if n.up => Route::To(n.addr),
            _ => Route::Unavailable,
        }
    }

    /// Every address, for the refresh.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.all.locked().keys().copied().collect()
    }

    /// Whether any node answers (the gateway's readiness).
    pub fn any_up(&self) -> bool {
        self.all.locked().values().any(|n| n.up)
    }

    /// A copy of the table (`GET /api/gateway/nodes`).
    pub fn snapshot(&self) -> Vec<Node> {
        self.all.locked().values().cloned().collect()
    }
}

/// The address `ip` of a node as a URL host (`[v6]`).
pub fn url_host(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", addr.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, sessions: u32, max: u32) -> NodeReport {
        NodeReport {
            name: name.into(),
            prefix: shared::playground::cluster::id_prefix(name),
            sessions,
            max_sessions: max,
            instances: sessions,
            max_instances: max * 5,
            room: max - sessions,
            draining: false,
        }
    }

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 8080))
    }

    fn three() -> Nodes {
        let nodes = Nodes::default();
        nodes.set_addresses(&[addr(2), addr(3), addr(4)]);
        nodes.reported(addr(2), Some(report("a", 0, 40)));
        nodes.reported(addr(3), Some(report("b", 0, 20)));
        nodes.reported(addr(4), Some(report("c", 0, 20)));
        nodes
    }

    #[test]
    fn sources_are_dns_names_with_ports() {
        let s: NodeSource = "dns:dockhand-node.dockhand.svc.cluster.local.:8080"
            .parse()
            .unwrap();
        assert_eq!(s.name, "dockhand-node.dockhand.svc.cluster.local");
        assert_eq!(s.port, 8080);
        for bad in [
            "dockhand-node:8080",
            "dns:nodes",
            "dns:nodes:0",
            "dns:no des:80",
            "dns::80",
        ] {
            assert!(bad.parse::<NodeSource>().is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn sessions_go_where_there_is_most_room() {
        let nodes = three();
        let mut on: BTreeMap<SocketAddr, u32> = BTreeMap::new();
        for _ in 0..60 {
            let a = nodes.place(&[]).unwrap();
            nodes.placed(a);
            *on.entry(a).or_default() += 1;
        }
        // 40/20/20 slots: the big node first takes 20, then all three share.
        let rooms: Vec<u32> = nodes.snapshot().iter().map(Node::room).collect();
        assert_eq!(rooms.iter().sum::<u32>(), 80 - 60);
        assert!(
            rooms.iter().max().unwrap() - rooms.iter().min().unwrap() <= 1,
            "rooms {rooms:?} after {on:?}"
        );
        assert!(on[&addr(2)] > on[&addr(3)] + 15, "{on:?}");
    }

    #[test]
    fn a_report_replaces_what_the_gateway_counted() {
        let nodes = three();
        for _ in 0..5 {
            nodes.placed(addr(3));
        }
        nodes.reported(addr(3), Some(report("b", 5, 20)));
        let n = nodes
            .snapshot()
            .into_iter()
            .find(|n| n.addr == addr(3))
            .unwrap();
        assert_eq!((n.placed, n.room()), (0, 15));
    }

    #[test]
    fn down_and_draining_nodes_get_no_sessions_but_draining_ones_keep_theirs() {
        let nodes = three();
        nodes.failed(addr(2));
        let mut r = report("b", 0, 20);
        r.draining = true;
        r.room = 0;
        nodes.reported(addr(3), Some(r));
        for _ in 0..10 {
            assert_eq!(nodes.place(&[]), Some(addr(4)));
        }
        assert_eq!(nodes.place(&[addr(4)]), None);
        let id_b = format!("{}abcdefghij", shared::playground::cluster::id_prefix("b"));
        assert_eq!(
            nodes.route(&id_b),
            Route::To(addr(3)),
            "draining: still routed"
        );
        let id_a = format!("{}abcdefghij", shared::playground::cluster::id_prefix("a"));
        assert_eq!(nodes.route(&id_a), Route::Unavailable, "down: unavailable");
        assert_eq!(
            nodes.route("zzzzabcdefghij"),
            Route::Unavailable,
            "no such node"
        );
        assert_eq!(nodes.route("abc"), Route::Unavailable);
        // It answers again.
        nodes.reported(addr(2), Some(report("a", 0, 40)));
        assert_eq!(nodes.route(&id_a), Route::To(addr(2)));
        assert_eq!(nodes.place(&[]), Some(addr(2)));
    }

    #[test]
    fn full_nodes_still_take_the_request_and_answer_it() {
        let nodes = Nodes::default();
        nodes.set_addresses(&[addr(2), addr(3)]);
        nodes.reported(addr(2), Some(report("a", 10, 10)));
        nodes.reported(addr(3), Some(report("b", 9, 10)));
        assert_eq!(nodes.place(&[]), Some(addr(3)));
        nodes.placed(addr(3));
        // Both full: the one with fewer sessions, whose answer says "full".
        assert!(nodes.place(&[]).is_some());
        assert_eq!(nodes.any(&[]), nodes.place(&[]));
    }

    #[test]
    fn addresses_that_leave_the_records_are_forgotten() {
        let nodes = three();
        nodes.set_addresses(&[addr(2), addr(5)]);
        let known: Vec<SocketAddr> = nodes.addresses();
        assert_eq!(known, vec![addr(2), addr(5)]);
        assert!(
            !nodes.snapshot()[1].up,
            "a new address is down until it reports"
        );
        assert_eq!(
            url_host(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 80))),
            "[::1]:80"
        );
    }
}
