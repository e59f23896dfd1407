//! The playground network on the real machine: each virtual host gets an `eth0`
//! through which the server reaches the ports it publishes, and the virtual hosts
//! of one *session network* reach each other (`ping node2`).
//!
//! # Layout
//!
//! [`PlaygroundNetworkConfig::subnet`] is split in two halves. The first is the common
//! bridge's ([`PlaygroundNetworkConfig::bridge`], gateway = its first address): virtual
//! hosts without a session sit there on *isolated* bridge ports
//! (`IFLA_BRPORT_ISOLATED`), so they can talk to the machine but not to each other.
//! The second half is carved into blocks of [`PlaygroundNetworkConfig::session_prefix_len`],
//! one per session network, each with its own bridge (`session_bridge_prefix` + the
//! block's index), created with its first member and removed with its last.
//!
//! A virtual host's link is one veth pair made in one netlink request: the host end
//! enslaved to the bridge (down until its port is isolated), the peer created
//! directly inside the virtual host's namespace as `eth0` (`IFLA_NET_NS_FD`). Its
//! address and default route are set through a netlink socket opened inside that
//! namespace ([`NsHandle`]).
//!
//! # Egress
//!
//! Enforced on the machine per source address, in chains of our own (prefix `P`):
//!
//! | table  | chain      | hooked from              | holds |
//! |--------|------------|--------------------------|-------|
//! | filter | `P-FWD`    | FORWARD (first rule)     | replies accepted; `P-SESS`; vhost-to-vhost dropped; a vhost's new connections over [`TRACKED_PER_VHOST`] dropped; `P-REG`; DNAT-ed (the machine's published ports) dropped; link-local dropped; `P-EGRESS`; everything else from or to the playground dropped |
//! | filter | `P-IN`     | INPUT (first rule)       | replies accepted; new connections over [`TRACKED_PER_VHOST`] dropped; `P-REG`; everything else from the playground dropped |
//! | filter | `P-SESS`   | `P-FWD`                  | `-i br -o br -j ACCEPT` per session bridge (bridged traffic meets FORWARD when br_netfilter is loaded) |
//! | filter | `P-REG`    | `P-FWD`, `P-IN`          | per vhost whose policy is `registries` or `all`: TCP to each registry (its original destination, so a DNAT-ed registry counts) |
//! | filter | `P-EGRESS` | `P-FWD`                  | per vhost whose policy is `all`: accept |
//! | nat    | `P-POST`   | POSTROUTING              | MASQUERADE of the playground leaving it |
//!
//! The jumps are put back on top when the base is set up (first attach) and by
//! every [`PlaygroundNetwork::reconcile`]: the daemon calls it after the machine's own
//! `Networks::reconcile`, whose FORWARD jump is inserted first too. (Checking the
//! order at every attach would cost a read of the tables, or a delete by
//! specification, about 10 ms with iptables-nft.)
//!
//! Connections the machine opens to a virtual host (the server proxying to a
//! published port) are OUTPUT traffic, never filtered; their replies are accepted
//! as ESTABLISHED. Per-vhost rules carry the tag `dh-pg:vh:<host veth>`, session
//! rules `dh-pg:br:<bridge>`, so leftovers are found again by tag.
//!
//! A virtual host is root in its own network namespace and could change the
//! address of its `eth0` to a neighbour's, and so borrow that neighbour's policy:
//! the port guard (an nftables bridge table, [`PlaygroundNetwork::guard_table`]) passes
//! only IPv4 from the port's own address and ARP claiming it.
//!
//! # Whose links
//!
//! Links we create carry our mark ([`super::bridge::owner_mark`] of the chain
//! prefix); detach, reconcile and cleanup delete only those. A common bridge that
//! existed before us is used and kept (cleanup takes back only the gateway address
//! we gave it), and a session bridge name taken by a link of somebody else's is
//! skipped.
//!
//! # State
//!
//! `<state_dir>/playground.json`, written atomically after every change, so a
//! restarted daemon knows which links, sessions and rules exist ([`PlaygroundNetwork::reconcile`]).

use shared::sync::RwLocked;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::bridge::Netlink;
use super::ipam::{self, Ipv4Net};
use super::iptables::{self, Batch, Saved};
use super::netns::{self, NsHandle};
use crate::error::Result;
use crate::network::NetworkError;
use crate::Error;

const FILTER: &str = "filter";
const NAT: &str = "nat";
const BASE_TAG: &str = "dh-pg:base";
/// Connections one virtual host may have tracked by the machine at once
/// (`connlimit` per source address): the connection tracking table is one
/// for the machine, and a host sending flows out could fill it for everyone.
pub const TRACKED_PER_VHOST: u32 = 2048;

/// What a virtual host may reach beyond the playground.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Egress {
    /// Nothing leaves (replies to the machine's connections still do).
    None,
    /// Only TCP to the configured registries.
    Registries,
    /// Anywhere (masqueraded), except other virtual hosts and the machine itself.
    All,
}

impl FromStr for Egress {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Egress, String> {
        match s {
            "none" => Ok(Egress::None),
            "registries" => Ok(Egress::Registries),
            "all" => Ok(Egress::All),
            other => Err(format!(
                "invalid egress policy {other:?}: expected none, registries or all"
            )),
        }
    }
}

impl fmt::Display for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Egress::None => "none",
            Egress::Registries => "registries",
            Egress::All => "all",
        })
    }
}

/// Names and ranges of the playground network.
#[derive(Debug, Clone)]
pub struct PlaygroundNetworkConfig {
    /// The common bridge (`dhpg0`).
    pub bridge: String,
    /// Every playground address comes from here (10.199.0.0/16).
    pub subnet: Ipv4Net,
    /// Prefix of our iptables chains (`DOCKHAND-PG`).
    pub chain_prefix: String,
    /// Session bridges are this plus a block index (`dhs-0`, `dhs-1`, ...).
    pub session_bridge_prefix: String,
    /// Allowed destinations of the `registries` policy (TCP).
    pub registries: Vec<SocketAddrV4>,
    /// The policy callers use when a session does not say.
    pub default_egress: Egress,
    /// The size of each session network's subnet (26: 61 members).
    pub session_prefix_len: u8,
}

impl Default for PlaygroundNetworkConfig {
    fn default() -> Self {
        PlaygroundNetworkConfig {
            bridge: "dhpg0".into(),
            subnet: Ipv4Net::new(Ipv4Addr::new(10, 199, 0, 0), 16).expect("valid"),
            chain_prefix: "DOCKHAND-PG".into(),
            session_bridge_prefix: "dhs-".into(),
            registries: Vec::new(),
            default_egress: Egress::Registries,
            session_prefix_len: 26,
        }
    }
}

/// A virtual host's `eth0` as the caller needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VhostLink {
    pub ip: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    /// The machine's end of the veth pair.
    pub host_veth: String,
    pub session: Option<String>,
}

/// What [`PlaygroundNetwork::reconcile`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaygroundReport {
    pub removed_vhosts: usize,
    pub removed_links: usize,
    pub removed_bridges: usize,
    pub removed_rules: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LinkRecord {
    vhost: String,
    ip: Ipv4Addr,
    gateway: Ipv4Addr,
    prefix_len: u8,
    host_veth: String,
    /// The bridge its host end is on.
    bridge: String,
    session: Option<String>,
    egress: Egress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SessionRecord {
    name: String,
    bridge: String,
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PgState {
    #[serde(default)]
    links: Vec<LinkRecord>,
    #[serde(default)]
    sessions: Vec<SessionRecord>,
    /// The common bridge is not ours (`--playground-bridge` named an existing
    /// bridge) and we gave it its gateway address: cleanup takes that back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    common_address_added: bool,
}

impl PgState {
    fn link(&self, vhost: &str) -> Option<&LinkRecord> {
        self.links.iter().find(|l| l.vhost == vhost)
    }
    fn session(&self, name: &str) -> Option<&SessionRecord> {
        self.sessions.iter().find(|s| s.name == name)
    }
}

/// The common bridge's subnet: the first half of `subnet`.
pub fn common_subnet(cfg: &PlaygroundNetworkConfig) -> Option<Ipv4Net> {
    Ipv4Net::new(
        cfg.subnet.network(),
        cfg.subnet.prefix_len().checked_add(1)?,
    )
}

/// The session blocks: the second half of `subnet` in blocks of `session_prefix_len`.
pub fn session_block(cfg: &PlaygroundNetworkConfig, index: u32) -> Option<Ipv4Net> {
    let half = cfg.subnet.prefix_len().checked_add(1)?;
    let len = cfg.session_prefix_len;
    if len < half || len > 30 {
        return None;
    }
    let count = 1u64 << (len - half);
    if u64::from(index) >= count {
        return None;
    }
    let base = u32::from(cfg.subnet.network()) | (1u32 << (32 - u32::from(half)));
    let block = base.checked_add(index.checked_mul(1u32 << (32 - u32::from(len)))?)?;
    Ipv4Net::new(Ipv4Addr::from(block), len)
}

/// The first session block that `used` does not hold, with its index.
pub fn pick_session_block(
    cfg: &PlaygroundNetworkConfig,
    used: &[Ipv4Net],
) -> Option<(u32, Ipv4Net)> {
    (0u32..)
        .map_while(|i| session_block(cfg, i).map(|n| (i, n)))
        .find(|(_, n)| !used.contains(n))
}

fn tag_of_vhost(host_veth: &str) -> String {
    format!("dh-pg:vh:{host_veth}")
}

fn tag_of_bridge(bridge: &str) -> String {
    format!("dh-pg:br:{bridge}")
}

/// The playground network of the machine.
pub struct PlaygroundNetwork {
    dir: PathBuf,
    cfg: PlaygroundNetworkConfig,
    common: Ipv4Net,
    common_gw: Ipv4Addr,
    /// The machine's own namespace (where the server runs).
    ns: NsHandle,
    /// Serialises changes (held across kernel calls; never held by readers).
    op: tokio::sync::Mutex<()>,
    state: RwLock<PgState>,
    /// The common bridge, chains, hooks and base rules were set up.
    base_ready: AtomicBool,
    /// The alias on the links we create ([`super::bridge::owner_mark`]).
    mark: String,
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("playground.json")
}

impl PlaygroundNetwork {
    /// Load (or create) the records under `state_dir`. Touches no kernel state:
    /// the first [`PlaygroundNetwork::attach`] (or [`PlaygroundNetwork::reconcile`]) sets up the
    /// bridge and the chains.
    pub fn open(state_dir: &Path, cfg: PlaygroundNetworkConfig) -> Result<PlaygroundNetwork> {
        let bad = |m: String| Error::InvalidParameter(format!("playground network: {m}"));
        let common = common_subnet(&cfg)
            .filter(|n| n.prefix_len() <= 30)
            .ok_or_else(|| bad(format!("subnet {} too small", cfg.subnet)))?;
        let common_gw = common
            .first_host()
            .ok_or_else(|| bad(format!("subnet {} too small", cfg.subnet)))?;
        if session_block(&cfg, 0).is_none() {
            return Err(bad(format!(
                "session networks of /{} do not fit in the second half of {}",
                cfg.session_prefix_len, cfg.subnet
            )));
        }
        if cfg.bridge.is_empty() || cfg.bridge.len() > 15 {
            return Err(bad(format!("invalid bridge name {:?}", cfg.bridge)));
        }
        let half = cfg.subnet.prefix_len() + 1;
        let max_index = (1u64 << (cfg.session_prefix_len - half)) - 1;
        if cfg.session_bridge_prefix.is_empty()
            || cfg.session_bridge_prefix.len() + max_index.to_string().len() > 15
        {
            return Err(bad(format!(
                "session bridge prefix {:?} too long for {max_index} sessions",
                cfg.session_bridge_prefix
            )));
        }
        if cfg.chain_prefix.is_empty() || cfg.chain_prefix.len() > 20 {
            return Err(bad(format!("invalid chain prefix {:?}", cfg.chain_prefix)));
        }
        let state =
            crate::fsutil::read_json::<PgState>(&state_path(state_dir))?.unwrap_or_default();
        Ok(PlaygroundNetwork {
            dir: state_dir.to_path_buf(),
            mark: super::bridge::owner_mark(&cfg.chain_prefix),
            cfg,
            common,
            common_gw,
            ns: NsHandle::own(),
            op: tokio::sync::Mutex::new(()),
            state: RwLock::new(state),
            base_ready: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &PlaygroundNetworkConfig {
        &self.cfg
    }

    /// The common bridge's gateway: the machine's address as every unsessioned
    /// virtual host sees it.
    pub fn gateway(&self) -> Ipv4Addr {
        self.common_gw
    }

    fn snapshot(&self) -> Result<PgState> {
        Ok(self.state.read_locked().clone())
    }

    fn commit(&self, new: PgState) -> Result<()> {
        crate::fsutil::write_json_atomic(&state_path(&self.dir), &new)?;
        *self.state.write_locked() = new;
        Ok(())
    }

    /// The link of a virtual host, if attached.
    pub fn link(&self, vhost: &str) -> Option<VhostLink> {
        let s = self.state.read().ok()?;
        s.link(vhost).map(view)
    }

    /// Members of a session network (vhost name, address), by name, for /etc/hosts.
    pub fn hosts_entries(&self, session: &str) -> Vec<(String, Ipv4Addr)> {
        let Ok(s) = self.state.read() else {
            return Vec::new();
        };
        let mut v: Vec<(String, Ipv4Addr)> = s
            .links
            .iter()
            .filter(|l| l.session.as_deref() == Some(session))
            .map(|l| (l.vhost.clone(), l.ip))
            .collect();
        v.sort();
        v
    }
}

/// The nftables table of a playground whose chain prefix is `chain_prefix`
/// (nft names take letters, digits and `_`).
pub fn guard_table_name(chain_prefix: &str) -> String {
    let p: String = chain_prefix
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{p}_guard")
}

fn view(l: &LinkRecord) -> VhostLink {
    VhostLink {
        ip: l.ip,
        gateway: l.gateway,
        prefix_len: l.prefix_len,
        host_veth: l.host_veth.clone(),
        session: l.session.clone(),
    }
}

mod attach;
mod reconcile;
mod rules;

#[cfg(test)]
mod tests;
