//! `pause`, `unpause`, `top` and `rename` (docker/cli 28 `pause.go`,
//! `unpause.go`, `top.go`, `rename.go`).

use super::{collect_errors, CmdResult, Failure};
use crate::client::{json_body, path_escape, Client, Query};
use crate::format::table::go_tabwriter;
use clap::Args;
use serde::Deserialize;
use std::io::Write;

#[derive(Args, Debug)]
pub struct ContainersArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
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

#[derive(Args, Debug)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub old: String,
    #[arg(value_name = "NEW_NAME")]
    pub new: String,
}

async fn each(client: &Client, a: &ContainersArgs, action: &str) -> CmdResult {
    let mut errs = Vec::new();
    for name in &a.containers {
        let path = format!("/containers/{}/{action}", path_escape(name));
        match client.post(&path, &Query::new()).await {
            Ok(_) => println!("{name}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    collect_errors(errs)
}

pub async fn pause(client: &Client, a: &ContainersArgs) -> CmdResult {
    each(client, a, "pause").await
}

pub async fn unpause(client: &Client, a: &ContainersArgs) -> CmdResult {
    each(client, a, "unpause").await
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

pub async fn rename(client: &Client, a: &RenameArgs) -> CmdResult {
    let (old, new) = (a.old.trim(), a.new.trim());
    if old.is_empty() || new.is_empty() {
        return Err(Failure::new(
            "Error: Neither old nor new names may be empty",
            1,
        ));
    }
    let q = Query::new().set("name", new);
    match client
        .post(&format!("/containers/{}/rename", path_escape(old)), &q)
        .await
    {
        Ok(_) => Ok(0),
        Err(e) => Err(Failure::new(
            format!("{e}\nError: failed to rename container named {old}"),
            1,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
