//! The `dockhand` binary: container monitor (`__monitor`), daemon (`daemon`,
//! `serve`) and a docker-compatible client for everything else.

mod client;
mod commands;
mod escape;
#[cfg(test)]
mod fake_daemon_test;
mod format;
mod opts;
mod signals;
mod stream;

use clap::{Parser, Subcommand};
use commands::attach::AttachArgs;
use commands::container::{
    CreateArgs, KillArgs, LogsArgs, PruneArgs, PsArgs, RmArgs, RunArgs, StartArgs, StopArgs,
    WaitArgs,
};
use commands::exec::ExecArgs;
use commands::image::{HistoryArgs, ImagesArgs, ImportArgs, RmiArgs, TagArgs};
use commands::lifecycle::{ContainersArgs, RenameArgs, TopArgs};
use commands::registry as rg;
use commands::system::{InfoArgs, InspectArgs, VersionArgs};
use commands::workflow::{
    CommitArgs, DfArgs, DiffArgs, ExportArgs, ImagePruneArgs, LoadArgs, SaveArgs, SystemPruneArgs,
};
use commands::{CmdResult, Failure};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "docker",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    subcommand_required = true
)]
struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", value_name = "list")]
    host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    debug: bool,
    /// Set the logging level
    #[arg(short = 'l', long = "log-level", value_name = "string")]
    log_level: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Parse the command line as docker does. Docker's boolean flags also take an
/// explicit value (`--privileged=true`, `--rm=false`, `-d=false`): every
/// on/off flag of every command gets that, while `-ti` and `--rm` alone work as
/// before.
fn parse_cli<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = explicit_bools(Cli::command());
    let m = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&m).map_err(|e| e.format(&mut cmd))
}

fn explicit_bools(cmd: clap::Command) -> clap::Command {
    use clap::builder::BoolishValueParser;
    use clap::ArgAction;
    cmd.mut_args(|a| {
        if !matches!(a.get_action(), ArgAction::SetTrue) {
            return a;
        }
        let id = a.get_id().clone();
        a.action(ArgAction::Set)
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .default_value("false")
            .hide_default_value(true)
            .value_parser(BoolishValueParser::new())
            .overrides_with(id)
    })
    .mut_subcommands(explicit_bools)
}

#[derive(clap::Args, Debug)]
struct DaemonArgs {
    /// Root directory of persistent Dockhand state
    #[arg(
        long = "data-root",
        value_name = "string",
        default_value = "/var/lib/dockhand"
    )]
    data_root: PathBuf,
    /// Daemon socket to listen on
    #[arg(short = 'H', long = "host", value_name = "list", default_value = client::DEFAULT_HOST)]
    host: String,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    debug: bool,
    /// Name of the default bridge (created if missing)
    #[arg(
        short = 'b',
        long = "bridge",
        value_name = "string",
        default_value = "dockhand0"
    )]
    bridge: String,
    /// The default bridge's IP with its prefix (e.g. 172.17.0.1/16)
    #[arg(long = "bip", value_name = "string")]
    bip: Option<String>,
    /// Default address pools for user networks (base=10.10.0.0/16,size=24)
    #[arg(long = "default-address-pool", value_name = "pool-options")]
    default_address_pool: Vec<String>,
    /// Prefix of the daemon's firewall chains
    #[arg(
        long = "iptables-chain-prefix",
        value_name = "string",
        default_value = "DOCKHAND"
    )]
    chain_prefix: String,
    /// Prefix of the kernel names of user networks' bridges
    #[arg(
        long = "network-bridge-prefix",
        value_name = "string",
        default_value = "dh-"
    )]
    user_bridge_prefix: String,
    /// Run containers without networking of their own (loopback only)
    #[arg(long = "no-networking")]
    no_networking: bool,
    /// Bridge of the playground network that virtual hosts' eth0 live on
    #[arg(
        long = "playground-bridge",
        value_name = "string",
        default_value = "dhpg0"
    )]
    playground_bridge: String,
    /// Subnet of the playground network
    #[arg(
        long = "playground-subnet",
        value_name = "string",
        default_value = "10.199.0.0/16"
    )]
    playground_subnet: String,
    /// Prefix of the playground's firewall chains
    #[arg(
        long = "playground-chain-prefix",
        value_name = "string",
        default_value = "DOCKHAND-PG"
    )]
    playground_chain_prefix: String,
    /// Prefix of session networks' bridges
    #[arg(
        long = "session-bridge-prefix",
        value_name = "string",
        default_value = "dhs-"
    )]
    session_bridge_prefix: String,
    /// A registry (IP:PORT) virtual hosts may reach under the "registries" egress policy
    #[arg(long = "egress-registry", value_name = "list")]
    egress_registry: Vec<String>,
    /// Default egress policy of virtual hosts: none, registries or all
    #[arg(
        long = "vhost-egress",
        value_name = "string",
        default_value = "registries"
    )]
    vhost_egress: String,
    /// Default memory cap of a virtual host
    #[arg(long = "vhost-memory", value_name = "bytes", default_value = "1g")]
    vhost_memory: String,
    /// Default CPU cap of a virtual host
    #[arg(long = "vhost-cpus", value_name = "decimal", default_value = "1")]
    vhost_cpus: String,
    /// Default process cap of a virtual host
    #[arg(long = "vhost-pids-limit", value_name = "int", default_value_t = 1024)]
    vhost_pids_limit: i64,
    /// Default disk of a virtual host
    #[arg(long = "vhost-disk", value_name = "bytes", default_value = "2g")]
    vhost_disk: String,
    /// Default time to live of a virtual host (0: forever)
    #[arg(long = "vhost-ttl", value_name = "duration", default_value = "4h")]
    vhost_ttl: String,
    /// Default idle timeout of a virtual host (0: none)
    #[arg(
        long = "vhost-idle-timeout",
        value_name = "duration",
        default_value = "1h"
    )]
    vhost_idle_timeout: String,
    /// Preferred Docker Hub mirror (URL); tried before Docker Hub itself
    #[arg(long = "registry-mirror", value_name = "list")]
    registry_mirror: Vec<String>,
    /// A registry (host[:port] or CIDR) reached over plain HTTP or without
    /// checking its certificate; loopback registries always are
    #[arg(long = "insecure-registry", value_name = "list")]
    insecure_registry: Vec<String>,
    /// How long a manifest pulled by tag is served from the daemon's cache
    /// to every host without asking the registry again (0: always ask)
    #[arg(long = "pull-cache-ttl", value_name = "duration", default_value = "5m")]
    pull_cache_ttl: String,
    /// A docker config.json whose credentials the machine pulls with when a
    /// host sends none (a paid Docker Hub account for the whole class)
    #[arg(long = "registry-auth", value_name = "FILE")]
    registry_auth: Option<PathBuf>,
}

/// `--registry-mirror` and `--insecure-registry`, checked.
fn registry_options(d: &DaemonArgs) -> Result<engine::registry::RegistryOptions, String> {
    let mut insecure = Vec::new();
    for i in &d.insecure_registry {
        insecure.push(
            i.parse()
                .map_err(|e| format!("invalid --insecure-registry: {e}"))?,
        );
    }
    for m in &d.registry_mirror {
        if !(m.starts_with("http://") || m.starts_with("https://")) {
            return Err(format!(
                "invalid mirror: unsupported scheme \"{}\" in \"{m}\"",
                m.split("://").next().unwrap_or("")
            ));
        }
    }
    let secs = commands::container::parse_go_duration(&d.pull_cache_ttl)
        .filter(|s| *s >= 0.0)
        .ok_or_else(|| {
            format!(
                "invalid --pull-cache-ttl: time: invalid duration \"{}\"",
                d.pull_cache_ttl
            )
        })?;
    let ttl = std::time::Duration::from_secs_f64(secs);
    let mut opts = engine::registry::RegistryOptions {
        mirrors: d.registry_mirror.clone(),
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

/// `dockhand serve`: the daemon's flags, plus the playground's.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Address and port of the playground (web UI, playground API, port links)
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8080")]
    listen: String,
    /// The built UI bundle (scripts/build-web) [default: <dir of the executable>/../share/dockhand/ui, then ./target/ui]
    #[arg(long, value_name = "DIR")]
    ui: Option<PathBuf>,
    /// Title shown on the landing page
    #[arg(long, value_name = "string", default_value = "Dockhand")]
    title: String,
    /// Sessions at once; more are told the playground is full
    #[arg(long = "max-sessions", value_name = "int", default_value_t = 100)]
    max_sessions: u32,
    /// Instances (node1..nodeN) per session
    #[arg(long = "max-instances", value_name = "int", default_value_t = 5)]
    max_instances: u32,
    /// Instances on the whole server (0: max-sessions x max-instances)
    #[arg(long = "max-total-instances", value_name = "int", default_value_t = 0)]
    max_total_instances: u32,
    /// Terminal tabs per instance
    #[arg(long = "max-terminals", value_name = "int", default_value_t = 4)]
    max_terminals: u32,
    /// Lifetime of a session (e.g. 4h, 90m)
    #[arg(long = "session-ttl", value_name = "duration", default_value = "4h")]
    session_ttl: String,
    /// A session without terminal input or API calls for this long ends (0: never)
    #[arg(long = "idle-timeout", value_name = "duration", default_value = "1h")]
    idle_timeout: String,
    /// Code a trainee must type to start a session (default: none needed)
    #[arg(
        long = "access-code",
        value_name = "string",
        env = "DOCKHAND_ACCESS_CODE"
    )]
    access_code: Option<String>,
    /// Largest upload (a dropped file, or a folder as tar)
    #[arg(long = "upload-limit", value_name = "bytes", default_value = "50m")]
    upload_limit: String,
    /// Read settings from FILE (TOML or JSON; keys are these flags' names, e.g.
    /// max_sessions = 20); flags on the command line win
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Virtual hosts' defaults and playground network from the daemon's flags.
fn vhost_config(
    d: &DaemonArgs,
) -> Result<
    (
        engine::vhost::Defaults,
        Option<engine::network::PlaygroundConfig>,
    ),
    String,
> {
    use commands::host::parse_lifetime;
    use opts::{parse_cpus, ram_in_bytes};
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
    let pg = engine::network::PlaygroundConfig {
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
fn net_config(d: &DaemonArgs) -> Result<Option<engine::network::NetConfig>, String> {
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

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the Dockhand daemon (Docker Engine API on a unix socket)
    Daemon(DaemonArgs),
    /// Run the browser playground: web UI, playground API and port links on
    /// --listen, plus the daemon (Docker Engine API on -H, virtual hosts)
    #[command(args_override_self = true)]
    Serve(ServeArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Return low-level information on Docker objects
    Inspect(InspectArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// List images
    Images(ImagesArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Download an image from a registry
    Pull(rg::PullArgs),
    /// Upload an image to a registry
    Push(rg::PushArgs),
    /// Log in to a registry
    Login(rg::LoginArgs),
    /// Log out from a registry
    Logout(rg::LogoutArgs),
    /// Search Docker Hub for images
    Search(rg::SearchArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Manage Docker
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: commands::network::NetworkCmd,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: commands::volume::VolumeCmd,
    },
    /// Manage virtual hosts
    Host {
        #[command(subcommand)]
        cmd: commands::host::HostCmd,
    },
    /// List port mappings or a specific mapping for the container
    Port(commands::network::PortArgs),
    /// Update configuration of one or more containers
    Update(commands::resources::UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::resources::StatsArgs),
    /// Show the Docker version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
}

#[derive(Subcommand, Debug)]
enum ContainerCmd {
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::network::PortArgs),
    /// Update configuration of one or more containers
    Update(commands::resources::UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::resources::StatsArgs),
}

#[derive(Subcommand, Debug)]
enum SystemCmd {
    /// Show docker disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Display system-wide information
    Info(InfoArgs),
}

#[derive(Subcommand, Debug)]
enum ImageCmd {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    #[command(visible_aliases = ["remove", "rmi"])]
    Rm(RmiArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Download an image from a registry
    Pull(rg::PullArgs),
    /// Upload an image to a registry
    Push(rg::PushArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Bind-mounted into a container as /sbin/docker-init for `--init`.
    if args.first().is_some_and(|a| a.ends_with("docker-init")) {
        engine::init::main(args[1..].to_vec());
    }
    // Helper processes first: they must stay single-threaded, so no runtime and
    // no argument parsing here.
    match args.get(1).map(String::as_str) {
        Some("__monitor") => engine::monitor::main(args[2..].to_vec()),
        Some("__init") => engine::init::main(args[2..].to_vec()),
        Some("-v" | "--version") => {
            println!(
                "Dockhand version {}, build dockhand",
                env!("CARGO_PKG_VERSION")
            );
            std::process::exit(0);
        }
        _ => {}
    }
    let cli = match parse_cli(&args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                ErrorKind::MissingRequiredArgument
                | ErrorKind::MissingSubcommand
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 1,
                _ => 125,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match cli.cmd {
        Cmd::Daemon(d) => run_daemon(d, cli.debug),
        Cmd::Serve(s) => match serve_with_config(&args, s) {
            Ok(s) => run_serve(s, cli.debug),
            Err(e) => {
                eprintln!("dockhand serve: {e}");
                125
            }
        },
        cmd => client_main(cli.host.as_deref(), cmd),
    };
    std::process::exit(code);
}

/// The daemon's log on stderr: `RUST_LOG`, or info (debug with `--debug`).
fn init_logging(debug: bool) {
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

fn run_daemon(d: DaemonArgs, debug: bool) -> i32 {
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
    match server::run_daemon(server::DaemonOptions {
        data_root: d.data_root,
        socket,
        net,
        vhost_defaults,
        playground,
        registry,
    }) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dockhand daemon: {e}");
            1
        }
    }
}

/// With `--config FILE`: the file's settings as flags before the command line's
/// own (which win, `args_override_self`), parsed again by clap.
fn serve_with_config(args: &[String], s: ServeArgs) -> Result<ServeArgs, String> {
    let Some(path) = &s.config else {
        return Ok(s);
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let from_file = server::playground::config::config_file_args(&text, path)?;
    let at = args
        .iter()
        .position(|a| a == "serve")
        .ok_or("no serve command")?;
    let mut all: Vec<String> = args[..=at].to_vec();
    all.extend(from_file);
    all.extend(args[at + 1..].iter().cloned());
    match parse_cli(&all) {
        Ok(Cli {
            cmd: Cmd::Serve(s), ..
        }) => Ok(s),
        Ok(_) => Err("no serve command".into()),
        Err(e) => Err(format!(
            "{}: {}",
            path.display(),
            e.render().to_string().trim()
        )),
    }
}

fn run_serve(s: ServeArgs, debug: bool) -> i32 {
    use server::playground::config::{find_ui_dir, parse_duration, parse_size};
    let d = &s.daemon;
    init_logging(d.debug || debug);
    let fail = |e: String| {
        eprintln!("dockhand serve: {e}");
        1
    };
    let Some(socket) = d.host.strip_prefix("unix://").map(PathBuf::from) else {
        return fail(format!("only unix:// hosts are supported: {}", d.host));
    };
    let net = match net_config(d) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let (vhost_defaults, playground) = match vhost_config(d) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let exe = std::env::current_exe().unwrap_or_default();
    let pg = (|| -> Result<server::PlaygroundOptions, String> {
        Ok(server::PlaygroundOptions {
            listen: s
                .listen
                .parse()
                .map_err(|_| format!("invalid --listen {}: want ADDR:PORT", s.listen))?,
            ui_dir: find_ui_dir(s.ui.as_deref(), &exe)?,
            title: s.title.clone(),
            max_sessions: s.max_sessions,
            max_instances: s.max_instances.max(1),
            max_total_instances: s.max_total_instances,
            max_terminals: s.max_terminals.max(1),
            session_ttl: parse_duration(&s.session_ttl)?.max(60),
            idle_timeout: parse_duration(&s.idle_timeout)?,
            access_code: s.access_code.clone().filter(|c| !c.is_empty()),
            upload_limit: parse_size(&s.upload_limit)?,
            ..Default::default()
        })
    })();
    let pg = match pg {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let registry = match registry_options(&s.daemon) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match server::run_serve(
        server::DaemonOptions {
            data_root: s.daemon.data_root,
            socket,
            net,
            vhost_defaults,
            playground,
            registry,
        },
        pg,
    ) {
        Ok(()) => 0,
        Err(e) => fail(e.to_string()),
    }
}

fn client_main(host: Option<&str>, cmd: Cmd) -> i32 {
    let host = client::resolve_host(host);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        let mut c = client::Client::new(&host)?;
        let is_run = matches!(
            cmd,
            Cmd::Run(_)
                | Cmd::Container {
                    cmd: ContainerCmd::Run(_)
                }
        );
        if let Err(e) = c.ping().await {
            match (&cmd, e) {
                // `version` prints its client half even without a daemon.
                (Cmd::Version(_), _) => c.version = client::DEFAULT_API_VERSION.to_string(),
                (_, e @ client::ClientError::Connect(_)) if is_run => {
                    let msg = commands::container::report_error("run", &e.to_string(), true);
                    return Err(Failure::new(msg, 125));
                }
                (_, e) => return Err(e.into()),
            }
        }
        dispatch(&c, cmd).await
    });
    // Do not wait for a blocked stdin reader: the command is over.
    rt.shutdown_background();
    match result {
        Ok(code) => code,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            f.code
        }
    }
}

async fn dispatch(c: &client::Client, cmd: Cmd) -> CmdResult {
    use commands::{container as ct, image as im, lifecycle as lc, system as sy, workflow as wf};
    match cmd {
        Cmd::Daemon(_) | Cmd::Serve(_) => Ok(0),
        Cmd::Run(a)
        | Cmd::Container {
            cmd: ContainerCmd::Run(a),
        } => ct::run(c, &a).await,
        Cmd::Create(a)
        | Cmd::Container {
            cmd: ContainerCmd::Create(a),
        } => ct::create(c, &a).await,
        Cmd::Start(a)
        | Cmd::Container {
            cmd: ContainerCmd::Start(a),
        } => ct::start(c, &a).await,
        Cmd::Ps(a)
        | Cmd::Container {
            cmd: ContainerCmd::Ls(a),
        } => ct::ps(c, &a).await,
        Cmd::Logs(a)
        | Cmd::Container {
            cmd: ContainerCmd::Logs(a),
        } => ct::logs(c, &a).await,
        Cmd::Kill(a)
        | Cmd::Container {
            cmd: ContainerCmd::Kill(a),
        } => ct::kill(c, &a).await,
        Cmd::Stop(a)
        | Cmd::Container {
            cmd: ContainerCmd::Stop(a),
        } => ct::stop(c, &a).await,
        Cmd::Restart(a)
        | Cmd::Container {
            cmd: ContainerCmd::Restart(a),
        } => ct::restart(c, &a).await,
        Cmd::Rm(a)
        | Cmd::Container {
            cmd: ContainerCmd::Rm(a),
        } => ct::rm(c, &a).await,
        Cmd::Wait(a)
        | Cmd::Container {
            cmd: ContainerCmd::Wait(a),
        } => ct::wait(c, &a).await,
        Cmd::Container {
            cmd: ContainerCmd::Prune(a),
        } => ct::prune(c, &a).await,
        Cmd::Attach(a)
        | Cmd::Container {
            cmd: ContainerCmd::Attach(a),
        } => commands::attach::attach(c, &a).await,
        Cmd::Exec(a)
        | Cmd::Container {
            cmd: ContainerCmd::Exec(a),
        } => commands::exec::exec(c, &a).await,
        Cmd::Pause(a)
        | Cmd::Container {
            cmd: ContainerCmd::Pause(a),
        } => lc::pause(c, &a).await,
        Cmd::Unpause(a)
        | Cmd::Container {
            cmd: ContainerCmd::Unpause(a),
        } => lc::unpause(c, &a).await,
        Cmd::Top(a)
        | Cmd::Container {
            cmd: ContainerCmd::Top(a),
        } => lc::top(c, &a).await,
        Cmd::Network { cmd } => commands::network::run(c, &cmd).await,
        Cmd::Volume { cmd } => commands::volume::run(c, &cmd).await,
        Cmd::Host { cmd } => commands::host::run(c, &cmd).await,
        Cmd::Port(a)
        | Cmd::Container {
            cmd: ContainerCmd::Port(a),
        } => commands::network::port(c, &a).await,
        Cmd::Update(a)
        | Cmd::Container {
            cmd: ContainerCmd::Update(a),
        } => commands::resources::update(c, &a).await,
        Cmd::Stats(a)
        | Cmd::Container {
            cmd: ContainerCmd::Stats(a),
        } => commands::resources::stats(c, &a).await,
        Cmd::Rename(a)
        | Cmd::Container {
            cmd: ContainerCmd::Rename(a),
        } => lc::rename(c, &a).await,
        Cmd::Inspect(a) => sy::inspect(c, &a, None).await,
        Cmd::Container {
            cmd: ContainerCmd::Inspect(a),
        } => sy::inspect(c, &a, Some("container")).await,
        Cmd::Image {
            cmd: ImageCmd::Inspect(a),
        } => sy::inspect(c, &a, Some("image")).await,
        Cmd::Images(a)
        | Cmd::Image {
            cmd: ImageCmd::Ls(a),
        } => im::images(c, &a).await,
        Cmd::History(a)
        | Cmd::Image {
            cmd: ImageCmd::History(a),
        } => im::history(c, &a).await,
        Cmd::Tag(a)
        | Cmd::Image {
            cmd: ImageCmd::Tag(a),
        } => im::tag(c, &a).await,
        Cmd::Rmi(a)
        | Cmd::Image {
            cmd: ImageCmd::Rm(a),
        } => im::rmi(c, &a).await,
        Cmd::Import(a)
        | Cmd::Image {
            cmd: ImageCmd::Import(a),
        } => im::import(c, &a).await,
        Cmd::Commit(a)
        | Cmd::Container {
            cmd: ContainerCmd::Commit(a),
        } => wf::commit(c, &a).await,
        Cmd::Export(a)
        | Cmd::Container {
            cmd: ContainerCmd::Export(a),
        } => wf::export(c, &a).await,
        Cmd::Diff(a)
        | Cmd::Container {
            cmd: ContainerCmd::Diff(a),
        } => wf::diff(c, &a).await,
        Cmd::Save(a)
        | Cmd::Image {
            cmd: ImageCmd::Save(a),
        } => wf::save(c, &a).await,
        Cmd::Load(a)
        | Cmd::Image {
            cmd: ImageCmd::Load(a),
        } => wf::load(c, &a).await,
        Cmd::Image {
            cmd: ImageCmd::Prune(a),
        } => wf::image_prune(c, &a).await,
        Cmd::Pull(a)
        | Cmd::Image {
            cmd: ImageCmd::Pull(a),
        } => rg::pull(c, &a).await,
        Cmd::Push(a)
        | Cmd::Image {
            cmd: ImageCmd::Push(a),
        } => rg::push(c, &a).await,
        Cmd::Login(a) => rg::login(c, &a).await,
        Cmd::Logout(a) => rg::logout(&a).await,
        Cmd::Search(a) => rg::search(c, &a).await,
        Cmd::System {
            cmd: SystemCmd::Df(a),
        } => wf::df(c, &a).await,
        Cmd::System {
            cmd: SystemCmd::Prune(a),
        } => wf::system_prune(c, &a).await,
        Cmd::System {
            cmd: SystemCmd::Info(a),
        } => sy::info(c, &a).await,
        Cmd::Version(a) => sy::version(c, &a).await,
        Cmd::Info(a) => sy::info(c, &a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        explicit_bools(Cli::command()).debug_assert();
    }

    #[test]
    fn boolean_flags_take_an_explicit_value_like_docker() {
        let run = |args: &[&str]| match parse_cli(
            ["docker", "run"]
                .iter()
                .chain(args)
                .chain(&["busybox", "sh"]),
        ) {
            Ok(Cli {
                cmd: Cmd::Run(a), ..
            }) => a,
            other => panic!("{args:?}: {other:?}"),
        };
        let a = run(&["--privileged=true", "--rm=false", "-ti"]);
        assert!(a.flags.privileged && !a.flags.rm && a.flags.tty && a.flags.interactive);
        let a = run(&["-it", "--rm"]);
        assert!(a.flags.tty && a.flags.interactive && a.flags.rm && !a.flags.privileged);
        let a = run(&["-d=false", "-t=true", "--init", "--privileged=1"]);
        assert!(!a.detach && a.flags.tty && a.flags.init && a.flags.privileged);
        let a = run(&["-dit"]);
        assert!(a.detach && a.flags.tty && a.flags.interactive);
        // Repeated: the last one wins, as in docker.
        let a = run(&["--rm", "--rm=false"]);
        assert!(!a.flags.rm);
        // A value needs the `=`: `--rm busybox` does not eat the image.
        assert_eq!(run(&["--rm"]).flags.image, "busybox");
        assert!(parse_cli(["docker", "run", "--rm=maybe", "busybox"]).is_err());
        // Other commands' flags too.
        assert!(parse_cli(["docker", "ps", "--all=true", "-q=false"]).is_ok());
    }

    #[test]
    fn run_parses_like_docker() {
        let cli = parse_cli([
            "docker",
            "-H",
            "unix:///x.sock",
            "run",
            "--rm",
            "-h",
            "box",
            "busybox",
            "ls",
            "-l",
        ])
        .unwrap();
        assert_eq!(cli.host.as_deref(), Some("unix:///x.sock"));
        match cli.cmd {
            Cmd::Run(a) => {
                assert!(a.flags.rm);
                assert_eq!(a.flags.hostname.as_deref(), Some("box"));
                assert_eq!(a.flags.command, vec!["ls", "-l"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn interactive_commands_parse_like_docker() {
        let parse = |v: &[&str]| parse_cli(v).map(|c| c.cmd);
        match parse(&[
            "docker", "exec", "-ti", "-u", "1", "web", "sh", "-c", "x", "-t",
        ])
        .unwrap()
        {
            Cmd::Exec(a) => {
                assert!(a.opts.tty && a.opts.interactive);
                assert_eq!(a.container, "web");
                assert_eq!(a.command, vec!["sh", "-c", "x", "-t"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["docker", "exec", "web"]).is_err());
        match parse(&["docker", "top", "web", "-eo", "pid,stat"]).unwrap() {
            Cmd::Top(a) => assert_eq!(a.ps_args, vec!["-eo", "pid,stat"]),
            other => panic!("{other:?}"),
        }
        match parse(&[
            "docker",
            "attach",
            "--sig-proxy=false",
            "--detach-keys",
            "ctrl-x,x",
            "web",
        ])
        .unwrap()
        {
            Cmd::Attach(a) => {
                assert!(!a.sig_proxy && !a.no_stdin);
                assert_eq!(a.detach_keys.as_deref(), Some("ctrl-x,x"));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "docker",
            "run",
            "--sig-proxy",
            "-ti",
            "--detach-keys=ctrl-a",
            "busybox",
        ])
        .unwrap()
        {
            Cmd::Run(a) => assert!(a.sig_proxy && a.flags.tty),
            other => panic!("{other:?}"),
        }
        for v in [
            &["docker", "container", "attach", "x"][..],
            &["docker", "container", "exec", "x", "true"],
            &["docker", "container", "pause", "x", "y"],
            &["docker", "container", "unpause", "x"],
            &["docker", "container", "top", "x"],
            &["docker", "container", "rename", "x", "y"],
            &["docker", "restart", "-t", "1", "-s", "KILL", "x"],
            &["docker", "start", "-ai", "--detach-keys", "ctrl-x,x", "x"],
        ] {
            assert!(parse(v).is_ok(), "{v:?}");
        }
        assert!(parse(&["docker", "rename", "x"]).is_err());
    }

    #[test]
    fn container_group_and_aliases_parse() {
        assert!(matches!(
            parse_cli(["docker", "container", "ls", "-a"]).unwrap().cmd,
            Cmd::Container {
                cmd: ContainerCmd::Ls(_)
            }
        ));
        assert!(matches!(
            parse_cli(["docker", "image", "rm", "x"]).unwrap().cmd,
            Cmd::Image {
                cmd: ImageCmd::Rm(_)
            }
        ));
        assert!(parse_cli([
            "docker",
            "daemon",
            "--data-root",
            "/tmp/x",
            "-H",
            "unix:///tmp/s"
        ])
        .is_ok());
        assert!(parse_cli(["docker", "history", "-H=false", "busybox"]).is_ok());
        assert!(parse_cli(["docker", "ps", "-n", "3"]).is_ok());
        // `-H` is the daemon's address; `host` the virtual hosts command group.
        let cli = parse_cli(["docker", "-H", "unix:///x.sock", "host", "ls"]).unwrap();
        assert_eq!(cli.host.as_deref(), Some("unix:///x.sock"));
        assert!(matches!(
            cli.cmd,
            Cmd::Host {
                cmd: commands::host::HostCmd::Ls(_)
            }
        ));
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
