//! `update` and `stats` (docker/cli 28 `container/update.go`, `container/stats.go`,
//! `container/stats_helpers.go`, `formatter/stats.go`): live limits and the live
//! table of CPU %, memory, network and block I/O and pids.

use crate::client::{json_body, path_escape, Client, Query};
use crate::commands::{collect_errors, CmdResult, Failure};
use crate::format::humanize::{go_fmt_g, human_size_with_precision};
use crate::format::table::{render, Row};
use crate::opts::{parse_cpus, ram_in_bytes};
use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// The body of `POST /containers/{id}/update`.
pub fn update_body(a: &UpdateArgs) -> Result<Value, String> {
    let mut m = Map::new();
    let size = |v: &Option<String>, flag: &str| -> Result<Option<i64>, String> {
        v.as_ref()
            .map(|x| {
                ram_in_bytes(x)
                    .map_err(|e| format!("invalid argument \"{x}\" for \"{flag}\" flag: {e}"))
            })
            .transpose()
    };
    if let Some(v) = size(&a.memory, "-m, --memory")? {
        m.insert("Memory".into(), v.into());
    }
    match a.memory_swap.as_deref() {
        Some("-1") => {
            m.insert("MemorySwap".into(), (-1).into());
        }
        Some(_) => {
            if let Some(v) = size(&a.memory_swap, "--memory-swap")? {
                m.insert("MemorySwap".into(), v.into());
            }
        }
        None => {}
    }
    if let Some(v) = size(&a.memory_reservation, "--memory-reservation")? {
        m.insert("MemoryReservation".into(), v.into());
    }
    for (k, v) in [
        ("CpuShares", a.cpu_shares),
        ("CpuQuota", a.cpu_quota),
        ("CpuPeriod", a.cpu_period),
        ("PidsLimit", a.pids_limit),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v.into());
        }
    }
    if let Some(c) = &a.cpus {
        m.insert(
            "NanoCpus".into(),
            parse_cpus(c)
                .map_err(|e| format!("invalid argument \"{c}\" for \"--cpus\" flag: {e}"))?
                .into(),
        );
    }
    if let Some(v) = &a.cpuset_cpus {
        m.insert("CpusetCpus".into(), v.clone().into());
    }
    if let Some(v) = &a.cpuset_mems {
        m.insert("CpusetMems".into(), v.clone().into());
    }
    if let Some(v) = a.blkio_weight {
        m.insert("BlkioWeight".into(), v.into());
    }
    if let Some(r) = &a.restart {
        let (name, count) = match r.split_once(':') {
            Some((n, c)) => (n.to_string(), c.parse::<i64>().map_err(|_| format!("invalid restart policy format: maximum retry count must be an integer: {c}"))?),
            None => (r.clone(), 0),
        };
        m.insert(
            "RestartPolicy".into(),
            json!({"Name": name, "MaximumRetryCount": count}),
        );
    }
    if m.is_empty() {
        return Err("you must provide one or more flags when using this command".into());
    }
    Ok(Value::Object(m))
}

pub async fn update(client: &Client, a: &UpdateArgs) -> CmdResult {
    let body = update_body(a).map_err(|e| Failure::new(format!("docker: {e}"), 1))?;
    let mut errs = Vec::new();
    for c in &a.containers {
        match client
            .post_json(
                &format!("/containers/{}/update", path_escape(c)),
                &Query::new(),
                &body,
            )
            .await
        {
            Ok(resp) => {
                let v: Value = json_body(resp).await.unwrap_or(Value::Null);
                for w in v["Warnings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|w| w.as_str())
                {
                    eprintln!("{w}");
                }
                println!("{c}");
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// go-units `BytesSize`: `%.4g` over powers of 1024 with `KiB`, `MiB`, ...
pub fn bytes_size(size: f64) -> String {
    const ABBRS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1024.0 && i < ABBRS.len() - 1 {
        s /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_fmt_g(s, 4), ABBRS[i])
}

/// One table row from a stats JSON object, computed as docker/cli does.
pub fn stats_row(v: &Value, no_trunc: bool) -> Row {
    let f = |p: &Value| p.as_f64().unwrap_or(0.0);
    let cpu = &v["cpu_stats"];
    let pre = &v["precpu_stats"];
    let cpu_delta = f(&cpu["cpu_usage"]["total_usage"]) - f(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = f(&cpu["system_cpu_usage"]) - f(&pre["system_cpu_usage"]);
    let mut online = f(&cpu["online_cpus"]);
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0) as f64;
    }
    let cpu_pct = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let mem = &v["memory_stats"];
    let usage = f(&mem["usage"]);
    // Page cache that can be reclaimed is not "used" (v1: total_inactive_file).
    let cache = ["total_inactive_file", "inactive_file"]
        .iter()
        .map(|k| f(&mem["stats"][*k]))
        .find(|c| *c > 0.0 && *c < usage)
        .unwrap_or(0.0);
    let used = usage - cache;
    let limit = f(&mem["limit"]);
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in v["networks"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        rx += f(&n["rx_bytes"]);
        tx += f(&n["tx_bytes"]);
    }
    let (mut rd, mut wr) = (0.0, 0.0);
    for e in v["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"].as_str().map(|s| s.to_ascii_lowercase()) {
            Some(op) if op == "read" => rd += f(&e["value"]),
            Some(op) if op == "write" => wr += f(&e["value"]),
            _ => {}
        }
    }
    let id = v["id"].as_str().unwrap_or_default();
    let mut r = Row::new();
    r.insert(
        "ID".into(),
        if no_trunc {
            id.to_string()
        } else {
            id[..12.min(id.len())].to_string()
        },
    );
    r.insert("Container".into(), r["ID"].clone());
    r.insert(
        "Name".into(),
        v["name"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
    );
    r.insert("CPUPerc".into(), format!("{cpu_pct:.2}%"));
    r.insert(
        "MemUsage".into(),
        format!("{} / {}", bytes_size(used), bytes_size(limit)),
    );
    r.insert("MemPerc".into(), format!("{mem_pct:.2}%"));
    r.insert(
        "NetIO".into(),
        format!(
            "{} / {}",
            human_size_with_precision(rx, 3),
            human_size_with_precision(tx, 3)
        ),
    );
    r.insert(
        "BlockIO".into(),
        format!(
            "{} / {}",
            human_size_with_precision(rd, 3),
            human_size_with_precision(wr, 3)
        ),
    );
    r.insert(
        "PIDs".into(),
        format!("{}", v["pids_stats"]["current"].as_u64().unwrap_or(0)),
    );
    r
}

const STATS_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const STATS_HEADERS: [(&str, &str); 9] = [
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

async fn targets(client: &Client, a: &StatsArgs) -> Result<Vec<String>, Failure> {
    if !a.containers.is_empty() {
        return Ok(a.containers.clone());
    }
    let q = Query::new().set_if(a.all, "all", "1");
    let list: Vec<Value> = client.get_json("/containers/json", &q).await?;
    Ok(list
        .iter()
        .filter_map(|c| c["Id"].as_str().map(String::from))
        .collect())
}

async fn sample(client: &Client, names: &[String], no_trunc: bool) -> (Vec<Row>, Vec<String>) {
    let mut rows = vec![];
    let mut errs = vec![];
    for c in names {
        let q = Query::new().set("stream", "0");
        match client
            .get_json::<Value>(&format!("/containers/{}/stats", path_escape(c)), &q)
            .await
        {
            Ok(v) => rows.push(stats_row(&v, no_trunc)),
            Err(e) => errs.push(e.to_string()),
        }
    }
    (rows, errs)
}

pub async fn stats(client: &Client, a: &StatsArgs) -> CmdResult {
    let format = a.format.clone().unwrap_or_else(|| STATS_FORMAT.to_string());
    loop {
        let names = targets(client, a).await?;
        let (rows, errs) = sample(client, &names, a.no_trunc).await;
        let text = render(&format, &rows, &STATS_HEADERS)?;
        if a.no_stream {
            print!("{text}");
            return collect_errors(errs);
        }
        // Redraw in place, as docker does on a terminal.
        print!("\x1b[2J\x1b[H{text}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_read_like_go_units() {
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(32.0 * 1024.0 * 1024.0), "32MiB");
        assert_eq!(bytes_size(1.23 * 1024f64.powi(3)), "1.23GiB");
    }

    #[test]
    fn a_stats_row_is_computed_like_docker_cli() {
        let v = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000u64}, "system_cpu_usage": 10_000_000_000u64},
            "memory_stats": {"usage": 10_485_760, "limit": 104_857_600, "stats": {"total_inactive_file": 2_097_152}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 500}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3}
        });
        let r = stats_row(&v, false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "20.00%");
        assert_eq!(r["MemUsage"], "8MiB / 100MiB");
        assert_eq!(r["MemPerc"], "8.00%");
        assert_eq!(r["NetIO"], "1.5kB / 500B");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
    }

    #[test]
    fn update_needs_a_flag_and_parses_sizes() {
        let mut a = UpdateArgs {
            memory: None,
            memory_swap: None,
            memory_reservation: None,
            cpu_shares: None,
            cpu_quota: None,
            cpu_period: None,
            cpus: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            pids_limit: None,
            blkio_weight: None,
            restart: None,
            containers: vec!["x".into()],
        };
        assert!(update_body(&a).is_err());
        a.memory = Some("64m".into());
        a.cpus = Some("0.5".into());
        let b = update_body(&a).unwrap();
        assert_eq!(b["Memory"], 64 << 20);
        assert_eq!(b["NanoCpus"], 500_000_000);
    }
}
