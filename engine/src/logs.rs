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

/// The log files of a container, oldest first: `LOG.N` ... `LOG.1`, `LOG`.
pub fn files(log_path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut rotated: Vec<(u32, std::path::PathBuf)> = vec![];
    if let (Some(dir), Some(name)) = (log_path.parent(), log_path.file_name()) {
        let prefix = format!("{}.", name.to_string_lossy());
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if let Some(i) = n.strip_prefix(&prefix).and_then(|x| x.parse::<u32>().ok()) {
                rotated.push((i, e.path()));
            }
        }
    }
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out: Vec<std::path::PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    out.push(log_path.to_path_buf());
    out
}

/// Read the selected entries of a container's log files line by line, handing
/// them to `emit` in batches, so memory stays bounded whatever the log's size:
/// with `--tail N` only the last N selected entries are kept. Returns the length
/// of the current file read (where `--follow` carries on).
pub fn scan(
    log_path: &std::path::Path,
    opts: &LogOptions,
    emit: &mut dyn FnMut(Vec<LogEntry>) -> bool,
) -> u64 {
    use std::io::BufRead;
    let mut ring: std::collections::VecDeque<LogEntry> = std::collections::VecDeque::new();
    let mut batch = vec![];
    let mut offset = 0;
    let paths = files(log_path);
    let last = paths.len() - 1;
    for (i, p) in paths.iter().enumerate() {
        let Ok(f) = std::fs::File::open(p) else {
            continue;
        };
        let mut r = std::io::BufReader::new(f);
        let mut line = Vec::new();
        let mut read = 0u64;
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    // A torn last line (the monitor mid-write) is left for later.
                    if line.last() != Some(&b'\n') {
                        break;
                    }
                    read += n as u64;
                }
            }
            let Ok(e) = serde_json::from_slice::<LogEntry>(&line) else {
                continue;
            };
            if !opts.wants(&e) {
                continue;
            }
            match opts.tail {
                Some(0) => {}
                Some(n) => {
                    if ring.len() == n {
                        ring.pop_front();
                    }
                    ring.push_back(e);
                }
                None => {
                    batch.push(e);
                    if batch.len() >= 256 && !emit(std::mem::take(&mut batch)) {
                        return read;
                    }
                }
            }
        }
        if i == last {
            offset = read;
        }
    }
    batch.extend(ring);
    if !batch.is_empty() {
        emit(batch);
    }
    offset
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
    fn scanning_reads_rotated_files_oldest_first_and_keeps_only_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c-json.log");
        let line = |t: &str| {
            serde_json::to_string(&e(&format!("{t}\n"), "stdout", "2026-01-01T00:00:01Z")).unwrap()
                + "\n"
        };
        std::fs::write(dir.path().join("c-json.log.2"), line("one")).unwrap();
        std::fs::write(dir.path().join("c-json.log.1"), line("two")).unwrap();
        std::fs::write(&log, line("three") + &line("four") + "{\"torn").unwrap();
        let all = LogOptions {
            stdout: true,
            ..Default::default()
        };
        let mut got = vec![];
        let off = scan(&log, &all, &mut |b| {
            got.extend(b.into_iter().map(|x| x.log));
            true
        });
        assert_eq!(got, vec!["one\n", "two\n", "three\n", "four\n"]);
        assert_eq!(
            off as usize,
            line("three").len() + line("four").len(),
            "offset stops before the torn line"
        );
        let tail = LogOptions {
            stdout: true,
            tail: Some(3),
            ..Default::default()
        };
        let mut got = vec![];
        scan(&log, &tail, &mut |b| {
            got.extend(b.into_iter().map(|x| x.log));
            true
        });
        assert_eq!(got, vec!["two\n", "three\n", "four\n"]);
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
