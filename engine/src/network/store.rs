//! The network records of one daemon: networks, endpoints (an endpoint is an
//! address lease plus its veth) and published ports, kept in one JSON file written
//! atomically after every change, so a killed daemon loses nothing it reported.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ipam::{Ipv4Net, Ipv6Net};
use crate::error::IoError;

/// Docker's driver names for the three kinds of networks we have.
pub const DRIVER_BRIDGE: &str = "bridge";
pub const DRIVER_HOST: &str = "host";
pub const DRIVER_NULL: &str = "null";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// "bridge", "host" or "null".
    pub driver: String,
    /// Created (RFC 3339).
    pub created: String,
    /// The kernel bridge; empty for host and none.
    #[serde(default)]
    pub bridge: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    /// No route out: no masquerade and no forwarding beyond the bridge.
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The default bridge, host and none: never removed.
    #[serde(default)]
    pub predefined: bool,
    /// We added the gateway address to a bridge we did not create (one adopted
    /// through `com.docker.network.bridge.name` or `--bridge`): removing the
    /// network removes that address and leaves the bridge.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gateway_added: bool,
    /// `IPRange`: where automatic addresses come from, inside `subnet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
    /// `AuxiliaryAddresses` of the IPv4 pool: reserved, never leased.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, IpAddr>,
    /// `EnableIPv6`: containers also get an address of `subnet6`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Ipv6Net>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range6: Option<Ipv6Net>,
    /// `AuxiliaryAddresses` of the IPv6 pool.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses6: BTreeMap<String, IpAddr>,
    /// Whether the user gave the IPAM configuration (inspect then shows
    /// `IPAM.Options` as null, as moby does for a configured pool).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipam_given: bool,
}

impl NetworkRecord {
    pub fn is_bridge(&self) -> bool {
        self.driver == DRIVER_BRIDGE
    }

    /// User-defined bridge networks get the embedded DNS; the default bridge does not.
    pub fn has_dns(&self) -> bool {
        self.is_bridge() && !self.predefined
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointRecord {
    pub network_id: String,
    pub container_id: String,
    pub container_name: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    /// The host end of the veth pair (on the bridge).
    pub host_veth: String,
    /// The name inside the container (eth0, eth1, ...).
    pub ifname: String,
    /// The pid whose network namespace the endpoint lives in.
    pub pid: u32,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Whether the container asked for this address (`--ip`): IPAMConfig in inspect.
    #[serde(default)]
    pub fixed_ip: bool,
    /// The first network of the container: it carries the default route.
    #[serde(default)]
    pub primary: bool,
    /// The IPv6 address on a network with IPv6 enabled, and its prefix length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    #[serde(default)]
    pub prefix6: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// Whether the container asked for `ip6` (`--ip6`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed_ip6: bool,
    /// `IPAMConfig.LinkLocalIPs`: extra addresses on the interface.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<IpAddr>,
    /// Links of a user network (`name:alias`): `alias` resolves to the
    /// container `name` on this network, for this container only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// `DriverOpts` of the endpoint, kept and shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    /// Whether the MAC address was asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed_mac: bool,
}

impl EndpointRecord {
    /// The container this link alias names on this network, if any.
    pub fn link_target(&self, alias: &str) -> Option<&str> {
        self.links.iter().find_map(|l| {
            let (name, a) = l.split_once(':').unwrap_or((l, l));
            a.eq_ignore_ascii_case(alias).then_some(name)
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortRecord {
    pub container_id: String,
    /// "" or "0.0.0.0" for every address.
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub proto: String,
    /// The bridge the container address sits on.
    pub bridge: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    #[serde(default)]
    pub networks: Vec<NetworkRecord>,
    #[serde(default)]
    pub endpoints: Vec<EndpointRecord>,
    #[serde(default)]
    pub ports: Vec<PortRecord>,
}

impl State {
    pub fn network(&self, id: &str) -> Option<&NetworkRecord> {
        self.networks.iter().find(|n| n.id == id)
    }

    /// Docker's lookup order: exact name, then full id, then unique id prefix.
    pub fn find_network(&self, key: &str) -> Option<&NetworkRecord> {
        if key.is_empty() {
            return None;
        }
        if let Some(n) = self.networks.iter().find(|n| n.name == key) {
            return Some(n);
        }
        if let Some(n) = self.networks.iter().find(|n| n.id == key) {
            return Some(n);
        }
        let mut matches = self.networks.iter().filter(|n| n.id.starts_with(key));
        let first = matches.next()?;
        if matches.next().is_some() {
            return None;
        }
        Some(first)
    }

    pub fn endpoints_of_network<'a>(
        &'a self,
        network_id: &'a str,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints
            .iter()
            .filter(move |e| e.network_id == network_id)
    }

    pub fn endpoints_of_container<'a>(
        &'a self,
        container_id: &'a str,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints
            .iter()
            .filter(move |e| e.container_id == container_id)
    }

    pub fn ports_of_container<'a>(
        &'a self,
        container_id: &'a str,
    ) -> impl Iterator<Item = &'a PortRecord> + 'a {
        self.ports
            .iter()
            .filter(move |p| p.container_id == container_id)
    }
}

pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

pub fn load(dir: &Path) -> Result<State, IoError> {
    Ok(crate::fsutil::read_json::<State>(&state_path(dir))?.unwrap_or_default())
}

pub fn save(dir: &Path, state: &State) -> Result<(), IoError> {
    crate::fsutil::write_json_atomic(&state_path(dir), state)
}
