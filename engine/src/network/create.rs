//! `network create`, `rm` and `prune`: records, bridges, rules and the
//! IPv4/IPv6 pools of a network.

use super::*;
use crate::network::NetworkError;
use shared::sync::{Locked, RwLocked};

impl Networks {
    /// `network create`: returns the new id.
    pub async fn create(&self, name: &str, opts: CreateOptions) -> Result<String> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let driver = opts.driver.as_deref().unwrap_or(store::DRIVER_BRIDGE);
        match driver {
            store::DRIVER_BRIDGE => {}
            store::DRIVER_HOST | store::DRIVER_NULL => {
                return Err(Error::Conflict(format!(
                    "only one instance of \"{driver}\" network is allowed"
                )))
            }
            other => {
                return Err(Error::NotFound(format!("plugin \"{other}\" not found")));
            }
        }
        if name.is_empty() {
            return Err(Error::InvalidParameter(
                "network name cannot be empty".into(),
            ));
        }
        if state.networks.iter().any(|n| n.name == name) {
            return Err(Error::Conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let used: Vec<Ipv4Net> = state.networks.iter().filter_map(|n| n.subnet).collect();
        // What the host routes already (a LAN, a VPN, libvirt's or Docker's
        // bridges), less our own bridges (`used` has those) and the bridge this
        // network is to adopt (its routes are the network's own).
        let routed = {
            let text = routes::read_routes(&self.ns)
                .await
                .map_err(|e| NetworkError::Other(format!("reading the routing table: {e}")))?;
            let mut skip: Vec<&str> = state
                .networks
                .iter()
                .filter(|n| n.is_bridge())
                .map(|n| n.bridge.as_str())
                .collect();
            if let Some(b) = opts.options.get("com.docker.network.bridge.name") {
                skip.push(b);
            }
            routes::routes_except(&text, &skip)
        };
        let subnet = match &opts.subnet {
            Some(s) => {
                let net: Ipv4Net = s.parse().map_err(Error::InvalidParameter)?;
                if used.iter().any(|u| u.overlaps(&net)) {
                    return Err(Error::Conflict(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                if let Some(r) = routed.iter().find(|r| r.overlaps(&net)) {
                    tracing::info!("network {name}: subnet {net} overlaps the host's route to {r}");
                    return Err(Error::Conflict(
                        "requested network overlaps with existing network".into(),
                    ));
                }
                net
            }
            None => {
                if opts.gateway.is_some() {
                    return Err(Error::InvalidParameter(
                        "every ip-range or gateway must have a corresponding subnet".into(),
                    ));
                }
                let taken: Vec<Ipv4Net> = used.iter().chain(&routed).copied().collect();
                ipam::pick_subnet(&self.cfg.pools, &taken).ok_or(NetworkError::NoPool("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"))?
            }
        };
        let gateway = match &opts.gateway {
            Some(g) => {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid gateway address {g}")))?;
                if !subnet.is_host(ip) {
                    return Err(Error::InvalidParameter(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                ip
            }
            None => subnet.first_host().ok_or_else(|| {
                Error::InvalidParameter(format!("subnet {subnet} has no host addresses"))
            })?,
        };
        let ip_range = match &opts.ip_range {
            Some(r) => {
                if opts.subnet.is_none() {
                    return Err(Error::InvalidParameter(
                        "every ip-range or gateway must have a corresponding subnet".into(),
                    ));
                }
                let r: Ipv4Net = r.parse().map_err(Error::InvalidParameter)?;
                if !subnet.contains(r.network()) || r.prefix_len() < subnet.prefix_len() {
                    return Err(Error::InvalidParameter(format!(
                        "invalid pool request: ip-range {r} is not within subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        let id = random_hex(32);
        let v6 = self.v6_pool(&state, &opts, &id)?;
        let mut aux_addresses = BTreeMap::new();
        let mut aux_addresses6 = BTreeMap::new();
        for (k, v) in &opts.aux_addresses {
            let ip: IpAddr = v.parse().map_err(|_| {
                Error::InvalidParameter(format!("invalid auxiliary address {k}={v}"))
            })?;
            match ip {
                IpAddr::V4(a) if subnet.contains(a) => {
                    aux_addresses.insert(k.clone(), ip);
                }
                IpAddr::V6(a) if v6.as_ref().is_some_and(|(n, _, _)| n.contains(&a)) => {
                    aux_addresses6.insert(k.clone(), ip);
                }
                _ => {
                    return Err(Error::InvalidParameter(format!(
                        "no matching subnet for aux-address {ip}"
                    )))
                }
            }
        }
        let bridge = match opts.options.get("com.docker.network.bridge.name") {
            Some(b) => {
                if b.is_empty() || b.len() > 15 {
                    return Err(Error::InvalidParameter(format!(
                        "invalid bridge name {b}: at most 15 characters"
                    )));
                }
                if state.networks.iter().any(|n| &n.bridge == b) {
                    return Err(Error::Conflict(format!("bridge name {b} already in use")));
                }
                b.clone()
            }
            None => {
                let keep = 15usize.saturating_sub(self.cfg.user_bridge_prefix.len());
                format!("{}{}", self.cfg.user_bridge_prefix, &id[..keep])
            }
        };
        let mut rec = NetworkRecord {
            id: id.clone(),
            name: name.to_string(),
            driver: driver.to_string(),
            created: now_rfc3339(),
            bridge,
            subnet: Some(subnet),
            gateway: Some(gateway),
            internal: opts.internal,
            attachable: opts.attachable,
            labels: opts.labels,
            options: opts.options,
            predefined: false,
            gateway_added: false,
            ip_range,
            aux_addresses,
            ipv6: opts.ipv6,
            subnet6: v6.map(|(n, _, _)| n),
            gateway6: v6.map(|(_, g, _)| g),
            ip_range6: v6.and_then(|(_, _, r)| r),
            aux_addresses6,
            ipam_given: opts.subnet.is_some() || opts.subnet6.is_some(),
        };
        match self.realize(&rec).await {
            Ok(gateway_added) => rec.gateway_added = gateway_added,
            Err(e) => {
                self.unrealize(&rec).await;
                return Err(e);
            }
        }
        state.networks.push(rec.clone());
        if let Err(e) = self.commit(state) {
            self.unrealize(&rec).await;
            return Err(e);
        }
        Ok(id)
    }

    /// The IPv6 subnet, gateway and range of a network to be created, when it
    /// has one: the asked-for subnet, or (with IPv6 enabled) a free
    /// unique-local /64.
    pub(super) fn v6_pool(
        &self,
        state: &State,
        opts: &CreateOptions,
        id: &str,
    ) -> Result<Option<(Ipv6Net, Ipv6Addr, Option<Ipv6Net>)>> {
        // Without EnableIPv6, moby (up to 28) keeps an IPv6 pool it is given
        // and hands out none of its addresses; so do we.
        if !opts.ipv6 && opts.subnet6.is_none() {
            if opts.gateway6.is_some() || opts.ip_range6.is_some() {
                return Err(Error::InvalidParameter(
                    "every ip-range or gateway must have a corresponding subnet".into(),
                ));
            }
            return Ok(None);
        }
        let used: Vec<Ipv6Net> = state.networks.iter().filter_map(|n| n.subnet6).collect();
        let subnet = match &opts.subnet6 {
            Some(s) => {
                let net = ipam::parse_v6_net(s).map_err(Error::InvalidParameter)?;
                if net.prefix_len() > 126 {
                    return Err(Error::InvalidParameter(format!(
                        "subnet {net} has no host addresses"
                    )));
                }
                if used.iter().any(|u| ipam::overlaps_v6(u, &net)) {
                    return Err(Error::Conflict(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                net
            }
            None => {
                if opts.gateway6.is_some() || opts.ip_range6.is_some() {
                    return Err(Error::InvalidParameter(
                        "every ip-range or gateway must have a corresponding subnet".into(),
                    ));
                }
                let seed = hex::decode(&id[..14]).unwrap_or_default();
                ipam::pick_subnet_v6(&seed, &used).ok_or(NetworkError::NoPool(
                    "could not find an available, non-overlapping IPv6 address pool",
                ))?
            }
        };
        let gateway = match &opts.gateway6 {
            Some(g) => {
                let ip: Ipv6Addr = g
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid gateway address {g}")))?;
                if !subnet.contains(&ip) || ip == subnet.network() {
                    return Err(Error::InvalidParameter(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                ip
            }
            None => ipam::first_host_v6(&subnet).ok_or_else(|| {
                Error::InvalidParameter(format!("subnet {subnet} has no host addresses"))
            })?,
        };
        let range = match &opts.ip_range6 {
            Some(r) => {
                let r = ipam::parse_v6_net(r).map_err(Error::InvalidParameter)?;
                if !subnet.contains(&r) {
                    return Err(Error::InvalidParameter(format!(
                        "invalid pool request: ip-range {r} is not within subnet {subnet}"
                    )));
                }
                Some(r)
            }
            None => None,
        };
        Ok(Some((subnet, gateway, range)))
    }

    /// Make a bridge network's bridge and rules exist (idempotent). Returns
    /// whether the record must now say `gateway_added`: the bridge is not ours
    /// and its gateway address is (added now, or by an earlier call).
    pub(super) async fn realize(&self, rec: &NetworkRecord) -> Result<bool> {
        if !rec.is_bridge() {
            return Ok(false);
        }
        let setup = self.kernel.realize(rec).await?;
        if !setup.ours {
            tracing::info!(
                "network {}: using the existing bridge {} (not created by dockhand; it stays when the network goes)",
                rec.name,
                rec.bridge
            );
        }
        self.running.locked().realized.insert(rec.id.clone());
        Ok(!setup.ours && (rec.gateway_added || setup.address_added))
    }

    /// Remove a network's bridge (only one we created; from a bridge we did not,
    /// the gateway address we added) and rules; best effort, errors are logged.
    pub(super) async fn unrealize(&self, rec: &NetworkRecord) {
        if !rec.is_bridge() {
            return;
        }
        self.kernel.unrealize(rec).await;
        self.running.locked().realized.remove(&rec.id);
    }

    pub(super) async fn ensure_realized(&self, rec: &NetworkRecord) -> Result<()> {
        let done = self.running.locked().realized.contains(&rec.id);
        // Cheap check that nobody deleted the bridge behind our back.
        if done && self.kernel.link_exists(&rec.bridge).await? {
            return Ok(());
        }
        if self.realize(rec).await? && !rec.gateway_added {
            // The bridge came back as somebody else's: remember our address.
            let mut state = self.snapshot()?;
            if let Some(n) = state.networks.iter_mut().find(|n| n.id == rec.id) {
                n.gateway_added = true;
                self.commit(state)?;
            }
        }
        Ok(())
    }

    /// `network rm KEY`.
    pub async fn remove(&self, key: &str) -> Result<()> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let rec = state
            .find_network(key)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {key} not found")))?;
        if rec.predefined {
            return Err(Error::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        if state.endpoints_of_network(&rec.id).next().is_some() {
            return Err(Error::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                rec.name, rec.id
            )));
        }
        state.networks.retain(|n| n.id != rec.id);
        self.commit(state)?;
        self.unrealize(&rec).await;
        Ok(())
    }

    /// A read-only `iptables`/`iptables-save` listing in this daemon's
    /// namespace (a virtual host's `iptables -L`): (exit code, stdout, stderr).
    pub async fn list_rules(
        &self,
        program: &str,
        args: &[String],
    ) -> Result<(i32, Vec<u8>, Vec<u8>)> {
        iptables::list(&self.ns, program, args).await
    }

    /// `network prune`: removes user networks without endpoints; returns their names.
    pub async fn prune(&self) -> Result<Vec<String>> {
        self.prune_where(&Default::default()).await
    }

    /// `network prune --filter`: only networks that pass the `until`, `label`
    /// and `label!` filters.
    pub async fn prune_where(&self, f: &crate::container::Filters) -> Result<Vec<String>> {
        crate::filters::check_keys(f, &["until", "label", "label!"])
            .map_err(Error::InvalidParameter)?;
        let cutoff = crate::filters::until_cutoff(f, crate::filters::now_nanos())
            .map_err(Error::InvalidParameter)?;
        let candidates: Vec<NetworkRecord> = {
            let s = self.state.read_locked();
            s.networks
                .iter()
                .filter(|n| !n.predefined && s.endpoints_of_network(&n.id).next().is_none())
                .filter(|n| crate::filters::labels_pass(&n.labels, f))
                .filter(|n| cutoff.is_none_or(|c| crate::filters::created_nanos(&n.created) < c))
                .cloned()
                .collect()
        };
        let mut removed = Vec::new();
        for n in candidates {
            // A container may have connected meanwhile: that is a refusal, not an error.
            if self.remove(&n.id).await.is_ok() {
                removed.push(n.name);
            }
        }
        Ok(removed)
    }
}
