//! `iptables` and `iptables-save` inside a virtual host: this binary under
//! those names. The host's rules belong to the engine, which lists them
//! read-only in the host's network namespace (`POST /dockhand/iptables`),
//! so the course's `iptables -n -L -t nat` shows what Docker set up.

use crate::client::{self, Client, Query};
use shared::api::{RuleListingRequest, RuleListingResponse};
use std::io::Write;

/// The listing program this binary was started as, if any.
pub fn invoked_as(args: &[String]) -> Option<&'static str> {
    let name = std::path::Path::new(args.first()?).file_name()?;
    ["iptables", "iptables-save"]
        .into_iter()
        .find(|p| name == *p)
}

/// Ask the daemon for the listing and print it as the program would.
pub fn main(program: &str, args: &[String]) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{program}: {e}");
            return 1;
        }
    };
    let req = RuleListingRequest {
        program: program.to_string(),
        args: args.to_vec(),
    };
    let res = rt.block_on(async {
        let c = Client::new(&client::resolve_host(None))?;
        let resp = c
            .post_json("/dockhand/iptables", &Query::new(), &req)
            .await?;
        client::json_body::<RuleListingResponse>(resp).await
    });
    match res {
        Ok(r) => {
            let _ = std::io::stdout().write_all(r.stdout.as_bytes());
            let _ = std::io::stderr().write_all(r.stderr.as_bytes());
            r.exit_code
        }
        Err(client::ClientError::Api { message, .. }) => {
            eprintln!("{message}");
            // iptables' exit code for a bad command line.
            2
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::invoked_as;

    #[test]
    fn the_binary_under_a_listing_name_lists() {
        let a = |s: &str| vec![s.to_string(), "-L".to_string()];
        assert_eq!(invoked_as(&a("/usr/sbin/iptables")), Some("iptables"));
        assert_eq!(invoked_as(&a("iptables-save")), Some("iptables-save"));
        assert_eq!(invoked_as(&a("/usr/local/bin/docker")), None);
        assert_eq!(invoked_as(&a("iptables-restore")), None);
    }
}
