//! `docker create`/`run` flags and their translation into the create body, as
//! docker/cli's `cli/command/container/opts.go` does it: env files before `-e`,
//! `--entrypoint ""` sent as `[""]`, `-p` into `ExposedPorts` + `PortBindings`,
//! `-v` into `Binds` or anonymous `Volumes`.

use clap::Args;
use serde_json::{json, Map, Value};
use shared::api::{ContainerConfig, ContainerCreateRequest, HostConfig, RestartPolicy};
use std::collections::BTreeMap;

pub mod spec;
#[cfg(test)]
mod tests;

use spec::normalize_link;
pub use spec::{expand_publish, parse_cpus, parse_log_opts, parse_mount, parse_restart};

/// Flags shared by `create` and `run`.
#[derive(Args, Debug, Clone, Default)]
pub struct ContainerFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub hostname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string", default_value = "no")]
    pub restart: String,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "list")]
    pub expose: Vec<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", value_name = "network")]
    pub network: Option<String>,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string")]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string")]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string")]
    pub uts: Option<String>,
    /// Cgroup namespace to use (host|private): 'host' is the machine's,
    /// 'private' the container's own (the default on cgroup v2)
    #[arg(long = "cgroupns", value_name = "string")]
    pub cgroupns: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<i64>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string")]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, value_name = "string", default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Kernel memory limit
    #[arg(long = "kernel-memory", value_name = "bytes")]
    pub kernel_memory: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub memory_swappiness: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip", value_name = "list")]
    pub link_local_ip: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_start_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub health_timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Runtime to use for this container
    #[arg(long = "runtime", value_name = "string")]
    pub runtime: Option<String>,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The image to create the container from
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command and its arguments
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// Reads a variable from the client's environment.
pub type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// docker's `kvfile.Parse`: skip blank lines and `#` comments, strip a UTF-8 BOM
/// and leading whitespace; `KEY=VALUE` verbatim; a bare `KEY` takes the value from
/// `lookup` and is dropped when unset. Whitespace inside a key is an error.
pub fn parse_kv_file(
    name: &str,
    content: &str,
    lookup: Option<&Lookup<'_>>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, raw) in content.lines().enumerate() {
        let line = if i == 0 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        let line = line.trim_start_matches([' ', '\t', '\r', '\n', '\x0b', '\x0c']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(format!("invalid variable on line {}: {}", i + 1, line));
        }
        if key.contains([' ', '\t']) {
            return Err(format!("variable '{key}' contains whitespaces"));
        }
        match value {
            Some(v) => out.push(format!("{key}={v}")),
            None => match lookup {
                Some(f) => {
                    let key = key.trim_end();
                    if let Some(v) = f(key) {
                        out.push(format!("{key}={v}"));
                    }
                }
                None => out.push(key.to_string()),
            },
        }
    }
    let _ = name;
    Ok(out)
}

/// `-e KEY` takes KEY's value from the client's environment (kept bare if unset).
pub fn expand_env(e: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match lookup(e) {
        Some(v) => format!("{e}={v}"),
        None => e.to_string(),
    }
}

pub fn os_lookup(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

pub fn read_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("open {path}: {}", io_text(&e)))
}

/// Go-style I/O error text ("no such file or directory").
pub use shared::go::io_text;

/// `--security-opt` as docker/cli sends it: `seccomp=FILE` becomes
/// `seccomp=` and the profile's JSON, compacted; `builtin` and `unconfined`
/// stay names.
pub fn security_opts(opts: &[String]) -> Result<Vec<String>, String> {
    opts.iter()
        .map(|o| {
            let Some((key, value)) = o.split_once(['=', ':']) else {
                return Ok(o.clone());
            };
            if key != "seccomp" || matches!(value, "builtin" | "unconfined") {
                return Ok(o.clone());
            }
            let text = std::fs::read_to_string(value).map_err(|e| {
                format!(
                    "opening seccomp profile ({value}) failed: open {value}: {}",
                    io_text(&e)
                )
            })?;
            let json: Value = serde_json::from_str(&text).map_err(|e| {
                format!("compacting json for seccomp profile ({value}) failed: {e}")
            })?;
            Ok(format!("seccomp={json}"))
        })
        .collect()
}

/// The `--health-*` flags and `--no-healthcheck` as docker/cli reads them.
fn health_config(f: &ContainerFlags) -> Result<Option<shared::api::HealthConfig>, String> {
    let duration = |flag: &str, v: &Option<String>| -> Result<i64, String> {
        let Some(v) = v else { return Ok(0) };
        let d = shared::units::parse_duration(v)
            .map_err(|e| format!("invalid argument \"{v}\" for \"--{flag}\" flag: {e}"))?;
        if d.0 < 0 {
            return Err(format!("--{flag} cannot be negative"));
        }
        Ok(d.0)
    };
    let interval = duration("health-interval", &f.health_interval)?;
    let timeout = duration("health-timeout", &f.health_timeout)?;
    let start_period = duration("health-start-period", &f.health_start_period)?;
    let start_interval = duration("health-start-interval", &f.health_start_interval)?;
    let retries = f.health_retries.unwrap_or(0);
    let cmd = f.health_cmd.clone().unwrap_or_default();
    let any = !cmd.is_empty()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || start_interval != 0
        || retries != 0;
    if f.no_healthcheck {
        if any {
            return Err("--no-healthcheck conflicts with --health-* options".into());
        }
        return Ok(Some(shared::api::HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    if !any {
        return Ok(None);
    }
    if retries < 0 {
        return Err("--health-retries cannot be negative".into());
    }
    Ok(Some(shared::api::HealthConfig {
        test: if cmd.is_empty() {
            vec![]
        } else {
            vec!["CMD-SHELL".into(), cmd]
        },
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    }))
}

/// Everything that turns flags into a create body. `lookup` reads the client env.
pub fn build_create(
    f: &ContainerFlags,
    detach: bool,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ContainerCreateRequest, String> {
    let mut env = Vec::new();
    for file in &f.env_file {
        env.extend(parse_kv_file(file, &read_file(file)?, Some(lookup))?);
    }
    env.extend(f.env.iter().map(|e| expand_env(e, lookup)));

    let mut labels = BTreeMap::new();
    let mut label_lines = Vec::new();
    for file in &f.label_file {
        label_lines.extend(parse_kv_file(file, &read_file(file)?, None)?);
    }
    label_lines.extend(f.label.iter().cloned());
    for l in label_lines {
        let (k, v) = l.split_once('=').unwrap_or((&l, ""));
        labels.insert(k.to_string(), v.to_string());
    }

    let mut exposed = BTreeMap::new();
    let mut bindings: BTreeMap<String, Value> = BTreeMap::new();
    for p in &f.publish {
        for (key, b) in expand_publish(p)? {
            exposed.insert(key.clone(), json!({}));
            match bindings.get_mut(&key) {
                Some(Value::Array(a)) => a.push(b),
                _ => {
                    bindings.insert(key, Value::Array(vec![b]));
                }
            }
        }
    }
    for e in &f.expose {
        let key = if e.contains('/') {
            e.clone()
        } else {
            format!("{e}/tcp")
        };
        exposed.insert(key, json!({}));
    }

    let mut binds = Vec::new();
    let mut volumes = BTreeMap::new();
    for v in &f.volume {
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }

    let entrypoint = f.entrypoint.as_ref().map(|e| vec![e.clone()]);
    let cmd = if f.command.is_empty() {
        None
    } else {
        Some(f.command.clone())
    };
    let attach = !detach;
    let config = ContainerConfig {
        hostname: f.hostname.clone().unwrap_or_default(),
        user: f.user.clone().unwrap_or_default(),
        attach_stdin: attach && f.interactive,
        attach_stdout: attach,
        attach_stderr: attach,
        exposed_ports: if exposed.is_empty() {
            None
        } else {
            Some(exposed)
        },
        tty: f.tty,
        open_stdin: f.interactive,
        stdin_once: attach && f.interactive,
        env,
        cmd,
        image: f.image.clone(),
        volumes: Some(volumes),
        working_dir: f.workdir.clone().unwrap_or_default(),
        entrypoint,
        labels,
        stop_signal: f.stop_signal.clone(),
        stop_timeout: f.stop_timeout,
        healthcheck: health_config(f)?,
        ..Default::default()
    };
    let restart_policy = parse_restart(&f.restart)?;
    let log_driver = f.log_driver.clone().unwrap_or_default();
    let log_config = parse_log_opts(&log_driver, &f.log_opt)?;
    if f.rm && !(restart_policy.name.is_empty() || restart_policy.name == "no") {
        return Err("conflicting options: cannot specify both --restart and --rm".into());
    }
    let mut extra = Map::new();
    extra.insert(
        "LogConfig".into(),
        json!({"Type": log_driver, "Config": log_config}),
    );
    resource_fields(f, &mut extra)?;
    if !f.group_add.is_empty() {
        extra.insert("GroupAdd".into(), json!(f.group_add));
    }
    if let Some(r) = &f.runtime {
        extra.insert("Runtime".into(), json!(r));
    }
    if !f.link.is_empty() {
        let links: Vec<Value> = f
            .link
            .iter()
            .map(|l| Value::from(normalize_link(l)))
            .collect();
        extra.insert("Links".into(), Value::Array(links));
    }
    if !f.dns.is_empty() {
        extra.insert("Dns".into(), json!(f.dns));
    }
    if !f.volumes_from.is_empty() {
        extra.insert("VolumesFrom".into(), json!(f.volumes_from));
    }
    if !f.tmpfs.is_empty() {
        let mut t = Map::new();
        for spec in &f.tmpfs {
            let (path, opts) = spec.split_once(':').unwrap_or((spec, ""));
            t.insert(path.to_string(), Value::from(opts));
        }
        extra.insert("Tmpfs".into(), Value::Object(t));
    }
    if !f.mount.is_empty() {
        let mounts = f
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<Vec<_>, _>>()?;
        extra.insert("Mounts".into(), Value::Array(mounts));
    }
    for (key, v) in [
        ("PidMode", &f.pid),
        ("IpcMode", &f.ipc),
        ("UTSMode", &f.uts),
        ("CgroupnsMode", &f.cgroupns),
    ] {
        if let Some(v) = v {
            extra.insert(key.into(), Value::from(v.as_str()));
        }
    }
    let host_config = HostConfig {
        binds,
        network_mode: f.network.clone().unwrap_or_else(|| "default".into()),
        port_bindings: bindings,
        restart_policy,
        auto_remove: f.rm,
        privileged: f.privileged,
        publish_all_ports: f.publish_all,
        readonly_rootfs: f.read_only,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        security_opt: security_opts(&f.security_opt)?,
        extra_hosts: f.add_host.clone(),
        init: if f.init { Some(true) } else { None },
        console_size: Some([0, 0]),
        extra,
    };
    // Aliases, fixed addresses and the MAC go with the network the container
    // joins (the daemon refuses what that network cannot have).
    let mut endpoints = Map::new();
    let net = f.network.clone().unwrap_or_else(|| "default".into());
    let own_netns = !matches!(net.as_str(), "host" | "none") && !net.starts_with("container:");
    let user_net = own_netns && !matches!(net.as_str(), "default" | "bridge");
    if !f.network_alias.is_empty() && !user_net {
        return Err("network-scoped aliases are only supported for user-defined networks".into());
    }
    let mut ep = Map::new();
    if !f.network_alias.is_empty() {
        ep.insert("Aliases".into(), json!(f.network_alias));
    }
    let mut ipam = Map::new();
    if let Some(ip) = &f.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &f.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !f.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(f.link_local_ip));
    }
    if !ipam.is_empty() {
        ep.insert("IPAMConfig".into(), Value::Object(ipam));
    }
    if let Some(mac) = &f.mac_address {
        ep.insert("MacAddress".into(), json!(mac));
    }
    if !ep.is_empty() {
        if !own_netns {
            return Err(format!(
                "conflicting options: --ip, --ip6, --link-local-ip, --mac-address and network mode {net}"
            ));
        }
        endpoints.insert(net.clone(), Value::Object(ep));
    }
    Ok(ContainerCreateRequest {
        config,
        host_config,
        networking_config: Some(json!({"EndpointsConfig": endpoints})),
    })
}

/// go-units `RAMInBytes` (`512m`, `1g`, `1.5GB`, plain bytes; binary multiples),
/// for `-m`, `--memory-swap`, `--memory-reservation`, `--kernel-memory`,
/// `--mount tmpfs-size=` and the virtual hosts' sizes.
pub use shared::units::ram_in_bytes;

/// Resource flags into HostConfig fields, with docker's flag errors.
fn resource_fields(f: &ContainerFlags, extra: &mut Map<String, Value>) -> Result<(), String> {
    let size = |v: &Option<String>, flag: &str| -> Result<Option<i64>, String> {
        match v {
            None => Ok(None),
            Some(x) => ram_in_bytes(x)
                .map(Some)
                .map_err(|e| format!("invalid argument \"{x}\" for \"{flag}\" flag: {e}")),
        }
    };
    if let Some(m) = size(&f.memory, "-m, --memory")? {
        extra.insert("Memory".into(), m.into());
    }
    match f.memory_swap.as_deref() {
        None => {}
        Some("-1") => {
            extra.insert("MemorySwap".into(), (-1).into());
        }
        Some(_) => {
            if let Some(v) = size(&f.memory_swap, "--memory-swap")? {
                extra.insert("MemorySwap".into(), v.into());
            }
        }
    }
    if let Some(v) = size(&f.memory_reservation, "--memory-reservation")? {
        extra.insert("MemoryReservation".into(), v.into());
    }
    if let Some(v) = size(&f.kernel_memory, "--kernel-memory")? {
        extra.insert("KernelMemory".into(), v.into());
    }
    if let Some(v) = f.memory_swappiness {
        extra.insert("MemorySwappiness".into(), v.into());
    }
    if f.oom_kill_disable {
        extra.insert("OomKillDisable".into(), true.into());
    }
    if let Some(v) = f.cpu_shares {
        extra.insert("CpuShares".into(), v.into());
    }
    if let Some(v) = f.cpu_quota {
        extra.insert("CpuQuota".into(), v.into());
    }
    if let Some(v) = f.cpu_period {
        extra.insert("CpuPeriod".into(), v.into());
    }
    if let Some(c) = &f.cpus {
        let nano = parse_cpus(c)
            .map_err(|e| format!("invalid argument \"{c}\" for \"--cpus\" flag: {e}"))?;
        extra.insert("NanoCpus".into(), nano.into());
    }
    if let Some(v) = &f.cpuset_cpus {
        extra.insert("CpusetCpus".into(), v.clone().into());
    }
    if let Some(v) = &f.cpuset_mems {
        extra.insert("CpusetMems".into(), v.clone().into());
    }
    if let Some(v) = f.pids_limit {
        extra.insert("PidsLimit".into(), v.into());
    }
    if let Some(v) = f.blkio_weight {
        extra.insert("BlkioWeight".into(), v.into());
    }
    Ok(())
}

/// Create body from the flags with the process environment.
pub fn build_create_env(
    f: &ContainerFlags,
    detach: bool,
) -> Result<ContainerCreateRequest, String> {
    build_create(f, detach, &os_lookup)
}
