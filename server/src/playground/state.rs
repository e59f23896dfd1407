//! An instance's engine state as the side panels show it: what `docker ps -a`,
//! `images`, `network ls` and `volume ls` would print there, read from the
//! engine directly (the same calls as the Engine API's list handlers).

use engine::daemon::Daemon;
use serde_json::Value;
use shared::api::{ContainerSummary, ImageSummary};
use shared::playground::{
    routes, ContainerRow, ImageRow, InstanceState, NetworkRow, PortLink, Proto, VolumeRow,
};

/// A snapshot of `daemon`, the instance `node` of session `session`.
pub fn snapshot(daemon: &Daemon, session: &str, node: &str) -> InstanceState {
    let none = engine::container::Filters::new();
    let containers = daemon
        .list(true, None, &none)
        .unwrap_or_default()
        .iter()
        .map(|c| container_row(c, session, node))
        .collect();
    let images = daemon.images.list(false).iter().map(image_row).collect();
    let networks = daemon
        .networks()
        .and_then(|n| n.list().ok())
        .unwrap_or_default()
        .iter()
        .map(network_row)
        .collect();
    let volumes = daemon
        .volume_list(&none)
        .unwrap_or_default()
        .iter()
        .map(|v| VolumeRow {
            name: v["Name"].as_str().unwrap_or_default().to_string(),
            driver: v["Driver"].as_str().unwrap_or("local").to_string(),
        })
        .collect();
    InstanceState {
        instance: node.to_string(),
        containers,
        images,
        networks,
        volumes,
    }
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// One `docker ps` line; published TCP ports get their proxy URL. The same
/// port published on 0.0.0.0 and :: is one link.
pub fn container_row(c: &ContainerSummary, session: &str, node: &str) -> ContainerRow {
    let mut ports: Vec<PortLink> = vec![];
    for p in &c.ports {
        let Some(private) = p["PrivatePort"]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
        else {
            continue;
        };
        let public = p["PublicPort"]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0);
        let proto = match p["Type"].as_str() {
            Some("udp") => Proto::Udp,
            Some("sctp") => Proto::Sctp,
            _ => Proto::Tcp,
        };
        let url = match (public, proto) {
            (Some(port), Proto::Tcp) => Some(routes::port_url(session, node, port)),
            _ => None,
        };
        let link = PortLink {
            private,
            public,
            proto,
            url,
        };
        if !ports.contains(&link) {
            ports.push(link);
        }
    }
    ports.sort_by_key(|p| (p.public, p.private));
    ContainerRow {
        id: short(&c.id),
        name: c
            .names
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: c.image.clone(),
        state: c.state.clone(),
        status: c.status.clone(),
        ports,
    }
}

pub fn image_row(i: &ImageSummary) -> ImageRow {
    ImageRow {
        id: short(&i.id),
        tags: i
            .repo_tags
            .iter()
            .filter(|t| t.as_str() != "<none>:<none>")
            .cloned()
            .collect(),
        size: i.size.max(0) as u64,
        created: i.created.max(0) as u64,
    }
}

pub fn network_row(n: &Value) -> NetworkRow {
    NetworkRow {
        id: short(n["Id"].as_str().unwrap_or_default()),
        name: n["Name"].as_str().unwrap_or_default().to_string(),
        driver: n["Driver"].as_str().unwrap_or_default().to_string(),
        subnet: n["IPAM"]["Config"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Subnet"].as_str())
            .find(|s| !s.contains(':'))
            .map(String::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn published_tcp_ports_link_through_the_proxy_once() {
        let c = ContainerSummary {
            id: "0123456789abcdef".into(),
            names: vec!["/web".into()],
            image: "busybox".into(),
            state: "running".into(),
            status: "Up 2 seconds".into(),
            ports: vec![
                json!({"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
                json!({"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
                json!({"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"}),
                json!({"PrivatePort": 443, "Type": "tcp"}),
            ],
            ..Default::default()
        };
        let row = container_row(&c, "s1", "node1");
        assert_eq!(row.id, "0123456789ab");
        assert_eq!(row.name, "web");
        let labels: Vec<String> = row.ports.iter().map(|p| p.label()).collect();
        assert_eq!(labels, ["443/tcp", "5353->53/udp", "8080->80/tcp"]);
        assert_eq!(row.ports[2].url.as_deref(), Some("/s/s1/node1/8080/"));
        assert_eq!(row.ports[1].url, None);
        assert_eq!(row.ports[0].url, None);
    }

    #[test]
    fn images_drop_the_none_tag_and_networks_keep_their_v4_subnet() {
        let i = ImageSummary {
            id: "sha256:fedcba9876543210".into(),
            repo_tags: vec!["<none>:<none>".into()],
            size: 5,
            created: 7,
            ..Default::default()
        };
        let row = image_row(&i);
        assert_eq!((row.id.as_str(), row.tags.len()), ("fedcba987654", 0));
        let n = json!({"Id": "abcdef0123456789", "Name": "bridge", "Driver": "bridge",
            "IPAM": {"Config": [{"Subnet": "fd00::/64"}, {"Subnet": "172.17.0.0/16"}]}});
        let row = network_row(&n);
        assert_eq!(row.subnet.as_deref(), Some("172.17.0.0/16"));
        assert_eq!(row.id, "abcdef012345");
    }
}
