//! Logging to stderr in distribution's (logrus text) style:
//! `time="..." level=info msg="..."`, with a process-wide level, and the
//! access-log line format (Apache combined, as distribution's gorilla handler).

use std::sync::atomic::{AtomicU8, Ordering};

/// Log levels, from quiet to verbose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 0,
    Warn = 1,
    Info = 2,
    Debug = 3,
}

impl Level {
    /// Parses logrus' level names (`panic`/`fatal` count as error, `trace` as debug).
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "panic" | "fatal" | "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" | "trace" => Some(Level::Debug),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the process-wide level.
pub fn set_level(l: Level) {
    LEVEL.store(l as u8, Ordering::Relaxed);
}

/// Whether messages of level `l` are printed.
pub fn enabled(l: Level) -> bool {
    l as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Prints one message at a level.
pub fn log(l: Level, msg: &str) {
    if enabled(l) {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        eprintln!("time=\"{now}\" level={} msg={msg:?}", l.name());
    }
}

pub fn error(msg: &str) {
    log(Level::Error, msg)
}
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

/// One access-log line (Apache combined log format).
pub struct Access<'a> {
    pub remote: &'a str,
    pub user: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub version: &'a str,
    pub status: u16,
    pub size: Option<u64>,
    pub referer: &'a str,
    pub user_agent: &'a str,
}

impl Access<'_> {
    /// The line, without a newline.
    pub fn line(&self) -> String {
        let now = chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S %z");
        let size = self.size.map_or("-".to_string(), |s| s.to_string());
        let user = if self.user.is_empty() { "-" } else { self.user };
        format!(
            "{} - {} [{now}] \"{} {} {}\" {} {size} \"{}\" \"{}\"",
            self.remote,
            user,
            self.method,
            self.uri,
            self.version,
            self.status,
            self.referer,
            self.user_agent
        )
    }
}
