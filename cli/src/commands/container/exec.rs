//! `docker exec` (docker/cli `exec.go`) and, through the same code, `host exec`:
//! inspect first so that "No such container" wins, create the exec, then either a
//! plain start with `{"Detach":true}` or the hijacked start, the TTY size, and the
//! exit code from the exec's `json`. Docker's execs are created at
//! `/containers/{id}/exec` and driven at `/exec/{id}/...`; a virtual host's shells
//! use the same API under `/dockhand/hosts/{name}` ([`ExecApi`]).

use super::attach::{self, Target};
use crate::client::{json_body, path_escape, Client, Query};
use crate::commands::{CmdResult, Failure};
use crate::escape::ESCAPE_MESSAGE;
use crate::opts::{expand_env, os_lookup, parse_kv_file, read_file};
use crate::stream::{self, End, Outputs};
use clap::Args;
use serde::Serialize;
use shared::api::IdResponse;

/// The flags `docker exec` and `host exec` share.
#[derive(Args, Debug)]
pub struct ExecOptions {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long, value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "string")]
    pub workdir: Option<String>,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub opts: ExecOptions,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// Where an exec is created and driven: Docker's API for a container, or the
/// same API under a virtual host's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecApi {
    /// Read first, so that its "No such ..." error wins over a TTY complaint.
    pub check: String,
    /// `POST` here creates the exec.
    pub create: String,
    /// What comes before `/exec/{id}/start|resize|json`.
    pub prefix: String,
}

impl ExecApi {
    /// `docker exec CONTAINER`.
    pub fn container(name: &str) -> Self {
        let c = format!("/containers/{}", path_escape(name));
        ExecApi {
            check: format!("{c}/json"),
            create: format!("{c}/exec"),
            prefix: String::new(),
        }
    }

    /// `host exec HOST`: a process in the virtual host's own init, as its root.
    pub fn vhost(name: &str) -> Self {
        let h = format!("/dockhand/hosts/{}", path_escape(name));
        ExecApi {
            check: h.clone(),
            create: format!("{h}/exec"),
            prefix: h,
        }
    }

    pub fn start(&self, id: &str) -> String {
        format!("{}/exec/{}/start", self.prefix, path_escape(id))
    }

    pub fn inspect(&self, id: &str) -> String {
        format!("{}/exec/{}/json", self.prefix, path_escape(id))
    }

    /// The resize endpoint, for `attach::monitor_tty_size`.
    pub fn target(&self) -> Target {
        Target::Exec {
            prefix: self.prefix.clone(),
        }
    }
}

/// moby's `container.ExecOptions`, in its field order.
#[derive(Serialize, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ExecCreate {
    pub user: String,
    pub privileged: bool,
    pub tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u16; 2]>,
    pub attach_stdin: bool,
    pub attach_stderr: bool,
    pub attach_stdout: bool,
    pub detach: bool,
    pub detach_keys: String,
    pub env: Option<Vec<String>>,
    pub working_dir: String,
    pub cmd: Vec<String>,
}

/// moby's `container.ExecStartOptions`.
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStart {
    pub detach: bool,
    pub tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u16; 2]>,
}

/// docker's `parseExec`: env files before `-e`; everything attached unless `-d`.
pub fn build_exec(
    o: &ExecOptions,
    privileged: bool,
    command: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ExecCreate, String> {
    let mut env = Vec::new();
    for file in &o.env_file {
        env.extend(parse_kv_file(file, &read_file(file)?, Some(lookup))?);
    }
    env.extend(o.env.iter().map(|e| expand_env(e, lookup)));
    Ok(ExecCreate {
        user: o.user.clone().unwrap_or_default(),
        privileged,
        tty: o.tty,
        console_size: None,
        attach_stdin: !o.detach && o.interactive,
        attach_stderr: !o.detach,
        attach_stdout: !o.detach,
        detach: o.detach,
        detach_keys: o.detach_keys.clone().unwrap_or_default(),
        env: (!env.is_empty()).then_some(env),
        working_dir: o.workdir.clone().unwrap_or_default(),
        cmd: command.to_vec(),
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExecInspect {
    #[serde(default)]
    exit_code: i32,
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(v).map_err(|e| Failure::new(e.to_string(), 1))
}

/// `docker exec`.
pub async fn exec(client: &Client, a: &ExecArgs) -> CmdResult {
    let body = build_exec(&a.opts, a.privileged, &a.command, &os_lookup)?;
    exec_with(
        client,
        &ExecApi::container(&a.container),
        body,
        Outputs::std(),
    )
    .await
}

/// Create and run an exec at `api`; the exit code is the command's (0 when
/// detached).
pub async fn exec_with(
    client: &Client,
    api: &ExecApi,
    mut body: ExecCreate,
    outputs: Outputs,
) -> CmdResult {
    client.get(&api.check, &Query::new()).await?;
    if !body.detach {
        attach::check_tty(body.attach_stdin, body.tty)?;
    }
    if body.tty {
        let (h, w) = stream::terminal_size().unwrap_or((0, 0));
        body.console_size = Some([h, w]);
    }
    let resp = client.post_json(&api.create, &Query::new(), &body).await?;
    let created: IdResponse = json_body(resp).await?;
    if created.id.is_empty() {
        return Err(Failure::new("exec ID empty", 1));
    }
    let id = created.id;
    let start_path = api.start(&id);
    let start = ExecStart {
        detach: body.detach,
        tty: body.tty,
        console_size: body.console_size,
    };
    if body.detach {
        client.post_json(&start_path, &Query::new(), &start).await?;
        return Ok(0);
    }
    let conn = client
        .hijack(&start_path, &Query::new(), Some(to_json(&start)?))
        .await?;
    let raw = attach::raw_terminal(body.tty, body.attach_stdin, false);
    let mut session = attach::session(body.tty, body.attach_stdin, &body.detach_keys, raw);
    session.outputs = outputs;
    let streaming = tokio::spawn(stream::stream(conn, session));
    if body.tty && stream::stdin_is_terminal() {
        attach::monitor_tty_size(client, api.target(), &id).await;
    }
    let end = streaming
        .await
        .map_err(|e| Failure::new(e.to_string(), 1))?
        .map_err(|e| Failure::new(e.to_string(), 1))?;
    if end == End::Detached {
        return Err(Failure::new(ESCAPE_MESSAGE, 1));
    }
    match client
        .get_json::<ExecInspect>(&api.inspect(&id), &Query::new())
        .await
    {
        Ok(i) => Ok(i.exit_code),
        // The daemon went away: docker exits -1 (255).
        Err(crate::client::ClientError::Connect(_)) => Ok(-1),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ExecArgs,
    }

    fn args(v: &[&str]) -> ExecArgs {
        let mut all = vec!["exec"];
        all.extend_from_slice(v);
        T::try_parse_from(all).unwrap().a
    }

    #[test]
    fn exec_body_is_dockers() {
        let a = args(&[
            "-ti",
            "-u",
            "nobody",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "--privileged",
            "web",
            "sh",
            "-c",
            "id -u",
        ]);
        let b = build_exec(&a.opts, a.privileged, &a.command, &|_| None).unwrap();
        let v = serde_json::to_string(&b).unwrap();
        assert_eq!(
            v,
            r#"{"User":"nobody","Privileged":true,"Tty":true,"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":["A=1"],"WorkingDir":"/tmp","Cmd":["sh","-c","id -u"]}"#
        );
    }

    #[test]
    fn detached_exec_attaches_nothing_and_flags_after_the_container_are_the_command() {
        let a = args(&["-d", "web", "ls", "-l", "-t"]);
        assert_eq!(a.command, vec!["ls", "-l", "-t"]);
        assert!(!a.opts.tty);
        let b = build_exec(&a.opts, a.privileged, &a.command, &|_| None).unwrap();
        assert!(b.detach && !b.attach_stdin && !b.attach_stdout && !b.attach_stderr);
        assert_eq!(b.env, None);
    }

    #[test]
    fn start_body_matches_the_docker_client() {
        let s = ExecStart {
            detach: false,
            tty: true,
            console_size: Some([24, 80]),
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"Detach":false,"Tty":true,"ConsoleSize":[24,80]}"#
        );
        let d = ExecStart {
            detach: true,
            tty: false,
            console_size: None,
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"Detach":true,"Tty":false}"#
        );
    }

    #[test]
    fn a_double_dash_ends_the_options_and_is_not_part_of_the_command() {
        let a = args(&["-i", "web", "--", "ls", "-l"]);
        assert_eq!(a.container, "web");
        assert_eq!(a.command, vec!["ls", "-l"]);
        let a = args(&["web", "sh", "--", "-c"]);
        assert_eq!(a.command, vec!["sh", "--", "-c"]);
    }

    #[test]
    fn docker_execs_and_virtual_host_shells_use_their_own_paths() {
        let c = ExecApi::container("web");
        assert_eq!(c.check, "/containers/web/json");
        assert_eq!(c.create, "/containers/web/exec");
        assert_eq!(c.start("e1"), "/exec/e1/start");
        assert_eq!(c.inspect("e1"), "/exec/e1/json");
        assert_eq!(attach::resize_path(&c.target(), "e1"), "/exec/e1/resize");
        let v = ExecApi::vhost("lab 1");
        assert_eq!(v.check, "/dockhand/hosts/lab%201");
        assert_eq!(v.create, "/dockhand/hosts/lab%201/exec");
        assert_eq!(v.start("e1"), "/dockhand/hosts/lab%201/exec/e1/start");
        assert_eq!(v.inspect("e1"), "/dockhand/hosts/lab%201/exec/e1/json");
        assert_eq!(
            attach::resize_path(&v.target(), "e1"),
            "/dockhand/hosts/lab%201/exec/e1/resize"
        );
    }
}
