//! `dockhand daemon`: its flags (dockerd's names where it has them), the engine's
//! and server's options built from them (networks, virtual hosts' defaults and
//! playground network, registries) and the daemon's log. `dockhand serve`
//! (serve.rs) takes the same flags and runs the same daemon.

use crate::client;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Root directory of persistent Dockhand state
    #[arg(
        long = "data-root",
        value_name = "string",
        default_value = "/var/lib/dockhand"
    )]
    pub data_root: PathBuf,
    /// Daemon socket to listen on
    #[arg(short = 'H', long = "host", value_name = "list", default_value = client::DEFAULT_HOST)]
    pub host: String,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Name of the default bridge (created if missing)
    #[arg(
        short = 'b',
        long = "bridge",
        value_name = "string",
        default_value = "dockhand0"
    )]
    pub bridge: String,
    /// The default bridge's IP with its prefix (e.g. 172.17.0.1/16)
    #[arg(long = "bip", value_name = "string")]
    pub bip: Option<String>,
    /// Default address pools for user networks (base=10.10.0.0/16,size=24)
    #[arg(long = "default-address-pool", value_name = "pool-options")]
    pub default_address_pool: Vec<String>,
    /// Prefix of the daemon's firewall chains
    #[arg(
        long = "iptables-chain-prefix",
        value_name = "string",
        default_value = "DOCKHAND"
    )]
    pub chain_prefix: String,
    /// Prefix of the kernel names of user networks' bridges
    #[arg(
        long = "network-bridge-prefix",
        value_name = "string",
        default_value = "dh-"
    )]
    pub user_bridge_prefix: String,
    /// Run containers without networking of their own (loopback only)
    #[arg(long = "no-networking")]
    pub no_networking: bool,
    /// Bridge of the playground network that virtual hosts' eth0 live on
    #[arg(
        long = "playground-bridge",
        value_name = "string",
        default_value = "dhpg0"
    )]
    pub playground_bridge: String,
    /// Subnet of the playground network
    #[arg(
        long = "playground-subnet",
        value_name = "string",
        default_value = "10.199.0.0/16"
    )]
    pub playground_subnet: String,
    /// Prefix of the playground's firewall chains
    #[arg(
        long = "playground-chain-prefix",
        value_name = "string",
        default_value = "DOCKHAND-PG"
    )]
    pub playground_chain_prefix: String,
    /// Prefix of session networks' bridges
    #[arg(
        long = "session-bridge-prefix",
        value_name = "string",
        default_value = "dhs-"
    )]
    pub session_bridge_prefix: String,
    /// A registry (IP:PORT) virtual hosts may reach under the "registries" egress policy
    #[arg(long = "egress-registry", value_name = "list")]
    pub egress_registry: Vec<String>,
    /// Default egress policy of virtual hosts: none, registries or all
    #[arg(
        long = "vhost-egress",
        value_name = "string",
        default_value = "registries"
    )]
    pub vhost_egress: String,
    /// Default memory cap of a virtual host
    #[arg(long = "vhost-memory", value_name = "bytes", default_value = "1g")]
    pub vhost_memory: String,
    /// Default CPU cap of a virtual host
    #[arg(long = "vhost-cpus", value_name = "decimal", default_value = "1")]
    pub vhost_cpus: String,
    /// Default process cap of a virtual host
    #[arg(long = "vhost-pids-limit", value_name = "int", default_value_t = 1024)]
    pub vhost_pids_limit: i64,
    /// Default disk of a virtual host
    #[arg(long = "vhost-disk", value_name = "bytes", default_value = "2g")]
    pub vhost_disk: String,
    /// Default time to live of a virtual host (0: forever)
    #[arg(long = "vhost-ttl", value_name = "duration", default_value = "4h")]
    pub vhost_ttl: String,
    /// Default idle timeout of a virtual host (0: none)
    #[arg(
        long = "vhost-idle-timeout",
        value_name = "duration",
        default_value = "1h"
    )]
    pub vhost_idle_timeout: String,
    /// Preferred Docker Hub mirror (URL); tried before Docker Hub itself
    #[arg(long = "registry-mirror", value_name = "list")]
    pub registry_mirror: Vec<String>,
    /// A registry (host[:port] or CIDR) reached over plain HTTP or without
    /// checking its certificate; loopback registries always are
    #[arg(long = "insecure-registry", value_name = "list")]
    pub insecure_registry: Vec<String>,
    /// How long a manifest pulled by tag is served from the pull cache to the
    /// machine and every virtual host without asking the registry again (0: always ask)
    #[arg(long = "pull-cache-ttl", value_name = "duration", default_value = "5m")]
    pub pull_cache_ttl: String,
    /// A docker config.json whose credentials the machine pulls with when a
    /// client sends none (a paid Docker Hub account for the whole class)
    #[arg(long = "registry-auth", value_name = "FILE")]
    pub registry_auth: Option<PathBuf>,
    /// Daemon configuration file, as dockerd's daemon.json (default
    /// "/etc/dockhand/daemon.json", when it exists)
    #[arg(long = "config-file", value_name = "string")]
    pub config_file: Option<PathBuf>,
    /// Load the images of a Docker/OCI archive, an OCI layout directory or a
    /// directory of them into the machine's store at start, shared with every
    /// virtual host (repeatable; a path that fails stops the start)
    #[arg(long = "preload", value_name = "DIR")]
    pub preload: Vec<PathBuf>,
}

/// `--preload` paths, made absolute (relative to the working directory), each
/// an archive, an image layout or a directory of them: a path that is none of
/// them stops the start before anything is made.
pub fn preload_paths(d: &DaemonArgs) -> Result<Vec<PathBuf>, String> {
    let paths = d
        .preload
        .iter()
        .map(|p| {
            std::path::absolute(p).map_err(|e| format!("invalid --preload {}: {e}", p.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    engine::image::preload::sources(&paths).map_err(|e| format!("--preload: {e}"))?;
    Ok(paths)
}

/// `--registry-mirror` and `--insecure-registry` (or the config file's
/// `registry-mirrors` and `insecure-registries`), checked.
pub fn registry_options(d: &DaemonArgs) -> Result<engine::registry::RegistryOptions, String> {
    let (path, explicit) = match &d.config_file {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from(crate::daemon_file::DEFAULT_PATH), false),
    };
    let file = crate::daemon_file::load(&path, explicit)?;
    let mut mirrors = d.registry_mirror.clone();
    crate::daemon_file::merge(
        &path,
        "registry-mirrors",
        &mut mirrors,
        file.registry_mirrors.as_ref(),
    )?;
    let mut insecure_flags = d.insecure_registry.clone();
    crate::daemon_file::merge(
        &path,
        "insecure-registries",
        &mut insecure_flags,
        file.insecure_registries.as_ref(),
    )?;
    for k in &file.ignored {
        tracing::warn!(
            "{}: ignoring \"{k}\", a dockerd setting Dockhand has no use for",
            path.display()
        );
    }
    let mut insecure = Vec::new();
    for i in &insecure_flags {
        insecure.push(
            i.parse()
                .map_err(|e| format!("invalid --insecure-registry: {e}"))?,
        );
    }
    for m in &mirrors {
        if !(m.starts_with("http://") || m.starts_with("https://")) {
            return Err(format!(
                "invalid mirror: unsupported scheme \"{}\" in \"{m}\"",
                m.split("://").next().unwrap_or("")
            ));
        }
    }
    let ttl = shared::units::parse_duration(&d.pull_cache_ttl)
        .map_err(|e| format!("invalid --pull-cache-ttl: {e}"))?
        .to_std()
        .ok_or("invalid --pull-cache-ttl: a duration must not be negative")?;
    let mut opts = engine::registry::RegistryOptions {
        mirrors,
        insecure,
        cache: std::sync::Arc::new(engine::registry::cache::PullCache::new(ttl)),
        machine_auth: Default::default(),
        resolve_on: None,
    };
    if let Some(f) = &d.registry_auth {
        opts.load_machine_auth(f)
            .map_err(|e| format!("invalid --registry-auth: {e}"))?;
    }
    Ok(opts)
}

/// Virtual hosts' defaults and playground network from the daemon's flags.
pub fn vhost_config(
    d: &DaemonArgs,
) -> Result<
    (
        engine::vhost::Defaults,
        Option<engine::network::PlaygroundNetworkConfig>,
    ),
    String,
> {
    use crate::commands::host::parse_lifetime;
    use crate::opts::{parse_cpus, ram_in_bytes};
    let egress: engine::network::Egress = d.vhost_egress.parse()?;
    let defaults = engine::vhost::Defaults {
        limits: shared::vhost::VhostLimits {
            memory: Some(ram_in_bytes(&d.vhost_memory)?),
            nano_cpus: Some(parse_cpus(&d.vhost_cpus)?),
            pids_limit: Some(d.vhost_pids_limit),
            disk: Some(ram_in_bytes(&d.vhost_disk)?),
        },
        ttl: parse_lifetime(&d.vhost_ttl)?,
        idle_timeout: parse_lifetime(&d.vhost_idle_timeout)?,
        egress: egress.to_string(),
    };
    if d.no_networking {
        return Ok((defaults, None));
    }
    let mut registries = vec![];
    for r in &d.egress_registry {
        registries.push(
            r.parse()
                .map_err(|_| format!("invalid --egress-registry {r}: want IP:PORT"))?,
        );
    }
    let pg = engine::network::PlaygroundNetworkConfig {
        bridge: d.playground_bridge.clone(),
        subnet: d
            .playground_subnet
            .parse()
            .map_err(|e| format!("invalid --playground-subnet: {e}"))?,
        chain_prefix: d.playground_chain_prefix.clone(),
        session_bridge_prefix: d.session_bridge_prefix.clone(),
        registries,
        default_egress: egress,
        ..Default::default()
    };
    Ok((defaults, Some(pg)))
}

/// The network configuration from the daemon's flags (dockerd's names where it has them).
pub fn net_config(d: &DaemonArgs) -> Result<Option<engine::network::NetConfig>, String> {
    use engine::network::{Ipv4Net, NetConfig, PoolSpec};
    if d.no_networking {
        return Ok(None);
    }
    let mut cfg = NetConfig {
        bridge_name: d.bridge.clone(),
        chain_prefix: d.chain_prefix.clone(),
        user_bridge_prefix: d.user_bridge_prefix.clone(),
        ..NetConfig::default()
    };
    if d.bip.is_none() {
        // Like Docker, do not take a subnet the host already routes (a docker0 on
        // 172.17.0.0/16, a VPN): the first free one of 172.17-31.0.0/16.
        let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
        if let Some(net) = free_default_subnet(&routes, &d.bridge) {
            cfg.default_subnet = net;
        }
    }
    if let Some(bip) = &d.bip {
        let (addr, len) = bip
            .split_once('/')
            .ok_or_else(|| format!("invalid --bip: {bip}"))?;
        let gw: std::net::Ipv4Addr = addr.parse().map_err(|_| format!("invalid --bip: {bip}"))?;
        let net: Ipv4Net = format!("{gw}/{len}")
            .parse()
            .map_err(|e| format!("invalid --bip: {e}"))?;
        cfg.default_subnet = net;
        cfg.default_gateway = Some(gw);
    }
    if !d.default_address_pool.is_empty() {
        cfg.pools = d
            .default_address_pool
            .iter()
            .map(|p| {
                let mut base = None;
                let mut size = None;
                for kv in p.split(',') {
                    match kv.split_once('=') {
                        Some(("base", v)) => base = v.parse::<Ipv4Net>().ok(),
                        Some(("size", v)) => size = v.parse::<u8>().ok(),
                        _ => {}
                    }
                }
                match (base, size) {
                    (Some(base), Some(size)) => Ok(PoolSpec { base, size }),
                    _ => Err(format!("invalid --default-address-pool: {p}")),
                }
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(Some(cfg))
}

/// The first of Docker's default-bridge candidates that no route of the host
/// (`/proc/net/route` text) overlaps, routes through `own_bridge` aside.
fn free_default_subnet(routes: &str, own_bridge: &str) -> Option<engine::network::Ipv4Net> {
    use engine::network::routes::{first_free_default, parse_routes};
    first_free_default(&parse_routes(routes, own_bridge))
}

/// The daemon's log on stderr: `RUST_LOG`, or info (debug with `--debug`).
pub fn init_logging(debug: bool) {
    let level = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level))
        // The netlink crate warns about every attribute a newer kernel adds.
        .add_directive(
            "netlink_packet_route=error"
                .parse()
                .expect("static directive"),
        );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours on a terminal only, not in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

pub fn run_daemon(d: DaemonArgs, debug: bool) -> i32 {
    init_logging(d.debug || debug);
    let socket = match d.host.strip_prefix("unix://") {
        Some(p) => PathBuf::from(p),
        None => {
            eprintln!("dockhand: only unix:// hosts are supported: {}", d.host);
            return 1;
        }
    };
    let net = match net_config(&d) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("dockhand: {e}");
            return 1;
        }
    };
    let (vhost_defaults, playground) = match vhost_config(&d) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("dockhand: {e}");
            return 1;
        }
    };
    let registry = match registry_options(&d) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dockhand daemon: {e}");
            return 1;
        }
    };
    let preload = match preload_paths(&d) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("dockhand daemon: {e}");
            return 1;
        }
    };
    match server::run_daemon(server::DaemonOptions {
        data_root: d.data_root,
        socket,
        net,
        vhost_defaults,
        playground,
        registry,
        preload,
    }) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dockhand daemon: {e}");
            1
        }
    }
}

#[cfg(test)]
mod bridge_subnet_tests {
    use super::*;

    const ROUTES: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
dockhand0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

    #[test]
    fn the_default_bridge_avoids_routed_subnets_but_not_its_own() {
        // docker0 holds 172.17/16; our own dockhand0 route does not count.
        let net = free_default_subnet(ROUTES, "dockhand0").unwrap();
        assert_eq!(net.to_string(), "172.18.0.0/16");
        // Seen from another bridge name, 172.18/16 is taken too.
        assert_eq!(
            free_default_subnet(ROUTES, "other").unwrap().to_string(),
            "172.19.0.0/16"
        );
        let none = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n";
        assert_eq!(
            free_default_subnet(none, "dockhand0").unwrap().to_string(),
            "172.17.0.0/16"
        );
    }
}
