//! A small tar writer, so that a folder dropped onto a terminal travels as one
//! archive (`POST .../upload?tar=1`). POSIX ustar headers; a name that fits no ustar
//! header gets a PAX extended header (`path=`), which GNU tar, busybox tar and the
//! `tar` crate all read.

use std::fmt;

const BLOCK: usize = 512;
/// Largest size an 11-digit octal field holds (8 GiB - 1).
const MAX_OCTAL_SIZE: u64 = (1 << 33) - 1;

/// A path or size the archive cannot carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarError {
    /// Empty, absolute, or with `.`/`..`/empty components: never written, because the
    /// server would (rightly) refuse it.
    BadPath(String),
    /// Larger than a ustar size field.
    TooLarge(String),
}

impl fmt::Display for TarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TarError::BadPath(p) => write!(f, "cannot put {p:?} in an archive"),
            TarError::TooLarge(p) => write!(f, "{p} is too large for an archive"),
        }
    }
}

/// Builds an archive in memory: add entries, then [`TarBuilder::finish`].
#[derive(Debug, Default)]
pub struct TarBuilder {
    out: Vec<u8>,
}

impl TarBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A directory entry (`path` without trailing slash), mode 0755.
    pub fn add_dir(&mut self, path: &str, mtime: u64) -> Result<(), TarError> {
        check_path(path)?;
        self.entry(&format!("{path}/"), b'5', 0o755, &[], mtime)
    }

    /// A regular file, mode 0644.
    pub fn add_file(&mut self, path: &str, data: &[u8], mtime: u64) -> Result<(), TarError> {
        check_path(path)?;
        if data.len() as u64 > MAX_OCTAL_SIZE {
            return Err(TarError::TooLarge(path.to_string()));
        }
        self.entry(path, b'0', 0o644, data, mtime)
    }

    /// The archive, with its two zero blocks of end marker.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.resize(self.out.len() + 2 * BLOCK, 0);
        self.out
    }

    fn entry(
        &mut self,
        path: &str,
        kind: u8,
        mode: u32,
        data: &[u8],
        mtime: u64,
    ) -> Result<(), TarError> {
        let (name, prefix) = match split_ustar_name(path) {
            Some(split) => split,
            None => {
                let record = pax_record("path", path);
                let short = truncate_utf8(path, 90);
                let pax_name = format!("PaxHeader/{short}");
                let pax_name = truncate_utf8(&pax_name, 99);
                self.push_header(pax_name, "", b'x', 0o644, record.len() as u64, mtime);
                self.push_data(record.as_bytes());
                (truncate_utf8(path, 100), "")
            }
        };
        self.push_header(name, prefix, kind, mode, data.len() as u64, mtime);
        self.push_data(data);
        Ok(())
    }

    fn push_header(
        &mut self,
        name: &str,
        prefix: &str,
        kind: u8,
        mode: u32,
        size: u64,
        mtime: u64,
    ) {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], u64::from(mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], size);
        octal(&mut h[136..148], mtime.min(MAX_OCTAL_SIZE));
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        // The checksum is computed with its own field read as eight spaces.
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let digits = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(digits.as_bytes());
        self.out.extend_from_slice(&h);
    }

    fn push_data(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
        let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
        self.out.resize(self.out.len() + pad, 0);
    }
}

fn check_path(path: &str) -> Result<(), TarError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\0')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        Err(TarError::BadPath(path.to_string()))
    } else {
        Ok(())
    }
}

/// `(name, prefix)` for a ustar header (name up to 100 bytes, prefix up to 155,
/// joined by a `/`), or `None` when the path does not fit.
fn split_ustar_name(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some((path, ""));
    }
    // Split at a '/' (keeping a directory's trailing '/' in the name part).
    let body = path.strip_suffix('/').unwrap_or(path);
    body.match_indices('/')
        .map(|(i, _)| (&path[i + 1..], &path[..i]))
        .find(|(name, prefix)| name.len() <= 100 && prefix.len() <= 155 && !name.is_empty())
}

/// One PAX record, `"<len> <key>=<value>\n"`, where `<len>` counts the whole
/// record including its own digits.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len = len.to_string().len() + body.len();
    }
    format!("{len}{body}")
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Zero-padded octal digits filling the field but its last byte, which stays NUL.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let digits = format!("{value:0width$o}");
    field[..width].copy_from_slice(digits.as_bytes());
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_is_block_aligned_and_ends_with_two_zero_blocks() {
        let mut t = TarBuilder::new();
        t.add_file("a.txt", b"hello", 0).unwrap();
        let out = t.finish();
        assert_eq!(out.len(), 4 * BLOCK);
        assert!(out[2 * BLOCK..].iter().all(|&b| b == 0));
        assert_eq!(&out[257..263], b"ustar\0");
    }

    #[test]
    fn pax_record_length_counts_its_own_digits() {
        assert_eq!(pax_record("path", "a"), "9 path=a\n");
        let long = "x".repeat(95);
        let rec = pax_record("path", &long);
        assert_eq!(rec.len().to_string(), rec.split(' ').next().unwrap());
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let mut t = TarBuilder::new();
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a"] {
            assert_eq!(
                t.add_file(bad, b"", 0),
                Err(TarError::BadPath(bad.to_string()))
            );
        }
    }

    #[test]
    fn long_names_split_into_prefix_and_name() {
        let path = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        assert_eq!(split_ustar_name(&path), Some((&path[121..], &path[..120])));
        assert_eq!(split_ustar_name(&"x".repeat(101)), None);
    }

    /// The archive as a real tar reader sees it.
    #[cfg(not(target_arch = "wasm32"))]
    fn read_back(bytes: &[u8]) -> Vec<(String, char, Vec<u8>, u32)> {
        use std::io::Read;
        let mut archive = ::tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let kind = if e.header().entry_type().is_dir() {
                    'd'
                } else {
                    'f'
                };
                let mode = e.header().mode().unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, kind, data, mode)
            })
            .collect()
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn a_real_tar_reader_reads_back_files_dirs_and_long_unicode_names() {
        let deep = format!("proj/{}/main.rs", "sub".repeat(40));
        let huge = format!("proj/{}.txt", "ü".repeat(120));
        let mut t = TarBuilder::new();
        t.add_dir("proj", 1_700_000_000).unwrap();
        t.add_file("proj/empty", b"", 0).unwrap();
        t.add_file("proj/data.bin", &[7u8; 1000], 0).unwrap();
        t.add_file(&deep, b"fn main() {}\n", 0).unwrap();
        t.add_file(&huge, b"long", 0).unwrap();
        let entries = read_back(&t.finish());
        let summary: Vec<_> = entries
            .iter()
            .map(|(p, k, d, m)| (p.as_str(), *k, d.len(), *m))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("proj/", 'd', 0, 0o755),
                ("proj/empty", 'f', 0, 0o644),
                ("proj/data.bin", 'f', 1000, 0o644),
                (deep.as_str(), 'f', 13, 0o644),
                (huge.as_str(), 'f', 4, 0o644),
            ]
        );
        assert_eq!(entries[2].2, vec![7u8; 1000]);
    }
}
