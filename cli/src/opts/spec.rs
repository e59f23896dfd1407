//! The string forms of single flags, as docker/cli parses them: `-p`
//! (`parse_publish`, `expand_publish`), `--mount`, `--restart`, `--log-opt`,
//! `--cpus`, and `--link` names.

use super::*;

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
pub(super) fn normalize_link(l: &str) -> String {
    match l.split_once(':') {
        Some((n, a)) => format!("{n}:{a}"),
        None => format!("{l}:{l}"),
    }
}

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
