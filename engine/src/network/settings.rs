//! Docker's JSON views of our records: `network inspect` and a container's
//! `NetworkSettings`, plus the name lookup the embedded DNS server uses.

use std::net::Ipv4Addr;

use serde_json::{json, Map, Value};

use super::store::{EndpointRecord, NetworkRecord, State};

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// `network inspect` for one network.
pub fn network_inspect(state: &State, n: &NetworkRecord) -> Value {
    let config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(s), Some(g)) => vec![json!({"Subnet": s.to_string(), "Gateway": g.to_string()})],
        _ => vec![],
    };
    let mut containers = Map::new();
    for e in state.endpoints_of_network(&n.id) {
        containers.insert(
            e.container_id.clone(),
            json!({
                "Name": e.container_name,
                "EndpointID": e.endpoint_id,
                "MacAddress": e.mac,
                "IPv4Address": format!("{}/{}", e.ip, e.prefix_len),
                "IPv6Address": "",
            }),
        );
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": if n.predefined { Value::Null } else { json!({}) },
            "Config": config,
        },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    })
}

/// The names a container answers to on a network: name, short id, aliases.
pub fn dns_names(e: &EndpointRecord) -> Vec<String> {
    let mut v = vec![e.container_name.clone(), short(&e.container_id).to_string()];
    for a in &e.aliases {
        if !v.contains(a) {
            v.push(a.clone());
        }
    }
    v
}

/// Addresses for `name` as seen by container `asker`: containers on the user
/// networks `asker` is on whose name, short id or alias is `name` (also
/// `name.network`). Case-insensitive; None when nothing matches.
pub fn resolve_name(state: &State, asker: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut ips = Vec::new();
    for mine in state.endpoints_of_container(asker) {
        let Some(net) = state.network(&mine.network_id) else {
            continue;
        };
        if !net.has_dns() {
            continue;
        }
        let net_name = net.name.to_ascii_lowercase();
        for e in state.endpoints_of_network(&net.id) {
            let hit = dns_names(e).iter().any(|n| {
                let n = n.to_ascii_lowercase();
                n == name || format!("{n}.{net_name}") == name
            });
            if hit && !ips.contains(&e.ip) {
                ips.push(e.ip);
            }
        }
    }
    (!ips.is_empty()).then_some(ips)
}

/// Docker's `NetworkSettings` of a container.
pub fn network_settings(
    state: &State,
    container_id: &str,
    mode: &str,
    exposed: &[String],
) -> Value {
    let mut ports = Map::new();
    for p in exposed {
        let key = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        ports.insert(key, Value::Null);
    }
    for p in state.ports_of_container(container_id) {
        let key = format!("{}/{}", p.container_port, p.proto);
        let entry = ports.entry(key).or_insert(Value::Null);
        if !entry.is_array() {
            *entry = Value::Array(Vec::new());
        }
        if let Value::Array(a) = entry {
            a.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
        }
    }
    let mut networks = Map::new();
    let mut top = json!({
        "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": "",
    });
    let mut sandbox_key = String::new();
    for e in state.endpoints_of_container(container_id) {
        let Some(net) = state.network(&e.network_id) else {
            continue;
        };
        sandbox_key = format!("/proc/{}/ns/net", e.pid);
        let user = !net.predefined;
        networks.insert(
            net.name.clone(),
            json!({
                "IPAMConfig": if e.fixed_ip { json!({"IPv4Address": e.ip.to_string()}) } else { Value::Null },
                "Links": Value::Null,
                "Aliases": if user && !e.aliases.is_empty() { json!(e.aliases) } else { Value::Null },
                "MacAddress": e.mac,
                "DriverOpts": Value::Null,
                "NetworkID": net.id,
                "EndpointID": e.endpoint_id,
                "Gateway": e.gateway.to_string(),
                "IPAddress": e.ip.to_string(),
                "IPPrefixLen": e.prefix_len,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": if user { json!(dns_names(e)) } else { Value::Null },
            }),
        );
        // Docker fills the top-level fields from the default bridge only.
        if net.predefined && net.is_bridge() {
            top = json!({
                "EndpointID": e.endpoint_id,
                "Gateway": e.gateway.to_string(),
                "IPAddress": e.ip.to_string(),
                "IPPrefixLen": e.prefix_len,
                "MacAddress": e.mac,
            });
        }
    }
    if networks.is_empty() && (mode == "host" || mode == "none") {
        if let Some(net) = state
            .networks
            .iter()
            .find(|n| n.predefined && n.name == mode)
        {
            networks.insert(
                net.name.clone(),
                json!({
                    "IPAMConfig": Value::Null, "Links": Value::Null, "Aliases": Value::Null,
                    "MacAddress": "", "DriverOpts": Value::Null, "NetworkID": net.id,
                    "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                    "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                    "DNSNames": Value::Null,
                }),
            );
        }
    }
    let sandbox_id = if sandbox_key.is_empty() {
        String::new()
    } else {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{container_id}/sandbox")))
    };
    json!({
        "Bridge": "",
        "SandboxID": sandbox_id,
        "SandboxKey": sandbox_key,
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports,
        "SecondaryIPAddresses": Value::Null,
        "SecondaryIPv6Addresses": Value::Null,
        "EndpointID": top["EndpointID"],
        "Gateway": top["Gateway"],
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": top["IPAddress"],
        "IPPrefixLen": top["IPPrefixLen"],
        "IPv6Gateway": "",
        "MacAddress": top["MacAddress"],
        "Networks": networks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::store::{NetworkRecord, PortRecord};
    use std::collections::BTreeMap;

    fn net(id: &str, name: &str, predefined: bool) -> NetworkRecord {
        NetworkRecord {
            id: id.into(),
            name: name.into(),
            driver: "bridge".into(),
            created: "2024-01-01T00:00:00Z".into(),
            bridge: format!("br-{name}"),
            subnet: Some("10.5.0.0/24".parse().unwrap()),
            gateway: Some(Ipv4Addr::new(10, 5, 0, 1)),
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            predefined,
            gateway_added: false,
        }
    }

    fn ep(net: &str, cid: &str, name: &str, last: u8, aliases: &[&str]) -> EndpointRecord {
        EndpointRecord {
            network_id: net.into(),
            container_id: cid.into(),
            container_name: name.into(),
            endpoint_id: format!("ep-{cid}"),
            ip: Ipv4Addr::new(10, 5, 0, last),
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 5, 0, 1),
            mac: "02:42:0a:05:00:02".into(),
            host_veth: "veth0".into(),
            ifname: "eth0".into(),
            pid: 1,
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            fixed_ip: false,
            primary: true,
        }
    }

    fn state() -> State {
        State {
            networks: vec![
                net("n1", "learning", false),
                net("n2", "other", false),
                net("b", "bridge", true),
            ],
            endpoints: vec![
                ep("n1", "c1aaaaaaaaaaaaaa", "server", 2, &["web"]),
                ep("n1", "c2bbbbbbbbbbbbbb", "client", 3, &[]),
                ep("n2", "c3cccccccccccccc", "stranger", 4, &[]),
                ep("b", "c4dddddddddddddd", "legacy", 5, &[]),
                ep("b", "c2bbbbbbbbbbbbbb", "client", 6, &[]),
            ],
            ports: vec![PortRecord {
                container_id: "c4dddddddddddddd".into(),
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
                container_ip: Ipv4Addr::new(10, 5, 0, 5),
                container_port: 80,
                proto: "tcp".into(),
                bridge: "br-bridge".into(),
            }],
        }
    }

    #[test]
    fn names_resolve_only_on_shared_user_networks() {
        let s = state();
        let ip2 = Ipv4Addr::new(10, 5, 0, 2);
        assert_eq!(
            resolve_name(&s, "c2bbbbbbbbbbbbbb", "server"),
            Some(vec![ip2])
        );
        assert_eq!(
            resolve_name(&s, "c2bbbbbbbbbbbbbb", "WEB."),
            Some(vec![ip2])
        );
        assert_eq!(
            resolve_name(&s, "c2bbbbbbbbbbbbbb", "server.learning"),
            Some(vec![ip2])
        );
        assert_eq!(
            resolve_name(&s, "c2bbbbbbbbbbbbbb", "c1aaaaaaaaaa"),
            Some(vec![ip2])
        );
        assert_eq!(resolve_name(&s, "c2bbbbbbbbbbbbbb", "stranger"), None);
        // The default bridge has no name resolution.
        assert_eq!(resolve_name(&s, "c2bbbbbbbbbbbbbb", "legacy"), None);
        assert_eq!(resolve_name(&s, "c4dddddddddddddd", "client"), None);
    }

    #[test]
    fn network_inspect_has_docker_shape() {
        let s = state();
        let v = network_inspect(&s, &s.networks[0]);
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.5.0.0/24");
        assert_eq!(
            v["Containers"]["c1aaaaaaaaaaaaaa"]["IPv4Address"],
            "10.5.0.2/24"
        );
        assert_eq!(v["Containers"]["c1aaaaaaaaaaaaaa"]["Name"], "server");
    }

    #[test]
    fn network_settings_fill_ports_and_networks() {
        let s = state();
        let v = network_settings(
            &s,
            "c4dddddddddddddd",
            "bridge",
            &["80/tcp".into(), "443/tcp".into()],
        );
        assert_eq!(v["Ports"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(v["Ports"]["80/tcp"][0]["HostIp"], "0.0.0.0");
        assert!(v["Ports"]["443/tcp"].is_null());
        assert_eq!(v["IPAddress"], "10.5.0.5");
        assert_eq!(v["Networks"]["bridge"]["IPAddress"], "10.5.0.5");
        assert!(v["Networks"]["bridge"]["DNSNames"].is_null());
        let v = network_settings(&s, "c1aaaaaaaaaaaaaa", "learning", &[]);
        assert_eq!(
            v["IPAddress"], "",
            "top level is for the default bridge only"
        );
        assert_eq!(v["Networks"]["learning"]["Aliases"][0], "web");
        assert_eq!(
            v["Networks"]["learning"]["DNSNames"],
            json!(["server", "c1aaaaaaaaaa", "web"])
        );
    }
}
