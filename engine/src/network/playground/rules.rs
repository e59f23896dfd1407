//! The playground's firewall: its iptables chains and base rules, the rules of
//! each virtual host and session, and the nftables guard of vhost ports.

use super::*;

impl PlaygroundNetwork {
    pub(super) fn chain(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.cfg.chain_prefix)
    }

    pub(super) fn chains(&self) -> Vec<(&'static str, String)> {
        vec![
            (FILTER, self.chain("FWD")),
            (FILTER, self.chain("IN")),
            (FILTER, self.chain("SESS")),
            (FILTER, self.chain("REG")),
            (FILTER, self.chain("EGRESS")),
            (NAT, self.chain("POST")),
        ]
    }

    pub(super) fn is_ours(&self, table: &str, chain: &str) -> bool {
        self.chains().iter().any(|(t, c)| *t == table && c == chain)
    }

    /// The fixed rules of the chains that hold nothing else, in order.
    pub(super) fn base_rules(&self) -> Vec<(&'static str, String, Vec<String>)> {
        let net = self.cfg.subnet;
        let c = format!("-m comment --comment {BASE_TAG}");
        let est = "-m conntrack --ctstate RELATED,ESTABLISHED";
        // A host's share of the machine's connection tracking table.
        let over = format!(
            "-s {net} -m conntrack --ctstate NEW -m connlimit --connlimit-above {TRACKED_PER_VHOST} --connlimit-mask 32 --connlimit-saddr {c} -j DROP"
        );
        let fwd = vec![
            format!("-d {net} {est} {c} -j ACCEPT"),
            format!("-s {net} {est} {c} -j ACCEPT"),
            format!("{c} -j {}", self.chain("SESS")),
            format!("-s {net} -d {net} {c} -j DROP"),
            over.clone(),
            format!("-s {net} {c} -j {}", self.chain("REG")),
            format!("-s {net} -m conntrack --ctstate DNAT {c} -j DROP"),
            // Link-local addresses, whatever the egress policy: on a cloud
            // machine 169.254.169.254 answers with the machine's credentials.
            format!("-s {net} -d 169.254.0.0/16 {c} -j DROP"),
            format!("-s {net} {c} -j {}", self.chain("EGRESS")),
            format!("-s {net} {c} -j DROP"),
            format!("-d {net} {c} -j DROP"),
        ];
        let input = vec![
            format!("-s {net} {est} {c} -j ACCEPT"),
            over,
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
    pub(super) fn plan_base(&self, s: &Saved, b: &mut Batch) {
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
    pub(super) fn vhost_rules(
        &self,
        ip: Ipv4Addr,
        egress: Egress,
        tag: &str,
    ) -> Vec<(String, String)> {
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

    pub(super) fn session_rule(&self, bridge: &str) -> (String, String) {
        (
            self.chain("SESS"),
            format!(
                "-i {bridge} -o {bridge} -m comment --comment {} -j ACCEPT",
                tag_of_bridge(bridge)
            ),
        )
    }

    /// Bridge, forwarding, chains and hooks; done once unless `force`.
    pub(super) async fn ensure_base(&self, nl: &Netlink, force: bool) -> Result<()> {
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

    /// The nftables bridge table that guards vhost ports (source address
    /// validation), named after the chain prefix.
    pub fn guard_table(&self) -> String {
        guard_table_name(&self.cfg.chain_prefix)
    }

    /// Run an `nft -f -` script in the machine's namespace.
    pub(super) async fn nft(&self, script: &str) -> Result<()> {
        let out = self
            .ns
            .run_with_input("nft", &["-f", "-"], script.as_bytes())
            .await
            .map_err(|e| NetworkError::Spawn {
                program: "nft".into(),
                source: e,
            })?;
        if !out.status.success() {
            return Err(NetworkError::Tool {
                program: "nft".into(),
                said: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }
            .into());
        }
        Ok(())
    }

    /// Source address validation on the ports of vhosts, before the bridge: a
    /// port in `ports` passes IPv4 from, and ARP claiming, the address `allowed`
    /// pairs with it, and nothing else (another address, IPv6, other
    /// protocols). Root in a virtual host may change its eth0, but cannot take
    /// a neighbour's address, nor its egress policy. Idempotent.
    pub(super) async fn ensure_guard(&self) -> Result<()> {
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
    pub(super) async fn guard_source(&self, veth: &str, ip: Ipv4Addr) -> Result<()> {
        let t = self.guard_table();
        self.nft(&format!(
            "add element bridge {t} allowed {{ \"{veth}\" . {ip} }}\n\
             add element bridge {t} ports {{ \"{veth}\" }}\n"
        ))
        .await
    }

    /// Forget the port `veth` (its link is gone or going).
    pub(super) async fn unguard(&self, veth: &str, ip: Ipv4Addr) {
        let t = self.guard_table();
        for el in [
            format!("ports {{ \"{veth}\" }}"),
            format!("allowed {{ \"{veth}\" . {ip} }}"),
        ] {
            // Absent already (a restart, a failed attach): nothing to do.
            let _ = self.nft(&format!("delete element bridge {t} {el}\n")).await;
        }
    }
}
