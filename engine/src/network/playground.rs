//! The playground network on the real machine: each virtual host gets an `eth0`
//! through which the server reaches the ports it publishes, and the virtual hosts
//! of one *session network* reach each other (`ping node2`).
//!
//! # Layout
//!
//! [`PlaygroundConfig::subnet`] is split in two halves. The first is the common
//! bridge's ([`PlaygroundConfig::bridge`], gateway = its first address): virtual
//! hosts without a session sit there on *isolated* bridge ports
//! (`IFLA_BRPORT_ISOLATED`), so they can talk to the machine but not to each other.
//! The second half is carved into blocks of [`PlaygroundConfig::session_prefix_len`],
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
//! | filter | `P-FWD`    | FORWARD (first rule)     | replies accepted; `P-SESS`; vhost-to-vhost dropped; `P-REG`; DNAT-ed (the machine's published ports) dropped; `P-EGRESS`; everything else from or to the playground dropped |
//! | filter | `P-IN`     | INPUT (first rule)       | replies accepted; `P-REG`; everything else from the playground dropped |
//! | filter | `P-SESS`   | `P-FWD`                  | `-i br -o br -j ACCEPT` per session bridge (bridged traffic meets FORWARD when br_netfilter is loaded) |
//! | filter | `P-REG`    | `P-FWD`, `P-IN`          | per vhost whose policy is `registries` or `all`: TCP to each registry (its original destination, so a DNAT-ed registry counts) |
//! | filter | `P-EGRESS` | `P-FWD`                  | per vhost whose policy is `all`: accept |
//! | nat    | `P-POST`   | POSTROUTING              | MASQUERADE of the playground leaving it |
//!
//! The jumps are put back on top when the base is set up (first attach) and by
//! every [`Playground::reconcile`]: the daemon calls it after the machine's own
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
//! the port guard (an nftables bridge table, [`Playground::guard_table`]) passes
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
//! restarted daemon knows which links, sessions and rules exist ([`Playground::reconcile`]).

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
use crate::Error;

const FILTER: &str = "filter";
const NAT: &str = "nat";
const BASE_TAG: &str = "dh-pg:base";

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
pub struct PlaygroundConfig {
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

impl Default for PlaygroundConfig {
    fn default() -> Self {
        PlaygroundConfig {
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

/// What [`Playground::reconcile`] removed.
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
pub fn common_subnet(cfg: &PlaygroundConfig) -> Option<Ipv4Net> {
    Ipv4Net::new(
        cfg.subnet.network(),
        cfg.subnet.prefix_len().checked_add(1)?,
    )
}

/// The session blocks: the second half of `subnet` in blocks of `session_prefix_len`.
pub fn session_block(cfg: &PlaygroundConfig, index: u32) -> Option<Ipv4Net> {
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
pub fn pick_session_block(cfg: &PlaygroundConfig, used: &[Ipv4Net]) -> Option<(u32, Ipv4Net)> {
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
pub struct Playground {
    dir: PathBuf,
    cfg: PlaygroundConfig,
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

fn lock_err<T>(_: T) -> Error {
    Error::Internal("playground state lock poisoned".into())
}

fn state_path(dir: &Path) -> PathBuf {
    dir.join("playground.json")
}

impl Playground {
    /// Load (or create) the records under `state_dir`. Touches no kernel state:
    /// the first [`Playground::attach`] (or [`Playground::reconcile`]) sets up the
    /// bridge and the chains.
    pub fn open(state_dir: &Path, cfg: PlaygroundConfig) -> Result<Playground> {
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
        Ok(Playground {
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

    pub fn config(&self) -> &PlaygroundConfig {
        &self.cfg
    }

    /// The common bridge's gateway: the machine's address as every unsessioned
    /// virtual host sees it.
    pub fn gateway(&self) -> Ipv4Addr {
        self.common_gw
    }

    fn snapshot(&self) -> Result<PgState> {
        Ok(self.state.read().map_err(lock_err)?.clone())
    }

    fn commit(&self, new: PgState) -> Result<()> {
        crate::fsutil::write_json_atomic(&state_path(&self.dir), &new)?;
        *self.state.write().map_err(lock_err)? = new;
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

    // ---- chains ----

    fn chain(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.cfg.chain_prefix)
    }

    fn chains(&self) -> Vec<(&'static str, String)> {
        vec![
            (FILTER, self.chain("FWD")),
            (FILTER, self.chain("IN")),
            (FILTER, self.chain("SESS")),
            (FILTER, self.chain("REG")),
            (FILTER, self.chain("EGRESS")),
            (NAT, self.chain("POST")),
        ]
    }

    fn is_ours(&self, table: &str, chain: &str) -> bool {
        self.chains().iter().any(|(t, c)| *t == table && c == chain)
    }

    /// The fixed rules of the chains that hold nothing else, in order.
    fn base_rules(&self) -> Vec<(&'static str, String, Vec<String>)> {
        let net = self.cfg.subnet;
        let c = format!("-m comment --comment {BASE_TAG}");
        let est = "-m conntrack --ctstate RELATED,ESTABLISHED";
        let fwd = vec![
            format!("-d {net} {est} {c} -j ACCEPT"),
            format!("-s {net} {est} {c} -j ACCEPT"),
            format!("{c} -j {}", self.chain("SESS")),
            format!("-s {net} -d {net} {c} -j DROP"),
            format!("-s {net} {c} -j {}", self.chain("REG")),
            format!("-s {net} -m conntrack --ctstate DNAT {c} -j DROP"),
            format!("-s {net} {c} -j {}", self.chain("EGRESS")),
            format!("-s {net} {c} -j DROP"),
            format!("-d {net} {c} -j DROP"),
        ];
        let input = vec![
            format!("-s {net} {est} {c} -j ACCEPT"),
            format!("-s {net} {c} -j {}", self.chain("REG")),
            format!("-s {net} {c} -j DROP"),
        ];
        let post = vec![format!("-s {net} ! -d {net} {c} -j MASQUERADE")];
        vec![
            (FILTER, self.chain("FWD"), fwd),
            (FILTER, self.chain("IN"), input),
            (NAT, self.chain("POST"), post),
        ]
    }

    /// Plan whatever of the base is missing or out of place: chains, base rules
    /// (a chain that differs is rewritten whole), and the hooks, whose FORWARD and
    /// INPUT jumps must come first.
    fn plan_base(&self, s: &Saved, b: &mut Batch) {
        for (t, c) in self.chains() {
            if !s.has_chain(t, &c) {
                b.new_chain(t, &c);
            }
        }
        for (t, chain, rules) in self.base_rules() {
            let have: Vec<&Vec<String>> = s.rules(t, &chain).map(|r| &r.args).collect();
            let want: Vec<Vec<String>> = rules.iter().map(|r| iptables::tokens(r)).collect();
            let same = have.len() == want.len() && have.iter().zip(&want).all(|(h, w)| *h == w);
            if !same {
                if !have.is_empty() {
                    b.flush(t, &chain);
                }
                for r in &rules {
                    b.append(t, &chain, r);
                }
            }
        }
        for (t, builtin, ours, first) in [
            (FILTER, "FORWARD", self.chain("FWD"), true),
            (FILTER, "INPUT", self.chain("IN"), true),
            (NAT, "POSTROUTING", self.chain("POST"), false),
        ] {
            let jumps: Vec<_> = s
                .rules(t, builtin)
                .enumerate()
                .filter(|(_, r)| r.target() == Some(ours.as_str()))
                .collect();
            let fine = matches!((first, jumps.as_slice()), (true, [(0, _)]) | (false, [_]));
            if fine {
                continue;
            }
            for (_, r) in &jumps {
                b.delete(r);
            }
            let rule = format!("-j {ours}");
            if first {
                b.insert_first(t, builtin, &rule);
            } else {
                b.append(t, builtin, &rule);
            }
        }
    }

    /// The rules of one virtual host: (chain, rule).
    fn vhost_rules(&self, ip: Ipv4Addr, egress: Egress, tag: &str) -> Vec<(String, String)> {
        let c = format!("-m comment --comment {tag}");
        let mut v = Vec::new();
        if egress != Egress::None {
            for r in &self.cfg.registries {
                v.push((
                    self.chain("REG"),
                    format!(
                        "-s {ip}/32 -p tcp -m conntrack --ctorigdst {} --ctorigdstport {} {c} -j ACCEPT",
                        r.ip(),
                        r.port()
                    ),
                ));
            }
        }
        if egress == Egress::All {
            v.push((self.chain("EGRESS"), format!("-s {ip}/32 {c} -j ACCEPT")));
        }
        v
    }

    fn session_rule(&self, bridge: &str) -> (String, String) {
        (
            self.chain("SESS"),
            format!(
                "-i {bridge} -o {bridge} -m comment --comment {} -j ACCEPT",
                tag_of_bridge(bridge)
            ),
        )
    }

    /// Bridge, forwarding, chains and hooks; done once unless `force`.
    async fn ensure_base(&self, nl: &Netlink, force: bool) -> Result<()> {
        if !force && self.base_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let setup = nl
            .ensure_bridge(
                &self.cfg.bridge,
                self.common_gw,
                self.common.prefix_len(),
                &self.mark,
            )
            .await?;
        if !setup.ours && setup.address_added {
            tracing::info!(
                "playground: using the existing bridge {} (not created by dockhand; it stays)",
                self.cfg.bridge
            );
            let mut state = self.snapshot()?;
            if !state.common_address_added {
                state.common_address_added = true;
                self.commit(state)?;
            }
        }
        match self.ns.set_sysctl("net.ipv4.ip_forward", "1").await {
            Ok(true) => tracing::info!("set net.ipv4.ip_forward=1 for the playground"),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot enable net.ipv4.ip_forward: {e}"),
        }
        iptables::transact(&self.ns, |s| {
            let mut b = Batch::default();
            self.plan_base(s, &mut b);
            b
        })
        .await?;
        self.ensure_guard().await?;
        self.base_ready.store(true, Ordering::Release);
        Ok(())
    }

    // ---- attach / detach ----

    /// Give the virtual host `vhost` (whose network namespace is `netns`) its
    /// `eth0`: on the common bridge, isolated, or on the bridge of `session`. An
    /// existing link of the same vhost is replaced.
    pub async fn attach(
        &self,
        vhost: &str,
        netns: &Path,
        session: Option<&str>,
        egress: Egress,
    ) -> Result<VhostLink> {
        let started = Instant::now();
        let _op = self.op.lock().await;
        if self.state.read().map_err(lock_err)?.link(vhost).is_some() {
            self.detach_locked(vhost).await?;
        }
        let nl = Netlink::new()?;
        self.ensure_base(&nl, false).await?;
        let state = self.snapshot()?;
        let mut batch = Batch::default();

        let (bridge, subnet, gateway, new_session) = match session {
            None => (self.cfg.bridge.clone(), self.common, self.common_gw, None),
            Some(name) => match state.session(name) {
                Some(s) => (s.bridge.clone(), s.subnet, s.gateway, None),
                None => {
                    let mut used: Vec<Ipv4Net> = state.sessions.iter().map(|s| s.subnet).collect();
                    // A bridge of that name that is not ours (somebody else's, or
                    // an earlier life's that no record explains) is skipped.
                    let (index, subnet) = loop {
                        let (index, subnet) =
                            pick_session_block(&self.cfg, &used).ok_or_else(|| {
                                Error::Conflict("no free subnet for another session network".into())
                            })?;
                        let name = format!("{}{index}", self.cfg.session_bridge_prefix);
                        match nl.link_by_name(&name).await? {
                            Some(l) if !l.is_ours(&self.mark) => used.push(subnet),
                            _ => break (index, subnet),
                        }
                    };
                    let gateway = subnet.first_host().ok_or_else(|| {
                        Error::Internal(format!("session subnet {subnet} has no hosts"))
                    })?;
                    let rec = SessionRecord {
                        name: name.to_string(),
                        bridge: format!("{}{index}", self.cfg.session_bridge_prefix),
                        subnet,
                        gateway,
                    };
                    (rec.bridge.clone(), subnet, gateway, Some(rec))
                }
            },
        };
        let used: HashSet<Ipv4Addr> = state
            .links
            .iter()
            .filter(|l| l.bridge == bridge)
            .map(|l| l.ip)
            .collect();
        let ip = ipam::lease(&subnet, gateway, &used).ok_or_else(|| {
            Error::Conflict(format!("no free address on playground bridge {bridge}"))
        })?;
        let host_veth = format!("pgv{}", hex::encode(rand::random::<[u8; 4]>()));
        let rec = LinkRecord {
            vhost: vhost.to_string(),
            ip,
            gateway,
            prefix_len: subnet.prefix_len(),
            host_veth: host_veth.clone(),
            bridge: bridge.clone(),
            session: session.map(str::to_string),
            egress,
        };

        // The new state is written (fsync'd) while the kernel work runs: the
        // slowest step of an attach overlaps the rest. A crash in between leaves
        // a record whose veth is missing, which `reconcile` drops.
        let mut new_state = state.clone();
        if let Some(s) = &new_session {
            new_state.sessions.push(s.clone());
        }
        new_state.links.push(rec.clone());
        let persist = {
            let (path, data) = (state_path(&self.dir), new_state.clone());
            tokio::task::spawn_blocking(move || crate::fsutil::write_json_atomic(&path, &data))
        };
        let made = async {
            let bridge_index = match &new_session {
                Some(s) => {
                    let i = nl
                        .ensure_bridge(&s.bridge, s.gateway, s.subnet.prefix_len(), &self.mark)
                        .await?
                        .index;
                    let (chain, rule) = self.session_rule(&s.bridge);
                    batch.append(FILTER, &chain, &rule);
                    i
                }
                None => match nl.link_by_name(&bridge).await? {
                    Some(l) => l.index,
                    None if session.is_none() => {
                        // Deleted behind our back: set the base up again.
                        self.base_ready.store(false, Ordering::Release);
                        self.ensure_base(&nl, true).await?;
                        nl.link_by_name(&bridge)
                            .await?
                            .ok_or_else(|| Error::Internal(format!("bridge {bridge} missing")))?
                            .index
                    }
                    None => {
                        let i = nl
                            .ensure_bridge(&bridge, gateway, subnet.prefix_len(), &self.mark)
                            .await?
                            .index;
                        let (chain, rule) = self.session_rule(&bridge);
                        batch.append(FILTER, &chain, &rule);
                        i
                    }
                },
            };
            let inner = NsHandle::open(netns).map_err(|e| {
                Error::InvalidParameter(format!("network namespace of {vhost}: {e}"))
            })?;
            self.make_link(&nl, &inner, netns, &rec, bridge_index, session.is_none())
                .await?;
            for (chain, rule) in self.vhost_rules(ip, egress, &tag_of_vhost(&host_veth)) {
                batch.append(FILTER, &chain, &rule);
            }
            if let Err(e) = iptables::restore(&self.ns, &batch).await {
                // Our chains may have been removed behind our back: once more
                // after setting the base up again.
                tracing::warn!("playground rules of {vhost}: {e}; retrying");
                self.ensure_base(&nl, true).await?;
                iptables::restore(&self.ns, &batch).await?;
            }
            Ok::<(), Error>(())
        }
        .await;
        let persisted = match persist.await {
            Ok(r) => r.map_err(Error::from),
            Err(e) => Err(Error::Internal(format!("writing playground state: {e}"))),
        };
        if let Err(e) = made.and(persisted) {
            let _ = nl.delete_ours(&host_veth, &self.mark).await;
            self.unguard(&host_veth, ip).await;
            let mut tags = vec![tag_of_vhost(&host_veth)];
            if let Some(s) = &new_session {
                let _ = nl.delete_ours(&s.bridge, &self.mark).await;
                tags.push(tag_of_bridge(&s.bridge));
            }
            let _ = self.remove_tagged(&tags).await;
            // Back to the records as they were (whether or not the write landed).
            if let Err(e2) = self.commit(state) {
                tracing::warn!("restoring playground state after a failed attach: {e2}");
            }
            return Err(e);
        }
        *self.state.write().map_err(lock_err)? = new_state;
        tracing::info!(
            vhost,
            ip = %ip,
            bridge = %bridge,
            %egress,
            elapsed_us = started.elapsed().as_micros() as u64,
            "playground: attached"
        );
        Ok(view(&rec))
    }

    /// The nftables bridge table that guards vhost ports (source address
    /// validation), named after the chain prefix.
    pub fn guard_table(&self) -> String {
        guard_table_name(&self.cfg.chain_prefix)
    }

    /// Run an `nft -f -` script in the machine's namespace.
    async fn nft(&self, script: &str) -> Result<()> {
        let out = self
            .ns
            .run_with_input("nft", &["-f", "-"], script.as_bytes())
            .await
            .map_err(|e| Error::Internal(format!("running nft: {e}")))?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "nft: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// Source address validation on the ports of vhosts, before the bridge: a
    /// port in `ports` passes IPv4 from, and ARP claiming, the address `allowed`
    /// pairs with it, and nothing else (another address, IPv6, other
    /// protocols). Root in a virtual host may change its eth0, but cannot take
    /// a neighbour's address, nor its egress policy. Idempotent.
    async fn ensure_guard(&self) -> Result<()> {
        let t = self.guard_table();
        self.nft(&format!(
            "add table bridge {t}\n\
             add set bridge {t} ports {{ type ifname; }}\n\
             add set bridge {t} allowed {{ type ifname . ipv4_addr; }}\n\
             add chain bridge {t} guard {{ type filter hook prerouting priority -200; policy accept; }}\n\
             flush chain bridge {t} guard\n\
             add rule bridge {t} guard iifname @ports ether type ip iifname . ip saddr != @allowed drop\n\
             add rule bridge {t} guard iifname @ports ether type arp iifname . arp saddr ip != @allowed drop\n\
             add rule bridge {t} guard iifname @ports ether type != {{ ip, arp }} drop\n"
        ))
        .await
    }

    /// Guard the port `veth` of a vhost whose address is `ip`.
    async fn guard_source(&self, veth: &str, ip: Ipv4Addr) -> Result<()> {
        let t = self.guard_table();
        self.nft(&format!(
            "add element bridge {t} allowed {{ \"{veth}\" . {ip} }}\n\
             add element bridge {t} ports {{ \"{veth}\" }}\n"
        ))
        .await
    }

    /// Forget the port `veth` (its link is gone or going).
    async fn unguard(&self, veth: &str, ip: Ipv4Addr) {
        let t = self.guard_table();
        for el in [
            format!("ports {{ \"{veth}\" }}"),
            format!("allowed {{ \"{veth}\" . {ip} }}"),
        ] {
            // Absent already (a restart, a failed attach): nothing to do.
            let _ = self.nft(&format!("delete element bridge {t} {el}\n")).await;
        }
    }

    /// The veth pair, the vhost's side of it, and the isolation of its port.
    async fn make_link(
        &self,
        nl: &Netlink,
        inner: &NsHandle,
        netns: &Path,
        rec: &LinkRecord,
        bridge_index: u32,
        isolated: bool,
    ) -> Result<()> {
        // The port's guard (set elements by name: the link need not exist yet)
        // is made while the link is, and is in place before the machine's end
        // comes up, so nothing passes unguarded.
        let guard = self.guard_source(&rec.host_veth, rec.ip);
        let setup = async {
            let nsfile = std::fs::File::open(netns)
                .map_err(|e| Error::InvalidParameter(format!("{}: {e}", netns.display())))?;
            let inl = Netlink::open_in(inner).await?;
            let created = nl
                .create_veth_into_ns(
                    &rec.host_veth,
                    "eth0",
                    bridge_index,
                    nsfile.as_raw_fd(),
                    &self.mark,
                )
                .await;
            if let Err(Error::Conflict(_)) = created {
                // An eth0 left from an earlier life of this vhost (no record of ours
                // explains it): only a veth is ours to remove.
                match inl.link_by_name("eth0").await? {
                    Some(l) if l.kind.as_deref() == Some("veth") => {
                        inl.delete_link("eth0").await?;
                        nl.create_veth_into_ns(
                            &rec.host_veth,
                            "eth0",
                            bridge_index,
                            nsfile.as_raw_fd(),
                            &self.mark,
                        )
                        .await?;
                    }
                    _ => {
                        return Err(Error::Conflict(format!(
                            "the network namespace of {} already has an eth0",
                            rec.vhost
                        )))
                    }
                }
            } else {
                created?;
            }
            let host = nl
                .link_by_name(&rec.host_veth)
                .await?
                .ok_or_else(|| Error::Internal(format!("veth {} vanished", rec.host_veth)))?;
            if isolated {
                nl.set_port_isolated(host.index, true).await?;
            }
            inner
                .run(netns::loopback_up)
                .await
                .map_err(|e| Error::Internal(format!("lo up in {}: {e}", rec.vhost)))?;
            let eth0 = inl
                .link_by_name("eth0")
                .await?
                .ok_or_else(|| Error::Internal(format!("eth0 missing in {}", rec.vhost)))?;
            inl.add_address(eth0.index, rec.ip, rec.prefix_len).await?;
            inl.set_up(eth0.index).await?;
            inl.add_default_route(rec.gateway, eth0.index).await?;
            Ok::<u32, Error>(host.index)
        };
        let (guarded, host_index) = tokio::join!(guard, setup);
        let host_index = host_index?;
        guarded?;
        nl.set_up(host_index).await?;
        Ok(())
    }

    /// Remove a virtual host's link, rules and (with its last member) its session
    /// bridge. Idempotent.
    pub async fn detach(&self, vhost: &str) -> Result<()> {
        let _op = self.op.lock().await;
        self.detach_locked(vhost).await
    }

    async fn detach_locked(&self, vhost: &str) -> Result<()> {
        let mut state = self.snapshot()?;
        let Some(rec) = state.link(vhost).cloned() else {
            return Ok(());
        };
        let nl = Netlink::new()?;
        // Deleting one end deletes the pair: eth0 leaves the vhost with it.
        nl.delete_ours(&rec.host_veth, &self.mark).await?;
        self.unguard(&rec.host_veth, rec.ip).await;
        let mut tags = vec![tag_of_vhost(&rec.host_veth)];
        state.links.retain(|l| l.vhost != vhost);
        let mut gone_bridge = None;
        if let Some(name) = &rec.session {
            if !state
                .links
                .iter()
                .any(|l| l.session.as_deref() == Some(name))
            {
                if let Some(s) = state.session(name).cloned() {
                    tags.push(tag_of_bridge(&s.bridge));
                    gone_bridge = Some(s.bridge);
                }
                state.sessions.retain(|s| &s.name != name);
            }
        }
        self.remove_tagged(&tags).await?;
        if let Some(b) = &gone_bridge {
            nl.delete_ours(b, &self.mark).await?;
        }
        self.commit(state)?;
        tracing::info!(vhost, "playground: detached");
        Ok(())
    }

    /// Delete every rule of our chains whose tag is one of `tags`.
    async fn remove_tagged(&self, tags: &[String]) -> Result<usize> {
        iptables::transact(&self.ns, |s| {
            let mut b = Batch::default();
            for r in s.all() {
                if self.is_ours(&r.table, &r.chain)
                    && r.tag.as_ref().is_some_and(|t| tags.contains(t))
                {
                    b.delete(r);
                }
            }
            b
        })
        .await
    }

    // ---- restart and cleanup ----

    /// After a daemon restart: set the base up again, remove the links, rules and
    /// session bridges of virtual hosts that are not `live` (or whose veth is
    /// gone), and whatever no record explains; re-add missing rules of live ones.
    pub async fn reconcile(
        &self,
        live: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<PlaygroundReport> {
        let _op = self.op.lock().await;
        let mut report = PlaygroundReport::default();
        let nl = Netlink::new()?;
        self.ensure_base(&nl, true).await?;
        let links = nl.links().await?;
        let dead: Vec<String> = {
            let s = self.state.read().map_err(lock_err)?;
            s.links
                .iter()
                .filter(|l| !live(&l.vhost) || !links.iter().any(|k| k.name == l.host_veth))
                .map(|l| l.vhost.clone())
                .collect()
        };
        for v in &dead {
            self.detach_locked(v).await?;
            report.removed_vhosts += 1;
        }
        let mut state = self.snapshot()?;
        // Sessions without members (a crash between steps).
        let (kept, empty): (Vec<SessionRecord>, Vec<SessionRecord>) =
            state.sessions.iter().cloned().partition(|s| {
                state
                    .links
                    .iter()
                    .any(|l| l.session.as_deref() == Some(&s.name))
            });
        if !empty.is_empty() {
            state.sessions = kept;
            self.commit(state.clone())?;
        }
        // Links and bridges nobody explains.
        let links = nl.links().await?;
        let our_bridges: BTreeMap<u32, &str> = links
            .iter()
            .filter(|l| {
                l.name == self.cfg.bridge || state.sessions.iter().any(|s| s.bridge == l.name)
            })
            .map(|l| (l.index, l.name.as_str()))
            .collect();
        let session_bridge = |name: &str| {
            name.strip_prefix(&self.cfg.session_bridge_prefix)
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|c| c.is_ascii_digit()))
        };
        // Only links with our mark: a port somebody else put on our bridge, or
        // a bridge named like ours, stays.
        for l in links.iter().filter(|l| l.is_ours(&self.mark)) {
            let stray_port = l.controller.is_some_and(|c| our_bridges.contains_key(&c))
                && !state.links.iter().any(|r| r.host_veth == l.name);
            let stray_bridge = l.kind.as_deref() == Some("bridge")
                && session_bridge(&l.name)
                && !state.sessions.iter().any(|s| s.bridge == l.name);
            if stray_port && nl.delete_ours(&l.name, &self.mark).await? {
                report.removed_links += 1;
            } else if stray_bridge && nl.delete_ours(&l.name, &self.mark).await? {
                report.removed_bridges += 1;
            }
        }
        // The guard of every live port (a no-op where it is in place).
        for l in &state.links {
            self.guard_source(&l.host_veth, l.ip).await?;
        }
        // Rules: remove what no record explains, add what a record misses.
        let mut wanted: Vec<(String, String)> = Vec::new();
        for s in &state.sessions {
            wanted.push(self.session_rule(&s.bridge));
        }
        for l in &state.links {
            wanted.extend(self.vhost_rules(l.ip, l.egress, &tag_of_vhost(&l.host_veth)));
        }
        let removed = std::sync::atomic::AtomicUsize::new(0);
        iptables::transact(&self.ns, |s| {
            let mut b = Batch::default();
            let mut n = 0;
            for (t, chain) in [
                (FILTER, self.chain("SESS")),
                (FILTER, self.chain("REG")),
                (FILTER, self.chain("EGRESS")),
            ] {
                for r in s.rules(t, &chain) {
                    let explained = wanted
                        .iter()
                        .any(|(c, w)| *c == chain && iptables::tokens(w) == r.args);
                    if !explained {
                        b.delete(r);
                        n += 1;
                    }
                }
            }
            for (chain, rule) in &wanted {
                if !s.has_rule(FILTER, chain, rule) {
                    b.append(FILTER, chain, rule);
                }
            }
            removed.store(n, Ordering::Relaxed);
            b
        })
        .await?;
        report.removed_rules += removed.load(Ordering::Relaxed);
        Ok(report)
    }

    /// Remove everything of the playground from the machine: links, session
    /// bridges, the common bridge, chains and hooks; the records go too. Links
    /// we did not create stay (a common bridge that was there before us loses
    /// only the address we gave it).
    pub async fn shutdown_cleanup(&self) -> Result<()> {
        let _op = self.op.lock().await;
        self.base_ready.store(false, Ordering::Release);
        let state = self.snapshot()?;
        let nl = Netlink::new()?;
        for l in &state.links {
            nl.delete_ours(&l.host_veth, &self.mark).await?;
        }
        let links = nl.links().await?;
        let bridges: Vec<&super::bridge::LinkSummary> = links
            .iter()
            .filter(|l| {
                l.name == self.cfg.bridge
                    || state.sessions.iter().any(|s| s.bridge == l.name)
                    || (l.kind.as_deref() == Some("bridge")
                        && l.name.starts_with(&self.cfg.session_bridge_prefix))
            })
            .collect();
        for port in links.iter().filter(|l| {
            l.controller
                .is_some_and(|c| bridges.iter().any(|b| b.index == c))
        }) {
            nl.delete_ours(&port.name, &self.mark).await?;
        }
        for b in &bridges {
            nl.delete_ours(&b.name, &self.mark).await?;
        }
        if state.common_address_added {
            nl.delete_address(&self.cfg.bridge, self.common_gw, self.common.prefix_len())
                .await?;
        }
        // Absent if the base was never set up.
        let _ = self
            .nft(&format!("delete table bridge {}\n", self.guard_table()))
            .await;
        iptables::remove_chains(&self.ns, &self.chains()).await?;
        self.commit(PgState::default())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(subnet: &str, session_len: u8) -> PlaygroundConfig {
        PlaygroundConfig {
            subnet: subnet.parse().unwrap(),
            session_prefix_len: session_len,
            ..PlaygroundConfig::default()
        }
    }

    #[test]
    fn egress_parses_and_serialises_in_lower_case() {
        for (s, e) in [
            ("none", Egress::None),
            ("registries", Egress::Registries),
            ("all", Egress::All),
        ] {
            assert_eq!(s.parse::<Egress>().unwrap(), e);
            assert_eq!(e.to_string(), s);
            assert_eq!(serde_json::to_string(&e).unwrap(), format!("\"{s}\""));
            assert_eq!(
                serde_json::from_str::<Egress>(&format!("\"{s}\"")).unwrap(),
                e
            );
        }
        assert!("All".parse::<Egress>().is_err());
    }

    #[test]
    fn the_common_bridge_takes_the_first_half_and_sessions_carve_the_second() {
        let c = PlaygroundConfig::default();
        assert_eq!(common_subnet(&c).unwrap().to_string(), "10.199.0.0/17");
        assert_eq!(session_block(&c, 0).unwrap().to_string(), "10.199.128.0/26");
        assert_eq!(
            session_block(&c, 1).unwrap().to_string(),
            "10.199.128.64/26"
        );
        assert_eq!(
            session_block(&c, 511).unwrap().to_string(),
            "10.199.255.192/26"
        );
        assert_eq!(session_block(&c, 512), None);

        let small = cfg("10.220.4.0/23", 26);
        assert_eq!(common_subnet(&small).unwrap().to_string(), "10.220.4.0/24");
        let used = vec![
            session_block(&small, 0).unwrap(),
            session_block(&small, 2).unwrap(),
        ];
        let (i, n) = pick_session_block(&small, &used).unwrap();
        assert_eq!((i, n.to_string().as_str()), (1, "10.220.5.64/26"));
        let all: Vec<Ipv4Net> = (0..4).map(|i| session_block(&small, i).unwrap()).collect();
        assert_eq!(pick_session_block(&small, &all), None);
        assert_eq!(
            session_block(&cfg("10.220.4.0/23", 23), 0),
            None,
            "bigger than the half"
        );
    }

    #[test]
    fn open_refuses_layouts_that_do_not_fit() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Playground::open(dir.path(), cfg("10.220.4.0/23", 31)).is_err());
        let long = PlaygroundConfig {
            session_bridge_prefix: "averylongprefix".into(),
            ..PlaygroundConfig::default()
        };
        assert!(Playground::open(dir.path(), long).is_err());
        assert!(Playground::open(dir.path(), PlaygroundConfig::default()).is_ok());
    }

    #[test]
    fn rules_follow_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let pg = Playground::open(
            dir.path(),
            PlaygroundConfig {
                registries: vec!["10.0.0.1:5000".parse().unwrap()],
                chain_prefix: "PG".into(),
                ..PlaygroundConfig::default()
            },
        )
        .unwrap();
        let ip = Ipv4Addr::new(10, 199, 0, 2);
        assert!(pg.vhost_rules(ip, Egress::None, "t").is_empty());
        let reg = pg.vhost_rules(ip, Egress::Registries, "t");
        assert_eq!(
            reg,
            vec![(
                "PG-REG".to_string(),
                "-s 10.199.0.2/32 -p tcp -m conntrack --ctorigdst 10.0.0.1 --ctorigdstport 5000 -m comment --comment t -j ACCEPT".to_string()
            )]
        );
        let all = pg.vhost_rules(ip, Egress::All, "t");
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].0, "PG-EGRESS");
    }
}
