//! Config validation at create, and the container's /etc/hosts and
//! resolv.conf bases.

use super::*;

pub const HOSTS_BASE: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The container's resolv.conf off user networks: the host's, without
/// loopback resolvers (they would point into the container itself), or
/// Docker's public defaults if none remain (`network::hosts::resolv_conf`).
pub fn container_resolv_conf(host: &str) -> String {
    crate::network::hosts::resolv_conf(host, false)
}

/// `HostConfig.SecurityOpt` as moby reads it; SELinux labels, AppArmor
/// profiles and `writable-cgroups` are accepted and have no effect here.
#[derive(Debug, Default, PartialEq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    /// `seccomp=`: `unconfined`, `builtin` or a profile's JSON; the last wins.
    pub seccomp: Option<String>,
}

/// Parses `--security-opt` values with moby's rules and error texts.
pub fn security_opts(list: &[String]) -> Result<SecurityOpts, String> {
    let mut out = SecurityOpts::default();
    for opt in list {
        if matches!(opt.as_str(), "no-new-privileges") {
            out.no_new_privileges = true;
            continue;
        }
        if matches!(opt.as_str(), "writable-cgroups" | "disable") {
            continue;
        }
        // `=` separates; `:` is the deprecated separator moby still reads.
        let split = if opt.contains('=') {
            opt.split_once('=')
        } else {
            opt.split_once(':')
        };
        let Some((key, value)) = split else {
            return Err(format!("invalid --security-opt 1: {opt:?}"));
        };
        let bool_of = |v: &str| match v {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
            _ => None,
        };
        match key {
            "label" | "apparmor" => {}
            "seccomp" => out.seccomp = Some(value.to_string()),
            "no-new-privileges" => {
                out.no_new_privileges =
                    bool_of(value).ok_or_else(|| format!("invalid --security-opt 2: {opt:?}"))?
            }
            "writable-cgroups" => {
                bool_of(value).ok_or_else(|| format!("invalid --security-opt 2: {opt:?}"))?;
            }
            _ => return Err(format!("invalid --security-opt 2: {opt:?}")),
        }
    }
    Ok(out)
}

/// Checks of `HostConfig` that moby makes at create, with its texts.
pub fn validate_host_config(hc: &shared::api::HostConfig) -> Result<(), String> {
    security_opts(&hc.security_opt)?;
    let mode = |k: &str| {
        hc.extra
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let pid = mode("PidMode");
    if !matches!(pid.as_str(), "" | "host") {
        return Err(if pid.starts_with("container:") {
            format!("PID mode {pid} is not supported by this engine")
        } else {
            format!("invalid PID mode: {pid}")
        });
    }
    let ipc = mode("IpcMode");
    if !matches!(ipc.as_str(), "" | "host" | "private" | "shareable") {
        return Err(if ipc.starts_with("container:") || ipc == "none" {
            format!("IPC mode {ipc} is not supported by this engine")
        } else {
            format!("invalid IPC mode: {ipc}")
        });
    }
    let runtime = mode("Runtime");
    // One runtime, ours, under the name clients know from dockerd ("runc",
    // the default) and under its own.
    if !matches!(runtime.as_str(), "" | "dockhand" | "runc") {
        return Err(format!("unknown or invalid runtime name: {runtime}"));
    }
    let uts = mode("UTSMode");
    if !matches!(uts.as_str(), "" | "host") {
        return Err(format!("invalid UTS mode: {uts}"));
    }
    let cgroupns = mode("CgroupnsMode");
    if !matches!(cgroupns.as_str(), "" | "host" | "private") {
        return Err(format!("invalid cgroup namespace mode: {cgroupns}"));
    }
    let p = &hc.restart_policy;
    match p.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if p.maximum_retry_count != 0 {
                return Err("invalid restart policy: maximum retry count can only be used with 'on-failure'".into());
            }
        }
        "on-failure" => {
            if p.maximum_retry_count < 0 {
                return Err("invalid restart policy: maximum retry count cannot be negative".into());
            }
        }
        other => {
            return Err(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ))
        }
    }
    if hc.auto_remove && !matches!(p.name.as_str(), "" | "no") {
        return Err("can't create 'AutoRemove' container with restart policy".into());
    }
    if let Some(log) = hc.extra.get("LogConfig") {
        let kind = log.get("Type").and_then(|t| t.as_str()).unwrap_or("");
        if !matches!(kind, "" | "json-file" | "none") {
            return Err(format!(
                "logger: no log driver named '{kind}' is registered"
            ));
        }
        let opt = |k: &str| {
            log.get("Config")
                .and_then(|c| c.get(k))
                .and_then(|v| v.as_str())
        };
        if let Some(v) = opt("max-size") {
            if parse_size(v).is_none() {
                return Err(format!("invalid max-size: {v}"));
            }
        }
        if let Some(v) = opt("max-file") {
            if v.parse::<u32>().ok().filter(|n| *n > 0).is_none() {
                return Err(format!("invalid max-file: {v}"));
            }
        }
        if let Some(cfg) = log.get("Config").and_then(|c| c.as_object()) {
            if kind == "none" && !cfg.is_empty() {
                return Err("invalid logging opts for driver none".into());
            }
            for k in cfg.keys() {
                if !matches!(
                    k.as_str(),
                    "max-size" | "max-file" | "compress" | "labels" | "env" | "tag"
                ) {
                    return Err(format!("unknown log opt '{k}' for json-file log driver"));
                }
            }
        }
    }
    Ok(())
}
