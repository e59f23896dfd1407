//! Container networking as Docker does it: bridges and veth pairs (rtnetlink), IPAM,
//! NAT and isolation (iptables, in chains of our own), port publishing (DNAT plus a
//! userland proxy for 127.0.0.1), an embedded DNS server for user-defined networks,
//! and the files a container's network gives it (/etc/hosts, resolv.conf, link env).
//!
//! # The manager
//!
//! One [`Networks`] per daemon (per virtual host), opened with [`Networks::open`].
//! Everything the daemon must remember (networks, endpoints = address leases plus
//! veths, published ports) lives in `<dir>/state.json` (the daemon passes
//! `<data_root>/network`; each virtual host its own directory), written
//! atomically after every change. Kernel objects are named from [`NetConfig`], so
//! several daemons (and parallel tests) never touch each other's bridges or chains.
//!
//! The machine's side of virtual hosts (their `eth0`, session networks, egress
//! policy) is a separate manager, [`playground::Playground`].
//!
//! # Whose network namespace
//!
//! [`NetConfig::netns`] names the namespace that is "the host" for this manager:
//! None for the daemon's own, or a virtual host's (`/proc/<pid>/ns/net`). Every
//! host-side operation happens there ([`netns::NsHandle`]): netlink sockets are
//! opened by a thread that entered it, `iptables-save`/`iptables-restore` enter it
//! in the forked child, sysctls are written and the userland proxy's sockets are
//! made by that thread, the embedded DNS forwards upstream from there. Container
//! sides (the veth peer, 127.0.0.11) are found by pid as always. Inside a virtual
//! host the names can be Docker's own (`docker0`, `DOCKER`): every scan for our
//! names (stray bridges, rules by tag) only looks inside that namespace.
//!
//! The predefined networks `bridge` (the default bridge, [`NetConfig::bridge_name`],
//! [`NetConfig::default_subnet`]), `host` and `none` always exist and cannot be
//! removed. User networks get a bridge named [`NetConfig::user_bridge_prefix`] plus
//! the first hex digits of their id, and a subnet from [`NetConfig::pools`] unless
//! one is given.
//!
//! # How the container lifecycle calls it
//!
//! - daemon start: [`Networks::open`], then [`Networks::reconcile`] with the set of
//!   running containers (recreates bridges/rules, restarts proxies and DNS servers of
//!   running containers, removes leftovers of a crashed daemon).
//! - container start, after its network namespace exists (the monitor/init holds it,
//!   `pid`) and before its process runs: for `bridge`/user networks,
//!   [`Networks::connect`] once per network (the first one carries the default
//!   route), [`Networks::publish`] with the container's IP on the network that holds
//!   its published ports, [`Networks::dns_start`] (a no-op off user networks), then
//!   write /etc/hosts ([`hosts::hosts_file`]) and /etc/resolv.conf
//!   ([`hosts::resolv_conf`], `embedded_dns` = [`Networks::uses_embedded_dns`]).
//! - container stop (its process ended): [`Networks::release_container`] (veths,
//!   leases, rules, proxies, DNS — all of it, idempotent).
//! - `network connect`/`disconnect` on a running container: [`Networks::connect`] /
//!   [`Networks::disconnect`].
//! - inspect: [`Networks::network_settings`]; `network inspect/ls`: [`Networks::inspect`],
//!   [`Networks::list`].
//! - virtual host destroyed / tests: [`Networks::shutdown_cleanup`].
//!
//! # Whose kernel objects
//!
//! Every bridge and veth this manager creates carries the alias
//! [`bridge::owner_mark`] of its chain prefix, and only links with that mark are
//! deleted (network rm, prune, reconcile, shutdown cleanup). A network may adopt
//! an existing bridge (`com.docker.network.bridge.name`, or a `--bridge` that
//! exists): the bridge stays when the network goes, less the gateway address we
//! added to it ([`store::NetworkRecord::gateway_added`]). A subnet the host already
//! routes (outside our own bridges) is refused for `--subnet` and skipped by the
//! pools.
//!
//! # Kernel state we change
//!
//! `net.ipv4.ip_forward` is set to 1 in the host's namespace (and left so: other
//! software may rely on it once on) when the first bridge network is set up; in a
//! virtual host's namespace `lo` is brought up too. `route_localnet` is not
//! touched: 127.0.0.1 is served by the userland proxy (see `portmap`).

pub mod bridge;
pub mod dns;
pub mod firewall;
pub mod hosts;
pub mod ipam;
pub mod iptables;
pub mod netns;
pub mod playground;
pub mod portmap;
pub mod routes;
pub mod settings;
pub mod store;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_foreign;
#[cfg(test)]
mod tests_ipam;
#[cfg(test)]
mod tests_netns;
#[cfg(test)]
mod tests_playground;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use bridge::{InnerConfig, Netlink};
use firewall::{Firewall, NetRules, PortRules};
pub use ipam::{Ipv4Net, Ipv6Net, PoolSpec};
use netns::NsHandle;
pub use playground::{Egress, Playground, PlaygroundConfig, VhostLink};
use store::{EndpointRecord, NetworkRecord, PortRecord, State};

use crate::error::Result;
use crate::Error;

/// The names and ranges of one daemon's networking.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The default bridge's kernel name (`dockhand0`).
    pub bridge_name: String,
    /// The default bridge's subnet (Docker's 172.17.0.0/16).
    pub default_subnet: Ipv4Net,
    /// Its gateway (the first host address when None).
    pub default_gateway: Option<Ipv4Addr>,
    /// Prefix of our iptables chains (`DOCKHAND`): `P`, `P-POSTROUTING`, `P-FORWARD`, ...
    pub chain_prefix: String,
    /// Subnets for user networks created without `--subnet`.
    pub pools: Vec<PoolSpec>,
    /// Kernel bridge names of user networks: prefix + id hex, 15 characters in all.
    pub user_bridge_prefix: String,
    /// The host's resolv.conf (its nameservers are the embedded DNS's upstreams).
    pub host_resolv_conf: PathBuf,
    /// Upstream resolvers instead of those of `host_resolv_conf` (tests).
    pub dns_upstreams: Option<Vec<SocketAddr>>,
    /// The network namespace that is "the host" for this manager (a virtual
    /// host's: `/proc/<pid>/ns/net` or a bind-mounted nsfs file); None for the
    /// daemon's own.
    pub netns: Option<PathBuf>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            bridge_name: "dockhand0".into(),
            default_subnet: Ipv4Net::new(Ipv4Addr::new(172, 17, 0, 0), 16).expect("valid"),
            default_gateway: None,
            chain_prefix: "DOCKHAND".into(),
            pools: ipam::docker_default_pools(),
            user_bridge_prefix: "dh-".into(),
            host_resolv_conf: PathBuf::from("/etc/resolv.conf"),
            dns_upstreams: None,
            netns: None,
        }
    }
}

/// Options of `network create`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// "bridge" (default); "host"/"null" refused as Docker does.
    pub driver: Option<String>,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    /// Driver options; `com.docker.network.bridge.name` names the kernel bridge.
    pub options: BTreeMap<String, String>,
    /// `--ip-range` of the IPv4 subnet.
    pub ip_range: Option<String>,
    /// `--aux-address name=ip`: reserved addresses, of either subnet.
    pub aux_addresses: BTreeMap<String, String>,
    /// `--ipv6` (`EnableIPv6`).
    pub ipv6: bool,
    /// The IPv6 subnet, gateway and range (a unique-local /64 when `ipv6` is
    /// set without a subnet).
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    pub ip_range6: Option<String>,
}

/// What `connect` needs to know about the container.
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    /// Network name, id or id prefix.
    pub network: String,
    pub container_id: String,
    /// With or without the leading `/`.
    pub container_name: String,
    /// A process inside the container's network namespace (/proc/<pid>/ns/net).
    pub pid: u32,
    /// `--network-alias` / `--alias` (user networks only).
    pub aliases: Vec<String>,
    /// `--ip` (user networks with a configured subnet only).
    pub ip: Option<Ipv4Addr>,
    /// `--mac-address`; Docker's 02:42:<ip> when None.
    pub mac: Option<String>,
    /// `--ip6` (user networks with IPv6 only).
    pub ip6: Option<Ipv6Addr>,
    /// `--link-local-ip`.
    pub link_local_ips: Vec<IpAddr>,
    /// `--link name:alias` on a user network.
    pub links: Vec<String>,
    /// `--driver-opt`.
    pub driver_opts: BTreeMap<String, String>,
}

/// One network interface of a container.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub network_id: String,
    pub network_name: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// The host end, on the bridge.
    pub host_veth: String,
    /// The name inside the container: eth0, eth1, ...
    pub ifname: String,
    pub bridge: String,
    /// The IPv6 address, on a network with IPv6.
    pub ip6: Option<Ipv6Addr>,
}

/// One published port (`-p [host_ip:]host_port:container_port[/proto]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    /// "" or "0.0.0.0": every address.
    pub host_ip: String,
    /// 0: a free port from the ephemeral range.
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub proto: String,
}

/// What `reconcile` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconcileReport {
    pub removed_endpoints: usize,
    pub removed_links: usize,
    pub removed_rules: usize,
    pub restarted_proxies: usize,
    pub restarted_dns: usize,
}

/// What runs in this daemon (not persisted: rebuilt by `reconcile`).
#[derive(Default)]
struct Running {
    proxies: HashMap<String, Vec<(PortRecord, portmap::Proxy)>>,
    dns: HashMap<String, dns::DnsServer>,
    realized: HashSet<String>,
}

/// A daemon's networks.
pub struct Networks {
    dir: PathBuf,
    cfg: NetConfig,
    /// Where host-side work happens.
    ns: NsHandle,
    fw: Firewall,
    /// Serialises changes (held across kernel calls; never held by readers).
    op: tokio::sync::Mutex<()>,
    state: Arc<RwLock<State>>,
    running: Mutex<Running>,
    upstreams: Arc<dns::Upstreams>,
    /// The alias on the links we create ([`bridge::owner_mark`]).
    mark: String,
}

pub const BRIDGE: &str = "bridge";
pub const HOST: &str = "host";
pub const NONE: &str = "none";

fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn lock_err<T>(_: T) -> Error {
    Error::Internal("network state lock poisoned".into())
}

impl Networks {
    /// Load (or create) the records in `dir` (this manager's own directory),
    /// adding the predefined networks, and enter [`NetConfig::netns`] if set.
    /// Touches no kernel state: call [`Networks::reconcile`] next.
    pub fn open(dir: &Path, cfg: NetConfig) -> Result<Networks> {
        let dir = dir.to_path_buf();
        let ns = NsHandle::from_config(cfg.netns.as_deref())
            .map_err(|e| Error::InvalidParameter(format!("network namespace of the host: {e}")))?;
        let mut state = store::load(&dir)?;
        let gw = cfg
            .default_gateway
            .or_else(|| cfg.default_subnet.first_host())
            .ok_or_else(|| Error::InvalidParameter("default subnet too small".into()))?;
        let mut changed = false;
        for (name, driver) in [
            (BRIDGE, store::DRIVER_BRIDGE),
            (HOST, store::DRIVER_HOST),
            (NONE, store::DRIVER_NULL),
        ] {
            let is_bridge = name == BRIDGE;
            let mut options = BTreeMap::new();
            if is_bridge {
                for (k, v) in [
                    ("com.docker.network.bridge.default_bridge", "true"),
                    ("com.docker.network.bridge.enable_icc", "true"),
                    ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                    ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
                    ("com.docker.network.bridge.name", cfg.bridge_name.as_str()),
                    ("com.docker.network.driver.mtu", "1500"),
                ] {
                    options.insert(k.to_string(), v.to_string());
                }
            }
            let want = NetworkRecord {
                id: random_hex(32),
                name: name.into(),
                driver: driver.into(),
                created: now_rfc3339(),
                bridge: if is_bridge {
                    cfg.bridge_name.clone()
                } else {
                    String::new()
                },
                subnet: is_bridge.then_some(cfg.default_subnet),
                gateway: is_bridge.then_some(gw),
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options,
                predefined: true,
                gateway_added: false,
                ip_range: None,
                aux_addresses: BTreeMap::new(),
                ipv6: false,
                subnet6: None,
                gateway6: None,
                ip_range6: None,
                aux_addresses6: BTreeMap::new(),
                ipam_given: false,
            };
            match state
                .networks
                .iter_mut()
                .find(|n| n.predefined && n.name == name)
            {
                Some(existing) => {
                    // The configuration wins over the record (a renamed bridge, a new subnet).
                    if existing.bridge != want.bridge
                        || existing.subnet != want.subnet
                        || existing.gateway != want.gateway
                    {
                        existing.bridge = want.bridge;
                        existing.subnet = want.subnet;
                        existing.gateway = want.gateway;
                        existing.options = want.options;
                        existing.gateway_added = false;
                        changed = true;
                    }
                }
                None => {
                    state.networks.push(want);
                    changed = true;
                }
            }
        }
        if changed || !store::state_path(&dir).exists() {
            store::save(&dir, &state)?;
        }
        let upstreams = match &cfg.dns_upstreams {
            Some(u) => u.clone(),
            None => {
                let text = std::fs::read_to_string(&cfg.host_resolv_conf).unwrap_or_default();
                // The forwarder runs in the host's namespace (the daemon's, or the
                // virtual host's), so loopback resolvers of that host
                // (systemd-resolved) work here, unlike in a container.
                let mut v: Vec<SocketAddr> = hosts::host_nameservers(&text)
                    .iter()
                    .filter_map(|ns| ns.parse::<IpAddr>().ok())
                    .map(|ip| SocketAddr::new(ip, 53))
                    .collect();
                if v.is_empty() {
                    v = vec![
                        SocketAddr::from(([8, 8, 8, 8], 53)),
                        SocketAddr::from(([8, 8, 4, 4], 53)),
                    ];
                }
                v
            }
        };
        Ok(Networks {
            dir,
            fw: Firewall::new(&cfg.chain_prefix, ns.clone()),
            upstreams: Arc::new(dns::Upstreams {
                servers: upstreams,
                ns: ns.clone(),
            }),
            ns,
            mark: bridge::owner_mark(&cfg.chain_prefix),
            cfg,
            op: tokio::sync::Mutex::new(()),
            state: Arc::new(RwLock::new(state)),
            running: Mutex::new(Running::default()),
        })
    }

    /// A netlink connection in this manager's namespace.
    async fn nl(&self) -> Result<Netlink> {
        Netlink::open_in(&self.ns).await
    }

    /// The namespace host-side work happens in.
    pub fn netns(&self) -> &NsHandle {
        &self.ns
    }

    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    /// A copy of the records.
    pub fn snapshot(&self) -> Result<State> {
        Ok(self.state.read().map_err(lock_err)?.clone())
    }

    fn commit(&self, new: State) -> Result<()> {
        store::save(&self.dir, &new)?;
        *self.state.write().map_err(lock_err)? = new;
        Ok(())
    }

    /// The default bridge's gateway: what `--add-host x:host-gateway` resolves to.
    pub fn host_gateway(&self) -> Ipv4Addr {
        self.state
            .read()
            .ok()
            .and_then(|s| {
                s.networks
                    .iter()
                    .find(|n| n.predefined && n.name == BRIDGE)?
                    .gateway
            })
            .unwrap_or(Ipv4Addr::new(172, 17, 0, 1))
    }

    /// Whether `network` (name/id) is a user network, whose containers get 127.0.0.11.
    pub fn uses_embedded_dns(&self, network: &str) -> bool {
        self.state
            .read()
            .ok()
            .and_then(|s| s.find_network(network).map(|n| n.has_dns()))
            .unwrap_or(false)
    }

    /// The network record for a name, id or unique id prefix.
    pub fn find(&self, key: &str) -> Result<NetworkRecord> {
        self.state
            .read()
            .map_err(lock_err)?
            .find_network(key)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {key} not found")))
    }

    /// `network create`: returns the new id.
    pub async fn create(&self, name: &str, opts: CreateOptions) -> Result<String> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let driver = opts.driver.as_deref().unwrap_or(store::DRIVER_BRIDGE);
        match driver {
            store::DRIVER_BRIDGE => {}
            store::DRIVER_HOST | store::DRIVER_NULL => {
                return Err(Error::Conflict(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            other => {
                return Err(Error::NotFound(format!("plugin \"{other}\" not found")));
            }
        }
        if name.is_empty() {
            return Err(Error::InvalidParameter(
                "network name cannot be empty".into(),
            ));
        }
        if state.networks.iter().any(|n| n.name == name) {
            return Err(Error::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let used: Vec<Ipv4Net> = state.networks.iter().filter_map(|n| n.subnet).collect();
        // What the host routes already (a LAN, a VPN, libvirt's or Docker's
        // bridges), less our own bridges (`used` has those) and the bridge this
        // network is to adopt (its routes are the network's own).
        let routed = {
            let text = routes::read_routes(&self.ns)
                .await
                .map_err(|e| Error::Internal(format!("reading the routing table: {e}")))?;
            let mut skip: Vec<&str> = state
                .networks
                .iter()
                .filter(|n| n.is_bridge())
                .map(|n| n.bridge.as_str())
                .collect();
            if let Some(b) = opts.options.get("com.docker.network.bridge.name") {
                skip.push(b);
            }
            routes::routes_except(&text, &skip)
        };
        let subnet = match &opts.subnet {
            Some(s) => {
                let net: Ipv4Net = s.parse().map_err(Error::InvalidParameter)?;
                if used.iter().any(|u| u.overlaps(&net)) {
                    return Err(Error::Conflict(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                if let Some(r) = routed.iter().find(|r| r.overlaps(&net)) {
                    tracing::info!("network {name}: subnet {net} overlaps the host's route to {r}");
                    return Err(Error::Conflict(
                        "requested network overlaps with existing network".into(),
                    ));
                }
                net
            }
            None => {
                if opts.gateway.is_some() {
                    return Err(Error::InvalidParameter(
                        "every ip-range or gateway must have a corresponding subnet".into(),
                    ));
                }
                let taken: Vec<Ipv4Net> = used.iter().chain(&routed).copied().collect();
                ipam::pick_subnet(&self.cfg.pools, &taken).ok_or_else(|| {
                    Error::Internal("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into())
                })?
            }
        };
        let gateway = match &opts.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid gateway address {g}")))?;
                if !subnet.is_host(ip) {
                    return Err(Error::InvalidParameter(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                ip
            }
            None => subnet.first_host().ok_or_else(|| {
                Error::InvalidParameter(format!("subnet {subnet} has no host addresses"))
            })?,
        };
        let ip_range = match &opts.ip_range {
            Some(r) => {
                if opts.subnet.is_none() {
                    return Err(Error::InvalidParameter(
                        "every ip-range or gateway must have a corresponding subnet".into(),
                    ));
                }
                let r: Ipv4Net = r.parse().map_err(Error::InvalidParameter)?;
                if !subnet.contains(r.network()) || r.prefix_len() < subnet.prefix_len() {
                    return Err(Error::InvalidParameter(format!(
                        "invalid pool request: ip-range {r} is not within subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let id = random_hex(32);
        let v6 = self.v6_pool(&state, &opts, &id)?;
        let mut aux_addresses = BTreeMap::new();
        let mut aux_addresses6 = BTreeMap::new();
        for (k, v) in &opts.aux_addresses {
            let ip: IpAddr = v.parse().map_err(|_| {
                Error::InvalidParameter(format!("invalid auxiliary address {k}={v}"))
            })?;
            match ip {
                IpAddr::V4(a) if subnet.contains(a) => {
                    aux_addresses.insert(k.clone(), ip);
                }
                IpAddr::V6(a) if v6.as_ref().is_some_and(|(n, _, _)| n.contains(&a)) => {
                    aux_addresses6.insert(k.clone(), ip);
                }
                _ => {
                    return Err(Error::InvalidParameter(format!(
                        "no matching subnet for aux-address {ip}"
                    )))
                }
            }
        }
        let bridge = match opts.options.get("com.docker.network.bridge.name") {
            Some(b) => {
                if b.is_empty() || b.len() > 15 {
                    return Err(Error::InvalidParameter(format!(
                        "invalid bridge name {b}: at most 15 characters"
                    )));
                }
                if state.networks.iter().any(|n| &n.bridge == b) {
                    return Err(Error::Conflict(format!("bridge name {b} already in use")));
                }
                b.clone()
            }
            None => {
                let keep = 15usize.saturating_sub(self.cfg.user_bridge_prefix.len());
                format!("{}{}", self.cfg.user_bridge_prefix, &id[..keep])
            }
        };
        let rec = NetworkRecord {
            id: id.clone(),
            name: name.to_string(),
            driver: driver.to_string(),
            created: now_rfc3339(),
            bridge,
            subnet: Some(subnet),
            gateway: Some(gateway),
            internal: opts.internal,
            attachable: opts.attachable,
            labels: opts.labels,
            options: opts.options,
            predefined: false,
            gateway_added: false,
            ip_range,
            aux_addresses,
            ipv6: opts.ipv6,
            subnet6: v6.map(|(n, _, _)| n),
            gateway6: v6.map(|(_, g, _)| g),
            ip_range6: v6.and_then(|(_, _, r)| r),
            aux_addresses6,
            ipam_given: opts.subnet.is_some() || opts.subnet6.is_some(),
        };
        let mut rec = rec;
        match self.realize(&rec).await {
            Ok(gateway_added) => rec.gateway_added = gateway_added,
            Err(e) => {
                self.unrealize(&rec).await;
                return Err(e);
            }
        }
        state.networks.push(rec.clone());
        if let Err(e) = self.commit(state) {
            self.unrealize(&rec).await;
            return Err(e);
        }
        Ok(id)
    }

    /// The IPv6 subnet, gateway and range of a network to be created, when it
    /// has one: the asked-for subnet, or (with IPv6 enabled) a free
    /// unique-local /64.
    fn v6_pool(
        &self,
        state: &State,
        opts: &CreateOptions,
        id: &str,
    ) -> Result<Option<(Ipv6Net, Ipv6Addr, Option<Ipv6Net>)>> {
        // Without EnableIPv6, moby (up to 28) keeps an IPv6 pool it is given
        // and hands out none of its addresses; so do we.
        if !opts.ipv6 && opts.subnet6.is_none() {
            if opts.gateway6.is_some() || opts.ip_range6.is_some() {
                return Err(Error::InvalidParameter(
                    "every ip-range or gateway must have a corresponding subnet".into(),
                ));
            }
            return Ok(None);
        }
        let used: Vec<Ipv6Net> = state.networks.iter().filter_map(|n| n.subnet6).collect();
        let subnet = match &opts.subnet6 {
            Some(s) => {
                let net = ipam::parse_v6_net(s).map_err(Error::InvalidParameter)?;
                if net.prefix_len() > 126 {
                    return Err(Error::InvalidParameter(format!(
                        "subnet {net} has no host addresses"
                    )));
                }
                if used.iter().any(|u| ipam::overlaps_v6(u, &net)) {
                    return Err(Error::Conflict(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                net
            }
            None => {
                if opts.gateway6.is_some() || opts.ip_range6.is_some() {
                    return Err(Error::InvalidParameter(
                        "every ip-range or gateway must have a corresponding subnet".into(),
                    ));
                }
                let seed = hex::decode(&id[..14]).unwrap_or_default();
                ipam::pick_subnet_v6(&seed, &used).ok_or_else(|| {
                    Error::Internal(
                        "could not find an available, non-overlapping IPv6 address pool".into(),
                    )
                })?
            }
        };
        let gateway = match &opts.gateway6 {
            Some(g) => {
                let ip: Ipv6Addr = g
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid gateway address {g}")))?;
                if !subnet.contains(&ip) || ip == subnet.network() {
                    return Err(Error::InvalidParameter(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                ip
            }
            None => ipam::first_host_v6(&subnet).ok_or_else(|| {
                Error::InvalidParameter(format!("subnet {subnet} has no host addresses"))
            })?,
        };
        let range = match &opts.ip_range6 {
            Some(r) => {
                let r = ipam::parse_v6_net(r).map_err(Error::InvalidParameter)?;
                if !subnet.contains(&r) {
                    return Err(Error::InvalidParameter(format!(
                        "invalid pool request: ip-range {r} is not within subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        Ok(Some((subnet, gateway, range)))
    }

    /// Make a bridge network's bridge and rules exist (idempotent). Returns
    /// whether the record must now say `gateway_added`: the bridge is not ours
    /// and its gateway address is (added now, or by an earlier call).
    async fn realize(&self, rec: &NetworkRecord) -> Result<bool> {
        if !rec.is_bridge() {
            return Ok(false);
        }
        let (Some(subnet), Some(gw)) = (rec.subnet, rec.gateway) else {
            return Err(Error::Internal(format!(
                "network {} has no subnet",
                rec.name
            )));
        };
        let nl = self.nl().await?;
        let setup = nl
            .ensure_bridge(&rec.bridge, gw, subnet.prefix_len(), &self.mark)
            .await?;
        if let (true, Some(subnet6), Some(gw6)) = (rec.ipv6, rec.subnet6, rec.gateway6) {
            nl.add_address(setup.index, gw6, subnet6.prefix_len())
                .await?;
        }
        if !setup.ours {
            tracing::info!(
                "network {}: using the existing bridge {} (not created by dockhand; it stays when the network goes)",
                rec.name,
                rec.bridge
            );
        }
        self.fw
            .ensure_network(&NetRules {
                bridge: rec.bridge.clone(),
                subnet,
                internal: rec.internal,
                tag: firewall::net_tag(&rec.id),
            })
            .await?;
        self.enable_ip_forward().await;
        self.running
            .lock()
            .map_err(lock_err)?
            .realized
            .insert(rec.id.clone());
        Ok(!setup.ours && (rec.gateway_added || setup.address_added))
    }

    /// Remove a network's bridge (only one we created; from a bridge we did not,
    /// the gateway address we added) and rules; best effort, errors are logged.
    async fn unrealize(&self, rec: &NetworkRecord) {
        if !rec.is_bridge() {
            return;
        }
        if let Ok(nl) = self.nl().await {
            self.remove_bridge(&nl, rec).await;
        }
        if let Err(e) = self.fw.remove_tag(&firewall::net_tag(&rec.id)).await {
            tracing::warn!("removing rules of network {}: {e}", rec.name);
        }
        if let Ok(mut r) = self.running.lock() {
            r.realized.remove(&rec.id);
        }
    }

    /// Delete a network's bridge if we created it; otherwise take back only the
    /// gateway address we added to it. Errors are logged.
    async fn remove_bridge(&self, nl: &Netlink, rec: &NetworkRecord) {
        match nl.delete_ours(&rec.bridge, &self.mark).await {
            Ok(true) => {}
            Ok(false) => {
                if let (true, Some(gw), Some(subnet)) = (rec.gateway_added, rec.gateway, rec.subnet)
                {
                    if let Err(e) = nl
                        .delete_address(&rec.bridge, gw, subnet.prefix_len())
                        .await
                    {
                        tracing::warn!("removing {gw} from bridge {}: {e}", rec.bridge);
                    }
                    // The IPv6 gateway went on with the IPv4 one.
                    if let (Some(gw6), Some(subnet6)) = (rec.gateway6, rec.subnet6) {
                        if let Err(e) = nl
                            .delete_address(&rec.bridge, gw6, subnet6.prefix_len())
                            .await
                        {
                            tracing::warn!("removing {gw6} from bridge {}: {e}", rec.bridge);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("removing bridge {}: {e}", rec.bridge),
        }
    }

    async fn ensure_realized(&self, rec: &NetworkRecord) -> Result<()> {
        let done = self
            .running
            .lock()
            .map_err(lock_err)?
            .realized
            .contains(&rec.id);
        if done {
            // Cheap check that nobody deleted the bridge behind our back.
            if self.nl().await?.link_by_name(&rec.bridge).await?.is_some() {
                return Ok(());
            }
        }
        if self.realize(rec).await? && !rec.gateway_added {
            // The bridge came back as somebody else's: remember our address.
            let mut state = self.snapshot()?;
            if let Some(n) = state.networks.iter_mut().find(|n| n.id == rec.id) {
                n.gateway_added = true;
                self.commit(state)?;
            }
        }
        Ok(())
    }

    /// `network ls`: every network in Docker's inspect shape, by name.
    pub fn list(&self) -> Result<Vec<serde_json::Value>> {
        let state = self.state.read().map_err(lock_err)?;
        let mut nets: Vec<&NetworkRecord> = state.networks.iter().collect();
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nets
            .into_iter()
            .map(|n| settings::network_inspect(&state, n))
            .collect())
    }

    /// `network inspect KEY` in Docker's JSON shape.
    pub fn inspect(&self, key: &str) -> Result<serde_json::Value> {
        let state = self.state.read().map_err(lock_err)?;
        let n = state
            .find_network(key)
            .ok_or_else(|| Error::NotFound(format!("network {key} not found")))?;
        Ok(settings::network_inspect(&state, n))
    }

    /// `network rm KEY`.
    pub async fn remove(&self, key: &str) -> Result<()> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let rec = state
            .find_network(key)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {key} not found")))?;
        if rec.predefined {
            return Err(Error::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        if state.endpoints_of_network(&rec.id).next().is_some() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                rec.name, rec.id
            )));
        }
        state.networks.retain(|n| n.id != rec.id);
        self.commit(state)?;
        self.unrealize(&rec).await;
        Ok(())
    }

    /// `network prune`: removes user networks without endpoints; returns their names.
    /// A read-only `iptables`/`iptables-save` listing in this daemon's
    /// namespace (a virtual host's `iptables -L`): (exit code, stdout, stderr).
    pub async fn list_rules(
        &self,
        program: &str,
        args: &[String],
    ) -> Result<(i32, Vec<u8>, Vec<u8>)> {
        iptables::list(&self.ns, program, args).await
    }

    pub async fn prune(&self) -> Result<Vec<String>> {
        self.prune_where(&Default::default()).await
    }

    /// `network prune --filter`: only networks that pass the `until`, `label`
    /// and `label!` filters.
    pub async fn prune_where(&self, f: &crate::container::Filters) -> Result<Vec<String>> {
        crate::filters::check_keys(f, &["until", "label", "label!"])
            .map_err(Error::InvalidParameter)?;
        let cutoff = crate::filters::until_cutoff(f, crate::filters::now_nanos())
            .map_err(Error::InvalidParameter)?;
        let candidates: Vec<NetworkRecord> = {
            let s = self.state.read().map_err(lock_err)?;
            s.networks
                .iter()
                .filter(|n| !n.predefined && s.endpoints_of_network(&n.id).next().is_none())
                .filter(|n| crate::filters::labels_pass(&n.labels, f))
                .filter(|n| cutoff.is_none_or(|c| crate::filters::created_nanos(&n.created) < c))
                .cloned()
                .collect()
        };
        let mut removed = Vec::new();
        for n in candidates {
            // A container may have connected meanwhile: that is a refusal, not an error.
            if self.remove(&n.id).await.is_ok() {
                removed.push(n.name);
            }
        }
        Ok(removed)
    }

    /// Attach a container to a bridge network: veth, address, route, lease.
    /// A container already on the network is refused, as moby refuses it.
    pub async fn connect(&self, req: ConnectRequest) -> Result<Endpoint> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let net = state
            .find_network(&req.network)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {} not found", req.network)))?;
        if !net.is_bridge() {
            return Err(Error::InvalidParameter(format!(
                "container cannot be disconnected from host network or connected to {} network",
                net.name
            )));
        }
        if state
            .endpoints_of_network(&net.id)
            .any(|e| e.container_id == req.container_id)
        {
            // moby answers 403 here; ours is the nearest kind we have.
            return Err(Error::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                req.container_name.trim_start_matches('/'),
                net.name
            )));
        }
        if !req.links.is_empty() && net.predefined {
            return Err(Error::InvalidParameter(
                "links in endpoint settings are supported only on user defined networks; use --link"
                    .into(),
            ));
        }
        for ip in &req.link_local_ips {
            let link_local = match ip {
                IpAddr::V4(a) => a.is_link_local(),
                IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
            };
            if !link_local {
                return Err(Error::InvalidParameter(format!(
                    "invalid link-local IP address: {ip}"
                )));
            }
        }
        if !req.aliases.is_empty() && net.predefined {
            return Err(Error::InvalidParameter(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        let (Some(subnet), Some(gateway)) = (net.subnet, net.gateway) else {
            return Err(Error::Internal(format!(
                "network {} has no subnet",
                net.name
            )));
        };
        let mut used: HashSet<Ipv4Addr> =
            state.endpoints_of_network(&net.id).map(|e| e.ip).collect();
        let reserved: HashSet<Ipv4Addr> = net
            .aux_addresses
            .values()
            .filter_map(|a| match a {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        let ip = match req.ip {
            Some(ip) => {
                if net.predefined {
                    return Err(Error::InvalidParameter(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                if !subnet.is_host(ip) || ip == gateway {
                    return Err(Error::InvalidParameter(format!(
                        "Invalid address {ip}: It does not belong to any of this network's subnets"
                    )));
                }
                if used.contains(&ip) || reserved.contains(&ip) {
                    return Err(Error::Conflict("Address already in use".into()));
                }
                ip
            }
            None => ipam::lease_in(&subnet, net.ip_range.as_ref(), gateway, &{
                used.extend(&reserved);
                used
            })
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "no available IPv4 addresses on this network's address pools: {} ({})",
                    net.name, net.id
                ))
            })?,
        };
        let ip6 = self.lease_v6(&state, &net, req.ip6)?;
        let mac = match &req.mac {
            Some(m) => ipam::parse_mac(m)
                .ok_or_else(|| Error::InvalidParameter(format!("invalid MAC address: {m}")))?,
            None => ipam::mac_for(ip),
        };
        self.ensure_realized(&net).await?;
        let primary = state
            .endpoints_of_container(&req.container_id)
            .next()
            .is_none();
        let host_veth = format!("veth{}", &random_hex(4)[..7]);
        let peer = format!("dhp{}", random_hex(4));
        let nl = self.nl().await?;
        let bridge_index = nl
            .link_by_name(&net.bridge)
            .await?
            .ok_or_else(|| Error::Internal(format!("bridge {} missing", net.bridge)))?
            .index;
        nl.create_veth(&host_veth, &peer, bridge_index, req.pid, mac, &self.mark)
            .await?;
        let inner = InnerConfig {
            peer,
            ip,
            prefix_len: subnet.prefix_len(),
            default_route: (primary && !net.internal).then_some(gateway),
            ip6: ip6.zip(net.subnet6.map(|n| n.prefix_len())),
            default_route6: if primary && !net.internal && ip6.is_some() {
                net.gateway6
            } else {
                None
            },
            link_local: req.link_local_ips.clone(),
        };
        let ifname = match bridge::configure_inside(req.pid, inner).await {
            Ok(n) => n,
            Err(e) => {
                let _ = nl.delete_ours(&host_veth, &self.mark).await;
                return Err(e);
            }
        };
        let rec = EndpointRecord {
            network_id: net.id.clone(),
            container_id: req.container_id.clone(),
            container_name: req.container_name.trim_start_matches('/').to_string(),
            endpoint_id: random_hex(32),
            ip,
            prefix_len: subnet.prefix_len(),
            gateway,
            mac: ipam::format_mac(&mac),
            host_veth: host_veth.clone(),
            ifname,
            pid: req.pid,
            aliases: req.aliases.clone(),
            fixed_ip: req.ip.is_some(),
            primary,
            ip6,
            prefix6: net.subnet6.map(|n| n.prefix_len()).unwrap_or(0),
            gateway6: ip6.and(net.gateway6),
            fixed_ip6: req.ip6.is_some(),
            link_local_ips: req.link_local_ips.clone(),
            links: req.links.clone(),
            driver_opts: req.driver_opts.clone(),
            fixed_mac: req.mac.is_some(),
        };
        state.endpoints.push(rec.clone());
        if let Err(e) = self.commit(state) {
            let _ = nl.delete_ours(&host_veth, &self.mark).await;
            return Err(e);
        }
        Ok(endpoint_of(&rec, &net))
    }

    /// The IPv6 address of a new endpoint: the one asked for (checked), or the
    /// next free one; None when the network has no IPv6.
    fn lease_v6(
        &self,
        state: &State,
        net: &NetworkRecord,
        asked: Option<Ipv6Addr>,
    ) -> Result<Option<Ipv6Addr>> {
        let (true, Some(subnet), Some(gateway)) = (net.ipv6, net.subnet6, net.gateway6) else {
            return match asked {
                Some(_) => Err(Error::InvalidParameter(format!(
                    "user specified IPv6 address requires a network with IPv6 enabled: {} has none",
                    net.name
                ))),
                None => Ok(None),
            };
        };
        let mut used: HashSet<Ipv6Addr> = state
            .endpoints_of_network(&net.id)
            .filter_map(|e| e.ip6)
            .collect();
        let reserved: HashSet<Ipv6Addr> = net
            .aux_addresses6
            .values()
            .filter_map(|a| match a {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            })
            .collect();
        if let Some(ip) = asked {
            if !subnet.contains(&ip) || ip == gateway || ip == subnet.network() {
                return Err(Error::InvalidParameter(format!(
                    "Invalid address {ip}: It does not belong to any of this network's subnets"
                )));
            }
            if used.contains(&ip) || reserved.contains(&ip) {
                return Err(Error::Conflict("Address already in use".into()));
            }
            return Ok(Some(ip));
        }
        used.extend(reserved);
        ipam::lease_v6(&subnet, net.ip_range6.as_ref(), gateway, &used)
            .map(Some)
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "no available IPv6 addresses on this network's address pools: {} ({})",
                    net.name, net.id
                ))
            })
    }

    /// Detach a container from a network (veth, lease, its ports on that network,
    /// DNS names). Returns false when it was not connected.
    pub async fn disconnect(&self, network: &str, container_id: &str) -> Result<bool> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let net = state
            .find_network(network)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {network} not found")))?;
        let Some(ep) = state
            .endpoints_of_network(&net.id)
            .find(|e| e.container_id == container_id)
            .cloned()
        else {
            return Ok(false);
        };
        // Ports published on that address go with it.
        let gone: Vec<PortRecord> = state
            .ports_of_container(container_id)
            .filter(|p| p.container_ip == ep.ip)
            .cloned()
            .collect();
        self.stop_proxies(container_id, |p| p.container_ip == ep.ip)?;
        if !gone.is_empty() {
            let rules: Vec<PortRules> = gone.iter().filter_map(port_rules).collect();
            self.fw.remove_ports(&rules).await?;
        }
        self.nl()
            .await?
            .delete_ours(&ep.host_veth, &self.mark)
            .await?;
        state
            .ports
            .retain(|p| !(p.container_id == container_id && p.container_ip == ep.ip));
        state
            .endpoints
            .retain(|e| !(e.container_id == container_id && e.network_id == net.id));
        let still_dns = state.endpoints_of_container(container_id).any(|e| {
            state
                .network(&e.network_id)
                .is_some_and(NetworkRecord::has_dns)
        });
        self.commit(state)?;
        if !still_dns {
            self.dns_stop(container_id);
        }
        Ok(true)
    }

    /// Everything of a container, in one call (it stopped or is being removed):
    /// DNS server, proxies, port rules, veths, leases. Idempotent.
    pub async fn release_container(&self, container_id: &str) -> Result<()> {
        self.dns_stop(container_id);
        let _op = self.op.lock().await;
        self.release_locked(container_id).await
    }

    async fn release_locked(&self, container_id: &str) -> Result<()> {
        let mut state = self.snapshot()?;
        self.stop_proxies(container_id, |_| true)?;
        // Port rules exist only for recorded ports (publish rolls back on
        // failure; reconcile sweeps after a crash): skip the costly rule scan
        // for the common container without any.
        if state.ports.iter().any(|p| p.container_id == container_id) {
            self.fw
                .remove_tag(&firewall::port_tag(container_id))
                .await?;
        }
        let nl = self.nl().await?;
        for ep in state.endpoints_of_container(container_id) {
            nl.delete_ours(&ep.host_veth, &self.mark).await?;
        }
        let before = (state.endpoints.len(), state.ports.len());
        state.endpoints.retain(|e| e.container_id != container_id);
        state.ports.retain(|p| p.container_id != container_id);
        if before != (state.endpoints.len(), state.ports.len()) {
            self.commit(state)?;
        }
        Ok(())
    }

    fn stop_proxies(&self, container_id: &str, which: impl Fn(&PortRecord) -> bool) -> Result<()> {
        let mut run = self.running.lock().map_err(lock_err)?;
        if let Some(list) = run.proxies.get_mut(container_id) {
            // Dropping a Proxy stops it.
            list.retain(|(p, _)| !which(p));
            if list.is_empty() {
                run.proxies.remove(container_id);
            }
        }
        Ok(())
    }

    /// Publish ports of a container whose address (on one of its networks) is
    /// `container_ip`. Returns the bindings with the host ports really used. On any
    /// error nothing of this call remains.
    pub async fn publish(
        &self,
        container_id: &str,
        container_ip: Ipv4Addr,
        bindings: &[PortBinding],
    ) -> Result<Vec<PortBinding>> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let ep = state
            .endpoints_of_container(container_id)
            .find(|e| e.ip == container_ip)
            .cloned()
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "container {container_id} has no endpoint with address {container_ip}"
                ))
            })?;
        let net = state
            .network(&ep.network_id)
            .cloned()
            .ok_or_else(|| Error::Internal("endpoint of an unknown network".into()))?;
        let mut made: Vec<(PortRecord, portmap::Proxy)> = Vec::new();
        let mut out = Vec::new();
        let result: Result<()> = async {
            for b in bindings {
                let proto = match b.proto.as_str() {
                    "" | "tcp" => "tcp",
                    "udp" => "udp",
                    other => {
                        return Err(Error::InvalidParameter(format!(
                            "invalid proto: {other}"
                        )))
                    }
                };
                let shown_ip = if b.host_ip.is_empty() {
                    "0.0.0.0".to_string()
                } else {
                    b.host_ip.clone()
                };
                let host_ip: IpAddr = shown_ip
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid host IP {shown_ip}")))?;
                let shown_ip = host_ip.to_string();
                if b.host_port != 0 {
                    let taken = state
                        .ports
                        .iter()
                        .chain(made.iter().map(|(p, _)| p))
                        .any(|p| {
                            p.proto == proto
                                && p.host_port == b.host_port
                                && ips_overlap(&p.host_ip, host_ip)
                        });
                    if taken {
                        return Err(Error::Conflict(format!(
                            "Bind for {shown_ip}:{} failed: port is already allocated",
                            b.host_port
                        )));
                    }
                }
                let target = SocketAddrV4::new(container_ip, b.container_port);
                let proxy = portmap::start(&self.ns, proto, host_ip, b.host_port, target)
                    .await
                    .map_err(|e| {
                        Error::Conflict(format!(
                            "driver failed programming external connectivity on endpoint {} ({}): Error starting userland proxy: {}",
                            ep.container_name,
                            ep.endpoint_id,
                            portmap::listen_error(proto, host_ip, b.host_port, &e)
                        ))
                    })?;
                let rec = PortRecord {
                    container_id: container_id.to_string(),
                    host_ip: shown_ip.clone(),
                    host_port: proxy.port,
                    container_ip,
                    container_port: b.container_port,
                    proto: proto.to_string(),
                    bridge: net.bridge.clone(),
                };
                out.push(PortBinding {
                    host_ip: shown_ip,
                    host_port: proxy.port,
                    container_port: b.container_port,
                    proto: proto.to_string(),
                });
                made.push((rec, proxy));
            }
            // Every binding's rules in one transaction.
            let rules: Vec<PortRules> = made.iter().filter_map(|(r, _)| port_rules(r)).collect();
            if !rules.is_empty() {
                self.fw.add_ports(&rules).await?;
            }
            Ok(())
        }
        .await;
        let rollback = |made: Vec<(PortRecord, portmap::Proxy)>| async move {
            let rules: Vec<PortRules> = made.iter().filter_map(|(r, _)| port_rules(r)).collect();
            drop(made);
            if rules.is_empty() {
                return;
            }
            if let Err(e) = self.fw.remove_ports(&rules).await {
                tracing::warn!("rolling back published ports: {e}");
            }
        };
        if let Err(e) = result {
            rollback(made).await;
            return Err(e);
        }
        state.ports.extend(made.iter().map(|(p, _)| p.clone()));
        if let Err(e) = self.commit(state) {
            rollback(made).await;
            return Err(e);
        }
        self.running
            .lock()
            .map_err(lock_err)?
            .proxies
            .entry(container_id.to_string())
            .or_default()
            .extend(made);
        Ok(out)
    }

    /// Remove every published port of a container.
    pub async fn unpublish(&self, container_id: &str) -> Result<()> {
        let _op = self.op.lock().await;
        self.stop_proxies(container_id, |_| true)?;
        self.fw
            .remove_tag(&firewall::port_tag(container_id))
            .await?;
        let mut state = self.snapshot()?;
        if state.ports_of_container(container_id).next().is_some() {
            state.ports.retain(|p| p.container_id != container_id);
            self.commit(state)?;
        }
        Ok(())
    }

    /// The published ports of a container (`docker port`).
    pub fn ports(&self, container_id: &str) -> Result<Vec<PortBinding>> {
        let s = self.state.read().map_err(lock_err)?;
        Ok(s.ports_of_container(container_id)
            .map(|p| PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port,
                container_port: p.container_port,
                proto: p.proto.clone(),
            })
            .collect())
    }

    /// The endpoints of a container.
    pub fn endpoints(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        let s = self.state.read().map_err(lock_err)?;
        Ok(s.endpoints_of_container(container_id)
            .filter_map(|e| Some(endpoint_of(e, s.network(&e.network_id)?)))
            .collect())
    }

    /// Start the embedded DNS server inside the container's namespace (127.0.0.11:53).
    /// A no-op for a container on no user network. Restarts a running one.
    pub async fn dns_start(&self, container_id: &str, pid: u32) -> Result<()> {
        let on_user_net = {
            let s = self.state.read().map_err(lock_err)?;
            let on = s
                .endpoints_of_container(container_id)
                .any(|e| s.network(&e.network_id).is_some_and(NetworkRecord::has_dns));
            on
        };
        if !on_user_net {
            return Ok(());
        }
        self.dns_stop(container_id);
        let (udp, tcp) = dns::bind_in(pid).await.map_err(|e| {
            Error::Internal(format!(
                "starting the embedded DNS server in /proc/{pid}/ns/net: {e}"
            ))
        })?;
        let state = self.state.clone();
        let asker = container_id.to_string();
        let lookup: dns::Lookup = Arc::new(move |name: &str| {
            let s = state.read().ok()?;
            settings::resolve_addrs(&s, &asker, name)
        });
        let server = dns::serve(udp, tcp, lookup, self.upstreams.clone())
            .map_err(|e| Error::Internal(format!("embedded DNS server: {e}")))?;
        self.running
            .lock()
            .map_err(lock_err)?
            .dns
            .insert(container_id.to_string(), server);
        Ok(())
    }

    /// Stop the container's DNS server (its sockets close; idempotent).
    pub fn dns_stop(&self, container_id: &str) {
        if let Ok(mut r) = self.running.lock() {
            r.dns.remove(container_id);
        }
    }

    /// Bring kernel state in line with the records at daemon start: recreate bridges
    /// and rules, drop endpoints and ports of containers that are not running (`live`
    /// says which are), delete veths on our bridges and rules in our chains that no
    /// record explains, delete user bridges no network owns, and restart proxies and
    /// DNS servers of running containers.
    pub async fn reconcile(&self, live: &(dyn Fn(&str) -> bool + Sync)) -> Result<ReconcileReport> {
        let _op = self.op.lock().await;
        let mut report = ReconcileReport::default();
        let mut state = self.snapshot()?;
        let nl = self.nl().await?;
        // Endpoints of containers that are gone.
        let dead: Vec<String> = state
            .endpoints
            .iter()
            .map(|e| e.container_id.clone())
            .chain(state.ports.iter().map(|p| p.container_id.clone()))
            .filter(|c| !live(c))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for c in &dead {
            self.dns_stop(c);
            self.stop_proxies(c, |_| true)?;
            for ep in state.endpoints_of_container(c) {
                nl.delete_ours(&ep.host_veth, &self.mark).await?;
                report.removed_endpoints += 1;
            }
        }
        state.endpoints.retain(|e| live(&e.container_id));
        state.ports.retain(|p| live(&p.container_id));
        self.commit(state.clone())?;
        // Bridges and network rules.
        let mut added_now = Vec::new();
        for net in state.networks.iter().filter(|n| n.is_bridge()) {
            match self.realize(net).await {
                Ok(added) if added && !net.gateway_added => added_now.push(net.id.clone()),
                Ok(_) => {}
                Err(e) => tracing::warn!("network {}: {e}", net.name),
            }
        }
        if !added_now.is_empty() {
            for n in state.networks.iter_mut() {
                n.gateway_added |= added_now.contains(&n.id);
            }
            self.commit(state.clone())?;
        }
        // Links nobody explains (of those we made: a link without our mark is
        // somebody else's, also on a bridge a network adopted).
        let links = nl.links().await?;
        let our_bridges: HashMap<u32, &str> = links
            .iter()
            .filter(|l| {
                state
                    .networks
                    .iter()
                    .any(|n| n.is_bridge() && n.bridge == l.name)
            })
            .map(|l| (l.index, l.name.as_str()))
            .collect();
        let known_veths: HashSet<&str> = state
            .endpoints
            .iter()
            .map(|e| e.host_veth.as_str())
            .collect();
        for l in links.iter().filter(|l| l.is_ours(&self.mark)) {
            let stray_port = l.controller.is_some_and(|c| our_bridges.contains_key(&c))
                && !known_veths.contains(l.name.as_str());
            let stray_bridge = l.kind.as_deref() == Some("bridge")
                && l.name.starts_with(&self.cfg.user_bridge_prefix)
                && !our_bridges.values().any(|b| *b == l.name);
            if (stray_port || stray_bridge) && nl.delete_ours(&l.name, &self.mark).await? {
                report.removed_links += 1;
            }
        }
        // Rules nobody explains.
        let net_tags: HashSet<String> = state
            .networks
            .iter()
            .map(|n| firewall::net_tag(&n.id))
            .collect();
        let port_tags: HashSet<String> = state
            .ports
            .iter()
            .map(|p| firewall::port_tag(&p.container_id))
            .collect();
        let port_rule_sets: Vec<PortRules> = state.ports.iter().filter_map(port_rules).collect();
        report.removed_rules += self
            .fw
            .remove_where(|t| {
                (t.starts_with("dh-net:") && !net_tags.contains(t))
                    || (t.starts_with("dh-port:") && !port_tags.contains(t))
            })
            .await?;
        if !port_rule_sets.is_empty() {
            self.fw.add_ports(&port_rule_sets).await?;
        }
        // Proxies and DNS servers of running containers.
        for p in &state.ports {
            let running = self
                .running
                .lock()
                .map_err(lock_err)?
                .proxies
                .get(&p.container_id)
                .is_some_and(|l| l.iter().any(|(r, _)| r == p));
            if running {
                continue;
            }
            let ip: IpAddr = p
                .host_ip
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            match portmap::start(
                &self.ns,
                &p.proto,
                ip,
                p.host_port,
                SocketAddrV4::new(p.container_ip, p.container_port),
            )
            .await
            {
                Ok(proxy) => {
                    self.running
                        .lock()
                        .map_err(lock_err)?
                        .proxies
                        .entry(p.container_id.clone())
                        .or_default()
                        .push((p.clone(), proxy));
                    report.restarted_proxies += 1;
                }
                Err(e) => tracing::warn!(
                    "restarting the proxy of {}:{}/{}: {e}",
                    p.host_ip,
                    p.host_port,
                    p.proto
                ),
            }
        }
        let dns_wanted: Vec<(String, u32)> = state
            .endpoints
            .iter()
            .filter(|e| {
                state
                    .network(&e.network_id)
                    .is_some_and(NetworkRecord::has_dns)
            })
            .map(|e| (e.container_id.clone(), e.pid))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for (c, pid) in dns_wanted {
            let running = self.running.lock().map_err(lock_err)?.dns.contains_key(&c);
            if running || !netns::netns_path(pid).exists() {
                continue;
            }
            match self.dns_start(&c, pid).await {
                Ok(()) => report.restarted_dns += 1,
                Err(e) => tracing::warn!("restarting DNS of {}: {e}", short(&c)),
            }
        }
        Ok(report)
    }

    /// Remove every kernel object of this manager: DNS servers, proxies, veths,
    /// bridges, rules, chains and hooks. Network records stay (a later `reconcile`
    /// recreates the bridges); endpoint and port records go with their kernel state.
    /// A bridge we did not create stays, less the address we gave it.
    pub async fn shutdown_cleanup(&self) -> Result<()> {
        let _op = self.op.lock().await;
        {
            let mut r = self.running.lock().map_err(lock_err)?;
            r.dns.clear();
            r.proxies.clear();
            r.realized.clear();
        }
        let mut state = self.snapshot()?;
        let nl = self.nl().await?;
        for ep in &state.endpoints {
            nl.delete_ours(&ep.host_veth, &self.mark).await?;
        }
        for n in state.networks.iter().filter(|n| n.is_bridge()) {
            self.remove_bridge(&nl, n).await;
        }
        self.fw.teardown().await?;
        state.endpoints.clear();
        state.ports.clear();
        self.commit(state)
    }

    /// Docker's `NetworkSettings` for a container. `mode` is its network mode
    /// ("host", "none", "container:x", or a network name); `exposed` its exposed
    /// ports (`80/tcp`), which appear with `null` when not published.
    pub fn network_settings(
        &self,
        container_id: &str,
        mode: &str,
        exposed: &[String],
    ) -> Result<serde_json::Value> {
        let s = self.state.read().map_err(lock_err)?;
        Ok(settings::network_settings(&s, container_id, mode, exposed))
    }
}

/// Whether two host addresses of one port collide: IPv4 with IPv4, IPv6 with
/// IPv6 (IPv6 sockets are IPv6-only), the unspecified address with any.
fn ips_overlap(recorded: &str, ip: IpAddr) -> bool {
    let r: IpAddr = recorded
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    r.is_ipv4() == ip.is_ipv4() && (r.is_unspecified() || ip.is_unspecified() || r == ip)
}

/// The iptables rules of a published port; None for one on an IPv6 address,
/// which only the userland proxy serves (we keep no ip6tables rules).
fn port_rules(p: &PortRecord) -> Option<PortRules> {
    if p.host_ip.parse::<std::net::Ipv6Addr>().is_ok() {
        return None;
    }
    Some(PortRules {
        bridge: p.bridge.clone(),
        host_ip: p.host_ip.parse().ok(),
        host_port: p.host_port,
        container_ip: p.container_ip,
        container_port: p.container_port,
        proto: p.proto.clone(),
        tag: firewall::port_tag(&p.container_id),
    })
}

fn endpoint_of(e: &EndpointRecord, net: &NetworkRecord) -> Endpoint {
    Endpoint {
        network_id: net.id.clone(),
        network_name: net.name.clone(),
        endpoint_id: e.endpoint_id.clone(),
        ip: e.ip,
        prefix_len: e.prefix_len,
        gateway: e.gateway,
        mac: e.mac.clone(),
        host_veth: e.host_veth.clone(),
        ifname: e.ifname.clone(),
        bridge: net.bridge.clone(),
        ip6: e.ip6,
    }
}

impl Networks {
    /// Turn on IPv4 forwarding in the host's namespace (needed for NAT and for
    /// containers to reach out), and bring its `lo` up (the userland proxy serves
    /// 127.0.0.1; a fresh namespace has it down).
    async fn enable_ip_forward(&self) {
        match self.ns.set_sysctl("net.ipv4.ip_forward", "1").await {
            Ok(true) => tracing::info!("set net.ipv4.ip_forward=1 in {:?}", self.ns),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot enable net.ipv4.ip_forward in {:?}: {e}", self.ns),
        }
        if !self.ns.is_own() {
            if let Err(e) = self.ns.run(netns::loopback_up).await {
                tracing::warn!("cannot bring lo up in {:?}: {e}", self.ns);
            }
        }
    }
}
