//! After a restart: put the recorded state back; at shutdown: remove it all.

use super::*;
use shared::sync::RwLocked;

impl PlaygroundNetwork {
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
            let s = self.state.read_locked();
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
        let bridges: Vec<&crate::network::bridge::LinkSummary> = links
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
