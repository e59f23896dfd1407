//! Which subnets a host already routes, so that its default bridge does not take
//! one of them (Docker picks the first of 172.17-31.0.0/16 that no route overlaps).
//!
//! The routes are those of the host's network namespace: `/proc/net` follows the
//! *process* (its main thread), so a thread that entered another namespace reads
//! `/proc/thread-self/net/route` instead.

use std::io;
use std::path::Path;

use super::ipam::Ipv4Net;
use super::netns::NsHandle;

/// IPv4 routes of `/proc/net/route` text as (network, prefix length), without the
/// default route and those through `own_bridge`.
pub fn parse_routes(text: &str, own_bridge: &str) -> Vec<Ipv4Net> {
    routes_except(text, &[own_bridge])
}

/// IPv4 routes of `/proc/net/route` text, without the default route and those
/// through any of the links `skip`.
pub fn routes_except(text: &str, skip: &[&str]) -> Vec<Ipv4Net> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 || skip.contains(&f[0]) {
                return None;
            }
            // Little-endian hex, as the kernel prints them.
            let dest = u32::from_be(u32::from_str_radix(f[1], 16).ok()?);
            let mask = u32::from_be(u32::from_str_radix(f[7], 16).ok()?);
            if mask == 0 {
                return None;
            }
            let len = u8::try_from(mask.count_ones()).ok()?;
            Ipv4Net::new(dest.into(), len)
        })
        .collect()
}

/// The first of Docker's default-bridge candidates (172.17.0.0/16 ... 172.31.0.0/16)
/// that none of `routes` overlaps.
pub fn first_free_default(routes: &[Ipv4Net]) -> Option<Ipv4Net> {
    (17..=31u8)
        .filter_map(|b| Ipv4Net::new(std::net::Ipv4Addr::new(172, b, 0, 0), 16))
        .find(|n| !routes.iter().any(|r| r.overlaps(n)))
}

/// The routing table text of `ns`.
pub async fn read_routes(ns: &NsHandle) -> io::Result<String> {
    ns.run(|| std::fs::read_to_string("/proc/thread-self/net/route"))
        .await
}

/// The default bridge subnet for a host whose namespace is `netns` (None: the
/// daemon's): the first of Docker's candidates that its routes leave free.
pub async fn free_default_subnet(
    netns: Option<&Path>,
    own_bridge: &str,
) -> io::Result<Option<Ipv4Net>> {
    let ns = NsHandle::from_config(netns)?;
    let text = read_routes(&ns).await?;
    Ok(first_free_default(&parse_routes(&text, own_bridge)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTES: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
br-x\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
";

    #[test]
    fn routed_subnets_are_skipped_but_not_our_own_bridge() {
        let r = parse_routes(ROUTES, "none");
        assert_eq!(r.len(), 2, "the default route is not a subnet");
        assert_eq!(first_free_default(&r).unwrap().to_string(), "172.19.0.0/16");
        let r = parse_routes(ROUTES, "docker0");
        assert_eq!(first_free_default(&r).unwrap().to_string(), "172.17.0.0/16");
        assert_eq!(
            first_free_default(&["172.16.0.0/12".parse().unwrap()]),
            None
        );
    }
}
