//! Links, addresses and routes through `rtnetlink`: the bridges, the veth pairs and
//! the configuration inside a container's namespace.
//!
//! A veth pair is created in one netlink request with its peer already placed in
//! the container's namespace (`IFLA_NET_NS_PID` on the peer) and its host end
//! already enslaved to the bridge (`IFLA_MASTER`), so a crash never leaves an
//! unattached or unmoved half: whatever exists is on our bridge and is found again
//! by `reconcile`. The peer is then renamed `ethN` and given its address and route
//! through a netlink socket opened inside the namespace (see `netns`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use rtnetlink::packet_route::link::LinkMessage;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, RouteMessageBuilder,
};

use super::netns::{self, NsHandle};
use crate::error::Result;
use crate::network::NetworkError;
use crate::Error;

/// A link as we need to know it.
#[derive(Debug, Clone)]
pub struct LinkSummary {
    pub index: u32,
    pub name: String,
    pub controller: Option<u32>,
    pub kind: Option<String>,
    /// The link's alias (`ip link set X alias ...`): our [`owner_mark`] on the
    /// links we created.
    pub alias: Option<String>,
    /// The link's group (`ip link set X group N`): [`owner_group`] of the mark
    /// on the links we created.
    pub group: Option<u32>,
}

impl LinkSummary {
    /// Whether this link carries `mark`, i.e. whether we created it: its alias
    /// says so, or, without an alias, its group does (the daemon was killed
    /// between creating the link and giving it the alias).
    pub fn is_ours(&self, mark: &str) -> bool {
        match self.alias.as_deref() {
            Some(alias) => alias == mark,
            None => self.group == Some(owner_group(mark)),
        }
    }
}

/// The alias we give every link we create on a host (bridges, the host ends of
/// veth pairs), naming the manager that made it by its chain prefix. A link
/// without it (the machine's `docker0`, libvirt's `virbr0`, a bridge a network
/// adopted through `com.docker.network.bridge.name`) is never deleted by us;
/// `scripts/net-cleanup` goes by the same mark.
pub fn owner_mark(chain_prefix: &str) -> String {
    format!("dockhand:{chain_prefix}")
}

/// The link group of the links made under `mark`, given in the request that
/// creates a link: the kernel takes `IFLA_GROUP` at creation but not
/// `IFLA_IFALIAS`, so the alias needs a second request, and a link whose alias
/// never came is still known as ours by its group (and gets the alias when it is
/// next found). FNV-1a of the mark, in 2^30..2^31: never the default group 0
/// nor the small numbers people give groups by hand, and within what `ip link`
/// accepts. `scripts/net-cleanup` computes the same.
pub fn owner_group(mark: &str) -> u32 {
    let hash = mark.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (hash & 0x3fff_ffff) | 0x4000_0000
}

/// What [`Netlink::ensure_bridge`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeSetup {
    pub index: u32,
    /// The bridge carries our mark: we created it (now or earlier).
    pub ours: bool,
    /// The gateway address was added now (it was not on the bridge before).
    pub address_added: bool,
}

/// An rtnetlink connection bound to the namespace of the thread that opened it.
pub struct Netlink {
    handle: Handle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn nl_err(what: &str, e: rtnetlink::Error) -> Error {
    NetworkError::Netlink {
        what: what.into(),
        source: e,
    }
    .into()
}

/// The errno of a netlink NACK (positive), if that is what `e` is.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

impl Netlink {
    /// Open a connection in the current thread's namespace; needs a tokio runtime.
    pub fn new() -> Result<Netlink> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| NetworkError::Io {
            what: "netlink socket".into(),
            source: e,
        })?;
        let task = tokio::spawn(conn);
        Ok(Netlink { handle, task })
    }

    /// Open a connection inside `ns` (made on its worker thread, registered with
    /// the current runtime, so it serves that namespace from any thread).
    pub async fn open_in(ns: &NsHandle) -> Result<Netlink> {
        if ns.is_own() {
            return Netlink::new();
        }
        let rt = tokio::runtime::Handle::current();
        ns.run(move || {
            let _entered = rt.enter();
            Netlink::new().map_err(std::io::Error::other)
        })
        .await
        .map_err(|e| {
            NetworkError::Io {
                what: format!("netlink socket in {ns:?}"),
                source: e,
            }
            .into()
        })
    }

    pub async fn links(&self) -> Result<Vec<LinkSummary>> {
        let mut stream = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| nl_err("list links", e))?
        {
            out.push(summarize(&msg));
        }
        Ok(out)
    }

    pub async fn link_by_name(&self, name: &str) -> Result<Option<LinkSummary>> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(Some(summarize(&msg))),
            Ok(None) => Ok(None),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(nl_err(&format!("get link {name}"), e)),
        }
    }

    /// Create the bridge if missing (marked with `mark`), give it
    /// `gateway/prefix`, bring it up. An existing bridge is used as it is
    /// (adopted, unless it carries `mark`): only the address is added.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        prefix: u8,
        mark: &str,
    ) -> Result<BridgeSetup> {
        let link = match self.link_by_name(name).await? {
            Some(l) if l.alias.is_none() && l.is_ours(mark) => {
                self.set_alias(l.index, mark).await?;
                l
            }
            Some(l) => l,
            None => {
                let r = self
                    .handle
                    .link()
                    .add(
                        LinkBridge::new(name)
                            .up()
                            .append_extra_attribute(LinkAttribute::Group(owner_group(mark)))
                            .build(),
                    )
                    .execute()
                    .await;
                match r {
                    Ok(()) => {
                        self.mark_new(name, mark).await?;
                        self.link_by_name(name)
                            .await?
                            .ok_or_else(|| NetworkError::Vanished(format!("bridge {name}")))?
                    }
                    // Made by somebody else in the meantime: theirs.
                    Err(e) if errno(&e) == Some(libc::EEXIST) => self
                        .link_by_name(name)
                        .await?
                        .ok_or_else(|| NetworkError::Vanished(format!("bridge {name}")))?,
                    Err(e) => return Err(nl_err(&format!("create bridge {name}"), e)),
                }
            }
        };
        if link.kind.as_deref() != Some("bridge") {
            return Err(Error::Conflict(format!(
                "{name} exists and is not a bridge ({})",
                link.kind.as_deref().unwrap_or("unknown kind")
            )));
        }
        let address_added = self.add_address(link.index, gateway, prefix).await?;
        self.set_up(link.index).await?;
        Ok(BridgeSetup {
            index: link.index,
            ours: link.is_ours(mark),
            address_added,
        })
    }

    /// Set a link's alias (our mark).
    pub async fn set_alias(&self, index: u32, alias: &str) -> Result<()> {
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .append_extra_attribute(LinkAttribute::IfAlias(alias.to_string()))
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err("set link alias", e))
    }

    /// Add an address; false when the link had it already. IPv6 addresses skip
    /// duplicate address detection (they are ours to hand out, and a tentative
    /// address cannot be used for the second DAD takes).
    pub async fn add_address(&self, index: u32, ip: impl Into<IpAddr>, prefix: u8) -> Result<bool> {
        let ip = ip.into();
        let mut req = self.handle.address().add(index, ip, prefix);
        if ip.is_ipv6() {
            let msg = req.message_mut();
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(nl_err(&format!("add address {ip}/{prefix}"), e)),
        }
    }

    /// Remove `ip/prefix` from the link `name`; a missing link or address is not
    /// an error.
    pub async fn delete_address(
        &self,
        name: &str,
        ip: impl Into<IpAddr>,
        prefix: u8,
    ) -> Result<()> {
        let ip = ip.into();
        let Some(link) = self.link_by_name(name).await? else {
            return Ok(());
        };
        let mut msg = AddressMessage::default();
        msg.header.family = if ip.is_ipv6() {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        msg.header.prefix_len = prefix;
        msg.header.index = link.index;
        if ip.is_ipv4() {
            msg.attributes.push(AddressAttribute::Local(ip));
        }
        msg.attributes.push(AddressAttribute::Address(ip));
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL) | Some(libc::ENODEV)) => Ok(()),
            Err(e) => Err(nl_err(
                &format!("delete address {ip}/{prefix} of {name}"),
                e,
            )),
        }
    }

    pub async fn set_up(&self, index: u32) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| nl_err("set link up", e))
    }

    /// Delete a link by name; a missing link is not an error. Only for links
    /// inside namespaces that are wholly ours (a container's, a virtual host's
    /// own `eth0`): on a host, use [`Netlink::delete_ours`].
    pub async fn delete_link(&self, name: &str) -> Result<()> {
        let Some(link) = self.link_by_name(name).await? else {
            return Ok(());
        };
        self.delete_index(name, link.index).await
    }

    async fn delete_index(&self, name: &str, index: u32) -> Result<()> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(nl_err(&format!("delete link {name}"), e)),
        }
    }

    /// Delete the link `name` if it carries `mark` (we created it); a missing
    /// link is not an error, and a link of somebody else's is left alone.
    /// Returns whether it was deleted.
    pub async fn delete_ours(&self, name: &str, mark: &str) -> Result<bool> {
        let Some(link) = self.link_by_name(name).await? else {
            return Ok(false);
        };
        if !link.is_ours(mark) {
            tracing::info!("leaving link {name}: not created by this dockhand ({mark})");
            return Ok(false);
        }
        self.delete_index(name, link.index).await?;
        Ok(true)
    }

    /// Create a veth pair: `host` enslaved to `bridge_index` and up, `peer` created
    /// directly inside the network namespace of `pid`, with `mac`.
    pub async fn create_veth(
        &self,
        host: &str,
        peer: &str,
        bridge_index: u32,
        pid: u32,
        mac: [u8; 6],
        mark: &str,
    ) -> Result<()> {
        let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .address(mac.to_vec())
            .setns_by_pid(pid)
            .build();
        let msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_string())
            .controller(bridge_index)
            .up()
            .append_extra_attribute(LinkAttribute::Group(owner_group(mark)))
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| nl_err(&format!("create veth {host}"), e))?;
        self.mark_new(host, mark).await
    }

    /// Give the link we just made our mark; if that fails, remove the link
    /// (unmarked, nobody would ever remove it).
    async fn mark_new(&self, name: &str, mark: &str) -> Result<()> {
        let link = self
            .link_by_name(name)
            .await?
            .ok_or_else(|| NetworkError::Vanished(format!("link {name}")))?;
        if let Err(e) = self.set_alias(link.index, mark).await {
            let _ = self.delete_index(name, link.index).await;
            return Err(e);
        }
        Ok(())
    }

    /// Create a veth pair: `host` (down) enslaved to `bridge_index`, `peer` created
    /// directly inside the network namespace open as `netns_fd`, with its final name.
    pub async fn create_veth_into_ns(
        &self,
        host: &str,
        peer: &str,
        bridge_index: u32,
        netns_fd: std::os::fd::RawFd,
        mark: &str,
    ) -> Result<()> {
        let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .setns_by_fd(netns_fd)
            .build();
        let msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_string())
            .controller(bridge_index)
            .append_extra_attribute(LinkAttribute::Group(owner_group(mark)))
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .build();
        match self.handle.link().add(msg).execute().await {
            Ok(()) => self.mark_new(host, mark).await,
            Err(e) if errno(&e) == Some(libc::EEXIST) => Err(Error::Conflict(format!(
                "create veth {host}/{peer}: a link of that name already exists"
            ))),
            Err(e) => Err(nl_err(&format!("create veth {host}"), e)),
        }
    }

    /// `bridge link set dev X isolated on`: the port cannot talk to other isolated
    /// ports of its bridge (only to non-isolated ones and the bridge itself).
    pub async fn set_port_isolated(&self, index: u32, on: bool) -> Result<()> {
        self.handle
            .link()
            .set_port(LinkBridgePort::new(index).isolated(on).build())
            .execute()
            .await
            .map_err(|e| nl_err("set bridge port isolated", e))
    }

    pub async fn rename(&self, index: u32, name: &str) -> Result<()> {
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .name(name.to_string())
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| nl_err(&format!("rename link to {name}"), e))
    }

    pub async fn add_default_route(&self, gateway: Ipv4Addr, index: u32) -> Result<()> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build();
        self.add_route(route, gateway.into()).await
    }

    pub async fn add_default_route_v6(&self, gateway: Ipv6Addr, index: u32) -> Result<()> {
        let route = RouteMessageBuilder::<Ipv6Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build();
        self.add_route(route, gateway.into()).await
    }

    /// Add a default route; one that exists already is fine.
    async fn add_route(
        &self,
        route: rtnetlink::packet_route::route::RouteMessage,
        gateway: IpAddr,
    ) -> Result<()> {
        match self.handle.route().add(route).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(nl_err(&format!("add default route via {gateway}"), e)),
        }
    }
}

fn summarize(msg: &LinkMessage) -> LinkSummary {
    let mut s = LinkSummary {
        index: msg.header.index,
        name: String::new(),
        controller: None,
        kind: None,
        alias: None,
        group: None,
    };
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => s.name = n.clone(),
            LinkAttribute::Group(g) => s.group = Some(*g),
            LinkAttribute::Controller(c) => s.controller = Some(*c),
            LinkAttribute::IfAlias(a) => s.alias = Some(a.clone()),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        s.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    s
}

/// What to do inside the container's namespace for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct InnerConfig {
    /// The peer's temporary name.
    pub peer: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// Some(gateway) to add the default route (primary, non-internal network).
    pub default_route: Option<Ipv4Addr>,
    /// The IPv6 address and prefix length on a network with IPv6.
    pub ip6: Option<(Ipv6Addr, u8)>,
    /// Some(gateway) for the IPv6 default route.
    pub default_route6: Option<Ipv6Addr>,
    /// `LinkLocalIPs`: 169.254.0.0/16 and fe80::/64 addresses besides.
    pub link_local: Vec<IpAddr>,
}

/// Inside the namespace of `pid`: bring `lo` up, rename the peer to the first free
/// `ethN`, give it its address, bring it up, add the default route. Returns `ethN`.
pub async fn configure_inside(pid: u32, cfg: InnerConfig) -> Result<String> {
    netns::run_async(pid, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            netns::loopback_up()?;
            let nl = Netlink::new().map_err(std::io::Error::other)?;
            configure(&nl, &cfg).await.map_err(std::io::Error::other)
        })
    })
    .await
    .map_err(|e| {
        NetworkError::Io {
            what: "configuring the container network".into(),
            source: e,
        }
        .into()
    })
}

async fn configure(nl: &Netlink, cfg: &InnerConfig) -> Result<String> {
    let links = nl.links().await?;
    let peer = links.iter().find(|l| l.name == cfg.peer).ok_or_else(|| {
        NetworkError::Other(format!("{} not in the container namespace", cfg.peer))
    })?;
    let ifname = (0..)
        .map(|n| format!("eth{n}"))
        .find(|n| !links.iter().any(|l| &l.name == n))
        .unwrap_or_else(|| "eth0".into());
    nl.rename(peer.index, &ifname).await?;
    nl.add_address(peer.index, cfg.ip, cfg.prefix_len).await?;
    if let Some((ip6, prefix6)) = cfg.ip6 {
        nl.add_address(peer.index, ip6, prefix6).await?;
    }
    for ip in &cfg.link_local {
        let prefix = if ip.is_ipv6() { 64 } else { 16 };
        nl.add_address(peer.index, *ip, prefix).await?;
    }
    nl.set_up(peer.index).await?;
    if let Some(gw) = cfg.default_route {
        nl.add_default_route(gw, peer.index).await?;
    }
    if let Some(gw) = cfg.default_route6 {
        nl.add_default_route_v6(gw, peer.index).await?;
    }
    Ok(ifname)
}
