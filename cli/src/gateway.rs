//! `dockhand gateway`: the front door of a playground on many `dockhand serve
//! --node-name` nodes (`server::gateway`).

use crate::daemon::init_logging;

/// `dockhand gateway`'s flags.
#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// Address and port the gateway serves the playground on
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8080")]
    listen: String,
    /// Where the nodes are: dns:NAME:PORT, every address of NAME (a headless
    /// Service, e.g. dns:dockhand-node.dockhand.svc.cluster.local:8080)
    #[arg(long, value_name = "dns:NAME:PORT", env = "DOCKHAND_NODES")]
    nodes: String,
    /// Ask this DNS server (IP:PORT) instead of the system's (/etc/resolv.conf)
    #[arg(long = "dns-server", value_name = "IP:PORT")]
    dns_server: Option<String>,
    /// How often the nodes are looked up and asked for their room
    #[arg(long, value_name = "duration", default_value = "2s")]
    refresh: String,
    /// The nodes' --port-domain: host-name port links are routed by their session
    #[arg(long = "port-domain", value_name = "DOMAIN")]
    port_domain: Option<String>,
}

fn options(a: &GatewayArgs) -> Result<server::gateway::GatewayOptions, String> {
    let refresh = shared::units::parse_duration(&a.refresh)
        .map_err(|e| format!("invalid --refresh {}: {e}", a.refresh))?
        .to_std()
        .unwrap_or_default();
    if refresh < std::time::Duration::from_millis(100) {
        return Err(format!("invalid --refresh {}: at least 100ms", a.refresh));
    }
    Ok(server::gateway::GatewayOptions {
        listen: a
            .listen
            .parse()
            .map_err(|_| format!("invalid --listen {}: want ADDR:PORT", a.listen))?,
        nodes: a.nodes.parse()?,
        dns_server: a
            .dns_server
            .as_deref()
            .map(|s| {
                s.parse()
                    .map_err(|_| format!("invalid --dns-server {s}: want IP:PORT"))
            })
            .transpose()?,
        refresh,
        port_domain: match a.port_domain.as_deref().map(|d| d.trim_end_matches('.')) {
            None | Some("") => None,
            Some(d) if shared::playground::is_dns_name(d) => Some(d.to_ascii_lowercase()),
            Some(d) => return Err(format!("invalid --port-domain {d}: want a DNS name")),
        },
    })
}

pub fn run(a: GatewayArgs, debug: bool) -> i32 {
    init_logging(debug);
    let opts = match options(&a) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("dockhand gateway: {e}");
            return 125;
        }
    };
    match server::gateway::run(opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dockhand gateway: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct T {
        #[command(flatten)]
        a: GatewayArgs,
    }

    fn opts(args: &[&str]) -> Result<server::gateway::GatewayOptions, String> {
        let t = T::try_parse_from(std::iter::once("gateway").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        options(&t.a)
    }

    #[test]
    fn flags_become_options() {
        let o = opts(&[
            "--nodes",
            "dns:nodes.example.svc:8080",
            "--listen",
            "127.0.0.1:9000",
            "--refresh",
            "500ms",
            "--dns-server",
            "127.0.0.1:5353",
            "--port-domain",
            "Play.Example.org.",
        ])
        .unwrap();
        assert_eq!(o.nodes.name, "nodes.example.svc");
        assert_eq!(o.refresh, std::time::Duration::from_millis(500));
        assert_eq!(o.port_domain.as_deref(), Some("play.example.org"));
        assert_eq!(o.dns_server.unwrap().port(), 5353);
    }

    #[test]
    fn bad_flags_say_which() {
        let e = opts(&["--nodes", "nodes:8080"]).unwrap_err();
        assert!(e.contains("dns:NAME:PORT"), "{e}");
        let e = opts(&["--nodes", "dns:n:80", "--refresh", "1ms"]).unwrap_err();
        assert!(e.contains("--refresh"), "{e}");
        let e = opts(&["--nodes", "dns:n:80", "--dns-server", "localhost"]).unwrap_err();
        assert!(e.contains("--dns-server"), "{e}");
    }
}
