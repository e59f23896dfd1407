//! `network create|ls|inspect|rm|prune|connect|disconnect` (docker/cli 28
//! `cli/command/network/*.go`).

use super::{collect_errors, CmdResult};
use crate::client::{json_body, path_escape, Client, Query};
use crate::format::table::render;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub aux_address: Vec<String>,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt")]
    pub driver_opt: Vec<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

fn kv_map(items: &[String]) -> serde_json::Map<String, Value> {
    items
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), Value::from(v))
        })
        .collect()
}

/// The body of `POST /networks/create`, as docker/cli builds it.
pub fn create_body(a: &CreateArgs) -> Result<Value, String> {
    if a.gateway.len() > a.subnet.len() || a.ip_range.len() > a.subnet.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    // docker/cli gives each gateway, range and aux address to the subnet that
    // holds it; with one subnet per family, the family decides.
    let family = |s: &str| s.contains(':');
    let mut config: Vec<serde_json::Map<String, Value>> = Vec::new();
    for s in &a.subnet {
        if config
            .iter()
            .any(|c| c["Subnet"].as_str().is_some_and(|x| family(x) == family(s)))
        {
            return Err(format!(
                "multiple overlapping subnet configuration is not supported: {s}"
            ));
        }
        let mut c = serde_json::Map::new();
        c.insert("Subnet".into(), s.clone().into());
        config.push(c);
    }
    let slot = |config: &mut Vec<serde_json::Map<String, Value>>, what: &str, v: &str| {
        config
            .iter_mut()
            .position(|c| c["Subnet"].as_str().is_some_and(|x| family(x) == family(v)))
            .ok_or_else(|| format!("no matching subnet for {what} {v}"))
    };
    for g in &a.gateway {
        let i = slot(&mut config, "gateway", g)?;
        config[i].insert("Gateway".into(), g.clone().into());
    }
    for r in &a.ip_range {
        let i = slot(&mut config, "range", r)?;
        config[i].insert("IPRange".into(), r.clone().into());
    }
    for aux in &a.aux_address {
        let (k, v) = aux
            .split_once('=')
            .ok_or_else(|| format!("invalid aux-address {aux}: expected name=address"))?;
        let i = slot(&mut config, "aux-address", v)?;
        let entry = config[i]
            .entry("AuxiliaryAddresses")
            .or_insert_with(|| json!({}));
        entry[k] = v.into();
    }
    Ok(json!({
        "Name": a.name,
        "Driver": a.driver,
        "Options": kv_map(&a.opt),
        "IPAM": {"Driver": "default", "Config": config, "Options": {}},
        "Internal": a.internal,
        "Attachable": a.attachable,
        "EnableIPv6": a.ipv6,
        "Labels": kv_map(&a.label),
    }))
}

pub async fn run(client: &Client, cmd: &NetworkCmd) -> CmdResult {
    match cmd {
        NetworkCmd::Create(a) => {
            let body = create_body(a)?;
            let resp = client
                .post_json("/networks/create", &Query::new(), &body)
                .await?;
            let v: Value = json_body(resp).await?;
            println!("{}", v["Id"].as_str().unwrap_or_default());
            Ok(0)
        }
        NetworkCmd::Ls(a) => {
            let filters = super::filters_json(&a.filter)?;
            let q = match filters {
                Some(f) => Query::new().set("filters", f),
                None => Query::new(),
            };
            let list: Vec<Value> = client.get_json("/networks", &q).await?;
            let mut list = list;
            list.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
            if a.quiet {
                for n in &list {
                    let id = n["Id"].as_str().unwrap_or_default();
                    println!(
                        "{}",
                        if a.no_trunc {
                            id
                        } else {
                            &id[..12.min(id.len())]
                        }
                    );
                }
                return Ok(0);
            }
            let rows: Vec<_> = list
                .iter()
                .map(|n| {
                    let id = n["Id"].as_str().unwrap_or_default();
                    let mut r = crate::format::table::Row::new();
                    r.insert(
                        "ID".into(),
                        if a.no_trunc {
                            id.to_string()
                        } else {
                            id[..12.min(id.len())].to_string()
                        },
                    );
                    r.insert("Name".into(), n["Name"].as_str().unwrap_or_default().into());
                    r.insert(
                        "Driver".into(),
                        n["Driver"].as_str().unwrap_or_default().into(),
                    );
                    r.insert(
                        "Scope".into(),
                        n["Scope"].as_str().unwrap_or_default().into(),
                    );
                    r.insert(
                        "Internal".into(),
                        n["Internal"].as_bool().unwrap_or(false).to_string(),
                    );
                    r.insert(
                        "IPv6".into(),
                        n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                    );
                    r
                })
                .collect();
            let format = a
                .format
                .clone()
                .unwrap_or_else(|| "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".into());
            let headers = [
                ("ID", "NETWORK ID"),
                ("Name", "NAME"),
                ("Driver", "DRIVER"),
                ("Scope", "SCOPE"),
                ("Internal", "INTERNAL"),
                ("IPv6", "IPV6"),
            ];
            print!("{}", render(&format, &rows, &headers)?);
            Ok(0)
        }
        NetworkCmd::Inspect(a) => {
            super::system::inspect::inspect_each(
                client,
                "/networks",
                &a.networks,
                a.format.as_deref(),
            )
            .await
        }
        NetworkCmd::Rm(a) => {
            let mut errs = Vec::new();
            for n in &a.networks {
                match client
                    .delete(&format!("/networks/{}", path_escape(n)), &Query::new())
                    .await
                {
                    Ok(_) => println!("{n}"),
                    Err(e) if a.force && e.is_not_found() => {}
                    Err(e) => errs.push(e.to_string()),
                }
            }
            collect_errors(errs)
        }
        NetworkCmd::Prune(a) => {
            if !a.force && !super::confirm("WARNING! This will remove all custom networks not used by at least one container.") {
                return Ok(0);
            }
            let f = super::filters_json(&a.filter)?;
            let q = Query::new().set_if(f.is_some(), "filters", f.unwrap_or_default());
            let resp = client.post("/networks/prune", &q).await?;
            let v: Value = json_body(resp).await?;
            let deleted: Vec<&str> = v["NetworksDeleted"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str())
                .collect();
            if !deleted.is_empty() {
                println!("Deleted Networks:");
                for d in deleted {
                    println!("{d}");
                }
            }
            Ok(0)
        }
        NetworkCmd::Connect(a) => {
            let mut ep = serde_json::Map::new();
            if !a.alias.is_empty() {
                ep.insert("Aliases".into(), json!(a.alias));
            }
            let mut ipam = serde_json::Map::new();
            if let Some(ip) = &a.ip {
                ipam.insert("IPv4Address".into(), json!(ip));
            }
            if let Some(ip) = &a.ip6 {
                ipam.insert("IPv6Address".into(), json!(ip));
            }
            if !a.link_local_ip.is_empty() {
                ipam.insert("LinkLocalIPs".into(), json!(a.link_local_ip));
            }
            if !ipam.is_empty() {
                ep.insert("IPAMConfig".into(), Value::Object(ipam));
            }
            if !a.link.is_empty() {
                ep.insert("Links".into(), json!(a.link));
            }
            if !a.driver_opt.is_empty() {
                ep.insert("DriverOpts".into(), Value::Object(kv_map(&a.driver_opt)));
            }
            let body = json!({"Container": a.container, "EndpointConfig": ep});
            client
                .post_json(
                    &format!("/networks/{}/connect", path_escape(&a.network)),
                    &Query::new(),
                    &body,
                )
                .await?;
            Ok(0)
        }
        NetworkCmd::Disconnect(a) => {
            let body = json!({"Container": a.container, "Force": a.force});
            client
                .post_json(
                    &format!("/networks/{}/disconnect", path_escape(&a.network)),
                    &Query::new(),
                    &body,
                )
                .await?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_carries_ipam_config() {
        let a = CreateArgs {
            driver: "bridge".into(),
            subnet: vec!["10.9.0.0/24".into()],
            gateway: vec!["10.9.0.1".into()],
            ip_range: vec![],
            aux_address: vec![],
            ipv6: false,
            internal: true,
            attachable: false,
            label: vec!["a=b".into()],
            opt: vec![],
            name: "learning".into(),
        };
        let b = create_body(&a).unwrap();
        assert_eq!(b["IPAM"]["Config"][0]["Gateway"], "10.9.0.1");
        assert_eq!(b["Internal"], true);
        assert_eq!(b["Labels"]["a"], "b");
    }

    #[test]
    fn gateways_ranges_and_aux_addresses_go_to_the_subnet_of_their_family() {
        let a = CreateArgs {
            driver: "bridge".into(),
            subnet: vec!["2001:db8::/64".into(), "10.9.0.0/24".into()],
            gateway: vec!["10.9.0.254".into(), "2001:db8::ffff".into()],
            ip_range: vec!["10.9.0.128/25".into()],
            aux_address: vec!["a=10.9.0.5".into(), "b=2001:db8::5".into()],
            ipv6: true,
            internal: false,
            attachable: false,
            label: vec![],
            opt: vec![],
            name: "dual".into(),
        };
        let b = create_body(&a).unwrap();
        let c = &b["IPAM"]["Config"];
        assert_eq!(c[0]["Subnet"], "2001:db8::/64");
        assert_eq!(c[0]["Gateway"], "2001:db8::ffff");
        assert_eq!(c[0]["AuxiliaryAddresses"]["b"], "2001:db8::5");
        assert_eq!(c[1]["Gateway"], "10.9.0.254");
        assert_eq!(c[1]["IPRange"], "10.9.0.128/25");
        assert_eq!(c[1]["AuxiliaryAddresses"]["a"], "10.9.0.5");
        assert_eq!(b["EnableIPv6"], true);
        let bad = CreateArgs {
            aux_address: vec!["x=2001:db9::1".into()],
            subnet: vec!["10.9.0.0/24".into()],
            gateway: vec![],
            ip_range: vec![],
            ..a
        };
        assert_eq!(
            create_body(&bad).unwrap_err(),
            "no matching subnet for aux-address 2001:db9::1"
        );
    }
}
