//! One service of a Compose file, normalised: every key the specification
//! gives a service, short and long syntaxes alike.

use super::super::load::{key_text, path_text, Seg};
use super::values::*;
use super::{Build, Condition, Healthcheck, Mount, MountKind, Problem, Service};
use serde_yaml::Value;
use shared::units::GoDuration;
use std::collections::BTreeMap;
use std::path::Path;

/// Service keys of the specification that Dockhand reads.
const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "tmpfs",
    "networks",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "labels",
    "profiles",
    "scale",
    "container_name",
    "hostname",
    "user",
    "working_dir",
    "stop_signal",
    "stop_grace_period",
    "tty",
    "stdin_open",
    "privileged",
    "read_only",
    "init",
    "cap_add",
    "cap_drop",
    "dns",
    "extra_hosts",
    "mem_limit",
    "cpus",
    "pids_limit",
    "configs",
    "secrets",
    "pull_policy",
    "platform",
];

/// Service keys of the specification that Dockhand accepts and ignores.
const SERVICE_KEYS_IGNORED: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpuset",
    "credential_spec",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns_opt",
    "dns_search",
    "domainname",
    "external_links",
    "extends",
    "gpus",
    "group_add",
    "ipc",
    "isolation",
    "links",
    "logging",
    "mac_address",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "network_mode",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "post_start",
    "pre_stop",
    "runtime",
    "security_opt",
    "shm_size",
    "storage_opt",
    "sysctls",
    "ulimits",
    "userns_mode",
    "uts",
    "volumes_from",
    "label_file",
    "provider",
    "models",
    "use_api_socket",
];

pub(super) fn service(
    v: &Value,
    p: &[Seg],
    dir: &Path,
    warn: &mut dyn FnMut(String),
) -> Result<Service, Problem> {
    let m = as_map(v, p)?;
    let mut s = Service {
        replicas: 1,
        ..Default::default()
    };
    let mut replicas_set = false;
    for (k, v) in m {
        let k = key_text(k);
        let kp = child(p, &k);
        match k.as_str() {
            "image" => s.image = Some(as_str(v, &kp)?),
            "build" => s.build = Some(build(v, &kp, dir)?),
            "command" => s.command = command(v, &kp)?,
            "entrypoint" => s.entrypoint = command(v, &kp)?,
            "environment" => s.environment = environment(v, &kp)?,
            "env_file" => {
                s.env_file = string_or_list(v, &kp)?
                    .iter()
                    .map(|f| abs(dir, f))
                    .collect()
            }
            "ports" => {
                s.ports = list(v, &kp)?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| port(v, &child_i(&kp, i)))
                    .collect::<Result<_, _>>()?
            }
            "expose" => {
                s.expose = list(v, &kp)?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| scalar(v, &child_i(&kp, i)))
                    .collect::<Result<_, _>>()?
            }
            "volumes" => {
                s.volumes = list(v, &kp)?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| mount(v, &child_i(&kp, i), dir))
                    .collect::<Result<_, _>>()?
            }
            "tmpfs" => s.tmpfs = string_or_list(v, &kp)?,
            "networks" => s.networks = service_networks(v, &kp)?,
            "depends_on" => s.depends_on = depends_on(v, &kp)?,
            "healthcheck" => s.healthcheck = healthcheck(v, &kp)?,
            "restart" => {
                let r = as_str(v, &kp)?;
                let base = r.split(':').next().unwrap_or("");
                if !["no", "always", "on-failure", "unless-stopped"].contains(&base) {
                    return Err((kp, format!("invalid restart policy {r:?}: must be no, always, on-failure[:max-retries] or unless-stopped")));
                }
                s.restart = Some(r);
            }
            "deploy" => {
                let d = as_map(v, &kp)?;
                for (dk, dv) in d {
                    let dk = key_text(dk);
                    let dp = child(&kp, &dk);
                    match dk.as_str() {
                        "replicas" => {
                            s.replicas = as_u32(dv, &dp)?;
                            replicas_set = true;
                        }
                        "resources" => {
                            for (rk, rv) in as_map(dv, &dp)? {
                                let rk = key_text(rk);
                                let rp = child(&dp, &rk);
                                if rk == "limits" {
                                    for (lk, lv) in as_map(rv, &rp)? {
                                        let lk = key_text(lk);
                                        let lp = child(&rp, &lk);
                                        match lk.as_str() {
                                            "cpus" => s.cpus = Some(scalar(lv, &lp)?),
                                            "memory" => s.memory = Some(scalar(lv, &lp)?),
                                            "pids" => s.pids_limit = Some(as_i64(lv, &lp)?),
                                            _ => warn(format!(
                                                "{} is not supported by Dockhand and is ignored",
                                                path_text(&lp)
                                            )),
                                        }
                                    }
                                } else {
                                    warn(format!(
                                        "{} is not supported by Dockhand and is ignored",
                                        path_text(&rp)
                                    ));
                                }
                            }
                        }
                        "labels" | "mode" | "placement" | "update_config" | "rollback_config"
                        | "restart_policy" | "endpoint_mode" => warn(format!(
                            "{} is not supported by Dockhand and is ignored",
                            path_text(&dp)
                        )),
                        _ => return Err((dp, format!("additional property {dk} is not allowed"))),
                    }
                }
            }
            "labels" => s.labels = kv_map(v, &kp)?,
            "profiles" => s.profiles = string_or_list(v, &kp)?,
            "scale" => {
                if !replicas_set {
                    s.replicas = as_u32(v, &kp)?;
                }
            }
            "container_name" => s.container_name = Some(as_str(v, &kp)?),
            "hostname" => s.hostname = Some(as_str(v, &kp)?),
            "user" => s.user = Some(scalar(v, &kp)?),
            "working_dir" => s.working_dir = Some(as_str(v, &kp)?),
            "stop_signal" => s.stop_signal = Some(as_str(v, &kp)?),
            "stop_grace_period" => {
                let text = scalar(v, &kp)?;
                let secs = shared::units::parse_duration(&text)
                    .map_err(|e| (kp.clone(), format!("invalid duration {text:?}: {e}")))?;
                s.stop_grace_period = Some(secs.as_nanos() / GoDuration::SECOND);
            }
            "tty" => s.tty = as_bool(v, &kp)?,
            "stdin_open" => s.stdin_open = as_bool(v, &kp)?,
            "privileged" => s.privileged = as_bool(v, &kp)?,
            "read_only" => s.read_only = as_bool(v, &kp)?,
            "init" => s.init = as_bool(v, &kp)?,
            "cap_add" => s.cap_add = string_or_list(v, &kp)?,
            "cap_drop" => s.cap_drop = string_or_list(v, &kp)?,
            "dns" => s.dns = string_or_list(v, &kp)?,
            "extra_hosts" => {
                s.extra_hosts = match v {
                    Value::Mapping(_) => kv_map(v, &kp)?
                        .into_iter()
                        .map(|(h, ip)| format!("{h}:{ip}"))
                        .collect(),
                    _ => string_or_list(v, &kp)?
                        .into_iter()
                        .map(|e| e.replacen('=', ":", 1))
                        .collect(),
                }
            }
            "mem_limit" => s.memory = Some(scalar(v, &kp)?),
            "cpus" => s.cpus = Some(scalar(v, &kp)?),
            "pids_limit" => s.pids_limit = Some(as_i64(v, &kp)?),
            "configs" => s.configs = file_refs(v, &kp, "/")?,
            "secrets" => s.secrets = file_refs(v, &kp, "/run/secrets/")?,
            "pull_policy" => {
                let pp = as_str(v, &kp)?;
                if ![
                    "always",
                    "never",
                    "missing",
                    "if_not_present",
                    "build",
                    "daily",
                    "weekly",
                ]
                .contains(&pp.as_str())
                {
                    return Err((kp, format!("invalid pull_policy {pp:?}")));
                }
                s.pull_policy = Some(pp);
            }
            "platform" => {}
            _ if k.starts_with("x-") => {}
            _ if SERVICE_KEYS_IGNORED.contains(&k.as_str()) => warn(format!(
                "{} is not supported by Dockhand and is ignored",
                path_text(&kp)
            )),
            _ => {
                debug_assert!(!SERVICE_KEYS.contains(&k.as_str()));
                return Err((kp, format!("additional property {k} is not allowed")));
            }
        }
    }
    Ok(s)
}

fn build(v: &Value, p: &[Seg], dir: &Path) -> Result<Build, Problem> {
    if let Value::String(ctx) = v {
        return Ok(Build {
            context: abs(dir, ctx),
            ..Default::default()
        });
    }
    let m = as_map(v, p)?;
    let mut b = Build {
        context: dir.to_path_buf(),
        ..Default::default()
    };
    for (k, v) in m {
        let k = key_text(k);
        let kp = child(p, &k);
        match k.as_str() {
            "context" => b.context = abs(dir, &as_str(v, &kp)?),
            "dockerfile" => b.dockerfile = Some(as_str(v, &kp)?),
            "args" => b.args = kv_map(v, &kp)?,
            "target" => b.target = Some(as_str(v, &kp)?),
            "labels"
            | "cache_from"
            | "cache_to"
            | "network"
            | "shm_size"
            | "extra_hosts"
            | "platforms"
            | "tags"
            | "pull"
            | "no_cache"
            | "secrets"
            | "ssh"
            | "additional_contexts"
            | "isolation"
            | "privileged"
            | "ulimits"
            | "dockerfile_inline"
            | "entitlements"
            | "provenance"
            | "sbom" => {}
            _ if k.starts_with("x-") => {}
            _ => return Err((kp, format!("additional property {k} is not allowed"))),
        }
    }
    Ok(b)
}

/// `command`/`entrypoint`: a string is split as a shell would (no expansion).
fn command(v: &Value, p: &[Seg]) -> Result<Option<Vec<String>>, Problem> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => shell_words(s).map(Some).map_err(|e| (p.to_vec(), e)),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| scalar(x, &child_i(p, i)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err((p.to_vec(), "must be a string or a list of strings".into())),
    }
}

/// `environment`: a list of `K=V` (or `K` alone: from the shell, dropped when
/// unset, as Compose does) or a map (`K: V`, `K:` for from the shell).
fn environment(v: &Value, p: &[Seg]) -> Result<Vec<String>, Problem> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, x)| match scalar(x, &child_i(p, i)) {
                Ok(e) if e.contains('=') => Some(Ok(e)),
                Ok(e) => std::env::var(&e).ok().map(|val| Ok(format!("{e}={val}"))),
                Err(err) => Some(Err(err)),
            })
            .collect(),
        Value::Mapping(m) => {
            let mut out = vec![];
            for (k, val) in m {
                let k = key_text(k);
                match val {
                    Value::Null => {
                        if let Ok(from_shell) = std::env::var(&k) {
                            out.push(format!("{k}={from_shell}"));
                        }
                    }
                    _ => out.push(format!("{k}={}", scalar(val, &child(p, &k))?)),
                }
            }
            Ok(out)
        }
        Value::Null => Ok(vec![]),
        _ => Err((
            p.to_vec(),
            "must be a mapping or a list of KEY=VALUE strings".into(),
        )),
    }
}

/// A port in the short form (`"8080:80"`, `80`, `"127.0.0.1:8080:80/udp"`) or
/// the long one, as a `-p` value.
fn port(v: &Value, p: &[Seg]) -> Result<String, Problem> {
    let text = match v {
        Value::Mapping(m) => {
            let mut target = None;
            let mut published = None;
            let mut host_ip = None;
            let mut protocol = None;
            for (k, val) in m {
                let k = key_text(k);
                let kp = child(p, &k);
                match k.as_str() {
                    "target" => target = Some(scalar(val, &kp)?),
                    "published" => published = Some(scalar(val, &kp)?),
                    "host_ip" => host_ip = Some(as_str(val, &kp)?),
                    "protocol" => protocol = Some(as_str(val, &kp)?),
                    "mode" | "name" | "app_protocol" => {}
                    _ => return Err((kp, format!("additional property {k} is not allowed"))),
                }
            }
            let Some(target) = target else {
                return Err((p.to_vec(), "a port needs a target".into()));
            };
            let mut s = String::new();
            if let Some(ip) = host_ip {
                s.push_str(&ip);
                s.push(':');
                if published.is_none() {
                    s.push(':');
                }
            }
            if let Some(pb) = published {
                s.push_str(&pb);
                s.push(':');
            }
            s.push_str(&target);
            if let Some(proto) = protocol {
                s.push('/');
                s.push_str(&proto);
            }
            s
        }
        _ => scalar(v, p)?,
    };
    crate::opts::spec::expand_publish(&text).map_err(|e| (p.to_vec(), e))?;
    Ok(text)
}

/// A volume in the short form (`data:/data:ro`, `./src:/src`, `/cache`) or the long one.
fn mount(v: &Value, p: &[Seg], dir: &Path) -> Result<Mount, Problem> {
    let host_path = |src: &str| -> String {
        if let Some(rest) = src.strip_prefix('~') {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            format!("{home}{rest}")
        } else {
            abs(dir, src).to_string_lossy().into_owned()
        }
    };
    if let Value::Mapping(m) = v {
        let mut kind = None;
        let mut source = String::new();
        let mut target = None;
        let mut read_only = false;
        for (k, val) in m {
            let k = key_text(k);
            let kp = child(p, &k);
            match k.as_str() {
                "type" => {
                    kind = Some(match as_str(val, &kp)?.as_str() {
                        "volume" => MountKind::Volume,
                        "bind" => MountKind::Bind,
                        "tmpfs" => MountKind::Tmpfs,
                        other => {
                            return Err((
                                kp,
                                format!("unsupported volume type {other:?}: volume, bind or tmpfs"),
                            ))
                        }
                    })
                }
                "source" => source = as_str(val, &kp)?,
                "target" => target = Some(as_str(val, &kp)?),
                "read_only" => read_only = as_bool(val, &kp)?,
                "bind" | "volume" | "tmpfs" | "consistency" | "image" => {}
                _ => return Err((kp, format!("additional property {k} is not allowed"))),
            }
        }
        let Some(kind) = kind else {
            return Err((p.to_vec(), "a volume needs a type".into()));
        };
        let Some(target) = target else {
            return Err((p.to_vec(), "a volume needs a target".into()));
        };
        if kind == MountKind::Bind {
            source = host_path(&source);
        }
        return Ok(Mount {
            kind,
            source,
            target,
            read_only,
        });
    }
    let text = as_str(v, p)?;
    let parts: Vec<&str> = text.split(':').collect();
    let (src, target, mode) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => {
            return Err((
                p.to_vec(),
                format!("invalid volume specification: {text:?}"),
            ))
        }
    };
    if !target.starts_with('/') {
        return Err((
            p.to_vec(),
            format!("invalid volume specification: {text:?}: the target must be an absolute path"),
        ));
    }
    let read_only = mode.split(',').any(|m| m == "ro");
    Ok(if src.is_empty() {
        Mount {
            kind: MountKind::Volume,
            source: String::new(),
            target: target.into(),
            read_only,
        }
    } else if src.starts_with(['.', '/', '~']) {
        Mount {
            kind: MountKind::Bind,
            source: host_path(src),
            target: target.into(),
            read_only,
        }
    } else {
        Mount {
            kind: MountKind::Volume,
            source: src.into(),
            target: target.into(),
            read_only,
        }
    })
}

fn service_networks(v: &Value, p: &[Seg]) -> Result<BTreeMap<String, Vec<String>>, Problem> {
    let mut out = BTreeMap::new();
    match v {
        Value::Sequence(items) => {
            for (i, x) in items.iter().enumerate() {
                out.insert(as_str(x, &child_i(p, i))?, vec![]);
            }
        }
        Value::Mapping(m) => {
            for (k, val) in m {
                let k = key_text(k);
                let kp = child(p, &k);
                let mut aliases = vec![];
                if !val.is_null() {
                    for (ak, av) in as_map(val, &kp)? {
                        let ak = key_text(ak);
                        let ap = child(&kp, &ak);
                        match ak.as_str() {
                            "aliases" => aliases = string_or_list(av, &ap)?,
                            "ipv4_address" | "ipv6_address" | "priority" | "link_local_ips"
                            | "mac_address" | "driver_opts" | "gw_priority" | "interface_name" => {}
                            _ => {
                                return Err((
                                    ap,
                                    format!("additional property {ak} is not allowed"),
                                ))
                            }
                        }
                    }
                }
                out.insert(k, aliases);
            }
        }
        _ => return Err((p.to_vec(), "must be a list or a mapping".into())),
    }
    Ok(out)
}

fn depends_on(v: &Value, p: &[Seg]) -> Result<BTreeMap<String, Condition>, Problem> {
    let mut out = BTreeMap::new();
    match v {
        Value::Sequence(items) => {
            for (i, x) in items.iter().enumerate() {
                out.insert(as_str(x, &child_i(p, i))?, Condition::Started);
            }
        }
        Value::Mapping(m) => {
            for (k, val) in m {
                let k = key_text(k);
                let kp = child(p, &k);
                let mut cond = Condition::Started;
                for (ck, cv) in as_map(val, &kp)? {
                    let ck = key_text(ck);
                    let cp = child(&kp, &ck);
                    match ck.as_str() {
                        "condition" => {
                            let name = as_str(cv, &cp)?;
                            cond = Condition::parse(&name).ok_or_else(|| (cp, format!("invalid condition {name:?}: service_started, service_healthy or service_completed_successfully")))?;
                        }
                        "restart" | "required" => {}
                        _ => return Err((cp, format!("additional property {ck} is not allowed"))),
                    }
                }
                out.insert(k, cond);
            }
        }
        _ => return Err((p.to_vec(), "must be a list or a mapping".into())),
    }
    Ok(out)
}

fn healthcheck(v: &Value, p: &[Seg]) -> Result<Option<Healthcheck>, Problem> {
    let m = as_map(v, p)?;
    let mut h = Healthcheck::default();
    for (k, val) in m {
        let k = key_text(k);
        let kp = child(p, &k);
        match k.as_str() {
            "test" => {
                h.test = match val {
                    Value::String(s) => vec!["CMD-SHELL".into(), s.clone()],
                    Value::Sequence(_) => {
                        let items = string_or_list(val, &kp)?;
                        if !matches!(
                            items.first().map(String::as_str),
                            Some("CMD" | "CMD-SHELL" | "NONE")
                        ) {
                            return Err((
                                kp,
                                "a list must start with CMD, CMD-SHELL or NONE".into(),
                            ));
                        }
                        items
                    }
                    _ => return Err((kp, "must be a string or a list".into())),
                }
            }
            "interval" => h.interval = Some(duration(val, &kp)?),
            "timeout" => h.timeout = Some(duration(val, &kp)?),
            "start_period" => h.start_period = Some(duration(val, &kp)?),
            "start_interval" => h.start_interval = Some(duration(val, &kp)?),
            "retries" => h.retries = Some(as_i64(val, &kp)?),
            "disable" => {
                if as_bool(val, &kp)? {
                    h.test = vec!["NONE".into()];
                }
            }
            _ => return Err((kp, format!("additional property {k} is not allowed"))),
        }
    }
    Ok(Some(h))
}

fn duration(v: &Value, p: &[Seg]) -> Result<String, Problem> {
    let text = scalar(v, p)?;
    shared::units::parse_duration(&text)
        .map_err(|e| (p.to_vec(), format!("invalid duration {text:?}: {e}")))?;
    Ok(text)
}

fn file_refs(v: &Value, p: &[Seg], dir: &str) -> Result<Vec<(String, String)>, Problem> {
    let mut out = vec![];
    for (i, x) in list(v, p)?.iter().enumerate() {
        let ip = child_i(p, i);
        match x {
            Value::String(s) => out.push((s.clone(), format!("{dir}{s}"))),
            Value::Mapping(m) => {
                let mut source = None;
                let mut target = None;
                for (k, val) in m {
                    let k = key_text(k);
                    let kp = child(&ip, &k);
                    match k.as_str() {
                        "source" => source = Some(as_str(val, &kp)?),
                        "target" => target = Some(as_str(val, &kp)?),
                        "uid" | "gid" | "mode" => {}
                        _ => return Err((kp, format!("additional property {k} is not allowed"))),
                    }
                }
                let Some(source) = source else {
                    return Err((ip, "needs a source".into()));
                };
                let target = match target {
                    Some(t) if t.starts_with('/') => t,
                    Some(t) => format!("{dir}{t}"),
                    None => format!("{dir}{source}"),
                };
                out.push((source, target));
            }
            _ => return Err((ip, "must be a string or a mapping".into())),
        }
    }
    Ok(out)
}
