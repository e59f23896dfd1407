//! NAT and filtering with the `iptables` command (iptables-nft on our hosts), in
//! chains of our own so that `iptables -t nat -L -n` shows what Docker users expect
//! and so that everything we add can be found and removed again.
//!
//! With the prefix `P` (default `DOCKHAND`):
//!
//! | table  | chain             | hooked from                                   | holds |
//! |--------|-------------------|-----------------------------------------------|-------|
//! | nat    | `P`               | PREROUTING and OUTPUT (`--dst-type LOCAL`; OUTPUT skips 127/8, the userland proxy serves that) | `RETURN` for traffic from our bridges, one `DNAT` per published port |
//! | nat    | `P-POSTROUTING`   | POSTROUTING                                   | `MASQUERADE` of each non-internal subnet leaving its bridge, hairpin masquerade per published port |
//! | filter | `P-FORWARD`       | FORWARD (first rule)                          | jump to isolation, per-bridge accepts, drops for `--internal`, accepts for published ports |
//! | filter | `P-ISOLATION-1/2` | `P-FORWARD`                                   | Docker's two-stage isolation: traffic from one of our bridges to another of our bridges is dropped |
//!
//! Every rule carries a comment tag (`dh-net:<network id>` or `dh-port:<container
//! id>`), so removal scans our chains and deletes the rules of one tag; a crashed
//! daemon's leftovers are found the same way.
//!
//! Everything runs in the manager's network namespace ([`NsHandle`]) and goes
//! through one `iptables-save` plus one `iptables-restore` per change (see
//! `iptables`). Scans look only at that namespace's tables, so a virtual host may
//! use Docker's own names (`DOCKER`, `docker0`) without meeting anybody else's.

use std::net::Ipv4Addr;

use super::ipam::Ipv4Net;
use super::iptables::{self, Batch, Saved};
use super::netns::NsHandle;
use crate::error::Result;

const TABLE_NAT: &str = "nat";
const TABLE_FILTER: &str = "filter";

/// The tag of a network's rules.
pub fn net_tag(network_id: &str) -> String {
    format!("dh-net:{}", short(network_id))
}

/// The tag of a container's port rules.
pub fn port_tag(container_id: &str) -> String {
    format!("dh-port:{}", short(container_id))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// One rule found in one of our chains.
#[derive(Debug, Clone)]
pub struct FoundRule {
    pub table: String,
    pub chain: String,
    /// The rule's arguments after `-A CHAIN`.
    pub args: Vec<String>,
    pub tag: Option<String>,
}

/// What a network needs from the firewall.
#[derive(Debug, Clone)]
pub struct NetRules {
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub internal: bool,
    pub tag: String,
}

/// What a published port needs from the firewall.
#[derive(Debug, Clone)]
pub struct PortRules {
    pub bridge: String,
    /// None for every address of the host.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    pub proto: String,
    pub tag: String,
}

#[derive(Debug, Clone)]
pub struct Firewall {
    prefix: String,
    ns: NsHandle,
}

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

type RuleSpec = (&'static str, String, Vec<String>);

impl Firewall {
    pub fn new(prefix: &str, ns: NsHandle) -> Firewall {
        Firewall {
            prefix: prefix.to_string(),
            ns,
        }
    }

    pub fn nat_chain(&self) -> String {
        self.prefix.clone()
    }
    fn post_chain(&self) -> String {
        format!("{}-POSTROUTING", self.prefix)
    }
    fn fwd_chain(&self) -> String {
        format!("{}-FORWARD", self.prefix)
    }
    fn iso1(&self) -> String {
        format!("{}-ISOLATION-1", self.prefix)
    }
    fn iso2(&self) -> String {
        format!("{}-ISOLATION-2", self.prefix)
    }

    fn chains(&self) -> Vec<(&'static str, String)> {
        vec![
            (TABLE_NAT, self.nat_chain()),
            (TABLE_NAT, self.post_chain()),
            (TABLE_FILTER, self.fwd_chain()),
            (TABLE_FILTER, self.iso1()),
            (TABLE_FILTER, self.iso2()),
        ]
    }

    fn is_ours(&self, table: &str, chain: &str) -> bool {
        self.chains().iter().any(|(t, c)| *t == table && c == chain)
    }

    /// The jump rules from the built-in chains: (table, chain, rule, insert first).
    fn hooks(&self) -> Vec<(&'static str, &'static str, String, bool)> {
        vec![
            (
                TABLE_NAT,
                "PREROUTING",
                format!("-m addrtype --dst-type LOCAL -j {}", self.nat_chain()),
                false,
            ),
            (
                TABLE_NAT,
                "OUTPUT",
                format!(
                    "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j {}",
                    self.nat_chain()
                ),
                false,
            ),
            (
                TABLE_NAT,
                "POSTROUTING",
                format!("-j {}", self.post_chain()),
                false,
            ),
            (
                TABLE_FILTER,
                "FORWARD",
                format!("-j {}", self.fwd_chain()),
                true,
            ),
        ]
    }

    /// Plan the chains and hooks that are missing.
    fn plan_base(&self, s: &Saved, b: &mut Batch) {
        for (table, chain) in self.chains() {
            if !s.has_chain(table, &chain) {
                b.new_chain(table, &chain);
            }
        }
        let iso = format!("-j {}", self.iso1());
        if !s.has_rule(TABLE_FILTER, &self.fwd_chain(), &iso) {
            b.insert_first(TABLE_FILTER, &self.fwd_chain(), &iso);
        }
        for (table, chain, rule, first) in self.hooks() {
            if !s.has_rule(table, chain, &rule) {
                if first {
                    b.insert_first(table, chain, &rule);
                } else {
                    b.append(table, chain, &rule);
                }
            }
        }
    }

    /// Plan the rules of `set` that are missing (after the base).
    fn plan_add(&self, s: &Saved, b: &mut Batch, set: &[RuleSpec]) {
        for (table, chain, rule) in set {
            let rule = rule.join(" ");
            if !s.has_rule(table, chain, &rule) {
                b.append(table, chain, &rule);
            }
        }
    }

    /// Create our chains and hook them in, once; idempotent.
    pub async fn ensure_base(&self) -> Result<()> {
        iptables::transact(&self.ns, |s| {
            let mut b = Batch::default();
            self.plan_base(s, &mut b);
            b
        })
        .await
        .map(|_| ())
    }

    /// Whether the hooks are in place (used to decide whether to tear down).
    pub async fn base_exists(&self) -> bool {
        iptables::save(&self.ns)
            .await
            .is_ok_and(|s| s.has_chain(TABLE_NAT, &self.nat_chain()))
    }

    /// Remove our hooks and chains entirely (every jump to them, duplicates too).
    pub async fn teardown(&self) -> Result<()> {
        iptables::remove_chains(&self.ns, &self.chains())
            .await
            .map(|_| ())
    }

    fn net_rule_set(&self, n: &NetRules) -> Vec<RuleSpec> {
        let br = &n.bridge;
        let c = format!("-m comment --comment {}", n.tag);
        let mut rules = vec![
            (
                TABLE_NAT,
                self.nat_chain(),
                argv(&format!("-i {br} {c} -j RETURN")),
            ),
            (
                TABLE_FILTER,
                self.iso1(),
                argv(&format!("-i {br} ! -o {br} {c} -j {}", self.iso2())),
            ),
            (
                TABLE_FILTER,
                self.iso2(),
                argv(&format!("-o {br} {c} -j DROP")),
            ),
            (
                TABLE_FILTER,
                self.fwd_chain(),
                argv(&format!("-i {br} -o {br} {c} -j ACCEPT")),
            ),
        ];
        if n.internal {
            rules.push((
                TABLE_FILTER,
                self.fwd_chain(),
                argv(&format!("-i {br} ! -o {br} {c} -j DROP")),
            ));
            rules.push((
                TABLE_FILTER,
                self.fwd_chain(),
                argv(&format!("! -i {br} -o {br} {c} -j DROP")),
            ));
        } else {
            rules.push((
                TABLE_NAT,
                self.post_chain(),
                argv(&format!("-s {} ! -o {br} {c} -j MASQUERADE", n.subnet)),
            ));
            rules.push((
                TABLE_FILTER,
                self.fwd_chain(),
                argv(&format!(
                    "-o {br} -m conntrack --ctstate RELATED,ESTABLISHED {c} -j ACCEPT"
                )),
            ));
            rules.push((
                TABLE_FILTER,
                self.fwd_chain(),
                argv(&format!("-i {br} ! -o {br} {c} -j ACCEPT")),
            ));
        }
        rules
    }

    /// Add a network's rules (idempotent).
    pub async fn ensure_network(&self, n: &NetRules) -> Result<()> {
        self.add_rules(&self.net_rule_set(n)).await
    }

    /// Add `set` (what is missing of it), with the base.
    async fn add_rules(&self, set: &[RuleSpec]) -> Result<()> {
        iptables::transact(&self.ns, |s| {
            let mut b = Batch::default();
            self.plan_base(s, &mut b);
            self.plan_add(s, &mut b, set);
            b
        })
        .await
        .map(|_| ())
    }

    fn port_rule_set(&self, p: &PortRules) -> Vec<RuleSpec> {
        let br = &p.bridge;
        let c = format!("-m comment --comment {}", p.tag);
        let dst = p
            .host_ip
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| format!("-d {ip}/32 "))
            .unwrap_or_default();
        vec![
            (
                TABLE_NAT,
                self.nat_chain(),
                argv(&format!(
                    "{dst}! -i {br} -p {proto} -m {proto} --dport {hp} {c} -j DNAT --to-destination {ip}:{cp}",
                    proto = p.proto,
                    hp = p.host_port,
                    ip = p.container_ip,
                    cp = p.container_port
                )),
            ),
            (
                TABLE_NAT,
                self.post_chain(),
                argv(&format!(
                    "-s {ip}/32 -d {ip}/32 -p {proto} -m {proto} --dport {cp} {c} -j MASQUERADE",
                    proto = p.proto,
                    ip = p.container_ip,
                    cp = p.container_port
                )),
            ),
            (
                TABLE_FILTER,
                self.fwd_chain(),
                argv(&format!(
                    "-d {ip}/32 ! -i {br} -o {br} -p {proto} -m {proto} --dport {cp} {c} -j ACCEPT",
                    proto = p.proto,
                    ip = p.container_ip,
                    cp = p.container_port
                )),
            ),
        ]
    }

    /// Add the DNAT, hairpin and forward rules of published ports, in one go.
    pub async fn add_ports(&self, ports: &[PortRules]) -> Result<()> {
        let set: Vec<RuleSpec> = ports.iter().flat_map(|p| self.port_rule_set(p)).collect();
        self.add_rules(&set).await
    }

    /// Add the rules of one published port.
    pub async fn add_port(&self, p: &PortRules) -> Result<()> {
        self.add_ports(std::slice::from_ref(p)).await
    }

    /// Remove the rules of published ports (those that exist).
    pub async fn remove_ports(&self, ports: &[PortRules]) -> Result<()> {
        let set: Vec<RuleSpec> = ports.iter().flat_map(|p| self.port_rule_set(p)).collect();
        iptables::transact(&self.ns, |s| {
            let mut b = Batch::default();
            for (table, chain, rule) in &set {
                if let Some(r) = s.find(table, chain, &rule.join(" ")) {
                    b.delete(r);
                }
            }
            b
        })
        .await
        .map(|_| ())
    }

    /// Remove the rules of one published port (those that exist).
    pub async fn remove_port_rules(&self, p: &PortRules) -> Result<()> {
        self.remove_ports(std::slice::from_ref(p)).await
    }

    /// Every rule in our chains (missing chains are skipped).
    pub async fn list(&self) -> Vec<FoundRule> {
        let Ok(s) = iptables::save(&self.ns).await else {
            return Vec::new();
        };
        s.all()
            .filter(|r| self.is_ours(&r.table, &r.chain))
            .map(|r| FoundRule {
                table: r.table.clone(),
                chain: r.chain.clone(),
                args: r.args.clone(),
                tag: r.tag.clone(),
            })
            .collect()
    }

    /// Delete every rule of our chains whose tag satisfies `pred`.
    pub async fn remove_where(&self, pred: impl Fn(&str) -> bool) -> Result<usize> {
        iptables::transact(&self.ns, |s| {
            let mut b = Batch::default();
            for r in s.all() {
                if self.is_ours(&r.table, &r.chain) && r.tag.as_deref().is_some_and(&pred) {
                    b.delete(r);
                }
            }
            b
        })
        .await
    }

    pub async fn remove_tag(&self, tag: &str) -> Result<usize> {
        self.remove_where(|t| t == tag).await
    }
}
