//! `dockhand serve`: the browser playground (web UI, playground API, port links)
//! and the daemon in one process; its flags are the daemon's plus the
//! playground's, also read from a `--config` file.

use crate::daemon::{
    init_logging, net_config, preload_paths, registry_options, vhost_config, DaemonArgs,
};
use crate::{parse_cli, Cli, Cmd};
use std::path::PathBuf;

/// `dockhand serve`: the daemon's flags, plus the playground's.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Address and port of the playground (web UI, playground API, port links)
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8080")]
    listen: String,
    /// The built UI bundle (scripts/build-web) [default: <dir of the executable>/../share/dockhand/ui, then ./target/ui]
    #[arg(long, value_name = "DIR")]
    ui: Option<PathBuf>,
    /// Title shown on the landing page
    #[arg(long, value_name = "string", default_value = "Dockhand")]
    title: String,
    /// Sessions at once; more are told the playground is full
    #[arg(long = "max-sessions", value_name = "int", default_value_t = 100)]
    max_sessions: u32,
    /// Instances (node1..nodeN) per session
    #[arg(long = "max-instances", value_name = "int", default_value_t = 5)]
    max_instances: u32,
    /// Instances on the whole server (0: max-sessions x max-instances)
    #[arg(long = "max-total-instances", value_name = "int", default_value_t = 0)]
    max_total_instances: u32,
    /// Terminal tabs per instance
    #[arg(long = "max-terminals", value_name = "int", default_value_t = 4)]
    max_terminals: u32,
    /// Lifetime of a session (e.g. 4h, 90m)
    #[arg(long = "session-ttl", value_name = "duration", default_value = "4h")]
    session_ttl: String,
    /// A session without terminal input or API calls for this long ends (0: never)
    #[arg(long = "idle-timeout", value_name = "duration", default_value = "1h")]
    idle_timeout: String,
    /// Code a trainee must type to start a session (default: none needed)
    #[arg(
        long = "access-code",
        value_name = "string",
        env = "DOCKHAND_ACCESS_CODE"
    )]
    access_code: Option<String>,
    /// Largest upload (a dropped file, or a folder as tar)
    #[arg(long = "upload-limit", value_name = "bytes", default_value = "50m")]
    upload_limit: String,
    /// Serve each published port at its own host name NODE-PORT-SESSION.DOMAIN
    /// (needs a wildcard DNS record *.DOMAIN; "localhost" works with none)
    #[arg(long = "port-domain", value_name = "DOMAIN")]
    port_domain: Option<String>,
    /// Code that lets a trainer open workshops (their page: /#/trainer)
    #[arg(
        long = "trainer-code",
        value_name = "string",
        env = "DOCKHAND_TRAINER_CODE"
    )]
    trainer_code: Option<String>,
    /// Guided lessons from DIR (a folder of lesson folders; see `dockhand
    /// lessons check`) instead of the built-in course
    #[arg(long, value_name = "DIR")]
    lessons: Option<PathBuf>,
    /// This node's name among many behind `dockhand gateway` (e.g. the
    /// Kubernetes node's); its session ids start with a prefix made from it
    #[arg(long = "node-name", value_name = "NAME", env = "DOCKHAND_NODE_NAME")]
    node_name: Option<String>,
    /// On SIGTERM take no new sessions and let open ones run to their end for
    /// up to this long before closing them (0: close them at once)
    #[arg(long = "drain-deadline", value_name = "duration", default_value = "0")]
    drain_deadline: String,
    /// Read settings from FILE (TOML or JSON; keys are these flags' names, e.g.
    /// max_sessions = 20, preload = ["/srv/bundle"]); flags on the command line win
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// With `--config FILE`: the file's settings as flags before the command line's
/// own (which win, `args_override_self`), parsed again by clap.
pub fn serve_with_config(args: &[String], s: ServeArgs) -> Result<ServeArgs, String> {
    let Some(path) = &s.config else {
        return Ok(s);
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let from_file = server::playground::config::config_file_args(&text, path)?;
    let at = args
        .iter()
        .position(|a| a == "serve")
        .ok_or("no serve command")?;
    let mut all: Vec<String> = args[..=at].to_vec();
    all.extend(from_file);
    all.extend(args[at + 1..].iter().cloned());
    match parse_cli(&all) {
        Ok(Cli {
            cmd: Cmd::Serve(s), ..
        }) => Ok(s),
        Ok(_) => Err("no serve command".into()),
        Err(e) => Err(format!(
            "{}: {}",
            path.display(),
            e.render().to_string().trim()
        )),
    }
}

pub fn run_serve(s: ServeArgs, debug: bool) -> i32 {
    use server::playground::config::{find_ui_dir, parse_duration, parse_size};
    let d = &s.daemon;
    init_logging(d.debug || debug);
    let fail = |e: String| {
        eprintln!("dockhand serve: {e}");
        1
    };
    let Some(socket) = d.host.strip_prefix("unix://").map(PathBuf::from) else {
        return fail(format!("only unix:// hosts are supported: {}", d.host));
    };
    let net = match net_config(d) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let (vhost_defaults, playground) = match vhost_config(d) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let exe = std::env::current_exe().unwrap_or_default();
    let pg = (|| -> Result<server::PlaygroundOptions, String> {
        Ok(server::PlaygroundOptions {
            listen: s
                .listen
                .parse()
                .map_err(|_| format!("invalid --listen {}: want ADDR:PORT", s.listen))?,
            ui_dir: find_ui_dir(s.ui.as_deref(), &exe)?,
            title: s.title.clone(),
            max_sessions: s.max_sessions,
            max_instances: s.max_instances.max(1),
            max_total_instances: s.max_total_instances,
            max_terminals: s.max_terminals.max(1),
            session_ttl: parse_duration(&s.session_ttl)?.max(60),
            idle_timeout: parse_duration(&s.idle_timeout)?,
            access_code: s.access_code.clone().filter(|c| !c.is_empty()),
            upload_limit: parse_size(&s.upload_limit)?,
            port_domain: match s.port_domain.as_deref().map(|d| d.trim_end_matches('.')) {
                None | Some("") => None,
                Some(d) if shared::playground::is_dns_name(d) => Some(d.to_ascii_lowercase()),
                Some(d) => return Err(format!("invalid --port-domain {d}: want a DNS name such as play.example.org or localhost")),
            },
            trainer_code: s.trainer_code.clone().filter(|c| !c.is_empty()),
            lessons: match &s.lessons {
                None => server::lessons::builtin_shared(),
                Some(dir) => std::sync::Arc::new(server::lessons::load_dir(dir).map_err(|e| {
                    let all: Vec<String> = e.iter().map(ToString::to_string).collect();
                    format!("--lessons {}:\n{}", dir.display(), all.join("\n"))
                })?),
            },
            node_name: match s.node_name.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(n) if n.len() <= 253 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)) => Some(n.to_string()),
                Some(n) => return Err(format!("invalid --node-name {n:?}: want letters, digits, '-', '.' or '_'")),
            },
            drain_deadline: parse_duration(&s.drain_deadline)?,
            ..Default::default()
        })
    })();
    let pg = match pg {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let registry = match registry_options(&s.daemon) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let preload = match preload_paths(&s.daemon) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    match server::run_serve(
        server::DaemonOptions {
            data_root: s.daemon.data_root,
            socket,
            net,
            vhost_defaults,
            playground,
            registry,
            preload,
        },
        pg,
    ) {
        Ok(()) => 0,
        Err(e) => fail(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> Result<ServeArgs, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse_cli(&args) {
            Ok(Cli {
                cmd: Cmd::Serve(s), ..
            }) => serve_with_config(&args, s),
            Ok(_) => Err("not serve".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn preload_comes_from_flags_and_the_config_file_made_absolute() {
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("bundle");
        std::fs::create_dir(&bundle).unwrap();
        std::fs::write(bundle.join("ubuntu_14.04.tar"), b"").unwrap();
        let extra = d.path().join("extra.tar");
        std::fs::write(&extra, b"").unwrap();
        let cfg = d.path().join("serve.toml");
        std::fs::write(
            &cfg,
            format!("preload = [{:?}, \"Cargo.toml\"]\n", bundle.display()),
        )
        .unwrap();
        let s = serve_args(&[
            "dockhand",
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--preload",
            extra.to_str().unwrap(),
        ])
        .unwrap();
        let got = preload_paths(&s.daemon).unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(got, [bundle.clone(), cwd.join("Cargo.toml"), extra]);
        let s = serve_args(&["dockhand", "serve"]).unwrap();
        assert!(s.daemon.preload.is_empty());
        assert!(preload_paths(&s.daemon).unwrap().is_empty());
        // A path that is not there, or a directory without images, stops the start.
        let s = serve_args(&["dockhand", "serve", "--preload", "/nonexistent/bundle"]).unwrap();
        let e = preload_paths(&s.daemon).unwrap_err();
        assert!(e.starts_with("--preload: /nonexistent/bundle: "), "{e}");
        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let s = serve_args(&["dockhand", "serve", "--preload", empty.to_str().unwrap()]).unwrap();
        assert!(preload_paths(&s.daemon)
            .unwrap_err()
            .contains("no image archives"));
    }
}
