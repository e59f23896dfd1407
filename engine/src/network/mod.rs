//! Container networking as Docker does it: bridges and veth pairs (rtnetlink), IPAM,
//! NAT and isolation (iptables, in chains of our own), port publishing (DNAT plus a
//! userland proxy for 127.0.0.1), an embedded DNS server for user-defined networks,
//! and the files a container's network gives it (/etc/hosts, resolv.conf, link env).
//!
//! # The manager
//!
//! One [`Networks`] per daemon (per virtual host), opened with [`Networks::open`].
//! Its operations sit one concern per file: `create` (create, remove, prune,
//! the bridges and address pools), `connect` (endpoints and leases), `publish`
//! (ports), `reconcile` (start-up and shutdown); this file holds the types,
//! opening, lookups and DNS.
//! Everything the daemon must remember (networks, endpoints = address leases plus
//! veths, published ports) lives in `<dir>/state.json` (the daemon passes
//! `<data_root>/network`; each virtual host its own directory), written
//! atomically after every change. Kernel objects are named from [`NetConfig`], so
//! several daemons (and parallel tests) never touch each other's bridges or chains.
//!
//! The machine's side of virtual hosts (their `eth0`, session networks, egress
//! policy) is a separate manager, [`playground::PlaygroundNetwork`].
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
//! deleted (network rm, prune, reconcile, shutdown cleanup). The alias needs a
//! second request after the one that creates the link; the first already sets
//! the link group [`bridge::owner_group`], which marks a link without alias as
//! ours. A network may adopt
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
mod connect;
mod create;
pub mod dns;
pub mod firewall;
pub mod hosts;
pub mod ipam;
pub mod iptables;
pub mod kernel;
pub mod netns;
pub mod playground;
pub mod portmap;
mod publish;
mod reconcile;
pub mod routes;
pub mod settings;
pub mod store;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_attach;
#[cfg(test)]
mod tests_dns;
#[cfg(test)]
mod tests_foreign;
#[cfg(test)]
mod tests_ipam;
#[cfg(test)]
mod tests_netns;
#[cfg(test)]
mod tests_playground;

use shared::sync::{Locked, RwLocked};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use bridge::{InnerConfig, Netlink};
use firewall::{Firewall, PortRules};
pub use ipam::{Ipv4Net, Ipv6Net, PoolSpec};
use netns::NsHandle;
mod error;
pub use error::NetworkError;
pub use playground::{Egress, PlaygroundNetwork, PlaygroundNetworkConfig, VhostLink};
use publish::port_rules;
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
    /// Each container's embedded DNS server, with the pid whose namespace it
    /// is bound in.
    dns: HashMap<String, (u32, dns::DnsServer)>,
    realized: HashSet<String>,
}

/// A daemon's networks.
pub struct Networks {
    dir: PathBuf,
    cfg: NetConfig,
    /// Where host-side work happens.
    ns: NsHandle,
    fw: Firewall,
    /// Bridges, veths and rules of attach and create ([`kernel::InNamespace`]).
    kernel: Arc<dyn kernel::NetKernel>,
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
                options,
                predefined: true,
                ..Default::default()
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
        let fw = Firewall::new(&cfg.chain_prefix, ns.clone());
        let mark = bridge::owner_mark(&cfg.chain_prefix);
        Ok(Networks {
            dir,
            kernel: Arc::new(kernel::InNamespace {
                ns: ns.clone(),
                fw: fw.clone(),
                mark: mark.clone(),
            }),
            fw,
            upstreams: Arc::new(dns::Upstreams {
                servers: upstreams,
                ns: ns.clone(),
            }),
            ns,
            mark,
            cfg,
            op: tokio::sync::Mutex::new(()),
            state: Arc::new(RwLock::new(state)),
            running: Mutex::new(Running::default()),
        })
    }

    /// The same manager working through another kernel (tests: the double).
    #[cfg(test)]
    pub(crate) fn with_kernel(mut self, kernel: Arc<dyn kernel::NetKernel>) -> Networks {
        self.kernel = kernel;
        self
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
        Ok(self.state.read_locked().clone())
    }

    fn commit(&self, new: State) -> Result<()> {
        store::save(&self.dir, &new)?;
        *self.state.write_locked() = new;
        Ok(())
    }

    /// The default bridge's gateway: what `--add-host x:host-gateway` resolves to.
    pub fn host_gateway(&self) -> Ipv4Addr {
        self.state
            .read_locked()
            .networks
            .iter()
            .find(|n| n.predefined && n.name == BRIDGE)
            .and_then(|n| n.gateway)
            .unwrap_or(Ipv4Addr::new(172, 17, 0, 1))
    }

    /// Whether `network` (name/id) is a user network, whose containers get 127.0.0.11.
    pub fn uses_embedded_dns(&self, network: &str) -> bool {
        self.state
            .read_locked()
            .find_network(network)
            .is_some_and(|n| n.has_dns())
    }

    /// The network record for a name, id or unique id prefix.
    pub fn find(&self, key: &str) -> Result<NetworkRecord> {
        self.state
            .read_locked()
            .find_network(key)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {key} not found")))
    }

    /// `network ls`: every network in Docker's inspect shape, by name.
    pub fn list(&self) -> Result<Vec<serde_json::Value>> {
        let state = self.state.read_locked();
        let mut nets: Vec<&NetworkRecord> = state.networks.iter().collect();
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nets
            .into_iter()
            .map(|n| settings::network_inspect(&state, n))
            .collect())
    }

    /// `network inspect KEY` in Docker's JSON shape.
    pub fn inspect(&self, key: &str) -> Result<serde_json::Value> {
        let state = self.state.read_locked();
        let n = state
            .find_network(key)
            .ok_or_else(|| Error::NotFound(format!("network {key} not found")))?;
        Ok(settings::network_inspect(&state, n))
    }

    /// The endpoints of a container.
    pub fn endpoints(&self, container_id: &str) -> Result<Vec<Endpoint>> {
        let s = self.state.read_locked();
        Ok(s.endpoints_of_container(container_id)
            .filter_map(|e| Some(endpoint_of(e, s.network(&e.network_id)?)))
            .collect())
    }

    /// Start the embedded DNS server inside the container's namespace (127.0.0.11:53).
    /// A no-op for a container on no user network, and for one whose server
    /// already runs in that namespace: it answers for every network of the
    /// container as the records are at each query, so a container that joins a
    /// second network keeps it (stopping it to bind again raced its sockets'
    /// closing: the bind failed with "address in use"). A server bound in
    /// another namespace of the container (an earlier process) is replaced.
    pub async fn dns_start(&self, container_id: &str, pid: u32) -> Result<()> {
        let on_user_net = {
            let s = self.state.read_locked();
            let on = s
                .endpoints_of_container(container_id)
                .any(|e| s.network(&e.network_id).is_some_and(NetworkRecord::has_dns));
            on
        };
        if !on_user_net {
            return Ok(());
        }
        let serving = self
            .running
            .locked()
            .dns
            .get(container_id)
            .is_some_and(|(bound, _)| *bound == pid);
        if serving {
            return Ok(());
        }
        self.dns_stop(container_id);
        let (udp, tcp) = dns::bind_in(pid).await.map_err(|e| {
            NetworkError::Other(format!(
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
            .map_err(|e| NetworkError::Other(format!("embedded DNS server: {e}")))?;
        self.running
            .locked()
            .dns
            .insert(container_id.to_string(), (pid, server));
        Ok(())
    }

    /// Stop the container's DNS server (its sockets close; idempotent).
    pub fn dns_stop(&self, container_id: &str) {
        self.running.locked().dns.remove(container_id);
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
        let s = self.state.read_locked();
        Ok(settings::network_settings(&s, container_id, mode, exposed))
    }
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
