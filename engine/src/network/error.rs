//! The network module's errors, each keeping its cause. `crate::Error::Network`
//! carries them to the API, which reports them all as internal errors (500):
//! what a user gets wrong (a bad subnet, an unknown network) is checked before
//! and returned as `NotFound`, `Conflict` or `InvalidParameter`.

/// Something the kernel or a firewall tool refused, or state gone missing.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A netlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// A system call or a namespace worker failed (the cause in Go's words,
    /// as dockerd's errors read).
    #[error("{what}: {}", shared::go::io_text(source))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A firewall tool (`iptables-save`, `iptables-restore`, `nft`, ...) could
    /// not be run.
    #[error("running {program}: {}", shared::go::io_text(source))]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A firewall tool ran and failed: what it said.
    #[error("{program}: {said}")]
    Tool { program: String, said: String },
    /// A tool did not answer in time.
    #[error("{program} did not answer within 10 seconds")]
    Timeout { program: String },
    /// A link that was there a moment ago is gone (`bridge dh-1 vanished`).
    #[error("{0} vanished")]
    Vanished(String),
    /// A link the records name is not there (`bridge dh-1 missing`).
    #[error("{0} missing")]
    Missing(String),
    /// No address pool left (`could not find an available, ...`).
    #[error("{0}")]
    NoPool(&'static str),
    /// Anything else, in its own words.
    #[error("{0}")]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_texts_read_as_dockerd_s_with_go_s_words_for_system_errors() {
        let io = || std::io::Error::from_raw_os_error(2);
        let cases: Vec<(NetworkError, &str)> = vec![
            (
                NetworkError::Spawn {
                    program: "iptables-save".into(),
                    source: io(),
                },
                "running iptables-save: no such file or directory",
            ),
            (
                NetworkError::Tool {
                    program: "nft".into(),
                    said: "syntax error".into(),
                },
                "nft: syntax error",
            ),
            (
                NetworkError::Timeout {
                    program: "iptables".into(),
                },
                "iptables did not answer within 10 seconds",
            ),
            (
                NetworkError::Vanished("bridge dh-1".into()),
                "bridge dh-1 vanished",
            ),
            (
                NetworkError::Missing("bridge dh-1".into()),
                "bridge dh-1 missing",
            ),
            (
                NetworkError::Io {
                    what: "netlink socket".into(),
                    source: io(),
                },
                "netlink socket: no such file or directory",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
            let engine: crate::Error = e.into();
            assert_eq!(engine.kind(), crate::error::ErrorKind::Internal);
            assert_eq!(engine.to_string(), text);
        }
        // The cause is kept, not flattened into text.
        let e = NetworkError::Spawn {
            program: "nft".into(),
            source: io(),
        };
        assert!(std::error::Error::source(&e).is_some());
    }
}
