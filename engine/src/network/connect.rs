//! Connecting containers to networks and letting them go: veths, leases
//! (IPv4 and IPv6) and endpoint records.

use super::*;
use crate::network::NetworkError;
use shared::sync::Locked;

impl Networks {
    /// Attach a container to a bridge network: veth, address, route, lease.
    /// A container already on the network is refused, as moby refuses it.
    pub async fn connect(&self, req: ConnectRequest) -> Result<Endpoint> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let net = state
            .find_network(&req.network)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {} not found", req.network)))?;
        if !net.is_bridge() {
            return Err(Error::InvalidParameter(format!(
                "container cannot be disconnected from host network or connected to {} network",
                net.name
            )));
        }
        if state
            .endpoints_of_network(&net.id)
            .any(|e| e.container_id == req.container_id)
        {
            // moby answers 403 here; ours is the nearest kind we have.
            return Err(Error::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                req.container_name.trim_start_matches('/'),
                net.name
            )));
        }
        if !req.links.is_empty() && net.predefined {
            return Err(Error::InvalidParameter(
                "links in endpoint settings are supported only on user defined networks; use --link"
                    .into(),
            ));
        }
        for ip in &req.link_local_ips {
            let link_local = match ip {
                IpAddr::V4(a) => a.is_link_local(),
                IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
            };
            if !link_local {
                return Err(Error::InvalidParameter(format!(
                    "invalid link-local IP address: {ip}"
                )));
            }
        }
        if !req.aliases.is_empty() && net.predefined {
            return Err(Error::InvalidParameter(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
        let (Some(subnet), Some(gateway)) = (net.subnet, net.gateway) else {
            return Err(NetworkError::Other(format!("network {} has no subnet", net.name)).into());
        };
        let mut used: HashSet<Ipv4Addr> =
            state.endpoints_of_network(&net.id).map(|e| e.ip).collect();
        let reserved: HashSet<Ipv4Addr> = net
            .aux_addresses
            .values()
            .filter_map(|a| match a {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        let ip = match req.ip {
            Some(ip) => {
                if net.predefined {
                    return Err(Error::InvalidParameter(
                        "user specified IP address is supported on user defined networks only"
                            .into(),
                    ));
                }
                if !subnet.is_host(ip) || ip == gateway {
                    return Err(Error::InvalidParameter(format!(
                        "Invalid address {ip}: It does not belong to any of this network's subnets"
                    )));
                }
                if used.contains(&ip) || reserved.contains(&ip) {
                    return Err(Error::Conflict("Address already in use".into()));
                }
                ip
            }
            None => ipam::lease_in(&subnet, net.ip_range.as_ref(), gateway, &{
                used.extend(&reserved);
                used
            })
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "no available IPv4 addresses on this network's address pools: {} ({})",
                    net.name, net.id
                ))
            })?,
        };
        let ip6 = self.lease_v6(&state, &net, req.ip6)?;
        let mac = match &req.mac {
            Some(m) => ipam::parse_mac(m)
                .ok_or_else(|| Error::InvalidParameter(format!("invalid MAC address: {m}")))?,
            None => ipam::mac_for(ip),
        };
        self.ensure_realized(&net).await?;
        let primary = state
            .endpoints_of_container(&req.container_id)
            .next()
            .is_none();
        let host_veth = format!("veth{}", &random_hex(4)[..7]);
        let peer = format!("dhp{}", random_hex(4));
        self.kernel
            .add_veth(&kernel::Veth {
                host: host_veth.clone(),
                peer: peer.clone(),
                bridge: net.bridge.clone(),
                pid: req.pid,
                mac,
            })
            .await?;
        let inner = InnerConfig {
            peer,
            ip,
            prefix_len: subnet.prefix_len(),
            default_route: (primary && !net.internal).then_some(gateway),
            ip6: ip6.zip(net.subnet6.map(|n| n.prefix_len())),
            default_route6: if primary && !net.internal && ip6.is_some() {
                net.gateway6
            } else {
                None
            },
            link_local: req.link_local_ips.clone(),
        };
        let ifname = match self.kernel.configure_inside(req.pid, inner).await {
            Ok(n) => n,
            Err(e) => {
                let _ = self.kernel.delete_ours(&host_veth).await;
                return Err(e);
            }
        };
        let rec = EndpointRecord {
            network_id: net.id.clone(),
            container_id: req.container_id.clone(),
            container_name: req.container_name.trim_start_matches('/').to_string(),
            endpoint_id: random_hex(32),
            ip,
            prefix_len: subnet.prefix_len(),
            gateway,
            mac: ipam::format_mac(&mac),
            host_veth: host_veth.clone(),
            ifname,
            pid: req.pid,
            aliases: req.aliases.clone(),
            fixed_ip: req.ip.is_some(),
            primary,
            ip6,
            prefix6: net.subnet6.map(|n| n.prefix_len()).unwrap_or(0),
            gateway6: ip6.and(net.gateway6),
            fixed_ip6: req.ip6.is_some(),
            link_local_ips: req.link_local_ips.clone(),
            links: req.links.clone(),
            driver_opts: req.driver_opts.clone(),
            fixed_mac: req.mac.is_some(),
        };
        state.endpoints.push(rec.clone());
        if let Err(e) = self.commit(state) {
            let _ = self.kernel.delete_ours(&host_veth).await;
            return Err(e);
        }
        Ok(endpoint_of(&rec, &net))
    }

    /// The IPv6 address of a new endpoint: the one asked for (checked), or the
    /// next free one; None when the network has no IPv6.
    pub(super) fn lease_v6(
        &self,
        state: &State,
        net: &NetworkRecord,
        asked: Option<Ipv6Addr>,
    ) -> Result<Option<Ipv6Addr>> {
        let (true, Some(subnet), Some(gateway)) = (net.ipv6, net.subnet6, net.gateway6) else {
            return match asked {
                Some(_) => Err(Error::InvalidParameter(format!(
                    "user specified IPv6 address requires a network with IPv6 enabled: {} has none",
                    net.name
                ))),
                None => Ok(None),
            };
        };
        let mut used: HashSet<Ipv6Addr> = state
            .endpoints_of_network(&net.id)
            .filter_map(|e| e.ip6)
            .collect();
        let reserved: HashSet<Ipv6Addr> = net
            .aux_addresses6
            .values()
            .filter_map(|a| match a {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            })
            .collect();
        if let Some(ip) = asked {
            if !subnet.contains(&ip) || ip == gateway || ip == subnet.network() {
                return Err(Error::InvalidParameter(format!(
                    "Invalid address {ip}: It does not belong to any of this network's subnets"
                )));
            }
            if used.contains(&ip) || reserved.contains(&ip) {
                return Err(Error::Conflict("Address already in use".into()));
            }
            return Ok(Some(ip));
        }
        used.extend(reserved);
        ipam::lease_v6(&subnet, net.ip_range6.as_ref(), gateway, &used)
            .map(Some)
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "no available IPv6 addresses on this network's address pools: {} ({})",
                    net.name, net.id
                ))
            })
    }

    /// Detach a container from a network (veth, lease, its ports on that network,
    /// DNS names). Returns false when it was not connected.
    pub async fn disconnect(&self, network: &str, container_id: &str) -> Result<bool> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let net = state
            .find_network(network)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("network {network} not found")))?;
        let Some(ep) = state
            .endpoints_of_network(&net.id)
            .find(|e| e.container_id == container_id)
            .cloned()
        else {
            return Ok(false);
        };
        // Ports published on that address go with it.
        let gone: Vec<PortRecord> = state
            .ports_of_container(container_id)
            .filter(|p| p.container_ip == ep.ip)
            .cloned()
            .collect();
        self.stop_proxies(container_id, |p| p.container_ip == ep.ip)?;
        if !gone.is_empty() {
            let rules: Vec<PortRules> = gone.iter().filter_map(port_rules).collect();
            self.kernel.remove_ports(&rules).await?;
        }
        self.kernel.delete_ours(&ep.host_veth).await?;
        state
            .ports
            .retain(|p| !(p.container_id == container_id && p.container_ip == ep.ip));
        state
            .endpoints
            .retain(|e| !(e.container_id == container_id && e.network_id == net.id));
        let still_dns = state.endpoints_of_container(container_id).any(|e| {
            state
                .network(&e.network_id)
                .is_some_and(NetworkRecord::has_dns)
        });
        self.commit(state)?;
        if !still_dns {
            self.dns_stop(container_id);
        }
        Ok(true)
    }

    /// Everything of a container, in one call (it stopped or is being removed):
    /// DNS server, proxies, port rules, veths, leases. Idempotent.
    pub async fn release_container(&self, container_id: &str) -> Result<()> {
        self.dns_stop(container_id);
        let _op = self.op.lock().await;
        self.release_locked(container_id).await
    }

    pub(super) async fn release_locked(&self, container_id: &str) -> Result<()> {
        let mut state = self.snapshot()?;
        self.stop_proxies(container_id, |_| true)?;
        // Port rules exist only for recorded ports (publish rolls back on
        // failure; reconcile sweeps after a crash): skip the costly rule scan
        // for the common container without any.
        if state.ports.iter().any(|p| p.container_id == container_id) {
            self.kernel
                .remove_tag(&firewall::port_tag(container_id))
                .await?;
        }
        for ep in state.endpoints_of_container(container_id) {
            self.kernel.delete_ours(&ep.host_veth).await?;
        }
        let before = (state.endpoints.len(), state.ports.len());
        state.endpoints.retain(|e| e.container_id != container_id);
        state.ports.retain(|p| p.container_id != container_id);
        if before != (state.endpoints.len(), state.ports.len()) {
            self.commit(state)?;
        }
        Ok(())
    }

    pub(super) fn stop_proxies(
        &self,
        container_id: &str,
        which: impl Fn(&PortRecord) -> bool,
    ) -> Result<()> {
        let mut run = self.running.locked();
        if let Some(list) = run.proxies.get_mut(container_id) {
            // Dropping a Proxy stops it.
            list.retain(|(p, _)| !which(p));
            if list.is_empty() {
                run.proxies.remove(container_id);
            }
        }
        Ok(())
    }
}
