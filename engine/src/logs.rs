//! The json-file log: one JSON object per line, `{"log","stream","time"}`, as
//! Docker's default log driver writes it. The monitor appends; the daemon reads,
//! with `--tail`, `--since`, `--until` and `--timestamps` applied here.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// What `GET /containers/{id}/logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub timestamps: bool,
    /// `None` = all.
    pub tail: Option<usize>,
    /// Unix seconds (fractions allowed), as the API sends them.
    pub since: Option<f64>,
    pub until: Option<f64>,
}

/// Docker's `since`/`until` values: unix seconds, optionally with nanoseconds.
pub fn parse_unix(s: &str) -> Option<f64> {
    if s.is_empty() || s == "0" {
        return None;
    }
    s.parse::<f64>().ok()
}

fn ts(entry: &LogEntry) -> f64 {
    crate::time::parse(&entry.time)
        .map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
        .unwrap_or(0.0)
}

impl LogOptions {
    pub fn wants(&self, e: &LogEntry) -> bool {
        let stream_ok = match e.stream.as_str() {
            "stdout" => self.stdout,
            "stderr" => self.stderr,
            _ => false,
        };
        stream_ok && self.since.is_none_or(|s| ts(e) >= s) && self.until.is_none_or(|u| ts(e) <= u)
    }

    /// The bytes to send for one entry (with the timestamp prefix if asked).
    pub fn render(&self, e: &LogEntry) -> Vec<u8> {
        if self.timestamps {
            format!("{} {}", e.time, e.log).into_bytes()
        } else {
            e.log.clone().into_bytes()
        }
    }
}

/// Parse complete lines of a log file; a torn last line (a crash mid-write) is skipped.
pub fn parse_entries(text: &str) -> Vec<LogEntry> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Entries selected by the options, with `tail` applied after filtering.
pub fn select(entries: Vec<LogEntry>, opts: &LogOptions) -> Vec<LogEntry> {
    let mut v: Vec<LogEntry> = entries.into_iter().filter(|e| opts.wants(e)).collect();
    if let Some(n) = opts.tail {
        let skip = v.len().saturating_sub(n);
        v.drain(..skip);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(log: &str, stream: &str, time: &str) -> LogEntry {
        LogEntry {
            log: log.into(),
            stream: stream.into(),
            time: time.into(),
        }
    }

    #[test]
    fn tail_since_and_streams_filter_like_docker() {
        let text = [
            e("a\n", "stdout", "2026-01-01T00:00:01Z"),
            e("b\n", "stderr", "2026-01-01T00:00:02Z"),
            e("c\n", "stdout", "2026-01-01T00:00:03Z"),
        ]
        .iter()
        .map(|x| serde_json::to_string(x).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
            + "\n{\"log\":\"torn";
        let all = parse_entries(&text);
        assert_eq!(all.len(), 3);
        let opts = LogOptions {
            stdout: true,
            stderr: true,
            tail: Some(2),
            ..Default::default()
        };
        let got: Vec<_> = select(all.clone(), &opts)
            .into_iter()
            .map(|x| x.log)
            .collect();
        assert_eq!(got, vec!["b\n", "c\n"]);
        let out_only = LogOptions {
            stdout: true,
            ..Default::default()
        };
        assert_eq!(select(all.clone(), &out_only).len(), 2);
        let since = LogOptions {
            stdout: true,
            stderr: true,
            since: parse_unix("1767225602"),
            ..Default::default()
        };
        assert_eq!(select(all.clone(), &since).len(), 2);
        let tsopt = LogOptions {
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(tsopt.render(&all[0]), b"2026-01-01T00:00:01Z a\n");
    }
}
