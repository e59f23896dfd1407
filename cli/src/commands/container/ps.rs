//! `ps` and `top` (docker/cli 28 `container/list.go`, `top.go`).

use crate::client::{json_body, path_escape, Client, Query};
use crate::commands::{filters_json, CmdResult};
use crate::format::rows::{container_row, PS_DEFAULT, PS_DEFAULT_SIZE, PS_HEADERS};
use crate::format::table;
use crate::format::table::go_tabwriter;
use clap::Args;
use serde::Deserialize;
use shared::api::ContainerSummary;
use std::io::Write;

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Args, Debug)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps, passed on as `ps_args`
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    pub ps_args: Vec<String>,
}

/// The format `ps` renders with (docker's `NewContainerFormat`).
pub fn ps_format(format: Option<&str>, quiet: bool, size: bool) -> String {
    match format.unwrap_or("") {
        "" | "table" => {
            if quiet {
                "{{.ID}}".to_string()
            } else if size {
                PS_DEFAULT_SIZE.to_string()
            } else {
                PS_DEFAULT.to_string()
            }
        }
        "raw" => "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n".to_string(),
        f => f.to_string(),
    }
}

pub async fn ps(client: &Client, a: &PsArgs) -> CmdResult {
    let format = ps_format(a.format.as_deref(), a.quiet, a.size);
    let size = a.size || (a.format.is_some() && format.contains(".Size"));
    let limit = if a.latest { 1 } else { a.last };
    let filters = filters_json(&a.filter)?;
    let q = Query::new()
        .set_if(a.all, "all", "1")
        .set_if(limit > 0, "limit", limit.to_string())
        .set_if(size, "size", "1")
        .set_if(filters.is_some(), "filters", filters.unwrap_or_default());
    let list: Vec<ContainerSummary> = client.get_json("/containers/json", &q).await?;
    let rows: Vec<_> = list.iter().map(|c| container_row(c, !a.no_trunc)).collect();
    let out = table::render(&format, &rows, PS_HEADERS)?;
    print!("{out}");
    Ok(0)
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    #[serde(default)]
    pub titles: Vec<String>,
    #[serde(default)]
    pub processes: Option<Vec<Vec<String>>>,
}

/// docker's table: tabwriter(minwidth 20, tabwidth 1, padding 3, ' ').
pub fn render_top(t: &TopResponse) -> String {
    let mut w = go_tabwriter(20, 3);
    let _ = writeln!(w, "{}", t.titles.join("\t"));
    for p in t.processes.iter().flatten() {
        let _ = writeln!(w, "{}", p.join("\t"));
    }
    match w.into_inner() {
        Ok(buf) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => String::new(),
    }
}

pub async fn top(client: &Client, a: &TopArgs) -> CmdResult {
    let q = Query::new().set_if(!a.ps_args.is_empty(), "ps_args", a.ps_args.join(" "));
    let resp = client
        .get(
            &format!("/containers/{}/top", path_escape(&a.container)),
            &q,
        )
        .await?;
    let t: TopResponse = json_body(resp).await?;
    print!("{}", render_top(&t));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_format_selection() {
        assert_eq!(ps_format(None, true, false), "{{.ID}}");
        assert_eq!(ps_format(Some("table"), false, true), PS_DEFAULT_SIZE);
        assert_eq!(ps_format(Some("{{.Names}}"), true, false), "{{.Names}}");
    }

    #[test]
    fn top_is_a_docker_table() {
        let t: TopResponse = serde_json::from_str(
            r#"{"Titles":["UID","PID","PPID","C","STIME","TTY","TIME","CMD"],
                "Processes":[["root","4242","4200","0","10:00","?","00:00:00","sleep 100"]]}"#,
        )
        .unwrap();
        let out = render_top(&t);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        // Every column but the last is at least 20 wide.
        assert!(lines[0].starts_with(&format!("UID{}PID", " ".repeat(17))));
        assert!(lines[1].ends_with("00:00:00            sleep 100"));
    }

    #[test]
    fn top_without_processes_prints_the_titles() {
        let t: TopResponse =
            serde_json::from_str(r#"{"Titles":["PID","CMD"],"Processes":null}"#).unwrap();
        assert_eq!(
            render_top(&t).trim_end(),
            format!("PID{}CMD", " ".repeat(17))
        );
    }
}
