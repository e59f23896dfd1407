//! Where a container's json-file log is, and reading it.

use super::*;

impl Daemon {
    /// The log file and whether the container runs (for `logs`).
    pub fn log_source(&self, key: &str) -> Result<(PathBuf, bool, String)> {
        let rec = self.inspect(key)?;
        Ok((PathBuf::from(rec.log_path), rec.state.running, rec.id))
    }

    /// New complete log entries after byte `offset`; returns the new offset and
    /// whether the container still runs.
    pub fn logs_since(&self, id: &str, offset: u64) -> Result<(Vec<LogEntry>, u64, bool)> {
        use std::io::{Read, Seek};
        let rec = self.inspect(id)?;
        let mut text = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&rec.log_path) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            // The file was rotated under us: start over in the new one.
            let start = if len < offset { 0 } else { offset };
            if f.seek(std::io::SeekFrom::Start(start)).is_ok() {
                // At most a few MiB per poll keeps memory bounded.
                let _ = f.take(4 << 20).read_to_end(&mut text);
            }
            if start != offset {
                let end = text
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map(|p| p + 1)
                    .unwrap_or(0);
                let entries = crate::logs::parse_entries(&String::from_utf8_lossy(&text[..end]));
                return Ok((entries, end as u64, rec.state.running));
            }
        }
        let tail = &text[..];
        // Only whole lines: the monitor may be mid-write.
        let end = tail
            .iter()
            .rposition(|b| *b == b'\n')
            .map(|p| p + 1)
            .unwrap_or(0);
        let entries = crate::logs::parse_entries(&String::from_utf8_lossy(&tail[..end]));
        Ok((entries, offset + end as u64, rec.state.running))
    }
}
