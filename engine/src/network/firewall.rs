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

use std::net::Ipv4Addr;

use super::ipam::Ipv4Net;
use crate::error::Result;
use crate::Error;

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
    pub table: &'static str,
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
}

fn argv(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

impl Firewall {
    pub fn new(prefix: &str) -> Firewall {
        Firewall {
            prefix: prefix.to_string(),
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

    /// The jump rules from the built-in chains: (table, chain, rule, insert first).
    fn hooks(&self) -> Vec<(&'static str, &'static str, Vec<String>, bool)> {
        vec![
            (
                TABLE_NAT,
                "PREROUTING",
                argv(&format!(
                    "-m addrtype --dst-type LOCAL -j {}",
                    self.nat_chain()
                )),
                false,
            ),
            (
                TABLE_NAT,
                "OUTPUT",
                argv(&format!(
                    "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j {}",
                    self.nat_chain()
                )),
                false,
            ),
            (
                TABLE_NAT,
                "POSTROUTING",
                argv(&format!("-j {}", self.post_chain())),
                false,
            ),
            (
                TABLE_FILTER,
                "FORWARD",
                argv(&format!("-j {}", self.fwd_chain())),
                true,
            ),
        ]
    }

    /// Create our chains and hook them in, once; idempotent.
    pub async fn ensure_base(&self) -> Result<()> {
        for (table, chain) in self.chains() {
            if !chain_exists(table, &chain).await {
                let out = iptables(&["-t", table, "-N", &chain]).await;
                if let Err(e) = out {
                    if !chain_exists(table, &chain).await {
                        return Err(e);
                    }
                }
            }
        }
        let iso = argv(&format!("-j {}", self.iso1()));
        ensure_rule(TABLE_FILTER, &self.fwd_chain(), &iso, Some(1)).await?;
        for (table, chain, rule, first) in self.hooks() {
            ensure_rule(table, chain, &rule, first.then_some(1)).await?;
        }
        Ok(())
    }

    /// Whether the hooks are in place (used to decide whether to tear down).
    pub async fn base_exists(&self) -> bool {
        chain_exists(TABLE_NAT, &self.nat_chain()).await
    }

    /// Remove our hooks and chains entirely.
    pub async fn teardown(&self) -> Result<()> {
        for (table, chain, rule, _) in self.hooks() {
            // Delete every copy (a crashed daemon may have left duplicates).
            for _ in 0..16 {
                if !rule_exists(table, chain, &rule).await {
                    break;
                }
                delete_rule(table, chain, &rule).await?;
            }
        }
        for (table, chain) in self.chains() {
            if chain_exists(table, &chain).await {
                iptables(&["-t", table, "-F", &chain]).await?;
            }
        }
        for (table, chain) in self.chains() {
            if chain_exists(table, &chain).await {
                iptables(&["-t", table, "-X", &chain]).await?;
            }
        }
        Ok(())
    }

    fn net_rule_set(&self, n: &NetRules) -> Vec<(&'static str, String, Vec<String>)> {
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
        self.ensure_base().await?;
        for (table, chain, rule) in self.net_rule_set(n) {
            ensure_rule(table, &chain, &rule, None).await?;
        }
        Ok(())
    }

    fn port_rule_set(&self, p: &PortRules) -> Vec<(&'static str, String, Vec<String>)> {
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

    /// Add the DNAT, hairpin and forward rules of one published port.
    pub async fn add_port(&self, p: &PortRules) -> Result<()> {
        self.ensure_base().await?;
        for (table, chain, rule) in self.port_rule_set(p) {
            ensure_rule(table, &chain, &rule, None).await?;
        }
        Ok(())
    }

    /// Remove the rules of one published port (those that exist).
    pub async fn remove_port_rules(&self, p: &PortRules) -> Result<()> {
        for (table, chain, rule) in self.port_rule_set(p) {
            if rule_exists(table, &chain, &rule).await {
                delete_rule(table, &chain, &rule).await?;
            }
        }
        Ok(())
    }

    /// Every rule in our chains (missing chains are skipped).
    pub async fn list(&self) -> Vec<FoundRule> {
        let mut out = Vec::new();
        for (table, chain) in self.chains() {
            let Ok(text) = iptables(&["-t", table, "-S", &chain]).await else {
                continue;
            };
            let head = format!("-A {chain} ");
            for line in text.lines() {
                let Some(rest) = line.strip_prefix(&head) else {
                    continue;
                };
                let args: Vec<String> = rest
                    .split_whitespace()
                    .map(|t| t.trim_matches('"').to_string())
                    .collect();
                let tag = args
                    .iter()
                    .position(|a| a == "--comment")
                    .and_then(|i| args.get(i + 1).cloned());
                out.push(FoundRule {
                    table,
                    chain: chain.clone(),
                    args,
                    tag,
                });
            }
        }
        out
    }

    /// Delete every rule of our chains whose tag satisfies `pred`.
    pub async fn remove_where(&self, pred: impl Fn(&str) -> bool) -> Result<usize> {
        let mut n = 0;
        for r in self.list().await {
            if r.tag.as_deref().is_some_and(&pred) {
                delete_rule(r.table, &r.chain, &r.args).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    pub async fn remove_tag(&self, tag: &str) -> Result<usize> {
        self.remove_where(|t| t == tag).await
    }
}

async fn chain_exists(table: &str, chain: &str) -> bool {
    iptables(&["-t", table, "-S", chain]).await.is_ok()
}

async fn rule_exists(table: &str, chain: &str, rule: &[String]) -> bool {
    let mut args: Vec<&str> = vec!["-t", table, "-C", chain];
    args.extend(rule.iter().map(String::as_str));
    iptables(&args).await.is_ok()
}

async fn ensure_rule(table: &str, chain: &str, rule: &[String], at: Option<u32>) -> Result<()> {
    if rule_exists(table, chain, rule).await {
        return Ok(());
    }
    let pos = at.map(|p| p.to_string());
    let mut args: Vec<&str> = vec!["-t", table];
    match &pos {
        Some(p) => args.extend(["-I", chain, p.as_str()]),
        None => args.extend(["-A", chain]),
    }
    args.extend(rule.iter().map(String::as_str));
    iptables(&args).await.map(|_| ())
}

async fn delete_rule(table: &str, chain: &str, rule: &[String]) -> Result<()> {
    let mut args: Vec<&str> = vec!["-t", table, "-D", chain];
    args.extend(rule.iter().map(String::as_str));
    match iptables(&args).await {
        Ok(_) => Ok(()),
        // Already gone (a concurrent cleanup, or a rule listed twice) is fine.
        Err(_) if !rule_exists(table, chain, rule).await => Ok(()),
        Err(e) => Err(e),
    }
}

/// Run `iptables -w ARGS`, returning stdout. A transient failure of the nft
/// backend under concurrent updates is retried a few times.
pub async fn iptables(args: &[&str]) -> Result<String> {
    let mut last = String::new();
    for attempt in 0..3 {
        let out = tokio::process::Command::new("iptables")
            .arg("-w")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| Error::Internal(format!("running iptables: {e}")))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        last = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let transient = last.contains("temporarily unavailable")
            || last.contains("Resource busy")
            || out.status.code() == Some(4);
        let is_query = args.iter().any(|a| *a == "-C" || *a == "-S");
        if !transient || is_query {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20 * (attempt + 1))).await;
    }
    Err(Error::Internal(format!(
        "iptables {}: {last}",
        args.join(" ")
    )))
}
