//! Start-up and shutdown: bring kernel state in line with the records, and
//! remove every kernel object of a manager.

use super::*;
use shared::sync::Locked;

impl Networks {
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
                .locked()
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
                        .locked()
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
            let running = self.running.locked().dns.contains_key(&c);
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
            let mut r = self.running.locked();
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
            kernel::remove_bridge(&nl, n, &self.mark).await;
        }
        self.fw.teardown().await?;
        state.endpoints.clear();
        state.ports.clear();
        self.commit(state)
    }
}
