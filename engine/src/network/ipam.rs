//! IP address management, as plain functions: IPv4 subnets (CIDR), overlap checks,
//! picking a free subnet from a pool, leasing the lowest free address, and the MAC
//! Docker derives from an address (`02:42` followed by the four IPv4 bytes).

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

pub use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

/// An IPv4 subnet in CIDR form, always normalised to its network address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// A subnet from any address inside it and a prefix length (0..=32).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Net> {
        if prefix > 32 {
            return None;
        }
        let mask = mask(prefix);
        Some(Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }

    pub fn network(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first usable host address, Docker's default gateway.
    pub fn first_host(&self) -> Option<Ipv4Addr> {
        if self.prefix >= 31 {
            return None;
        }
        Some(Ipv4Addr::from(u32::from(self.addr) + 1))
    }

    /// Whether `ip` is a usable host address of this subnet (not network, not broadcast).
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.addr && ip != self.broadcast() && self.prefix < 31
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = String;

    /// Parses `a.b.c.d/n`; host bits are masked off, as Docker does.
    fn from_str(s: &str) -> Result<Self, String> {
        let invalid = || format!("invalid CIDR address: {s}");
        let (ip, prefix) = s.split_once('/').ok_or_else(invalid)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        Ipv4Net::new(ip, prefix).ok_or_else(invalid)
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Ipv4Net> for String {
    fn from(n: Ipv4Net) -> String {
        n.to_string()
    }
}

/// A range of subnets handed out to networks created without `--subnet`:
/// `base` is cut into consecutive subnets of prefix length `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSpec {
    pub base: Ipv4Net,
    pub size: u8,
}

/// Docker's default address pools: 172.17-31.0.0/16 (172.17 is the default
/// bridge's) and 192.168.0.0/16 in /20 pieces.
pub fn docker_default_pools() -> Vec<PoolSpec> {
    let mut pools = Vec::new();
    for b in 18..=31u8 {
        pools.push(PoolSpec {
            base: Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid"),
            size: 16,
        });
    }
    pools.push(PoolSpec {
        base: Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16).expect("valid"),
        size: 20,
    });
    pools
}

/// The first subnet of the pools that overlaps none of `used`.
pub fn pick_subnet(pools: &[PoolSpec], used: &[Ipv4Net]) -> Option<Ipv4Net> {
    for pool in pools {
        if pool.size < pool.base.prefix_len() || pool.size > 30 {
            continue;
        }
        let count = 1u64 << (pool.size - pool.base.prefix_len());
        let step = 1u64 << (32 - pool.size);
        for i in 0..count {
            let start = u64::from(u32::from(pool.base.network())) + i * step;
            let Ok(start) = u32::try_from(start) else {
                break;
            };
            let candidate = Ipv4Net::new(Ipv4Addr::from(start), pool.size)?;
            if !used.iter().any(|u| u.overlaps(&candidate)) {
                return Some(candidate);
            }
        }
    }
    None
}

/// The lowest host address of `subnet` that is neither the gateway nor in `used`.
pub fn lease(subnet: &Ipv4Net, gateway: Ipv4Addr, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    lease_in(subnet, None, gateway, used)
}

/// As [`lease`], taking addresses from `range` (Docker's `IPRange`, inside the
/// subnet) when there is one.
pub fn lease_in(
    subnet: &Ipv4Net,
    range: Option<&Ipv4Net>,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let pool = range.unwrap_or(subnet);
    let first = u32::from(pool.network());
    let last = u32::from(pool.broadcast());
    (first..=last)
        .map(Ipv4Addr::from)
        .find(|ip| subnet.is_host(*ip) && *ip != gateway && !used.contains(ip))
}

/// How many addresses of an IPv6 subnet a lease looks at before giving up
/// (a /64 has 2^64: the first ones are as good as any).
const V6_SCAN: u128 = 1 << 16;

/// The lowest address of `range` (or of `subnet`), after the subnet's own
/// network address, that is neither the gateway nor in `used`.
pub fn lease_v6(
    subnet: &Ipv6Net,
    range: Option<&Ipv6Net>,
    gateway: Ipv6Addr,
    used: &HashSet<Ipv6Addr>,
) -> Option<Ipv6Addr> {
    let pool = range.unwrap_or(subnet);
    let first = u128::from(pool.network());
    let last = u128::from(pool.broadcast()).min(first.saturating_add(V6_SCAN));
    (first..=last).map(Ipv6Addr::from).find(|ip| {
        subnet.contains(ip) && *ip != subnet.network() && *ip != gateway && !used.contains(ip)
    })
}

/// The first address after the network address: the default IPv6 gateway.
pub fn first_host_v6(subnet: &Ipv6Net) -> Option<Ipv6Addr> {
    (subnet.prefix_len() < 128).then(|| Ipv6Addr::from(u128::from(subnet.network()) + 1))
}

/// A unique-local /64 (fdXX:XXXX:XXXX:XXXX::/64) for `--ipv6` without a subnet,
/// its 56 bits after `fd` taken from `seed`, avoiding `used`.
pub fn pick_subnet_v6(seed: &[u8], used: &[Ipv6Net]) -> Option<Ipv6Net> {
    let mut bits = [0u8; 16];
    bits[0] = 0xfd;
    for attempt in 0u8..=255 {
        for (i, b) in bits[1..8].iter_mut().enumerate() {
            *b = seed.get(i).copied().unwrap_or(0) ^ attempt.wrapping_mul(i as u8 + 1);
        }
        let net = Ipv6Net::new(Ipv6Addr::from(bits), 64).ok()?.trunc();
        if !used.iter().any(|u| overlaps_v6(u, &net)) {
            return Some(net);
        }
    }
    None
}

pub fn overlaps_v6(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// `Ipv6Net` from text, with Docker's message for bad input.
pub fn parse_v6_net(s: &str) -> Result<Ipv6Net, String> {
    s.parse::<Ipv6Net>()
        .map(|n| n.trunc())
        .map_err(|_| format!("invalid CIDR address: {s}"))
}

/// Docker's MAC for a container address: 02:42:a:b:c:d.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn format_mac(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parses_masks_and_rejects_garbage() {
        let n: Ipv4Net = "172.17.5.3/16".parse().unwrap();
        assert_eq!(n.to_string(), "172.17.0.0/16");
        assert_eq!(n.broadcast(), Ipv4Addr::new(172, 17, 255, 255));
        assert_eq!(n.first_host(), Some(Ipv4Addr::new(172, 17, 0, 1)));
        assert!("10.0.0.0".parse::<Ipv4Net>().is_err());
        assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
        assert_eq!(
            "foo/8".parse::<Ipv4Net>().unwrap_err(),
            "invalid CIDR address: foo/8"
        );
    }

    #[test]
    fn overlap_is_symmetric() {
        let a: Ipv4Net = "10.0.0.0/8".parse().unwrap();
        let b: Ipv4Net = "10.1.2.0/24".parse().unwrap();
        let c: Ipv4Net = "11.0.0.0/8".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn pool_skips_used_subnets_in_docker_order() {
        let pools = docker_default_pools();
        let used: Vec<Ipv4Net> = vec!["172.17.0.0/16".parse().unwrap()];
        assert_eq!(
            pick_subnet(&pools, &used).unwrap().to_string(),
            "172.18.0.0/16"
        );
        let mut used: Vec<Ipv4Net> = (17..=31)
            .map(|b| format!("172.{b}.0.0/16").parse().unwrap())
            .collect();
        assert_eq!(
            pick_subnet(&pools, &used).unwrap().to_string(),
            "192.168.0.0/20"
        );
        used.push("192.168.0.0/20".parse().unwrap());
        assert_eq!(
            pick_subnet(&pools, &used).unwrap().to_string(),
            "192.168.16.0/20"
        );
    }

    #[test]
    fn lease_takes_lowest_free_address_after_gateway() {
        let n: Ipv4Net = "10.9.8.0/29".parse().unwrap();
        let gw = n.first_host().unwrap();
        let mut used = HashSet::new();
        let a = lease(&n, gw, &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 9, 8, 2));
        used.insert(a);
        for _ in 0..4 {
            let x = lease(&n, gw, &used).unwrap();
            used.insert(x);
        }
        assert_eq!(
            lease(&n, gw, &used),
            None,
            "/29 has 6 hosts, one is the gateway"
        );
    }

    #[test]
    fn lease_in_a_range_skips_gateway_and_reserved() {
        let n: Ipv4Net = "172.28.0.0/16".parse().unwrap();
        let r: Ipv4Net = "172.28.5.0/30".parse().unwrap();
        let gw = Ipv4Addr::new(172, 28, 5, 1);
        let mut used = HashSet::from([Ipv4Addr::new(172, 28, 5, 2)]);
        // .0 is a host address of the /16, .1 the gateway, .2 reserved.
        assert_eq!(
            lease_in(&n, Some(&r), gw, &used),
            Some(Ipv4Addr::new(172, 28, 5, 0))
        );
        used.insert(Ipv4Addr::new(172, 28, 5, 0));
        assert_eq!(
            lease_in(&n, Some(&r), gw, &used),
            Some(Ipv4Addr::new(172, 28, 5, 3))
        );
        used.insert(Ipv4Addr::new(172, 28, 5, 3));
        assert_eq!(
            lease_in(&n, Some(&r), gw, &used),
            None,
            "the range is used up"
        );
    }

    #[test]
    fn v6_leases_follow_the_gateway() {
        let n = parse_v6_net("2001:db8::/64").unwrap();
        let gw = first_host_v6(&n).unwrap();
        assert_eq!(gw.to_string(), "2001:db8::1");
        let mut used = HashSet::new();
        let a = lease_v6(&n, None, gw, &used).unwrap();
        assert_eq!(a.to_string(), "2001:db8::2");
        used.insert(a);
        assert_eq!(
            lease_v6(&n, None, gw, &used).unwrap().to_string(),
            "2001:db8::3"
        );
        let r = parse_v6_net("2001:db8::100/120").unwrap();
        assert_eq!(
            lease_v6(&n, Some(&r), gw, &used).unwrap().to_string(),
            "2001:db8::100"
        );
        assert_eq!(
            parse_v6_net("2001:db8::5/64").unwrap().to_string(),
            "2001:db8::/64"
        );
        assert!(parse_v6_net("10.0.0.0/8").is_err());
    }

    #[test]
    fn default_v6_subnets_are_unique_local_and_free() {
        let a = pick_subnet_v6(&[1, 2, 3, 4, 5, 6, 7], &[]).unwrap();
        assert_eq!(a.to_string(), "fd01:203:405:607::/64");
        let b = pick_subnet_v6(&[1, 2, 3, 4, 5, 6, 7], &[a]).unwrap();
        assert_ne!(a, b);
        assert!(b.to_string().starts_with("fd"));
    }

    #[test]
    fn mac_is_derived_from_ip_like_docker() {
        let mac = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02"), Some(mac));
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
    }
}
