//! `docker create`/`run` flags and their translation into the create body, as
//! docker/cli's `cli/command/container/opts.go` does it: env files before `-e`,
//! `--entrypoint ""` sent as `[""]`, `-p` into `ExposedPorts` + `PortBindings`,
//! `-v` into `Binds` or anonymous `Volumes`.

use clap::Args;
use serde_json::{json, Map, Value};
use shared::api::{ContainerConfig, ContainerCreateRequest, HostConfig, RestartPolicy};
use std::collections::BTreeMap;

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
pub fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.split_once(" (os error") {
                Some((m, _)) => m.to_lowercase(),
                None => s,
            }
        }
    }
}

/// `--restart` as docker/cli's `opts.ParseRestartPolicy`: only the shape is
/// checked here (`NAME[:COUNT]`); the daemon validates names and counts
/// ("invalid restart policy: unknown policy ...").
pub fn parse_restart(s: &str) -> Result<RestartPolicy, String> {
    if s.is_empty() {
        return Ok(RestartPolicy::default());
    }
    let (name, count) = s.split_once(':').unwrap_or((s, ""));
    if s.contains(':') && name.is_empty() {
        return Err("invalid restart policy format: no policy provided before colon".into());
    }
    let maximum_retry_count = if count.is_empty() {
        0
    } else {
        count.parse::<i64>().map_err(|_| {
            "invalid restart policy format: maximum retry count must be an integer".to_string()
        })?
    };
    Ok(RestartPolicy {
        name: name.to_string(),
        maximum_retry_count,
    })
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

/// `--log-opt k=v` into `LogConfig.Config` (docker's `parseLoggingOpts`).
pub fn parse_log_opts(driver: &str, opts: &[String]) -> Result<Map<String, Value>, String> {
    if driver == "none" && !opts.is_empty() {
        return Err(format!("invalid logging opts for driver {driver}"));
    }
    // Go encodes maps with sorted keys.
    let mut sorted = BTreeMap::new();
    for o in opts {
        let (k, v) = o.split_once('=').unwrap_or((o, ""));
        sorted.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(sorted.into_iter().collect())
}

/// One `-p [ip:][hostPort:]containerPort[/proto]` into (port key, binding).
pub fn parse_publish(spec: &str) -> Result<(String, Value), String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    // An IPv6 host address is bracketed: [::1]:8080:80
    let (ip, rest) = if let Some(stripped) = rest.strip_prefix('[') {
        match stripped.split_once("]:") {
            Some((ip, r)) => (ip.to_string(), r.to_string()),
            None => return Err(format!("invalid IP address: {rest}")),
        }
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.len() {
            1 => (String::new(), rest.to_string()),
            2 => (String::new(), rest.to_string()),
            3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
            _ => return Err(format!("invalid proto: {spec}")),
        }
    };
    let (host_port, container_port) = match rest.split_once(':') {
        Some((h, c)) => (h.to_string(), c.to_string()),
        None => (String::new(), rest.clone()),
    };
    if container_port.is_empty() {
        return Err(format!("no port specified: {spec}<empty>"));
    }
    let valid = |p: &str| p.split('-').all(|x| x.parse::<u16>().is_ok());
    if !valid(&container_port) {
        return Err(format!("invalid containerPort: {container_port}"));
    }
    if !host_port.is_empty() && !valid(&host_port) {
        return Err(format!("invalid hostPort: {host_port}"));
    }
    Ok((
        format!("{container_port}/{proto}"),
        json!({"HostIp": ip, "HostPort": host_port}),
    ))
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
        security_opt: f.security_opt.clone(),
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

/// docker's `nat.ParsePortSpecs` for ranges: `8000-8002:80-82` becomes three
/// bindings, `8000-8010:80` lets the daemon pick within the range (first port
/// here), a container range without host ports gets dynamic ports.
pub fn expand_publish(spec: &str) -> Result<Vec<(String, Value)>, String> {
    let (key, b) = parse_publish(spec)?;
    let (cports, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
    let range = |r: &str| -> Result<(u16, u16), String> {
        let (a, z) = r.split_once('-').unwrap_or((r, r));
        let a: u16 = a.parse().map_err(|_| format!("invalid port: {r}"))?;
        let z: u16 = z.parse().map_err(|_| format!("invalid port: {r}"))?;
        if z < a {
            return Err(format!("invalid range specified for port: {r}"));
        }
        Ok((a, z))
    };
    let (c0, c1) = range(cports)?;
    let host = b["HostPort"].as_str().unwrap_or("").to_string();
    let ip = b["HostIp"].clone();
    let hrange = if host.is_empty() {
        None
    } else {
        Some(range(&host)?)
    };
    if let Some((h0, h1)) = hrange {
        if c1 - c0 != h1 - h0 && c0 != c1 {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {cports} and {host}"
            ));
        }
        if c0 == c1 && h0 != h1 {
            // One container port, a host range: the first port of the range.
            return Ok(vec![(
                format!("{c0}/{proto}"),
                json!({"HostIp": ip, "HostPort": h0.to_string()}),
            )]);
        }
    }
    Ok((0..=(c1 - c0))
        .map(|i| {
            let hp = hrange
                .map(|(h0, _)| (h0 + i).to_string())
                .unwrap_or_default();
            (
                format!("{}/{proto}", c0 + i),
                json!({"HostIp": ip, "HostPort": hp}),
            )
        })
        .collect())
}

/// docker/cli `opts/mount.go`: `--mount type=bind,source=/a,target=/b,readonly`
/// into an Engine API `Mount`.
pub fn parse_mount(spec: &str) -> Result<Value, String> {
    let mut kind = "volume".to_string();
    let mut m = Map::new();
    let mut tmpfs = Map::new();
    let mut vol = Map::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), Some(v.trim())),
            None => (field.trim().to_lowercase(), None),
        };
        let flag = |v: Option<&str>| -> Result<bool, String> {
            match v {
                None | Some("1" | "true" | "True") => Ok(true),
                Some("0" | "false" | "False") => Ok(false),
                Some(x) => Err(format!("invalid value for {k}: {x}")),
            }
        };
        let need = |v: Option<&str>| -> Result<String, String> {
            v.map(String::from)
                .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))
        };
        match k.as_str() {
            "type" => kind = need(v)?,
            "source" | "src" => {
                m.insert("Source".into(), need(v)?.into());
            }
            "target" | "dst" | "destination" => {
                m.insert("Target".into(), need(v)?.into());
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), flag(v)?.into());
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), flag(v)?.into());
            }
            "volume-subpath" => {
                vol.insert("Subpath".into(), need(v)?.into());
            }
            "volume-driver" => {
                let d = vol.entry("DriverConfig").or_insert_with(|| json!({}));
                d["Name"] = need(v)?.into();
            }
            "volume-label" | "volume-opt" => {
                let kv = need(v)?;
                let (lk, lv) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                let slot = if k == "volume-label" {
                    vol.entry("Labels").or_insert_with(|| json!({}))
                } else {
                    let d = vol.entry("DriverConfig").or_insert_with(|| json!({}));
                    if d.get("Options").is_none() {
                        d["Options"] = json!({});
                    }
                    &mut d["Options"]
                };
                slot[lk] = lv.into();
            }
            "bind-propagation" => {
                m.insert("BindOptions".into(), json!({"Propagation": need(v)?}));
            }
            "tmpfs-size" => {
                let v = need(v)?;
                // docker/cli names the value, not the parser's complaint.
                let n = ram_in_bytes(&v).map_err(|_| format!("invalid value for {k}: {v}"))?;
                tmpfs.insert("SizeBytes".into(), n.into());
            }
            "tmpfs-mode" => {
                let n = u32::from_str_radix(&need(v)?, 8)
                    .map_err(|e| format!("invalid value for {k}: {e}"))?;
                tmpfs.insert("Mode".into(), n.into());
            }
            _ => return Err(format!("unexpected key '{k}' in '{field}'")),
        }
    }
    if !m.contains_key("Target") {
        return Err("target is required".into());
    }
    m.insert("Type".into(), kind.clone().into());
    if !tmpfs.is_empty() {
        m.insert("TmpfsOptions".into(), Value::Object(tmpfs));
    }
    if !vol.is_empty() {
        m.insert("VolumeOptions".into(), Value::Object(vol));
    }
    Ok(Value::Object(m))
}

/// `--link name[:alias]`: docker sends `name:alias`, the alias defaulting to the name.
fn normalize_link(l: &str) -> String {
    match l.split_once(':') {
        Some((n, a)) => format!("{n}:{a}"),
        None => format!("{l}:{l}"),
    }
}

/// go-units `RAMInBytes` (`512m`, `1g`, `1.5GB`, plain bytes; binary multiples),
/// for `-m`, `--memory-swap`, `--memory-reservation`, `--kernel-memory`,
/// `--mount tmpfs-size=` and the virtual hosts' sizes.
pub use shared::units::ram_in_bytes;

/// docker's `--cpus` into NanoCpus.
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("failed to parse {s} as a rational number"))?;
    let nano = (v * 1e9).round();
    if !(0.0..=(i64::MAX as f64)).contains(&nano) {
        return Err("value is too precise".into());
    }
    Ok(nano as i64)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        f: ContainerFlags,
    }

    fn flags(args: &[&str]) -> ContainerFlags {
        let mut v = vec!["x"];
        v.extend_from_slice(args);
        T::try_parse_from(v).unwrap().f
    }

    fn lookup(k: &str) -> Option<String> {
        (k == "HOME").then(|| "/root".to_string())
    }

    #[test]
    fn env_file_parsing_matches_docker_kvfile() {
        let content = "\u{feff}# comment\n\nA=1\n  B=spaced \nHOME\nUNSET\nC=\n";
        let got = parse_kv_file("f", content, Some(&lookup)).unwrap();
        assert_eq!(got, vec!["A=1", "B=spaced ", "HOME=/root", "C="]);
        assert!(parse_kv_file("f", "BAD KEY\n", Some(&lookup)).is_err());
        assert!(parse_kv_file("f", "B =x\n", Some(&lookup)).is_err());
    }

    #[test]
    fn volume_flags_fill_the_host_config() {
        let f = flags(&[
            "-v",
            "/h:/c:ro",
            "-v",
            "/anon",
            "--volumes-from",
            "other:ro",
            "--tmpfs",
            "/t:size=1m",
            "--tmpfs",
            "/u",
            "--mount",
            "type=tmpfs,dst=/m,tmpfs-size=1m,tmpfs-mode=1777",
            "busybox",
        ]);
        let v = serde_json::to_value(build_create(&f, true, &lookup).unwrap()).unwrap();
        assert_eq!(v["HostConfig"]["Binds"], json!(["/h:/c:ro"]));
        assert_eq!(v["Volumes"], json!({"/anon": {}}));
        assert_eq!(v["HostConfig"]["VolumesFrom"], json!(["other:ro"]));
        assert_eq!(v["HostConfig"]["Tmpfs"], json!({"/t": "size=1m", "/u": ""}));
        assert_eq!(
            v["HostConfig"]["Mounts"],
            json!([{"Type": "tmpfs", "Target": "/m",
                    "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1023}}])
        );
        assert!(
            parse_mount("type=bind,src=/a").is_err(),
            "target is required"
        );
        assert!(parse_mount("type=bind,src=/a,dst=/b,bogus=1").is_err());
    }

    #[test]
    fn everything_after_the_image_is_the_command() {
        let f = flags(&["-e", "X=1", "--rm", "busybox", "sh", "-c", "echo hi", "-e"]);
        assert_eq!(f.image, "busybox");
        assert_eq!(f.command, vec!["sh", "-c", "echo hi", "-e"]);
        assert!(f.rm);
    }

    #[test]
    fn create_body_carries_the_flags() {
        let f = flags(&[
            "-e",
            "HOME",
            "-e",
            "NOPE",
            "-ti",
            "--name",
            "web",
            "-p",
            "8080:80",
            "-v",
            "/data",
            "-v",
            "/h:/c:ro",
            "--entrypoint",
            "",
            "-l",
            "k=v",
            "--restart",
            "on-failure:3",
            "--init",
            "-h",
            "box",
            "alpine",
        ]);
        let r = build_create(&f, false, &lookup).unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["Env"], json!(["HOME=/root", "NOPE"]));
        assert_eq!(v["Tty"], json!(true));
        assert_eq!(v["OpenStdin"], json!(true));
        assert_eq!(v["StdinOnce"], json!(true));
        assert_eq!(v["AttachStdin"], json!(true));
        assert_eq!(v["Entrypoint"], json!([""]));
        assert_eq!(v["Cmd"], Value::Null);
        assert_eq!(v["Hostname"], json!("box"));
        assert_eq!(v["Labels"], json!({"k": "v"}));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(v["Volumes"], json!({"/data": {}}));
        assert_eq!(v["HostConfig"]["Binds"], json!(["/h:/c:ro"]));
        assert_eq!(
            v["HostConfig"]["PortBindings"],
            json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]})
        );
        assert_eq!(
            v["HostConfig"]["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(v["HostConfig"]["Init"], json!(true));
        assert_eq!(v["HostConfig"]["NetworkMode"], json!("default"));
    }

    #[test]
    fn detached_run_attaches_nothing() {
        let f = flags(&["-i", "busybox"]);
        let r = build_create(&f, true, &lookup).unwrap();
        assert!(!r.config.attach_stdout && !r.config.attach_stdin && !r.config.stdin_once);
        assert!(r.config.open_stdin);
    }

    #[test]
    fn sizes_and_cpus_parse_like_docker() {
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1.5GB").unwrap(), 3 << 29);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert_eq!(ram_in_bytes("32MiB").unwrap(), 32 << 20);
        assert_eq!(ram_in_bytes("1.5m").unwrap(), 3 << 19);
        assert_eq!(ram_in_bytes("1p").unwrap(), 1 << 50);
        assert_eq!(ram_in_bytes("lots").unwrap_err(), "invalid size: 'lots'");
        assert_eq!(ram_in_bytes("1q").unwrap_err(), "invalid suffix: 'q'");
        assert!(ram_in_bytes(" 1m").is_err(), "docker trims nothing");
        let f = flags(&["-m", "lots", "busybox"]);
        assert_eq!(
            build_create(&f, false, &lookup).unwrap_err(),
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        assert_eq!(
            parse_mount("type=tmpfs,dst=/t,tmpfs-size=1q").unwrap_err(),
            "invalid value for tmpfs-size: 1q"
        );
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("0.5").unwrap(), 500_000_000);
        assert!(parse_cpus("x").is_err());
    }

    #[test]
    fn port_ranges_expand_like_docker() {
        let v = expand_publish("8000-8002:80-82").unwrap();
        let keys: Vec<&str> = v.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["80/tcp", "81/tcp", "82/tcp"]);
        assert_eq!(v[2].1["HostPort"], "8002");
        let v = expand_publish("127.0.0.1:9000-9001:90-91/udp").unwrap();
        assert_eq!(v[1].0, "91/udp");
        assert_eq!(v[1].1["HostIp"], "127.0.0.1");
        assert_eq!(expand_publish("7000-7001").unwrap().len(), 2);
        assert!(expand_publish("8000-8001:80-82").is_err());
    }

    #[test]
    fn links_default_their_alias_to_the_name() {
        assert_eq!(normalize_link("db"), "db:db");
        assert_eq!(normalize_link("db:database"), "db:database");
    }

    #[test]
    fn publish_specs() {
        assert_eq!(parse_publish("80").unwrap().0, "80/tcp");
        let (k, b) = parse_publish("127.0.0.1:53:53/udp").unwrap();
        assert_eq!(k, "53/udp");
        assert_eq!(b, json!({"HostIp": "127.0.0.1", "HostPort": "53"}));
        assert!(parse_publish("abc").is_err());
    }

    #[test]
    fn restart_policy_parses_like_docker_cli() {
        let p = |s: &str| parse_restart(s).map(|r| (r.name, r.maximum_retry_count));
        assert_eq!(p("no"), Ok(("no".into(), 0)));
        assert_eq!(p("always"), Ok(("always".into(), 0)));
        assert_eq!(p("unless-stopped"), Ok(("unless-stopped".into(), 0)));
        assert_eq!(p("on-failure"), Ok(("on-failure".into(), 0)));
        assert_eq!(p("on-failure:2"), Ok(("on-failure".into(), 2)));
        assert_eq!(p("on-failure:"), Ok(("on-failure".into(), 0)));
        assert_eq!(p(""), Ok((String::new(), 0)));
        // Names and counts are the daemon's to judge, as with docker.
        assert_eq!(p("sometimes"), Ok(("sometimes".into(), 0)));
        assert_eq!(p("always:3"), Ok(("always".into(), 3)));
        assert_eq!(
            p(":3").unwrap_err(),
            "invalid restart policy format: no policy provided before colon"
        );
        assert_eq!(
            p("on-failure:x").unwrap_err(),
            "invalid restart policy format: maximum retry count must be an integer"
        );
    }

    #[test]
    fn restart_conflicts_with_rm() {
        let f = flags(&["--rm", "--restart", "always", "busybox"]);
        assert_eq!(
            build_create(&f, false, &lookup).unwrap_err(),
            "conflicting options: cannot specify both --restart and --rm"
        );
        let f = flags(&["--rm", "--restart", "no", "busybox"]);
        assert!(build_create(&f, false, &lookup).is_ok());
    }

    #[test]
    fn health_flags_become_a_healthcheck_as_docker_reads_them() {
        let f = flags(&[
            "--health-cmd",
            "wget -q localhost",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "--health-start-period",
            "1m",
            "busybox",
        ]);
        let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
        assert_eq!(
            v["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 1_000_000_000i64,
                   "StartPeriod": 60_000_000_000i64, "Retries": 2})
        );
        let f = flags(&["--no-healthcheck", "busybox"]);
        let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
        assert_eq!(v["Healthcheck"], json!({"Test": ["NONE"]}));
        let f = flags(&["busybox"]);
        let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
        assert!(v.get("Healthcheck").is_none());
        for (args, want) in [
            (
                &["--no-healthcheck", "--health-cmd", "x", "busybox"][..],
                "--no-healthcheck conflicts with --health-* options",
            ),
            (
                &["--health-interval", "-1s", "busybox"][..],
                "--health-interval cannot be negative",
            ),
            (
                &["--health-retries", "-1", "busybox"][..],
                "--health-retries cannot be negative",
            ),
            (
                &["--health-timeout", "x", "busybox"][..],
                "invalid argument \"x\" for \"--health-timeout\" flag: time: invalid duration \"x\"",
            ),
        ] {
            assert_eq!(build_create(&flags(args), false, &lookup).unwrap_err(), want);
        }
    }

    #[test]
    fn log_driver_and_options_become_log_config() {
        let f = flags(&[
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=10k",
            "--log-opt",
            "max-file=3",
            "busybox",
        ]);
        let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
        assert_eq!(
            v["HostConfig"]["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-file": "3", "max-size": "10k"}})
        );
        let f = flags(&["busybox"]);
        let v = serde_json::to_value(build_create(&f, false, &lookup).unwrap()).unwrap();
        assert_eq!(
            v["HostConfig"]["LogConfig"],
            json!({"Type": "", "Config": {}})
        );
        let f = flags(&["--log-driver", "none", "--log-opt", "a=b", "busybox"]);
        assert_eq!(
            build_create(&f, false, &lookup).unwrap_err(),
            "invalid logging opts for driver none"
        );
    }
}
