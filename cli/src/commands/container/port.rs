//! `port` (docker/cli 28 `container/port.go`).

use crate::client::{path_escape, Client, Query};
use crate::commands::{CmdResult, Failure};
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// `docker port CONTAINER [PRIVATE_PORT[/PROTO]]`.
pub async fn port(client: &Client, a: &PortArgs) -> CmdResult {
    let c: Value = client
        .get_json(
            &format!("/containers/{}/json", path_escape(&a.container)),
            &Query::new(),
        )
        .await?;
    let ports = c["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let lines = port_lines(&ports, a.port.as_deref());
    if let Some(p) = &a.port {
        if lines.is_empty() {
            return Err(Failure::new(
                format!(
                    "Error: No public port '{}' published for {}",
                    with_proto(p),
                    a.container
                ),
                1,
            ));
        }
    }
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}

fn with_proto(p: &str) -> String {
    if p.contains('/') {
        p.to_string()
    } else {
        format!("{p}/tcp")
    }
}

/// docker's `port` output: `80/tcp -> 0.0.0.0:32768`, or just `0.0.0.0:32768`
/// when one port was asked for.
pub fn port_lines(ports: &serde_json::Map<String, Value>, only: Option<&str>) -> Vec<String> {
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        (n.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    let mut out = vec![];
    for k in keys {
        if let Some(o) = only {
            if with_proto(o) != *k {
                continue;
            }
        }
        for b in ports[k].as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let port = b["HostPort"].as_str().unwrap_or("");
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            let addr = format!("{ip}:{port}");
            out.push(if only.is_some() {
                addr
            } else {
                format!("{k} -> {addr}")
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn port_output_matches_docker() {
        let ports = json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}], "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}], "9/tcp": null});
        let m = ports.as_object().unwrap();
        assert_eq!(
            port_lines(m, None),
            vec!["53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:32768"]
        );
        assert_eq!(port_lines(m, Some("80")), vec!["0.0.0.0:32768"]);
        assert!(port_lines(m, Some("81")).is_empty());
    }
}
