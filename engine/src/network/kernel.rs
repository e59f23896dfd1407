//! The seam between a network manager's decisions and the kernel: a bridge
//! network made real (bridge, gateway addresses, firewall rules, forwarding)
//! or taken back, a container attached (a veth pair, the inside configured)
//! or let go (its veths, its rules). [`InNamespace`] does it for real, with
//! netlink and the firewall in the manager's namespace; [`Recorder`] (tests)
//! writes each call down, keeps the links and rules a real call would leave,
//! and fails the calls a test names, so that what `create`, `connect`,
//! `disconnect` and `release_container` decide (addresses, which network is
//! primary, what a failure undoes, what is recorded) is unit-tested without
//! root. Reconcile and shutdown, which scan what the kernel has, work on
//! netlink and the firewall directly.

use futures_util::future::BoxFuture;

use super::bridge::{self, BridgeSetup, InnerConfig, Netlink};
use super::firewall::{self, Firewall, NetRules, PortRules};
use super::netns::{self, NsHandle};
use super::store::NetworkRecord;
use super::NetworkError;
use crate::error::Result;

/// A veth pair to make for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veth {
    /// The host end's name, enslaved to `bridge`.
    pub host: String,
    /// The peer's temporary name, created inside the namespace of `pid`.
    pub peer: String,
    pub bridge: String,
    pub pid: u32,
    pub mac: [u8; 6],
}

/// What a network manager asks of the kernel, in its own namespace.
pub trait NetKernel: Send + Sync {
    /// Make the bridge of `rec` exist with its gateway addresses, up, with our
    /// firewall rules for it and IPv4 forwarding on (idempotent).
    fn realize<'a>(&'a self, rec: &'a NetworkRecord) -> BoxFuture<'a, Result<BridgeSetup>>;
    /// Take back what [`NetKernel::realize`] made: the bridge if ours (else the
    /// gateway addresses we added, as `rec.gateway_added` says) and the rules.
    /// Best effort: failures are logged.
    fn unrealize<'a>(&'a self, rec: &'a NetworkRecord) -> BoxFuture<'a, ()>;
    /// Whether a link of this name exists.
    fn link_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// Make the pair: the host end on the bridge and up, marked ours; the peer
    /// in the container's namespace with its MAC address.
    fn add_veth<'a>(&'a self, veth: &'a Veth) -> BoxFuture<'a, Result<()>>;
    /// Inside the namespace of `pid`: name the peer `ethN`, give it its
    /// addresses and routes. Returns the name.
    fn configure_inside(&self, pid: u32, cfg: InnerConfig) -> BoxFuture<'_, Result<String>>;
    /// Delete the link `name` if we made it; whether it was deleted.
    fn delete_ours<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// Remove the rules of these published ports.
    fn remove_ports<'a>(&'a self, rules: &'a [PortRules]) -> BoxFuture<'a, Result<()>>;
    /// Remove every rule carrying `tag`; how many went.
    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<usize>>;
}

/// The kernel, reached in a manager's namespace.
pub struct InNamespace {
    pub(super) ns: NsHandle,
    pub(super) fw: Firewall,
    /// The alias on the links we create ([`bridge::owner_mark`]).
    pub(super) mark: String,
}

impl InNamespace {
    async fn nl(&self) -> Result<Netlink> {
        Netlink::open_in(&self.ns).await
    }

    /// Turn on IPv4 forwarding in the namespace (needed for NAT and for
    /// containers to reach out), and bring its `lo` up (the userland proxy
    /// serves 127.0.0.1; a fresh namespace has it down).
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

impl NetKernel for InNamespace {
    fn realize<'a>(&'a self, rec: &'a NetworkRecord) -> BoxFuture<'a, Result<BridgeSetup>> {
        Box::pin(async move {
            let (Some(subnet), Some(gw)) = (rec.subnet, rec.gateway) else {
                return Err(
                    NetworkError::Other(format!("network {} has no subnet", rec.name)).into(),
                );
            };
            let nl = self.nl().await?;
            let setup = nl
                .ensure_bridge(&rec.bridge, gw, subnet.prefix_len(), &self.mark)
                .await?;
            if let (true, Some(subnet6), Some(gw6)) = (rec.ipv6, rec.subnet6, rec.gateway6) {
                nl.add_address(setup.index, gw6, subnet6.prefix_len())
                    .await?;
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
            Ok(setup)
        })
    }

    fn unrealize<'a>(&'a self, rec: &'a NetworkRecord) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Ok(nl) = self.nl().await {
                remove_bridge(&nl, rec, &self.mark).await;
            }
            if let Err(e) = self.fw.remove_tag(&firewall::net_tag(&rec.id)).await {
                tracing::warn!("removing rules of network {}: {e}", rec.name);
            }
        })
    }

    fn link_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { Ok(self.nl().await?.link_by_name(name).await?.is_some()) })
    }

    fn add_veth<'a>(&'a self, v: &'a Veth) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let nl = self.nl().await?;
            let bridge_index = nl
                .link_by_name(&v.bridge)
                .await?
                .ok_or_else(|| NetworkError::Missing(format!("bridge {}", v.bridge)))?
                .index;
            nl.create_veth(&v.host, &v.peer, bridge_index, v.pid, v.mac, &self.mark)
                .await
        })
    }

    fn configure_inside(&self, pid: u32, cfg: InnerConfig) -> BoxFuture<'_, Result<String>> {
        Box::pin(bridge::configure_inside(pid, cfg))
    }

    fn delete_ours<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { self.nl().await?.delete_ours(name, &self.mark).await })
    }

    fn remove_ports<'a>(&'a self, rules: &'a [PortRules]) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.fw.remove_ports(rules))
    }

    fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<usize>> {
        Box::pin(self.fw.remove_tag(tag))
    }
}

/// Delete a network's bridge if we created it; otherwise take back only the
/// gateway addresses we added to it. Errors are logged.
pub(super) async fn remove_bridge(nl: &Netlink, rec: &NetworkRecord, mark: &str) {
    match nl.delete_ours(&rec.bridge, mark).await {
        Ok(true) => {}
        Ok(false) => {
            if let (true, Some(gw), Some(subnet)) = (rec.gateway_added, rec.gateway, rec.subnet) {
                remove_address(nl, &rec.bridge, gw.into(), subnet.prefix_len()).await;
                // The IPv6 gateway went on with the IPv4 one.
                if let (Some(gw6), Some(subnet6)) = (rec.gateway6, rec.subnet6) {
                    remove_address(nl, &rec.bridge, gw6.into(), subnet6.prefix_len()).await;
                }
            }
        }
        Err(e) => tracing::warn!("removing bridge {}: {e}", rec.bridge),
    }
}

async fn remove_address(nl: &Netlink, bridge: &str, ip: std::net::IpAddr, prefix: u8) {
    if let Err(e) = nl.delete_address(bridge, ip, prefix).await {
        tracing::warn!("removing {ip} from bridge {bridge}: {e}");
    }
}

#[cfg(test)]
pub use double::{NetCall, Recorder};

#[cfg(test)]
mod double {
    use super::*;
    use crate::error::Error;
    use shared::sync::Locked;
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::Ipv4Addr;
    use std::sync::Mutex;

    /// One call a manager made.
    #[derive(Debug, Clone, PartialEq)]
    pub enum NetCall {
        Realize { bridge: String },
        Unrealize { bridge: String },
        AddVeth(Veth),
        ConfigureInside { pid: u32, cfg: InnerConfig },
        DeleteOurs { name: String },
        RemovePorts { container_ips: Vec<Ipv4Addr> },
        RemoveTag { tag: String },
    }

    impl NetCall {
        fn op(&self) -> &'static str {
            match self {
                NetCall::Realize { .. } => "realize",
                NetCall::Unrealize { .. } => "unrealize",
                NetCall::AddVeth(_) => "add_veth",
                NetCall::ConfigureInside { .. } => "configure_inside",
                NetCall::DeleteOurs { .. } => "delete_ours",
                NetCall::RemovePorts { .. } => "remove_ports",
                NetCall::RemoveTag { .. } => "remove_tag",
            }
        }
    }

    /// A link of the double's host namespace.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Link {
        /// The bridge a veth's host end is on; None for a bridge.
        pub on: Option<String>,
        pub ours: bool,
    }

    /// The recording double. Its host namespace holds links by name (bridges
    /// and veth host ends) and rules by tag; each container namespace (by pid)
    /// the names of its interfaces. `realize` makes the bridge ours unless a
    /// link of that name is there (then it is adopted) and adds the network's
    /// rules; `add_veth` needs the bridge and puts the peer in the container;
    /// `configure_inside` renames it to the first free `ethN`; `delete_ours`
    /// deletes only our links, and a veth's peer with it. `link_exists` is
    /// never recorded (a lookup). The operations named by [`fail`] are recorded
    /// and fail as netlink would, changing nothing.
    ///
    /// [`fail`]: Recorder::fail
    #[derive(Debug, Default)]
    pub struct Recorder {
        calls: Mutex<Vec<NetCall>>,
        failing: Mutex<BTreeSet<&'static str>>,
        links: Mutex<BTreeMap<String, Link>>,
        inside: Mutex<BTreeMap<u32, Vec<String>>>,
        /// The peer of each veth host end: (pid, name inside).
        peers: Mutex<BTreeMap<String, (u32, String)>>,
        rules: Mutex<BTreeMap<String, usize>>,
    }

    impl Recorder {
        /// Make every later call of `op` fail.
        pub fn fail(&self, op: &'static str) {
            self.failing.locked().insert(op);
        }

        /// The calls so far, in order.
        pub fn calls(&self) -> Vec<NetCall> {
            self.calls.locked().clone()
        }

        /// Forget the calls so far.
        pub fn clear_calls(&self) {
            self.calls.locked().clear();
        }

        /// The links of the host namespace now.
        pub fn links(&self) -> BTreeMap<String, Link> {
            self.links.locked().clone()
        }

        /// A link somebody else made (the machine's `docker0`, say).
        pub fn foreign_link(&self, name: &str) {
            self.links.locked().insert(
                name.into(),
                Link {
                    on: None,
                    ours: false,
                },
            );
        }

        /// A link deleted behind the manager's back.
        pub fn vanish(&self, name: &str) {
            self.links.locked().remove(name);
        }

        /// The interfaces inside the namespace of `pid`.
        pub fn inside(&self, pid: u32) -> Vec<String> {
            self.inside.locked().get(&pid).cloned().unwrap_or_default()
        }

        /// Port rules of a container, as `publish` would have added them.
        pub fn add_port_rules(&self, tag: &str, count: usize) {
            *self.rules.locked().entry(tag.into()).or_default() += count;
        }

        /// The tags of the rules there are now, with how many rules each.
        pub fn rules(&self) -> BTreeMap<String, usize> {
            self.rules.locked().clone()
        }

        fn record(&self, call: NetCall) -> Result<()> {
            let op = call.op();
            self.calls.locked().push(call);
            if self.failing.locked().contains(op) {
                return Err(NetworkError::Other(format!("{op} failed as the test asked")).into());
            }
            Ok(())
        }
    }

    impl NetKernel for Recorder {
        fn realize<'a>(&'a self, rec: &'a NetworkRecord) -> BoxFuture<'a, Result<BridgeSetup>> {
            Box::pin(async move {
                self.record(NetCall::Realize {
                    bridge: rec.bridge.clone(),
                })?;
                if rec.gateway.is_none() {
                    return Err(
                        NetworkError::Other(format!("network {} has no subnet", rec.name)).into(),
                    );
                }
                let mut links = self.links.locked();
                let link = links.entry(rec.bridge.clone()).or_insert(Link {
                    on: None,
                    ours: true,
                });
                if link.on.is_some() {
                    return Err(Error::Conflict(format!(
                        "{} exists and is not a bridge",
                        rec.bridge
                    )));
                }
                let ours = link.ours;
                *self
                    .rules
                    .locked()
                    .entry(firewall::net_tag(&rec.id))
                    .or_default() = 1;
                Ok(BridgeSetup {
                    index: 1,
                    ours,
                    address_added: !ours,
                })
            })
        }

        fn unrealize<'a>(&'a self, rec: &'a NetworkRecord) -> BoxFuture<'a, ()> {
            Box::pin(async move {
                if self
                    .record(NetCall::Unrealize {
                        bridge: rec.bridge.clone(),
                    })
                    .is_err()
                {
                    return;
                }
                let mut links = self.links.locked();
                if links.get(&rec.bridge).is_some_and(|l| l.ours) {
                    links.remove(&rec.bridge);
                }
                self.rules.locked().remove(&firewall::net_tag(&rec.id));
            })
        }

        fn link_exists<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
            Box::pin(async move { Ok(self.links.locked().contains_key(name)) })
        }

        fn add_veth<'a>(&'a self, v: &'a Veth) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move {
                self.record(NetCall::AddVeth(v.clone()))?;
                let mut links = self.links.locked();
                if links.get(&v.bridge).is_none_or(|l| l.on.is_some()) {
                    return Err(NetworkError::Missing(format!("bridge {}", v.bridge)).into());
                }
                links.insert(
                    v.host.clone(),
                    Link {
                        on: Some(v.bridge.clone()),
                        ours: true,
                    },
                );
                self.inside
                    .locked()
                    .entry(v.pid)
                    .or_default()
                    .push(v.peer.clone());
                self.peers
                    .locked()
                    .insert(v.host.clone(), (v.pid, v.peer.clone()));
                Ok(())
            })
        }

        fn configure_inside(&self, pid: u32, cfg: InnerConfig) -> BoxFuture<'_, Result<String>> {
            Box::pin(async move {
                let peer = cfg.peer.clone();
                self.record(NetCall::ConfigureInside { pid, cfg })?;
                let mut inside = self.inside.locked();
                let names = inside.entry(pid).or_default();
                let Some(at) = names.iter().position(|n| *n == peer) else {
                    return Err(NetworkError::Other(format!(
                        "{peer} not in the container namespace"
                    ))
                    .into());
                };
                let ifname = (0..)
                    .map(|n| format!("eth{n}"))
                    .find(|n| !names.contains(n))
                    .unwrap_or_default();
                names[at] = ifname.clone();
                for (p, name) in self.peers.locked().values_mut() {
                    if *p == pid && *name == peer {
                        *name = ifname.clone();
                    }
                }
                Ok(ifname)
            })
        }

        fn delete_ours<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<bool>> {
            Box::pin(async move {
                self.record(NetCall::DeleteOurs { name: name.into() })?;
                let mut links = self.links.locked();
                if !links.get(name).is_some_and(|l| l.ours) {
                    return Ok(false);
                }
                links.remove(name);
                if let Some((pid, peer)) = self.peers.locked().remove(name) {
                    if let Some(names) = self.inside.locked().get_mut(&pid) {
                        names.retain(|n| *n != peer);
                    }
                }
                Ok(true)
            })
        }

        fn remove_ports<'a>(&'a self, rules: &'a [PortRules]) -> BoxFuture<'a, Result<()>> {
            Box::pin(async move {
                self.record(NetCall::RemovePorts {
                    container_ips: rules.iter().map(|r| r.container_ip).collect(),
                })?;
                let mut have = self.rules.locked();
                for r in rules {
                    if let Some(n) = have.get_mut(&r.tag) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            have.remove(&r.tag);
                        }
                    }
                }
                Ok(())
            })
        }

        fn remove_tag<'a>(&'a self, tag: &'a str) -> BoxFuture<'a, Result<usize>> {
            Box::pin(async move {
                self.record(NetCall::RemoveTag { tag: tag.into() })?;
                Ok(self.rules.locked().remove(tag).unwrap_or(0))
            })
        }
    }
}
