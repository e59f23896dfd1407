//! Docker's JSON views of our records: `network inspect` and a container's
//! `NetworkSettings`, plus the name lookup the embedded DNS server uses.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::{json, Map, Value};

use std::collections::BTreeMap;

use super::store::{EndpointRecord, NetworkRecord, State};

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// `network inspect` for one network.
pub fn network_inspect(state: &State, n: &NetworkRecord) -> Value {
    let pool =
        |subnet: String, range: Option<String>, gateway: String, aux: &BTreeMap<String, IpAddr>| {
            let mut c = Map::new();
            c.insert("Subnet".into(), json!(subnet));
            if let Some(r) = range {
                c.insert("IPRange".into(), json!(r));
            }
            c.insert("Gateway".into(), json!(gateway));
            if !aux.is_empty() {
                let aux: BTreeMap<&String, String> =
                    aux.iter().map(|(k, v)| (k, v.to_string())).collect();
                c.insert("AuxiliaryAddresses".into(), json!(aux));
            }
            Value::Object(c)
        };
    let mut config: Vec<Value> = match (n.subnet, n.gateway) {
        (Some(s), Some(g)) => vec![pool(
            s.to_string(),
            n.ip_range.map(|r| r.to_string()),
            g.to_string(),
            &n.aux_addresses,
        )],
        _ => vec![],
    };
    if let (Some(s), Some(g)) = (n.subnet6, n.gateway6) {
        config.push(pool(
            s.to_string(),
            n.ip_range6.map(|r| r.to_string()),
            g.to_string(),
            &n.aux_addresses6,
        ));
    }
    let mut containers = Map::new();
    for e in state.endpoints_of_network(&n.id) {
        containers.insert(
            e.container_id.clone(),
            json!({
                "Name": e.container_name,
                "EndpointID": e.endpoint_id,
                "MacAddress": e.mac,
                "IPv4Address": format!("{}/{}", e.ip, e.prefix_len),
                "IPv6Address": e.ip6.map(|ip| format!("{ip}/{}", e.prefix6)).unwrap_or_default(),
            }),
        );
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": n.ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": if n.predefined || n.ipam_given { Value::Null } else { json!({}) },
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

/// The IPv4 addresses of [`resolve_addrs`].
pub fn resolve_name(state: &State, asker: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
    let v4: Vec<Ipv4Addr> = resolve_addrs(state, asker, name)?
        .into_iter()
        .filter_map(|ip| match ip {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect();
    Some(v4)
}

/// Addresses for `name` as seen by container `asker`: containers on the user
/// networks `asker` is on whose name, short id or alias is `name` (also
/// `name.network`), their IPv6 addresses too where they have one.
/// Case-insensitive; None when nothing matches.
pub fn resolve_addrs(state: &State, asker: &str, name: &str) -> Option<Vec<IpAddr>> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut ips: Vec<IpAddr> = Vec::new();
    for mine in state.endpoints_of_container(asker) {
        let Some(net) = state.network(&mine.network_id) else {
            continue;
        };
        if !net.has_dns() {
            continue;
        }
        let net_name = net.name.to_ascii_lowercase();
        // A link of the asker on this network names another container.
        if let Some(target) = mine.link_target(&name) {
            for e in state.endpoints_of_network(&net.id) {
                if e.container_name.eq_ignore_ascii_case(target) {
                    push_addrs(&mut ips, e);
                }
            }
        }
        for e in state.endpoints_of_network(&net.id) {
            let hit = dns_names(e).iter().any(|n| {
                let n = n.to_ascii_lowercase();
                n == name || format!("{n}.{net_name}") == name
            });
            if hit {
                push_addrs(&mut ips, e);
            }
        }
    }
    (!ips.is_empty()).then_some(ips)
}

/// An endpoint's addresses, each once.
fn push_addrs(ips: &mut Vec<IpAddr>, e: &EndpointRecord) {
    let own = std::iter::once(IpAddr::V4(e.ip)).chain(e.ip6.map(IpAddr::V6));
    for ip in own {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
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
        let mut ipam = Map::new();
        if e.fixed_ip {
            ipam.insert("IPv4Address".into(), json!(e.ip.to_string()));
        }
        if let (true, Some(ip6)) = (e.fixed_ip6, e.ip6) {
            ipam.insert("IPv6Address".into(), json!(ip6.to_string()));
        }
        if !e.link_local_ips.is_empty() {
            let ll: Vec<String> = e.link_local_ips.iter().map(|i| i.to_string()).collect();
            ipam.insert("LinkLocalIPs".into(), json!(ll));
        }
        let some_list = |v: &[String]| if v.is_empty() { Value::Null } else { json!(v) };
        networks.insert(
            net.name.clone(),
            json!({
                "IPAMConfig": if ipam.is_empty() { Value::Null } else { Value::Object(ipam) },
                "Links": some_list(&e.links),
                "Aliases": if user { some_list(&e.aliases) } else { Value::Null },
                "MacAddress": e.mac,
                "DriverOpts": if e.driver_opts.is_empty() { Value::Null } else { json!(e.driver_opts) },
                "NetworkID": net.id,
                "EndpointID": e.endpoint_id,
                "Gateway": e.gateway.to_string(),
                "IPAddress": e.ip.to_string(),
                "IPPrefixLen": e.prefix_len,
                "IPv6Gateway": e.gateway6.map(|g| g.to_string()).unwrap_or_default(),
                "GlobalIPv6Address": e.ip6.map(|g| g.to_string()).unwrap_or_default(),
                "GlobalIPv6PrefixLen": if e.ip6.is_some() { e.prefix6 } else { 0 },
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
            predefined,
            ..Default::default()
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
            ip6: None,
            prefix6: 0,
            gateway6: None,
            fixed_ip6: false,
            link_local_ips: vec![],
            links: vec![],
            driver_opts: BTreeMap::new(),
            fixed_mac: false,
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
    fn a_link_alias_resolves_for_the_linking_container_only() {
        let mut s = state();
        s.endpoints[1].links = vec!["server:bar".into()];
        let ip2 = Ipv4Addr::new(10, 5, 0, 2);
        assert_eq!(resolve_name(&s, "c2bbbbbbbbbbbbbb", "BAR"), Some(vec![ip2]));
        assert_eq!(resolve_name(&s, "c1aaaaaaaaaaaaaa", "bar"), None);
        // A link to a container that is not (yet) on the network resolves to nothing.
        s.endpoints[1].links = vec!["later:up".into()];
        assert_eq!(resolve_name(&s, "c2bbbbbbbbbbbbbb", "up"), None);
    }

    #[test]
    fn endpoint_settings_show_what_was_asked() {
        let mut s = state();
        let e = &mut s.endpoints[0];
        e.fixed_ip = true;
        e.ip6 = Some("2001:db8::5".parse().unwrap());
        e.prefix6 = 64;
        e.gateway6 = Some("2001:db8::1".parse().unwrap());
        e.fixed_ip6 = true;
        e.link_local_ips = vec!["169.254.8.8".parse().unwrap()];
        e.links = vec!["x:y".into()];
        e.driver_opts = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let v = network_settings(&s, "c1aaaaaaaaaaaaaa", "learning", &[]);
        let n = &v["Networks"]["learning"];
        assert_eq!(
            n["IPAMConfig"],
            json!({"IPv4Address": "10.5.0.2", "IPv6Address": "2001:db8::5", "LinkLocalIPs": ["169.254.8.8"]})
        );
        assert_eq!(n["Links"], json!(["x:y"]));
        assert_eq!(n["DriverOpts"], json!({"k": "v"}));
        assert_eq!(n["GlobalIPv6Address"], "2001:db8::5");
        assert_eq!(n["GlobalIPv6PrefixLen"], 64);
        assert_eq!(n["IPv6Gateway"], "2001:db8::1");
        // Without anything asked: nulls, as moby shows them.
        let n = &network_settings(&s, "c2bbbbbbbbbbbbbb", "learning", &[])["Networks"]["learning"];
        for k in ["IPAMConfig", "Links", "Aliases", "DriverOpts"] {
            assert!(n[k].is_null(), "{k}: {}", n[k]);
        }
        let inspect = network_inspect(&s, &s.networks[0]);
        assert_eq!(
            inspect["Containers"]["c1aaaaaaaaaaaaaa"]["IPv6Address"],
            "2001:db8::5/64"
        );
    }

    #[test]
    fn ipam_config_shows_range_aux_and_ipv6_pool() {
        let mut n = net("n9", "dual", false);
        n.subnet = Some("172.28.0.0/16".parse().unwrap());
        n.gateway = Some(Ipv4Addr::new(172, 28, 5, 254));
        n.ip_range = Some("172.28.5.0/24".parse().unwrap());
        n.aux_addresses = BTreeMap::from([("a".to_string(), "172.28.1.5".parse().unwrap())]);
        n.ipv6 = true;
        n.subnet6 = Some("2001:389::/64".parse().unwrap());
        n.gateway6 = Some("2001:389::ffff".parse().unwrap());
        n.ipam_given = true;
        let v = network_inspect(&State::default(), &n);
        assert_eq!(v["EnableIPv6"], true);
        assert!(v["IPAM"]["Options"].is_null());
        assert_eq!(
            v["IPAM"]["Config"],
            json!([
                {"Subnet": "172.28.0.0/16", "IPRange": "172.28.5.0/24", "Gateway": "172.28.5.254",
                 "AuxiliaryAddresses": {"a": "172.28.1.5"}},
                {"Subnet": "2001:389::/64", "Gateway": "2001:389::ffff"}
            ])
        );
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
