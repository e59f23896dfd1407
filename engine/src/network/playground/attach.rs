//! Giving a virtual host its `eth0` (on the common bridge or a session's),
//! and taking it away.

use super::*;
use shared::sync::RwLocked;

impl PlaygroundNetwork {
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
        if self.state.read_locked().link(vhost).is_some() {
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
                        NetworkError::Other(format!("session subnet {subnet} has no hosts"))
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
                            .ok_or_else(|| NetworkError::Missing(format!("bridge {bridge}")))?
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
            Err(e) => Err(NetworkError::Other(format!("writing playground state: {e}")).into()),
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
        *self.state.write_locked() = new_state;
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

    /// The veth pair, the vhost's side of it, and the isolation of its port.
    pub(super) async fn make_link(
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
                .ok_or_else(|| NetworkError::Vanished(format!("veth {}", rec.host_veth)))?;
            if isolated {
                nl.set_port_isolated(host.index, true).await?;
            }
            inner
                .run(netns::loopback_up)
                .await
                .map_err(|e| NetworkError::Other(format!("lo up in {}: {e}", rec.vhost)))?;
            let eth0 = inl
                .link_by_name("eth0")
                .await?
                .ok_or_else(|| NetworkError::Other(format!("eth0 missing in {}", rec.vhost)))?;
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

    pub(super) async fn detach_locked(&self, vhost: &str) -> Result<()> {
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
    pub(super) async fn remove_tagged(&self, tags: &[String]) -> Result<usize> {
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
}
