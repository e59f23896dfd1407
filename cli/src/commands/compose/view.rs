//! What a project shows: `ps` and `ls` (Compose v2's columns), `logs` (one
//! prefix per container, `web-1  | `, coloured on a terminal, lines whole),
//! the output `up` attaches to, and `config` (the normalised project as YAML).

use super::convert;
use super::model::Project;
use super::{containers, esc, name_of, select, ComposeArgs};
use crate::client::{body_stream, Client, Query};
use crate::commands::{CmdResult, Failure};
use crate::format::humanize::time_ago;
use crate::format::rows::{displayable_ports, ellipsis};
use crate::format::table::align;
use clap::Args;
use futures_util::StreamExt;
use shared::api::ContainerSummary;
use shared::mux::{Demuxer, STDERR};
use std::collections::BTreeMap;
use std::io::Write;
use tokio::sync::mpsc;

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display services
    #[arg(long)]
    pub services: bool,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead | created | exited]
    #[arg(long, value_name = "stringArray")]
    pub status: Vec<String>,
    /// Format the output. Values: [table | json]
    #[arg(long, value_name = "string", default_value = "table")]
    pub format: String,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "SERVICE")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container
    #[arg(short = 'n', long, value_name = "string", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// index of the container if service has multiple replicas
    #[arg(long, value_name = "int")]
    pub index: Option<u32>,
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    pub networks: bool,
    /// Format the output. Values: [yaml | json]
    #[arg(long, value_name = "string", default_value = "yaml")]
    pub format: String,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display project names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format the output. Values: [table | json]
    #[arg(long, value_name = "string", default_value = "table")]
    pub format: String,
}

fn fail(m: impl Into<String>) -> Failure {
    Failure::new(m, 1)
}

pub async fn ps(client: &Client, project: &Project, a: &PsArgs) -> CmdResult {
    let names = select(project, &a.names)?;
    let oneoff = if a.all { None } else { Some(false) };
    let mut list = containers(
        client,
        &project.name,
        &names,
        a.all || !a.status.is_empty(),
        oneoff,
    )
    .await?;
    if !a.status.is_empty() {
        list.retain(|c| a.status.contains(&c.state));
    }
    if a.services {
        let mut seen = std::collections::BTreeSet::new();
        for c in &list {
            if let Some(s) = c.labels.get(convert::SERVICE) {
                if seen.insert(s.clone()) {
                    println!("{s}");
                }
            }
        }
        return Ok(0);
    }
    if a.quiet {
        for c in &list {
            println!("{}", c.id);
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            for c in &list {
                println!("{}", serde_json::to_string(&ps_json(c)).unwrap_or_default());
            }
            Ok(0)
        }
        "table" => {
            print!("{}", ps_table(&list, !a.no_trunc));
            Ok(0)
        }
        f => Err(fail(format!("unsupported format {f:?}: table or json"))),
    }
}

fn ps_json(c: &ContainerSummary) -> serde_json::Value {
    serde_json::json!({
        "ID": c.id,
        "Name": name_of(c),
        "Image": c.image,
        "Command": c.command,
        "Project": c.labels.get(convert::PROJECT),
        "Service": c.labels.get(convert::SERVICE),
        "Created": c.created,
        "State": c.state,
        "Status": c.status,
        "Health": "",
        "ExitCode": 0,
        "Publishers": c.ports,
        "Labels": c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
    })
}

/// `docker compose ps`'s table: NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS.
pub fn ps_table(list: &[ContainerSummary], trunc: bool) -> String {
    let mut text = String::from("NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS\n");
    for c in list {
        let command = if trunc {
            ellipsis(&c.command, 20)
        } else {
            c.command.clone()
        };
        text.push_str(&format!(
            "{}\t{}\t\"{}\"\t{}\t{}\t{}\t{}\n",
            name_of(c),
            c.image,
            command,
            c.labels.get(convert::SERVICE).map_or("", |s| s.as_str()),
            time_ago(c.created),
            c.status,
            displayable_ports(&c.ports),
        ));
    }
    align(&text)
}

pub async fn ls(client: &Client, a: &LsArgs) -> CmdResult {
    let filters = serde_json::json!({ "label": [convert::PROJECT] }).to_string();
    let list: Vec<ContainerSummary> = client
        .get_json(
            "/containers/json",
            &Query::new().set("all", "1").set("filters", filters),
        )
        .await?;
    // project -> (state -> count, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, String)> = BTreeMap::new();
    for c in &list {
        let Some(p) = c.labels.get(convert::PROJECT) else {
            continue;
        };
        let e = projects.entry(p.clone()).or_default();
        *e.0.entry(c.state.clone()).or_default() += 1;
        if e.1.is_empty() {
            e.1 = c
                .labels
                .get(convert::CONFIG_FILES)
                .cloned()
                .unwrap_or_default();
        }
    }
    projects.retain(|_, (states, _)| a.all || states.contains_key("running"));
    if a.quiet {
        for p in projects.keys() {
            println!("{p}");
        }
        return Ok(0);
    }
    let status = |states: &BTreeMap<String, usize>| {
        states
            .iter()
            .map(|(s, n)| format!("{s}({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match a.format.as_str() {
        "json" => {
            let rows: Vec<serde_json::Value> = projects
                .iter()
                .map(|(name, (states, files))| serde_json::json!({"Name": name, "Status": status(states), "ConfigFiles": files}))
                .collect();
            println!("{}", serde_json::to_string(&rows).unwrap_or_default());
        }
        "table" => {
            let mut text = String::from("NAME\tSTATUS\tCONFIG FILES\n");
            for (name, (states, files)) in &projects {
                text.push_str(&format!("{name}\t{}\t{files}\n", status(states)));
            }
            print!("{}", align(&text));
        }
        f => return Err(fail(format!("unsupported format {f:?}: table or json"))),
    }
    Ok(0)
}

pub fn config(a: &ComposeArgs, c: &ConfigArgs) -> CmdResult {
    let project = super::load_project(a, false)?;
    if c.quiet {
        return Ok(0);
    }
    if c.services || c.volumes || c.networks {
        let keys: Vec<&String> = if c.services {
            project.services.keys().collect()
        } else if c.volumes {
            project.volumes.keys().collect()
        } else {
            project.networks.keys().collect()
        };
        for k in keys {
            println!("{k}");
        }
        return Ok(0);
    }
    let text = match c.format.as_str() {
        "yaml" => serde_yaml::to_string(&project).map_err(|e| fail(e.to_string()))?,
        "json" => serde_json::to_string_pretty(&project).map_err(|e| fail(e.to_string()))? + "\n",
        f => return Err(fail(format!("unsupported format {f:?}: yaml or json"))),
    };
    print!("{text}");
    Ok(0)
}

/// Compose's colours for log prefixes, in its order.
const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "96"];

/// Stream the logs of `list` (each with whether it has a TTY: its logs are not
/// multiplexed), each line prefixed; returns when every stream ends.
async fn stream_logs(
    client: &Client,
    list: Vec<(ContainerSummary, bool)>,
    follow: bool,
    tail: &str,
    timestamps: bool,
    color: bool,
    prefix: bool,
) -> Result<(), Failure> {
    // `web-1` for `shop-web-1`; other names (container_name, v1's) as they are.
    let label = |c: &ContainerSummary| {
        let name = name_of(c);
        match c.labels.get(convert::PROJECT) {
            Some(p) if name.starts_with(&format!("{p}-")) => name[p.len() + 1..].to_string(),
            _ => name,
        }
    };
    let width = list.iter().map(|(c, _)| label(c).len()).max().unwrap_or(0);
    let (tx, mut rx) = mpsc::unbounded_channel::<(bool, String)>();
    let mut tasks = vec![];
    for (i, (c, tty)) in list.into_iter().enumerate() {
        let p = if prefix {
            let text = format!("{:<width$}  | ", label(&c));
            if color {
                format!("\x1b[{}m{text}\x1b[0m", COLORS[i % COLORS.len()])
            } else {
                text
            }
        } else {
            String::new()
        };
        let q = Query::new()
            .set("stdout", "1")
            .set("stderr", "1")
            .set("tail", tail)
            .set_if(follow, "follow", "1")
            .set_if(timestamps, "timestamps", "1");
        let resp = client
            .get(&format!("/containers/{}/logs", esc(&c.id)), &q)
            .await?;
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut body = body_stream(resp);
            let mut demux = Demuxer::default();
            let mut pending: [Vec<u8>; 2] = [vec![], vec![]];
            let emit = |stream: usize, data: &[u8], pending: &mut [Vec<u8>; 2]| {
                pending[stream].extend_from_slice(data);
                while let Some(nl) = pending[stream].iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending[stream].drain(..=nl).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1])
                        .trim_end_matches('\r')
                        .to_string();
                    let _ = tx.send((stream == 1, format!("{p}{text}")));
                }
            };
            while let Some(Ok(chunk)) = body.next().await {
                if tty {
                    emit(0, &chunk, &mut pending);
                    continue;
                }
                demux.push(&chunk);
                while let Some((stream, frame)) = demux.next_frame() {
                    emit(usize::from(stream == STDERR), &frame, &mut pending);
                }
            }
            for (s, rest) in pending.iter().enumerate() {
                if !rest.is_empty() {
                    let _ = tx.send((s == 1, format!("{p}{}", String::from_utf8_lossy(rest))));
                }
            }
        }));
    }
    drop(tx);
    let printer = async {
        while let Some((err, line)) = rx.recv().await {
            if err {
                let mut e = std::io::stderr().lock();
                let _ = writeln!(e, "{line}");
            } else {
                let mut o = std::io::stdout().lock();
                let _ = writeln!(o, "{line}");
                let _ = o.flush();
            }
        }
    };
    printer.await;
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

pub async fn logs(client: &Client, project: &Project, a: &LogsArgs) -> CmdResult {
    let names = select(project, &a.services)?;
    let mut list = containers(client, &project.name, &names, true, Some(false)).await?;
    if let Some(i) = a.index {
        list.retain(|c| super::number_of(c) == i);
    }
    let list = with_tty_marks(client, list).await?;
    let color = !a.no_color && crate::stream::stdout_is_terminal();
    stream_logs(
        client,
        list,
        a.follow,
        &a.tail,
        a.timestamps,
        color,
        !a.no_log_prefix,
    )
    .await?;
    Ok(0)
}

/// Each container with whether it has a TTY.
async fn with_tty_marks(
    client: &Client,
    list: Vec<ContainerSummary>,
) -> Result<Vec<(ContainerSummary, bool)>, Failure> {
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        let i: shared::api::ContainerInspect = client
            .get_json(&format!("/containers/{}/json", esc(&c.id)), &Query::new())
            .await?;
        out.push((c, i.config.tty));
    }
    Ok(out)
}

/// `up` without `-d`: follow every container's output until they all stop, or
/// until Ctrl+C, which stops the project's containers.
pub async fn attach_logs(
    client: &Client,
    project: &Project,
    services: &[&str],
    timeout: Option<i64>,
) -> CmdResult {
    let list = containers(client, &project.name, services, false, Some(false)).await?;
    let names: Vec<String> = list.iter().map(name_of).collect();
    println!("Attaching to {}", names.join(", "));
    let list = with_tty_marks(client, list).await?;
    let color = crate::stream::stdout_is_terminal();
    tokio::select! {
        r = stream_logs(client, list.clone(), true, "all", false, color, true) => {
            r?;
            Ok(0)
        }
        _ = tokio::signal::ctrl_c() => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            let q = Query::new().set_if(timeout.is_some(), "t", timeout.unwrap_or(0).to_string());
            futures_util::future::join_all(list.iter().map(|(c, _)| {
                let q = q.clone();
                async move {
                    let name = name_of(c);
                    super::event("Container", &name, "Stopping");
                    let _ = client.post(&format!("/containers/{}/stop", esc(&c.id)), &q).await;
                    super::event("Container", &name, "Stopped");
                }
            }))
            .await;
            Ok(130)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_prints_composes_columns() {
        let mut labels = BTreeMap::new();
        labels.insert(convert::SERVICE.to_string(), "web".to_string());
        let c = ContainerSummary {
            id: "abc".into(),
            names: vec!["/cmp-web-1".into()],
            image: "busybox".into(),
            command: "httpd -f -p 80 -h /www/long/path".into(),
            created: chrono::Utc::now().timestamp() - 10,
            labels,
            state: "running".into(),
            status: "Up 9 seconds".into(),
            ports: vec![
                serde_json::json!({"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}),
            ],
            ..Default::default()
        };
        let text = ps_table(&[c], true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NAME "), "{text}");
        assert!(
            lines[0].contains("SERVICE") && lines[0].ends_with("PORTS"),
            "{text}"
        );
        assert!(lines[1].starts_with("cmp-web-1 "), "{text}");
        assert!(lines[1].contains("\"httpd -f -p 80 -h /…\""), "{text}");
        assert!(lines[1].contains(" web "), "{text}");
        assert!(lines[1].ends_with("0.0.0.0:8080->80/tcp"), "{text}");
    }
}
