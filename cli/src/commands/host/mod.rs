//! `host create|ls|inspect|rm|exec`: virtual hosts, our extension of the API
//! (`/dockhand/hosts/...` on the machine's daemon socket). A virtual host is a
//! machine of its own for a learner: its own Docker daemon, limits, disk and
//! lifetime. `host exec` runs a process in it as its root through the same code
//! as `docker exec`, under the host's prefix. The `host ls` table is in ls.rs.

pub mod ls;

use crate::client::{json_body, path_escape, Client, Query};
use crate::commands::container::exec::{build_exec, exec_with, ExecApi, ExecOptions};
use crate::commands::container::run::report_error;
use crate::commands::system::inspect::inspect_each;
use crate::commands::{collect_errors, CmdResult, Failure};
use crate::format::table::render;
use crate::opts::{os_lookup, parse_cpus, ram_in_bytes};
use crate::stream::Outputs;
use chrono::Utc;
use clap::{Args, Subcommand};
use ls::{ls_rows, LS_DEFAULT, LS_HEADERS};
use shared::vhost::{VhostCreateRequest, VhostInfo, VhostLimits};
use std::collections::BTreeMap;

/// Where the virtual hosts API lives.
const HOSTS: &str = "/dockhand/hosts";

#[derive(Subcommand, Debug)]
pub enum HostCmd {
    /// Create a virtual host
    Create(CreateArgs),
    /// List virtual hosts
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more virtual hosts
    Inspect(InspectArgs),
    /// Remove one or more virtual hosts
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Execute a command in a virtual host, as its root
    Exec(ExecArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Hostname inside the virtual host (default: its name)
    #[arg(long, value_name = "string")]
    pub hostname: Option<String>,
    /// Memory limit of the whole host, its containers included
    #[arg(short = 'm', long, value_name = "bytes")]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal")]
    pub cpus: Option<String>,
    /// Tune the host's pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Size of the host's disk
    #[arg(long, value_name = "bytes")]
    pub disk: Option<String>,
    /// Remove the host this long after creation (e.g. 2h; 0 or "never": no limit)
    #[arg(long, value_name = "duration")]
    pub ttl: Option<String>,
    /// Remove the host after this long unused (e.g. 30m; 0 or "never": no limit)
    #[arg(long = "idle-timeout", value_name = "duration")]
    pub idle_timeout: Option<String>,
    /// Session: hosts of one session reach each other by hostname
    #[arg(long, value_name = "string")]
    pub session: Option<String>,
    /// Outbound network access
    #[arg(long, value_name = "string", value_parser = ["none", "registries", "all"])]
    pub egress: Option<String>,
    /// Set metadata on the host
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    pub format: Option<String>,
    /// Only display virtual host names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Remove every virtual host
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not error if the virtual host does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(
        value_name = "NAME",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub opts: ExecOptions,
    #[arg(value_name = "HOST")]
    pub host: String,
    /// The command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// A Go duration as the wire's seconds: rounded up (so that `500ms` is not the
/// daemon's default), and `0` or `never` as -1, no limit.
pub fn parse_lifetime(s: &str) -> Result<i64, String> {
    if s.trim().eq_ignore_ascii_case("never") {
        return Ok(-1);
    }
    let d = shared::units::parse_duration(s)?;
    if d.as_nanos() < 0 {
        return Err("a duration must not be negative".into());
    }
    if d.as_nanos() == 0 {
        return Ok(-1);
    }
    Ok(d.ceil_secs())
}

/// The body of `POST /dockhand/hosts/create`, with docker's flag errors.
pub fn create_body(a: &CreateArgs) -> Result<VhostCreateRequest, String> {
    let flag_err = |v: &str, flag: &str, e: String| {
        format!("invalid argument \"{v}\" for \"{flag}\" flag: {e}")
    };
    let size = |v: &Option<String>, flag: &str| -> Result<Option<i64>, String> {
        v.as_deref()
            .map(|x| ram_in_bytes(x).map_err(|e| flag_err(x, flag, e)))
            .transpose()
    };
    let lifetime = |v: &Option<String>, flag: &str| -> Result<i64, String> {
        v.as_deref()
            .map(|x| parse_lifetime(x).map_err(|e| flag_err(x, flag, e)))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let nano_cpus = a
        .cpus
        .as_deref()
        .map(|c| parse_cpus(c).map_err(|e| flag_err(c, "--cpus", e)))
        .transpose()?;
    let labels: BTreeMap<String, String> = a
        .label
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    Ok(VhostCreateRequest {
        name: a.name.clone().unwrap_or_default(),
        hostname: a.hostname.clone().unwrap_or_default(),
        limits: VhostLimits {
            memory: size(&a.memory, "-m, --memory")?,
            nano_cpus,
            pids_limit: a.pids_limit,
            disk: size(&a.disk, "--disk")?,
        },
        ttl: lifetime(&a.ttl, "--ttl")?,
        idle_timeout: lifetime(&a.idle_timeout, "--idle-timeout")?,
        session: a.session.clone().unwrap_or_default(),
        egress: a.egress.clone().unwrap_or_default(),
        labels,
    })
}

/// `/dockhand/hosts/{name}`.
pub fn host_path(name: &str) -> String {
    format!("{HOSTS}/{}", path_escape(name))
}

async fn list(client: &Client) -> Result<Vec<VhostInfo>, Failure> {
    Ok(client.get_json(HOSTS, &Query::new()).await?)
}

pub async fn run(client: &Client, cmd: &HostCmd) -> CmdResult {
    match cmd {
        HostCmd::Create(a) => {
            let body = create_body(a)
                .map_err(|e| Failure::new(report_error("host create", &e, true), 125))?;
            let resp = client
                .post_json(&format!("{HOSTS}/create"), &Query::new(), &body)
                .await?;
            let info: VhostInfo = json_body(resp).await?;
            println!("{}", info.name);
            Ok(0)
        }
        HostCmd::Ls(a) => {
            let hosts = list(client).await?;
            if a.quiet {
                let mut names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
                names.sort_unstable();
                for n in names {
                    println!("{n}");
                }
                return Ok(0);
            }
            let rows = ls_rows(hosts, Utc::now());
            let format = a.format.as_deref().unwrap_or(LS_DEFAULT);
            print!("{}", render(format, &rows, LS_HEADERS)?);
            Ok(0)
        }
        HostCmd::Inspect(a) => inspect_each(client, HOSTS, &a.names, a.format.as_deref()).await,
        HostCmd::Rm(a) => {
            let names = if a.all {
                list(client).await?.into_iter().map(|h| h.name).collect()
            } else {
                a.names.clone()
            };
            let mut errs = Vec::new();
            for n in &names {
                match remove(client, n, a.force || a.all).await {
                    Ok(()) => println!("{n}"),
                    Err(e) => errs.push(e.to_string()),
                }
            }
            collect_errors(errs)
        }
        HostCmd::Exec(a) => {
            let body = build_exec(&a.opts, false, &a.command, &os_lookup)?;
            exec_with(client, &ExecApi::vhost(&a.host), body, Outputs::std()).await
        }
    }
}

/// `DELETE` answers 204 for a host that does not exist; unless forced, look
/// first so that a mistyped name is an error, as `docker rm`'s is.
async fn remove(
    client: &Client,
    name: &str,
    force: bool,
) -> Result<(), crate::client::ClientError> {
    let path = host_path(name);
    if !force {
        client.get(&path, &Query::new()).await?;
    }
    client.delete(&path, &Query::new()).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct T {
        #[command(subcommand)]
        cmd: HostCmd,
    }

    fn parse(v: &[&str]) -> Result<HostCmd, clap::Error> {
        let mut all = vec!["host"];
        all.extend_from_slice(v);
        T::try_parse_from(all).map(|t| t.cmd)
    }

    fn create(v: &[&str]) -> CreateArgs {
        let mut all = vec!["create"];
        all.extend_from_slice(v);
        match parse(&all).unwrap() {
            HostCmd::Create(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lifetimes_are_go_durations_in_whole_seconds_and_zero_is_never() {
        assert_eq!(parse_lifetime("30m"), Ok(1800));
        assert_eq!(parse_lifetime("2h"), Ok(7200));
        assert_eq!(parse_lifetime("90s"), Ok(90));
        assert_eq!(parse_lifetime("1h30m"), Ok(5400));
        assert_eq!(parse_lifetime("500ms"), Ok(1));
        assert_eq!(parse_lifetime("0"), Ok(-1));
        assert_eq!(parse_lifetime("0s"), Ok(-1));
        assert_eq!(parse_lifetime("never"), Ok(-1));
        assert_eq!(
            parse_lifetime("90"),
            Err("time: missing unit in duration \"90\"".to_string())
        );
        assert!(parse_lifetime("soon").is_err());
        assert!(parse_lifetime("-5m").is_err());
    }

    #[test]
    fn create_body_carries_limits_lifetimes_and_labels() {
        let a = create(&[
            "--hostname",
            "box",
            "--memory",
            "512m",
            "--cpus",
            "1.5",
            "--pids-limit",
            "200",
            "--disk",
            "2g",
            "--ttl",
            "2h",
            "--idle-timeout",
            "never",
            "--session",
            "class-1",
            "--egress",
            "registries",
            "--label",
            "course=k8s",
            "--label",
            "empty",
            "lab",
        ]);
        let b = create_body(&a).unwrap();
        assert_eq!(
            b,
            VhostCreateRequest {
                name: "lab".into(),
                hostname: "box".into(),
                limits: VhostLimits {
                    memory: Some(512 << 20),
                    nano_cpus: Some(1_500_000_000),
                    pids_limit: Some(200),
                    disk: Some(2 << 30),
                },
                ttl: 7200,
                idle_timeout: -1,
                session: "class-1".into(),
                egress: "registries".into(),
                labels: BTreeMap::from([
                    ("course".to_string(), "k8s".to_string()),
                    ("empty".to_string(), String::new()),
                ]),
            }
        );
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["Limits"]["NanoCpus"], 1_500_000_000);
        assert_eq!(v["IdleTimeout"], -1);
    }

    #[test]
    fn unset_flags_leave_the_daemons_defaults() {
        let b = create_body(&create(&[])).unwrap();
        assert_eq!(b, VhostCreateRequest::default());
        // Nothing for the limits: the daemon picks them.
        assert_eq!(
            serde_json::to_value(&b).unwrap()["Limits"],
            serde_json::json!({})
        );
    }

    #[test]
    fn bad_flag_values_are_reported_like_docker() {
        let e = create_body(&create(&["--memory", "lots"])).unwrap_err();
        assert_eq!(
            e,
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        let e = create_body(&create(&["--ttl", "2 days"])).unwrap_err();
        assert!(
            e.starts_with("invalid argument \"2 days\" for \"--ttl\" flag"),
            "{e}"
        );
        assert!(create_body(&create(&["--cpus", "x"])).is_err());
        assert!(parse(&["create", "--egress", "some"]).is_err());
        assert!(parse(&["create", "--pids-limit", "-1"]).is_ok());
    }

    #[test]
    fn exec_takes_the_command_with_or_without_a_double_dash() {
        for v in [
            &[
                "exec", "-it", "-e", "A=1", "-w", "/srv", "-u", "1000", "lab", "--", "sh", "-l",
            ][..],
            &[
                "exec", "-it", "-e", "A=1", "-w", "/srv", "-u", "1000", "lab", "sh", "-l",
            ],
        ] {
            let HostCmd::Exec(a) = parse(v).unwrap() else {
                panic!("{v:?}")
            };
            assert_eq!(a.host, "lab");
            assert_eq!(a.command, vec!["sh", "-l"]);
            let b = build_exec(&a.opts, false, &a.command, &|_| None).unwrap();
            assert!(b.tty && b.attach_stdin && !b.detach);
            assert_eq!(b.env, Some(vec!["A=1".to_string()]));
            assert_eq!((b.working_dir.as_str(), b.user.as_str()), ("/srv", "1000"));
        }
        let HostCmd::Exec(a) = parse(&["exec", "-d", "lab", "sleep", "9"]).unwrap() else {
            panic!()
        };
        assert!(a.opts.detach);
        assert!(parse(&["exec", "lab"]).is_err(), "a command is required");
        assert!(parse(&["exec", "--privileged", "lab", "sh"]).is_err());
    }

    #[test]
    fn rm_takes_names_or_all_and_aliases_parse() {
        assert!(parse(&["rm"]).is_err());
        assert!(parse(&["rm", "--all", "lab"]).is_err());
        let HostCmd::Rm(a) = parse(&["remove", "--all"]).unwrap() else {
            panic!()
        };
        assert!(a.all && a.names.is_empty());
        let HostCmd::Rm(a) = parse(&["rm", "-f", "a", "b"]).unwrap() else {
            panic!()
        };
        assert_eq!(a.names, vec!["a", "b"]);
        assert!(matches!(parse(&["list", "-q"]), Ok(HostCmd::Ls(l)) if l.quiet));
        assert!(parse(&["inspect"]).is_err());
        assert_eq!(host_path("lab"), "/dockhand/hosts/lab");
        assert_eq!(host_path("a b"), "/dockhand/hosts/a%20b");
    }
}
