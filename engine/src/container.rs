//! Container records and the pure logic around them: how a create request and an
//! image config combine (entrypoint/cmd, env, workdir), the `ps` status text and
//! filters, and the summary row. No I/O here.

use crate::time;
use shared::api::{ContainerConfig, ContainerInspect, ContainerSummary, SummaryHostConfig};
use std::collections::{BTreeMap, HashMap};

/// Docker's `ReplaceOrAppendEnvValues`: later `KEY=VAL` replace earlier ones in place.
pub fn merge_env(base: &[String], over: &[String]) -> Vec<String> {
    let mut out: Vec<String> = base.to_vec();
    for kv in over {
        let key = kv.split('=').next().unwrap_or(kv);
        match out.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(slot) => *slot = kv.clone(),
            None => out.push(kv.clone()),
        }
    }
    out
}

/// The container's config from the request and the image's config, as Docker's
/// `merge`: an explicit entrypoint drops the image's cmd; empty fields inherit.
pub fn merge_config(req: &ContainerConfig, image: &ContainerConfig) -> ContainerConfig {
    let mut c = req.clone();
    c.env = merge_env(&image.env, &req.env);
    match &req.entrypoint {
        // `--entrypoint ""` arrives as [""]: reset, and do not inherit cmd.
        Some(ep) if ep.len() == 1 && ep[0].is_empty() => c.entrypoint = None,
        Some(_) => {}
        None => {
            c.entrypoint = image.entrypoint.clone();
            if c.cmd.as_ref().is_none_or(|v| v.is_empty()) {
                c.cmd = image.cmd.clone();
            }
        }
    }
    if c.working_dir.is_empty() {
        c.working_dir = image.working_dir.clone();
    }
    // moby's `merge`: no healthcheck asked inherits the image's; an empty test
    // inherits its test and each unset duration.
    match (&mut c.healthcheck, &image.healthcheck) {
        (None, Some(h)) => c.healthcheck = Some(h.clone()),
        (Some(mine), Some(h)) => {
            if mine.test.is_empty() {
                mine.test = h.test.clone();
            }
            for (m, i) in [
                (&mut mine.interval, h.interval),
                (&mut mine.timeout, h.timeout),
                (&mut mine.start_period, h.start_period),
                (&mut mine.start_interval, h.start_interval),
                (&mut mine.retries, h.retries),
            ] {
                if *m == 0 {
                    *m = i;
                }
            }
        }
        _ => {}
    }
    if c.user.is_empty() {
        c.user = image.user.clone();
    }
    let mut labels = image.labels.clone();
    labels.extend(req.labels.clone());
    c.labels = labels;
    if c.exposed_ports.is_none() {
        c.exposed_ports = image.exposed_ports.clone();
    }
    // moby's `merge`: the image's volumes join the ones asked for.
    match (&mut c.volumes, &image.volumes) {
        (Some(v), Some(img)) => {
            for (k, x) in img {
                v.entry(k.clone()).or_insert_with(|| x.clone());
            }
        }
        (None, Some(img)) => c.volumes = Some(img.clone()),
        _ => {}
    }
    if c.stop_signal.is_none() {
        c.stop_signal = image.stop_signal.clone();
    }
    c
}

/// Path and args of the process: entrypoint then cmd.
pub fn command_of(c: &ContainerConfig) -> Option<(String, Vec<String>)> {
    let mut all: Vec<String> = c.entrypoint.clone().unwrap_or_default();
    all.extend(c.cmd.clone().unwrap_or_default());
    let mut it = all.into_iter();
    let path = it.next()?;
    Some((path, it.collect()))
}

/// The `Status` column text of `ps`.
pub fn status_text(rec: &ContainerInspect, now: chrono::DateTime<chrono::Utc>) -> String {
    let since = |t: &str| time::parse(t).map(|t| now - t).unwrap_or_default();
    match rec.state.status.as_str() {
        "running" => format!(
            "Up {}{}",
            time::human_duration(since(&rec.state.started_at)),
            match rec.state.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)",
                Some("healthy") => " (healthy)",
                Some("unhealthy") => " (unhealthy)",
                _ => "",
            }
        ),
        "paused" => format!(
            "Up {} (Paused)",
            time::human_duration(since(&rec.state.started_at))
        ),
        "exited" => format!(
            "Exited ({}) {} ago",
            rec.state.exit_code,
            time::human_duration(since(&rec.state.finished_at))
        ),
        "restarting" => format!(
            "Restarting ({}) {} ago",
            rec.state.exit_code,
            time::human_duration(since(&rec.state.finished_at))
        ),
        "created" => "Created".into(),
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        other => other.to_string(),
    }
}

/// The `ps` row for a record; `image_name` is what the user asked for.
pub fn summary(rec: &ContainerInspect, now: chrono::DateTime<chrono::Utc>) -> ContainerSummary {
    // As moby: arguments with spaces are shown single-quoted.
    let mut command = rec.path.clone();
    for a in &rec.args {
        command.push(' ');
        if a.contains(' ') {
            command.push_str(&format!("'{a}'"));
        } else {
            command.push_str(a);
        }
    }
    ContainerSummary {
        id: rec.id.clone(),
        names: vec![rec.name.clone()],
        image: rec.config.image.clone(),
        image_id: rec.image.clone(),
        command,
        created: time::parse(&rec.created)
            .map(|t| t.timestamp())
            .unwrap_or(0),
        ports: vec![],
        size_rw: None,
        size_root_fs: None,
        labels: rec.config.labels.clone(),
        state: rec.state.status.clone(),
        status: status_text(rec, now),
        host_config: SummaryHostConfig {
            network_mode: rec.host_config.network_mode.clone(),
        },
        network_settings: serde_json::json!({ "Networks": rec.network_settings.networks }),
        mounts: rec.mounts.clone(),
    }
}

/// `ps --filter` values, keyed by filter name (Docker's `filters` query parameter).
pub type Filters = HashMap<String, Vec<String>>;

/// Docker's `filters` JSON: `{"status":{"running":true}}` or the older
/// `{"status":["running"]}`.
pub fn parse_filters(json: &str) -> Result<Filters, String> {
    if json.trim().is_empty() {
        return Ok(Filters::new());
    }
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("invalid filter: {e}"))?;
    let mut out = Filters::new();
    let obj = v.as_object().ok_or("invalid filter: not an object")?;
    for (k, vals) in obj {
        let list: Vec<String> = match vals {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => return Err(format!("invalid filter '{k}'")),
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

const FILTERS: &[&str] = &[
    "status", "name", "id", "label", "ancestor", "exited", "before", "since", "health",
];
const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// Reject unknown filter keys and bad status values with Docker's texts.
pub fn check_filters(f: &Filters) -> Result<(), String> {
    for (k, vals) in f {
        if !FILTERS.contains(&k.as_str()) {
            return Err(format!("invalid filter '{k}'"));
        }
        if k == "health" {
            for v in vals {
                if !matches!(v.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
                    return Err(format!("Unrecognised filter value for health: {v}"));
                }
            }
        }
        if k == "status" {
            for v in vals {
                if !STATUSES.contains(&v.as_str()) {
                    return Err(format!("invalid filter 'status={v}'"));
                }
            }
        }
    }
    Ok(())
}

/// Does the record pass every filter? Values of one key are alternatives,
/// but every `label` value must match (moby's `MatchKVList`).
/// `ancestor_ids` maps each ancestor filter value to the image id it names.
pub fn matches(
    rec: &ContainerInspect,
    f: &Filters,
    ancestor_ids: &BTreeMap<String, String>,
) -> bool {
    if !crate::filters::labels_pass(&rec.config.labels, f) {
        return false;
    }
    f.iter()
        .filter(|(k, _)| k.as_str() != "label")
        .all(|(k, vals)| {
            vals.iter().any(|v| match k.as_str() {
                "status" => rec.state.status == *v,
                "name" => rec
                    .name
                    .trim_start_matches('/')
                    .contains(v.trim_start_matches('/')),
                "id" => rec.id.starts_with(v.as_str()),
                "ancestor" => {
                    rec.config.image == *v || ancestor_ids.get(v).is_some_and(|id| *id == rec.image)
                }
                "exited" => rec.state.status == "exited" && rec.state.exit_code.to_string() == *v,
                "health" => match &rec.state.health {
                    Some(h) => h.status == *v,
                    None => v == "none",
                },
                _ => true,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ContainerConfig {
        ContainerConfig {
            entrypoint: ep.map(|v| v.iter().map(|s| s.to_string()).collect()),
            cmd: cmd.map(|v| v.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd_combine_as_docker() {
        let image = cfg(Some(&["/entry"]), Some(&["default"]));
        assert_eq!(
            command_of(&merge_config(&cfg(None, None), &image)).unwrap(),
            ("/entry".into(), vec!["default".into()])
        );
        assert_eq!(
            command_of(&merge_config(&cfg(None, Some(&["x"])), &image)).unwrap(),
            ("/entry".into(), vec!["x".into()])
        );
        // An explicit entrypoint drops the image's cmd.
        assert_eq!(
            command_of(&merge_config(&cfg(Some(&["sh"]), None), &image)).unwrap(),
            ("sh".into(), vec![])
        );
        // `--entrypoint ""` resets it; then the request's cmd alone runs.
        assert_eq!(
            command_of(&merge_config(&cfg(Some(&[""]), Some(&["ls"])), &image)).unwrap(),
            ("ls".into(), vec![])
        );
        assert!(command_of(&merge_config(&cfg(Some(&[""]), None), &cfg(None, None))).is_none());
    }

    #[test]
    fn env_values_replace_in_place() {
        let base = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let got = merge_env(&base, &["A=2".into(), "B=3".into()]);
        assert_eq!(got, vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn filters_parse_both_forms_and_match() {
        let f = parse_filters(r#"{"status":{"exited":true},"label":["k=v"]}"#).unwrap();
        check_filters(&f).unwrap();
        let mut rec = ContainerInspect::default();
        rec.state.status = "exited".into();
        rec.config.labels.insert("k".into(), "v".into());
        assert!(matches(&rec, &f, &BTreeMap::new()));
        rec.state.status = "running".into();
        assert!(!matches(&rec, &f, &BTreeMap::new()));
        assert!(check_filters(&parse_filters(r#"{"bogus":["1"]}"#).unwrap()).is_err());
        assert!(check_filters(&parse_filters(r#"{"status":["sleepy"]}"#).unwrap()).is_err());
    }

    #[test]
    fn status_texts_read_like_docker() {
        let now = chrono::Utc::now();
        let mut rec = ContainerInspect::default();
        rec.state.status = "exited".into();
        rec.state.exit_code = 3;
        rec.state.finished_at = (now - chrono::Duration::seconds(5)).to_rfc3339();
        assert_eq!(status_text(&rec, now), "Exited (3) 5 seconds ago");
        rec.state.status = "running".into();
        rec.state.started_at = (now - chrono::Duration::minutes(3)).to_rfc3339();
        assert_eq!(status_text(&rec, now), "Up 3 minutes");
        rec.state.status = "created".into();
        assert_eq!(status_text(&rec, now), "Created");
    }
}
