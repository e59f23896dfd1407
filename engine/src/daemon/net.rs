//! The container side of networking: joining networks between "the container's
//! network namespace exists" and "its process runs", publishing ports, the
//! embedded DNS, /etc/hosts and /etc/resolv.conf with the real address, legacy
//! link variables, and the `NetworkSettings` and `Ports` that inspect and ps show.

use super::Daemon;
use crate::error::{Error, Result};
use crate::network::hosts::{self, LinkInfo};
use crate::network::{ConnectRequest, PortBinding};
use serde_json::{json, Value};
use shared::api::ContainerInspect;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The network a container's `NetworkMode` names, or `None` for host, none and
/// container: modes, which get no endpoint of their own.
pub(super) fn primary_network(mode: &str) -> Option<&str> {
    match mode {
        "" | "default" | "bridge" => Some("bridge"),
        "host" | "none" => None,
        m if m.starts_with("container:") => None,
        m => Some(m),
    }
}

/// The strings of a JSON list (`Aliases`, `Links`, `LinkLocalIPs`).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .filter(|a| !a.is_empty())
        .collect()
}

/// What joining network `name` asks for, from an `EndpointSettings` config
/// (`EndpointsConfig` of a create, the body of a connect).
pub(super) fn connect_request(
    rec: &ContainerInspect,
    name: &str,
    cfg: &Value,
    pid: u32,
) -> Result<ConnectRequest> {
    let ipam = &cfg["IPAMConfig"];
    let addr = |key: &str| ipam[key].as_str().filter(|s| !s.is_empty());
    let ip = addr("IPv4Address")
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| Error::InvalidParameter(format!("invalid IPv4 address: {s}")))
        })
        .transpose()?;
    let ip6 = addr("IPv6Address")
        .map(|s| {
            s.parse::<Ipv6Addr>()
                .map_err(|_| Error::InvalidParameter(format!("invalid IPv6 address: {s}")))
        })
        .transpose()?;
    let link_local_ips = strings(&ipam["LinkLocalIPs"])
        .iter()
        .map(|s| {
            s.parse::<IpAddr>()
                .map_err(|_| Error::InvalidParameter(format!("invalid link-local IP address: {s}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let driver_opts: BTreeMap<String, String> = cfg["DriverOpts"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    Ok(ConnectRequest {
        network: name.to_string(),
        container_id: rec.id.clone(),
        container_name: rec.name.clone(),
        pid,
        aliases: strings(&cfg["Aliases"]),
        ip,
        mac: cfg["MacAddress"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from),
        ip6,
        link_local_ips,
        links: strings(&cfg["Links"]),
        driver_opts,
    })
}

/// A requested endpoint config in the `EndpointSettings` shape that inspect
/// shows for a container that is not running (moby's, API 1.45+: the asked-for
/// fields, empty addresses).
pub(super) fn endpoint_settings(network_id: &str, cfg: &Value) -> Value {
    let list = |k: &str| {
        let v = strings(&cfg[k]);
        if v.is_empty() {
            Value::Null
        } else {
            json!(v)
        }
    };
    let ipam = &cfg["IPAMConfig"];
    let mut ipam_out = serde_json::Map::new();
    for k in ["IPv4Address", "IPv6Address"] {
        if let Some(s) = ipam[k].as_str().filter(|s| !s.is_empty()) {
            ipam_out.insert(k.into(), json!(s));
        }
    }
    let ll = strings(&ipam["LinkLocalIPs"]);
    if !ll.is_empty() {
        ipam_out.insert("LinkLocalIPs".into(), json!(ll));
    }
    let driver_opts = match cfg["DriverOpts"].as_object() {
        Some(m) if !m.is_empty() => Value::Object(m.clone()),
        _ => Value::Null,
    };
    json!({
        "IPAMConfig": if ipam_out.is_empty() { Value::Null } else { Value::Object(ipam_out) },
        "Links": list("Links"),
        "Aliases": list("Aliases"),
        "MacAddress": cfg["MacAddress"].as_str().unwrap_or_default(),
        "DriverOpts": driver_opts,
        "NetworkID": network_id,
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": Value::Null,
    })
}

/// `-p` bindings (and `-P`'s random ports for every exposed port).
pub(super) fn port_bindings(rec: &ContainerInspect) -> Result<Vec<PortBinding>> {
    let mut out = vec![];
    let parse_key = |k: &str| -> Result<(u16, String)> {
        let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        let port = port
            .parse::<u16>()
            .map_err(|_| Error::InvalidParameter(format!("invalid port specification: \"{k}\"")))?;
        Ok((port, proto.to_string()))
    };
    for (key, list) in &rec.host_config.port_bindings {
        let (container_port, proto) = parse_key(key)?;
        for b in list.as_array().into_iter().flatten() {
            let host_port = b["HostPort"].as_str().unwrap_or("");
            let host_port = if host_port.is_empty() {
                0
            } else {
                host_port.parse::<u16>().map_err(|_| {
                    Error::InvalidParameter(format!("invalid port specification: \"{host_port}\""))
                })?
            };
            out.push(PortBinding {
                host_ip: b["HostIp"].as_str().unwrap_or("").to_string(),
                host_port,
                container_port,
                proto: proto.clone(),
            });
        }
    }
    if rec.host_config.publish_all_ports {
        for key in rec.config.exposed_ports.iter().flat_map(|m| m.keys()) {
            if rec.host_config.port_bindings.contains_key(key) {
                continue;
            }
            let (container_port, proto) = parse_key(key)?;
            out.push(PortBinding {
                host_ip: String::new(),
                host_port: 0,
                container_port,
                proto,
            });
        }
    }
    Ok(out)
}

impl Daemon {
    /// Recreate bridges and rules of existing networks and drop leftovers of a
    /// daemon that died. Call once at daemon start.
    pub async fn reconcile_networks(&self) -> Result<()> {
        let Some(nets) = self.networks.get() else {
            return Ok(());
        };
        let live = |id: &str| self.lock().get(id).is_some_and(|e| e.rec.state.running);
        nets.reconcile(&live).await?;
        Ok(())
    }

    pub fn networks(&self) -> Option<&std::sync::Arc<crate::network::Networks>> {
        self.networks.get()
    }

    /// Legacy links (`--link name:alias`): what the linking container learns.
    pub(super) fn link_infos(&self, rec: &ContainerInspect) -> Result<Vec<LinkInfo>> {
        let Some(nets) = self.networks.get() else {
            return Ok(vec![]);
        };
        let mut out = vec![];
        for link in rec
            .host_config
            .extra
            .get("Links")
            .and_then(|l| l.as_array())
            .into_iter()
            .flatten()
        {
            let Some(spec) = link.as_str() else { continue };
            let (name, alias) = spec.split_once(':').unwrap_or((spec, spec));
            let other = self.inspect(name).map_err(|_| {
                Error::InvalidParameter(format!("could not get container for {name}"))
            })?;
            if !other.state.running {
                return Err(Error::InvalidParameter(format!(
                    "cannot link to a non running container: {} AS /{}/{alias}",
                    other.name,
                    rec.name.trim_start_matches('/')
                )));
            }
            let ip = nets
                .endpoints(&other.id)?
                .first()
                .map(|e| e.ip)
                .ok_or_else(|| {
                    Error::InvalidParameter(format!("{name} has no address on the default bridge"))
                })?;
            let ports = other
                .config
                .exposed_ports
                .iter()
                .flat_map(|m| m.keys())
                .filter_map(|k| {
                    let (p, proto) = k.split_once('/').unwrap_or((k, "tcp"));
                    p.parse::<u16>().ok().map(|p| (p, proto.to_string()))
                })
                .collect();
            out.push(LinkInfo {
                alias: alias.trim_start_matches('/').to_string(),
                name: other.name.trim_start_matches('/').to_string(),
                hostname: other.config.hostname.clone(),
                ip,
                ports,
                env: other.config.env.clone(),
            });
        }
        Ok(out)
    }

    /// Join the container's networks, publish its ports, start its DNS and write
    /// its hosts and resolv.conf files. `pid` is its PID 1, already in its own
    /// network namespace and waiting for the go. On error nothing stays behind.
    pub(super) async fn attach_network(&self, rec: &ContainerInspect, pid: i32) -> Result<()> {
        let (Some(nets), Some(primary)) = (
            self.networks.get(),
            primary_network(&rec.host_config.network_mode),
        ) else {
            return Ok(());
        };
        let r = self.attach_network_inner(nets, rec, primary, pid).await;
        if r.is_err() {
            let _ = nets.release_container(&rec.id).await;
        }
        r
    }

    async fn attach_network_inner(
        &self,
        nets: &crate::network::Networks,
        rec: &ContainerInspect,
        primary: &str,
        pid: i32,
    ) -> Result<()> {
        // A stale endpoint of an earlier run (daemon killed mid-way) goes first.
        nets.release_container(&rec.id).await?;
        // The mode may name the primary network by ID or ID prefix; the
        // requested settings are keyed by name: one endpoint per network.
        let mut names: Vec<String> = vec![nets.find(primary)?.name];
        for n in rec.network_settings.networks.keys() {
            let n = if n == "default" { "bridge" } else { n.as_str() };
            let name = nets.find(n)?.name;
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let mut own_ip: Option<Ipv4Addr> = None;
        for name in &names {
            let cfg = rec
                .network_settings
                .networks
                .get(name)
                .cloned()
                .unwrap_or(Value::Null);
            // The short ID is a DNS name on user networks without being an
            // alias (moby 1.45+ lists it in DNSNames only).
            let ep = nets
                .connect(connect_request(rec, name, &cfg, pid as u32)?)
                .await?;
            if own_ip.is_none() {
                own_ip = Some(ep.ip);
                let bindings = port_bindings(rec)?;
                if !bindings.is_empty() {
                    nets.publish(&rec.id, ep.ip, &bindings).await?;
                }
            }
        }
        if names.iter().any(|n| nets.uses_embedded_dns(n)) {
            nets.dns_start(&rec.id, pid as u32).await?;
        }
        let links = self.link_infos(rec)?;
        let dir = self.cdir(&rec.id);
        let hosts_text = hosts::hosts_file(
            &rec.config.hostname,
            &rec.config.domainname,
            own_ip,
            &rec.host_config.extra_hosts,
            nets.host_gateway(),
            &links,
        );
        // Same inode: the container sees the new content through its bind mount.
        write_in_place(&dir.join("hosts"), &hosts_text)?;
        let host_resolv =
            std::fs::read_to_string(&nets.config().host_resolv_conf).unwrap_or_default();
        write_in_place(
            &dir.join("resolv.conf"),
            &hosts::resolv_conf(&host_resolv, nets.uses_embedded_dns(primary)),
        )?;
        Ok(())
    }

    /// Drop a container's endpoints, ports and DNS (after it stopped, or on rm).
    pub(super) fn release_network(&self, id: &str) {
        if let Some(nets) = self.networks.get().cloned() {
            let id = id.to_string();
            // Also awaited at the next start; here it frees ports promptly.
            tokio::spawn(async move {
                if let Err(e) = nets.release_container(&id).await {
                    tracing::warn!("releasing the network of {id}: {e}");
                }
            });
        }
    }

    /// The same, finished before returning (`rm` answers only when the ports
    /// and rules are gone).
    pub(super) async fn release_network_now(&self, id: &str) {
        if let Some(nets) = self.networks.get() {
            if let Err(e) = nets.release_container(id).await {
                tracing::warn!("releasing the network of {id}: {e}");
            }
        }
    }

    /// Live `NetworkSettings` of a running container.
    pub(super) fn live_network_settings(
        &self,
        rec: &ContainerInspect,
    ) -> Option<shared::api::NetworkSettings> {
        let nets = self.networks.get()?;
        let exposed: Vec<String> = rec
            .config
            .exposed_ports
            .iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let mode = if rec.host_config.network_mode == "default" {
            "bridge"
        } else {
            rec.host_config.network_mode.as_str()
        };
        let v = nets.network_settings(&rec.id, mode, &exposed).ok()?;
        serde_json::from_value(v).ok()
    }

    /// `ps`'s `Ports` of a running container.
    pub(super) fn ps_ports(&self, id: &str) -> Vec<Value> {
        let Some(nets) = self.networks.get() else {
            return vec![];
        };
        nets.ports(id)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let ip = if p.host_ip.is_empty() { "0.0.0.0".to_string() } else { p.host_ip };
                serde_json::json!({"IP": ip, "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto})
            })
            .collect()
    }

    /// `POST /networks/{id}/connect` for a running container (a stopped one
    /// joins at its next start).
    pub async fn network_connect(&self, network: &str, key: &str, endpoint: Value) -> Result<()> {
        let nets = self
            .networks
            .get()
            .cloned()
            .ok_or_else(|| Error::Internal("networking is disabled".into()))?;
        let net = nets.find(network)?;
        let name = net.name.clone();
        let settings = endpoint_settings(&net.id, &endpoint);
        let (rec, running) = {
            let st = self.lock();
            let id = super::resolve_in(&st, key)?;
            let e = st.get(&id).ok_or_else(|| super::no_such(key))?;
            if primary_network(&e.rec.host_config.network_mode).is_none() {
                return Err(Error::InvalidParameter(
                    "container cannot be disconnected from host network or connected to host network".into(),
                ));
            }
            (e.rec.clone(), e.rec.state.running)
        };
        // Checked before anything is recorded: a bad request leaves no trace.
        let req = connect_request(&rec, &name, &endpoint, rec.state.pid as u32)?;
        if running {
            nets.connect(req).await?;
        }
        {
            let mut st = self.lock();
            if let Some(e) = st.get_mut(&rec.id) {
                e.rec
                    .network_settings
                    .networks
                    .insert(name.clone(), settings);
                self.persist(e)?;
            }
        }
        if !running {
            return Ok(());
        }
        if nets.uses_embedded_dns(&name) {
            nets.dns_start(&rec.id, rec.state.pid as u32).await?;
            // Like Docker, a container that joins a user network resolves through
            // the embedded DNS from then on.
            let host_resolv =
                std::fs::read_to_string(&nets.config().host_resolv_conf).unwrap_or_default();
            write_in_place(
                &self.cdir(&rec.id).join("resolv.conf"),
                &hosts::resolv_conf(&host_resolv, true),
            )?;
        }
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(&self, network: &str, key: &str) -> Result<()> {
        let nets = self
            .networks
            .get()
            .cloned()
            .ok_or_else(|| Error::Internal("networking is disabled".into()))?;
        let name = nets.find(network)?.name;
        let (id, running, was_listed) = {
            let mut st = self.lock();
            let id = super::resolve_in(&st, key)?;
            let e = st.get_mut(&id).ok_or_else(|| super::no_such(key))?;
            let was = e.rec.network_settings.networks.remove(&name).is_some();
            self.persist(e)?;
            (id, e.rec.state.running, was)
        };
        let connected = if running {
            nets.disconnect(&name, &id).await?
        } else {
            was_listed
        };
        if !connected {
            return Err(Error::InvalidParameter(format!(
                "container {id} is not connected to network {name}"
            )));
        }
        Ok(())
    }
}

/// Rewrite a file keeping its inode (it is bind-mounted into the container).
fn write_in_place(path: &std::path::Path, text: &str) -> Result<()> {
    use crate::error::IoContext;
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .ctx("open", path)?;
    f.write_all(text.as_bytes()).ctx("write", path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_their_primary_network() {
        assert_eq!(primary_network("default"), Some("bridge"));
        assert_eq!(primary_network("bridge"), Some("bridge"));
        assert_eq!(primary_network("learning"), Some("learning"));
        assert_eq!(primary_network("host"), None);
        assert_eq!(primary_network("none"), None);
        assert_eq!(primary_network("container:x"), None);
    }

    #[test]
    fn bindings_come_from_p_and_capital_p() {
        let mut rec = ContainerInspect::default();
        rec.host_config.port_bindings.insert(
            "80/tcp".into(),
            serde_json::json!([{"HostIp": "", "HostPort": "8080"}]),
        );
        rec.host_config.port_bindings.insert(
            "53/udp".into(),
            serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": ""}]),
        );
        rec.config.exposed_ports = Some(
            [
                ("80/tcp".to_string(), Value::Null),
                ("443/tcp".to_string(), Value::Null),
            ]
            .into(),
        );
        rec.host_config.publish_all_ports = true;
        let b = port_bindings(&rec).unwrap();
        assert_eq!(b.len(), 3);
        assert!(b
            .iter()
            .any(|x| x.container_port == 80 && x.host_port == 8080 && x.proto == "tcp"));
        assert!(b.iter().any(|x| x.container_port == 53
            && x.host_port == 0
            && x.host_ip == "127.0.0.1"
            && x.proto == "udp"));
        assert!(b
            .iter()
            .any(|x| x.container_port == 443 && x.host_port == 0));
    }
}
