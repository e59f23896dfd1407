//! `docker attach` and the terminal plumbing every attached command shares
//! (docker/cli `attach.go`, `tty.go`): the initial resize with retries, a resize
//! on every SIGWINCH, raw mode that is restored on every exit path, and the
//! hijacked session itself.

use crate::client::{json_body, path_escape, Client, ClientError, Query};
use crate::commands::{CmdResult, Failure};
use crate::escape::{self, ESCAPE_MESSAGE};
use crate::signals;
use crate::stream::{self, End, RawTerminal, Session};
use clap::Args;
use shared::api::{ContainerInspect, WaitResponse};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// Which resize endpoint: a container's or an exec's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Container,
    /// An exec whose API lives under `prefix`: "" for Docker's `/exec/{id}`,
    /// `/dockhand/hosts/{name}` for a shell of a virtual host.
    Exec {
        prefix: String,
    },
}

pub fn resize_path(target: &Target, id: &str) -> String {
    match target {
        Target::Container => format!("/containers/{}/resize", path_escape(id)),
        Target::Exec { prefix } => format!("{prefix}/exec/{}/resize", path_escape(id)),
    }
}

/// docker's `resizeTtyTo`: nothing for a 0x0 size.
pub async fn resize_to(
    client: &Client,
    target: &Target,
    id: &str,
    h: u16,
    w: u16,
) -> Result<(), ClientError> {
    if h == 0 && w == 0 {
        return Ok(());
    }
    let q = Query::new().set("h", h.to_string()).set("w", w.to_string());
    client.post(&resize_path(target, id), &q).await.map(|_| ())
}

async fn resize_tty(client: &Client, target: &Target, id: &str) -> Result<(), ClientError> {
    let (h, w) = stream::terminal_size().unwrap_or((0, 0));
    resize_to(client, target, id, h, w).await
}

/// docker's `MonitorTtySize`: the terminal's size now (retried up to ten times
/// when the process is not ready for it yet), then again on every SIGWINCH.
pub async fn monitor_tty_size(client: &Client, target: Target, id: &str) {
    if resize_tty(client, &target, id).await.is_err() {
        let (client, target, id) = (client.clone(), target.clone(), id.to_string());
        tokio::spawn(async move {
            for retry in 0..10u64 {
                tokio::time::sleep(Duration::from_millis((retry + 1) * 10)).await;
                if resize_tty(&client, &target, &id).await.is_ok() {
                    return;
                }
            }
            eprintln!("failed to resize tty, using default size");
        });
    }
    if let Ok(mut winch) = signal(SignalKind::window_change()) {
        let (client, id) = (client.clone(), id.to_string());
        tokio::spawn(async move {
            while winch.recv().await.is_some() {
                let _ = resize_tty(&client, &target, &id).await;
            }
        });
    }
}

/// Raw mode for an attached TTY with stdin from a terminal (moby/term
/// `SetRawTerminal`), with the terminal restored if a signal ends the CLI.
pub fn raw_terminal(tty: bool, stdin: bool, forwarding_signals: bool) -> Option<RawTerminal> {
    if !(tty && stdin && stream::stdin_is_terminal()) || std::env::var_os("NORAW").is_some() {
        return None;
    }
    let raw = RawTerminal::enable()?;
    signals::restore_terminal_on_signals(raw.saved.clone(), forwarding_signals);
    Some(raw)
}

/// The session options docker's `hijackedIOStreamer` uses: detach keys are
/// watched only when stdin goes to a TTY.
pub fn session(tty: bool, stdin: bool, detach_keys: &str, raw: Option<RawTerminal>) -> Session {
    Session {
        tty,
        stdin,
        escape: (tty && stdin).then(|| escape::keys_or_default(detach_keys)),
        outputs: stream::Outputs::std(),
        raw,
    }
}

/// docker's `CheckTty`.
pub fn check_tty(attach_stdin: bool, tty: bool) -> Result<(), Failure> {
    if tty && attach_stdin && !stream::stdin_is_terminal() {
        return Err(Failure::new("the input device is not a TTY", 1));
    }
    Ok(())
}

pub fn attach_query(stdin: bool, detach_keys: &str) -> Query {
    Query::new()
        .set("stream", "1")
        .set_if(stdin, "stdin", "1")
        .set("stdout", "1")
        .set("stderr", "1")
        .set_if(!detach_keys.is_empty(), "detachKeys", detach_keys)
}

fn check_state(c: &ContainerInspect) -> Result<(), Failure> {
    let msg = if !c.state.running {
        "You cannot attach to a stopped container, start it first"
    } else if c.state.paused {
        "You cannot attach to a paused container, unpause it first"
    } else if c.state.restarting {
        "You cannot attach to a restarting container, wait until it is running"
    } else {
        return Ok(());
    };
    Err(Failure::new(msg, 1))
}

/// `docker attach`: wait (sent first), inspect and check the state, attach,
/// resize, stream; the exit code is the container's once the stream ends, and
/// "read escape sequence" (exit 1) after a detach.
pub async fn attach(client: &Client, a: &AttachArgs) -> CmdResult {
    let wait_path = format!("/containers/{}/wait", path_escape(&a.container));
    let wait = {
        let client = client.clone();
        tokio::spawn(async move {
            let resp = client.post(&wait_path, &Query::new()).await?;
            json_body::<WaitResponse>(resp).await
        })
    };
    let cpath = format!("/containers/{}/json", path_escape(&a.container));
    let c: ContainerInspect = client.get_json(&cpath, &Query::new()).await?;
    check_state(&c)?;
    check_tty(!a.no_stdin, c.config.tty)?;
    let detach_keys = a.detach_keys.clone().unwrap_or_default();
    let stdin = !a.no_stdin && c.config.open_stdin;
    let forwarding = a.sig_proxy && !c.config.tty;
    if forwarding {
        signals::forward_all(client, &a.container);
    }
    let conn = client
        .hijack(
            &format!("/containers/{}/attach", path_escape(&a.container)),
            &attach_query(stdin, &detach_keys),
            None,
        )
        .await?;
    // The container may have stopped between the inspect and the attach.
    let again: ContainerInspect = client.get_json(&cpath, &Query::new()).await?;
    check_state(&again)?;
    let raw = raw_terminal(c.config.tty, stdin, forwarding);
    if c.config.tty && stream::stdout_is_terminal() {
        // A size change makes the shell redraw its prompt on a second attach.
        let (h, w) = stream::terminal_size().unwrap_or((0, 0));
        let _ = resize_to(client, &Target::Container, &a.container, h + 1, w + 1).await;
        monitor_tty_size(client, Target::Container, &a.container).await;
    }
    let end = stream::stream(conn, session(c.config.tty, stdin, &detach_keys, raw))
        .await
        .map_err(|e| Failure::new(e.to_string(), 1))?;
    if end == End::Detached {
        return Err(Failure::new(ESCAPE_MESSAGE, 1));
    }
    match wait.await {
        Ok(Ok(w)) => {
            if let Some(e) = w.error.filter(|e| !e.message.is_empty()) {
                return Err(Failure::new(e.message, 1));
            }
            Ok(w.status_code as i32)
        }
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(Failure::new(e.to_string(), 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_query_carries_detach_keys_only_when_given() {
        assert_eq!(
            attach_query(true, "ctrl-x,x").encode(),
            "detachKeys=ctrl-x%2Cx&stderr=1&stdin=1&stdout=1&stream=1"
        );
        assert_eq!(
            attach_query(false, "").encode(),
            "stderr=1&stdout=1&stream=1"
        );
    }

    #[test]
    fn detach_keys_are_watched_only_for_a_tty_with_stdin() {
        assert_eq!(session(true, true, "", None).escape, Some(vec![16, 17]));
        assert_eq!(
            session(true, true, "ctrl-x,x", None).escape,
            Some(vec![24, b'x'])
        );
        assert_eq!(session(false, true, "ctrl-x,x", None).escape, None);
        assert_eq!(session(true, false, "", None).escape, None);
    }

    #[test]
    fn resize_paths() {
        assert_eq!(
            resize_path(&Target::Container, "abc"),
            "/containers/abc/resize"
        );
        let docker = Target::Exec {
            prefix: String::new(),
        };
        assert_eq!(resize_path(&docker, "e1"), "/exec/e1/resize");
        let vhost = Target::Exec {
            prefix: "/dockhand/hosts/lab".into(),
        };
        assert_eq!(
            resize_path(&vhost, "e1"),
            "/dockhand/hosts/lab/exec/e1/resize"
        );
    }
}
