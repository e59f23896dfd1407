//! `run`, `create` and `start` (docker/cli 28 `container/run.go`, `create.go`,
//! `start.go`): create, pulling a missing image; attach, wait and start; docker's
//! exit codes and error text when that fails.

use super::{attach, cpath};
use crate::client::{json_body, Client, ClientError, Query};
use crate::commands::image::normalize_image_ref;
use crate::commands::image::registry::post_with_progress;
use crate::commands::{CmdResult, Failure};
use crate::opts::{build_create_env, ContainerFlags};
use crate::{signals, stream};
use clap::Args;
use shared::api::{ContainerCreateRequest, ContainerInspect, IdResponse, WaitResponse};
use std::io::Write;

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// docker/cli `reportError`: `docker: MSG` and, for usage-type errors, the help hint.
pub fn report_error(cmd: &str, msg: &str, with_help: bool) -> String {
    if with_help {
        format!("docker: {msg}\n\nRun 'docker {cmd} --help' for more information")
    } else {
        format!("docker: {msg}")
    }
}

/// docker/cli `runStartContainerErr`: 127 for a missing executable, 126 for one
/// that cannot be executed, 125 for any other daemon failure.
pub fn start_error_code(msg: &str) -> i32 {
    let m = msg
        .strip_prefix("Error response from daemon: ")
        .unwrap_or(msg);
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("system cannot find the file specified")
    {
        127
    } else if m.contains("permission denied")
        || m.contains("is a directory")
        || m.contains("cannot execute")
    {
        126
    } else {
        125
    }
}

/// `POST /images/create?fromImage=&tag=`, progress to `out`.
pub async fn pull_image(client: &Client, image: &str, out: &mut dyn Write) -> Result<(), String> {
    let (full, tag, _) = normalize_image_ref(image);
    let q = Query::new().set("fromImage", full).set("tag", tag);
    post_with_progress(client, "/images/create", &q, image, out, false)
        .await
        .map(|_| ())
}

/// `POST /containers/create?name=` and, on a missing image, pull then retry (the
/// docker CLI's `createContainer` with `--pull missing`).
async fn create_container(
    client: &Client,
    body: &ContainerCreateRequest,
    name: Option<&str>,
    pull: &str,
    quiet: bool,
) -> Result<String, String> {
    let q = Query::new().set_if(name.is_some(), "name", name.unwrap_or(""));
    let mut stderr = std::io::stderr();
    if pull == "always" {
        let mut sink: Box<dyn Write> = if quiet {
            Box::new(std::io::sink())
        } else {
            Box::new(std::io::stderr())
        };
        pull_image(client, &body.config.image, &mut sink).await?;
    }
    let resp = match client.post_json("/containers/create", &q, body).await {
        Ok(r) => r,
        Err(e) if e.is_not_found() && pull == "missing" => {
            let (_, _, familiar) = normalize_image_ref(&body.config.image);
            let _ = writeln!(stderr, "Unable to find image '{familiar}' locally");
            let mut sink: Box<dyn Write> = if quiet {
                Box::new(std::io::sink())
            } else {
                Box::new(std::io::stderr())
            };
            pull_image(client, &body.config.image, &mut sink).await?;
            client
                .post_json("/containers/create", &q, body)
                .await
                .map_err(|e| e.to_string())?
        }
        Err(e) => return Err(e.to_string()),
    };
    let created: IdResponse = json_body(resp).await.map_err(|e| e.to_string())?;
    for w in &created.warnings {
        let _ = writeln!(stderr, "WARNING: {w}");
    }
    Ok(created.id)
}

fn validate_pull(p: &str) -> Result<(), String> {
    match p {
        "always" | "missing" | "never" => Ok(()),
        _ => Err(format!(
            "invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\""
        )),
    }
}

/// Send `POST /containers/{id}/wait` and return once the response headers are
/// in; the task yields the exit status (125 when waiting fails).
async fn wait_exit_or_removed(
    client: &Client,
    id: &str,
    auto_remove: bool,
) -> Result<tokio::task::JoinHandle<i32>, ClientError> {
    let cond = if auto_remove { "removed" } else { "next-exit" };
    let resp = client
        .post(&cpath(id, "/wait"), &Query::new().set("condition", cond))
        .await?;
    Ok(tokio::spawn(async move {
        match json_body::<WaitResponse>(resp).await {
            Ok(w) => {
                if let Some(e) = w.error.filter(|e| !e.message.is_empty()) {
                    eprintln!("Error waiting for container: {}", e.message);
                    return 125;
                }
                w.status_code as i32
            }
            Err(e) => {
                eprintln!("Error waiting for container: {e}");
                125
            }
        }
    }))
}

/// `docker run`: create, attach, wait (headers), start, stream, exit status.
pub async fn run(client: &Client, a: &RunArgs) -> CmdResult {
    run_with(client, a, stream::Outputs::std()).await
}

/// `run` with the container's output sent to the given writers.
pub async fn run_with(client: &Client, a: &RunArgs, outputs: stream::Outputs) -> CmdResult {
    let f = &a.flags;
    validate_pull(&f.pull).map_err(|e| Failure::new(report_error("run", &e, true), 125))?;
    let body = build_create_env(f, a.detach)
        .map_err(|e| Failure::new(report_error("run", &e, true), 125))?;
    run_body(client, a, body, outputs).await
}

/// `run` of a create request made elsewhere (`compose run`); `a` gives the
/// name, `--rm`, `-t`, `-d`, the pull policy and the detach keys.
pub async fn run_body(
    client: &Client,
    a: &RunArgs,
    mut body: ContainerCreateRequest,
    outputs: stream::Outputs,
) -> CmdResult {
    let f = &a.flags;
    if !a.detach {
        attach::check_tty(body.config.attach_stdin, f.tty)?;
    }
    if f.tty {
        if let Some((h, w)) = stream::terminal_size() {
            body.host_config.console_size = Some([h as u32, w as u32]);
        }
    }
    let id = match create_container(client, &body, f.name.as_deref(), &f.pull, f.quiet).await {
        Ok(id) => id,
        Err(e) => {
            return Err(Failure::new(
                report_error("run", &e, true),
                start_error_code(&e),
            ))
        }
    };
    if a.sig_proxy {
        signals::forward_all(client, &id);
    }
    let cfg = &body.config;
    let attach = cfg.attach_stdout || cfg.attach_stderr || cfg.attach_stdin;
    if !attach {
        println!("{id}");
    }
    let detach_keys = a.detach_keys.clone().unwrap_or_default();
    let mut session = None;
    if attach {
        let q = attach::attach_query(cfg.attach_stdin, &detach_keys);
        let conn = client.hijack(&cpath(&id, "/attach"), &q, None).await?;
        let raw = attach::raw_terminal(f.tty, cfg.attach_stdin, a.sig_proxy);
        let mut s = attach::session(f.tty, cfg.attach_stdin, &detach_keys, raw);
        s.outputs = outputs;
        session = Some(tokio::spawn(stream::stream(conn, s)));
    }
    let mut status = wait_exit_or_removed(client, &id, f.rm).await?;
    if let Err(e) = client.post(&cpath(&id, "/start"), &Query::new()).await {
        // Aborting the session drops its raw-mode guard: the terminal is restored.
        if let Some(s) = session.take() {
            s.abort();
            let _ = s.await;
        }
        let msg = e.to_string();
        eprintln!("{}", report_error("run", &msg, false));
        if f.rm {
            let _ = status.await;
        }
        return Ok(start_error_code(&msg));
    }
    let Some(mut session) = session else {
        return Ok(0);
    };
    if f.tty && stream::stdout_is_terminal() {
        attach::monitor_tty_size(client, attach::Target::Container, &id).await;
    }
    tokio::select! {
        end = &mut session => match end {
            // The user typed the detach keys: the container keeps running.
            Ok(Ok(stream::End::Detached)) => Ok(0),
            Ok(Err(e)) => Err(Failure::new(e.to_string(), 1)),
            _ => Ok(status.await.unwrap_or(125)),
        },
        code = &mut status => {
            // Output may still be in flight: let the stream run to its end, unless
            // nothing but stdin was attached.
            if !cfg.attach_stdout && !cfg.attach_stderr {
                session.abort();
            }
            let _ = session.await;
            Ok(code.unwrap_or(125))
        }
    }
}

/// `docker create`: prints the new container's ID.
pub async fn create(client: &Client, a: &CreateArgs) -> CmdResult {
    let f = &a.flags;
    validate_pull(&f.pull).map_err(|e| Failure::new(report_error("create", &e, true), 125))?;
    let mut body = build_create_env(f, false)
        .map_err(|e| Failure::new(report_error("create", &e, true), 125))?;
    if f.tty {
        if let Some((h, w)) = stream::terminal_size() {
            body.host_config.console_size = Some([h as u32, w as u32]);
        }
    }
    let id = create_container(client, &body, f.name.as_deref(), &f.pull, f.quiet)
        .await
        .map_err(|e| Failure::new(e, 1))?;
    println!("{id}");
    Ok(0)
}

/// `docker start [-a] [-i]`.
pub async fn start(client: &Client, a: &StartArgs) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Failure::new(
                "you cannot start and attach multiple containers at once",
                1,
            ));
        }
        let name = &a.containers[0];
        let c: ContainerInspect = client
            .get_json(&cpath(name, "/json"), &Query::new())
            .await?;
        let tty = c.config.tty;
        if !tty {
            signals::forward_all(client, &c.id);
        }
        let stdin = a.interactive && c.config.open_stdin;
        let detach_keys = a.detach_keys.clone().unwrap_or_default();
        let q = attach::attach_query(stdin, &detach_keys);
        let conn = client.hijack(&cpath(&c.id, "/attach"), &q, None).await?;
        let raw = attach::raw_terminal(tty, stdin, !tty);
        let mut session = tokio::spawn(stream::stream(
            conn,
            attach::session(tty, stdin, &detach_keys, raw),
        ));
        let status = wait_exit_or_removed(client, &c.id, c.host_config.auto_remove).await?;
        if let Err(e) = client.post(&cpath(&c.id, "/start"), &Query::new()).await {
            session.abort();
            let _ = (&mut session).await;
            if c.host_config.auto_remove {
                let _ = status.await;
            }
            return Err(e.into());
        }
        if tty && stream::stdout_is_terminal() {
            attach::monitor_tty_size(client, attach::Target::Container, &c.id).await;
        }
        return match session.await {
            Ok(Ok(stream::End::Detached)) => Ok(0),
            Ok(Err(e)) => Err(Failure::new(e.to_string(), 1)),
            _ => Ok(status.await.unwrap_or(125)),
        };
    }
    let mut failed = Vec::new();
    for name in &a.containers {
        match client.post(&cpath(name, "/start"), &Query::new()).await {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(
            format!("failed to start containers: {}", failed.join(", ")),
            1,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_dockers_exit_codes() {
        let e = |m: &str| start_error_code(&format!("Error response from daemon: {m}"));
        assert_eq!(
            e("failed to create task: exec: \"nope\": executable file not found in $PATH"),
            127
        );
        assert_eq!(e("exec /x: no such file or directory"), 127);
        assert_eq!(e("exec /etc/hosts: permission denied"), 126);
        assert_eq!(
            e("Conflict. The container name \"/a\" is already in use"),
            125
        );
    }

    #[test]
    fn run_error_text_is_docker_28s() {
        assert_eq!(
            report_error("run", "Error response from daemon: boom", true),
            "docker: Error response from daemon: boom\n\nRun 'docker run --help' for more information"
        );
        assert_eq!(report_error("run", "x", false), "docker: x");
    }
}
