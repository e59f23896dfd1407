//! Published ports: host ports, iptables rules and userland proxies.

use super::*;
use crate::network::NetworkError;
use shared::sync::{Locked, RwLocked};

impl Networks {
    /// Publish ports of a container whose address (on one of its networks) is
    /// `container_ip`. Returns the bindings with the host ports really used. On any
    /// error nothing of this call remains.
    pub async fn publish(
        &self,
        container_id: &str,
        container_ip: Ipv4Addr,
        bindings: &[PortBinding],
    ) -> Result<Vec<PortBinding>> {
        let _op = self.op.lock().await;
        let mut state = self.snapshot()?;
        let ep = state
            .endpoints_of_container(container_id)
            .find(|e| e.ip == container_ip)
            .cloned()
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "container {container_id} has no endpoint with address {container_ip}"
                ))
            })?;
        let net = state
            .network(&ep.network_id)
            .cloned()
            .ok_or_else(|| NetworkError::Other("endpoint of an unknown network".into()))?;
        let mut made: Vec<(PortRecord, portmap::Proxy)> = Vec::new();
        let mut out = Vec::new();
        let result: Result<()> = async {
            for b in bindings {
                let proto = match b.proto.as_str() {
                    "" | "tcp" => "tcp",
                    "udp" => "udp",
                    other => {
                        return Err(Error::InvalidParameter(format!(
                            "invalid proto: {other}"
                        )))
                    }
                };
                let shown_ip = if b.host_ip.is_empty() {
                    "0.0.0.0".to_string()
                } else {
                    b.host_ip.clone()
                };
                let host_ip: IpAddr = shown_ip
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| Error::InvalidParameter(format!("invalid host IP {shown_ip}")))?;
                let shown_ip = host_ip.to_string();
                if b.host_port != 0 {
                    let taken = state
                        .ports
                        .iter()
                        .chain(made.iter().map(|(p, _)| p))
                        .any(|p| {
                            p.proto == proto
                                && p.host_port == b.host_port
                                && ips_overlap(&p.host_ip, host_ip)
                        });
                    if taken {
                        return Err(Error::Conflict(format!(
                            "Bind for {shown_ip}:{} failed: port is already allocated",
                            b.host_port
                        )));
                    }
                }
                let target = SocketAddrV4::new(container_ip, b.container_port);
                let proxy = portmap::start(&self.ns, proto, host_ip, b.host_port, target)
                    .await
                    .map_err(|e| {
                        Error::Conflict(format!(
                            "driver failed programming external connectivity on endpoint {} ({}): Error starting userland proxy: {}",
                            ep.container_name,
                            ep.endpoint_id,
                            portmap::listen_error(proto, host_ip, b.host_port, &e)
                        ))
                    })?;
                let rec = PortRecord {
                    container_id: container_id.to_string(),
                    host_ip: shown_ip.clone(),
                    host_port: proxy.port,
                    container_ip,
                    container_port: b.container_port,
                    proto: proto.to_string(),
                    bridge: net.bridge.clone(),
                };
                out.push(PortBinding {
                    host_ip: shown_ip,
                    host_port: proxy.port,
                    container_port: b.container_port,
                    proto: proto.to_string(),
                });
                made.push((rec, proxy));
            }
            // Every binding's rules in one transaction.
            let rules: Vec<PortRules> = made.iter().filter_map(|(r, _)| port_rules(r)).collect();
            if !rules.is_empty() {
                self.fw.add_ports(&rules).await?;
            }
            Ok(())
        }
        .await;
        let rollback = |made: Vec<(PortRecord, portmap::Proxy)>| async move {
            let rules: Vec<PortRules> = made.iter().filter_map(|(r, _)| port_rules(r)).collect();
            drop(made);
            if rules.is_empty() {
                return;
            }
            if let Err(e) = self.fw.remove_ports(&rules).await {
                tracing::warn!("rolling back published ports: {e}");
            }
        };
        if let Err(e) = result {
            rollback(made).await;
            return Err(e);
        }
        state.ports.extend(made.iter().map(|(p, _)| p.clone()));
        if let Err(e) = self.commit(state) {
            rollback(made).await;
            return Err(e);
        }
        self.running
            .locked()
            .proxies
            .entry(container_id.to_string())
            .or_default()
            .extend(made);
        Ok(out)
    }

    /// Remove every published port of a container.
    pub async fn unpublish(&self, container_id: &str) -> Result<()> {
        let _op = self.op.lock().await;
        self.stop_proxies(container_id, |_| true)?;
        self.fw
            .remove_tag(&firewall::port_tag(container_id))
            .await?;
        let mut state = self.snapshot()?;
        if state.ports_of_container(container_id).next().is_some() {
            state.ports.retain(|p| p.container_id != container_id);
            self.commit(state)?;
        }
        Ok(())
    }

    /// The published ports of a container (`docker port`).
    pub fn ports(&self, container_id: &str) -> Result<Vec<PortBinding>> {
        let s = self.state.read_locked();
        Ok(s.ports_of_container(container_id)
            .map(|p| PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.host_port,
                container_port: p.container_port,
                proto: p.proto.clone(),
            })
            .collect())
    }
}

/// Whether two host addresses of one port collide: IPv4 with IPv4, IPv6 with
/// IPv6 (IPv6 sockets are IPv6-only), the unspecified address with any.
fn ips_overlap(recorded: &str, ip: IpAddr) -> bool {
    let r: IpAddr = recorded
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    r.is_ipv4() == ip.is_ipv4() && (r.is_unspecified() || ip.is_unspecified() || r == ip)
}

/// The iptables rules of a published port; None for one on an IPv6 address,
/// which only the userland proxy serves (we keep no ip6tables rules).
pub(super) fn port_rules(p: &PortRecord) -> Option<PortRules> {
    if p.host_ip.parse::<std::net::Ipv6Addr>().is_ok() {
        return None;
    }
    Some(PortRules {
        bridge: p.bridge.clone(),
        host_ip: p.host_ip.parse().ok(),
        host_port: p.host_port,
        container_ip: p.container_ip,
        container_port: p.container_port,
        proto: p.proto.clone(),
        tag: firewall::port_tag(&p.container_id),
    })
}
