//! Detach keys: the `--detach-keys` syntax (moby/term `ToBytes`: `ctrl-<c>`,
//! `DEL` or single characters, comma separated) and the escape proxy that the
//! docker CLI puts between a raw terminal and an attach stream (moby/term
//! `NewEscapeProxy`): a prefix of the sequence is held back, flushed when the
//! next byte does not continue it, and a complete sequence ends the input with
//! "read escape sequence" instead of reaching the container.

/// docker's default: ctrl-p, ctrl-q.
pub const DEFAULT_KEYS: [u8; 2] = [16, 17];

/// The text of moby/term's `EscapeError`, printed by `attach` and `exec`.
pub const ESCAPE_MESSAGE: &str = "read escape sequence";

const CTRL_NAMES: [&str; 32] = [
    "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h",
    "ctrl-i", "ctrl-j", "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q",
    "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z",
    "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
];

/// moby/term `ToBytes`.
pub fn to_bytes(keys: &str) -> Result<Vec<u8>, String> {
    let mut codes = Vec::new();
    for key in keys.split(',') {
        if key.len() == 1 {
            codes.push(key.as_bytes()[0]);
        } else if let Some(code) = CTRL_NAMES.iter().position(|c| *c == key) {
            codes.push(code as u8);
        } else if key == "DEL" {
            codes.push(127);
        } else {
            return Err(format!("unknown character: '{key}'"));
        }
    }
    Ok(codes)
}

/// The keys to watch for: the given sequence, or ctrl-p ctrl-q when it is empty
/// or invalid (as docker's `setupInput` does).
pub fn keys_or_default(keys: &str) -> Vec<u8> {
    match to_bytes(keys) {
        Ok(k) if !keys.is_empty() && !k.is_empty() => k,
        _ => DEFAULT_KEYS.to_vec(),
    }
}

/// What one chunk of input turns into.
#[derive(Debug, PartialEq, Eq)]
pub enum Filtered {
    /// Bytes to send on (possibly empty while a prefix is held back).
    Data(Vec<u8>),
    /// The sequence was typed: send these bytes (typed before it), then stop.
    Detach(Vec<u8>),
}

/// Watches an input byte stream for the detach sequence.
#[derive(Debug, Clone)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    pub fn new(keys: Vec<u8>) -> Self {
        EscapeProxy { keys, matched: 0 }
    }

    pub fn feed(&mut self, input: &[u8]) -> Filtered {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return Filtered::Data(out);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Filtered::Detach(out);
                }
                continue;
            }
            // Not the sequence after all: what was held back goes out first. The
            // byte may itself start a new match.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    self.matched = 0;
                    return Filtered::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Filtered::Data(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_convert_like_moby_term() {
        assert_eq!(to_bytes("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(to_bytes("ctrl-x,x").unwrap(), vec![24, b'x']);
        assert_eq!(to_bytes("ctrl-@,DEL,ctrl-\\").unwrap(), vec![0, 127, 28]);
        assert_eq!(to_bytes("a,b,c").unwrap(), b"abc".to_vec());
        assert_eq!(
            to_bytes("ctrl-1").unwrap_err(),
            "unknown character: 'ctrl-1'"
        );
        assert_eq!(keys_or_default(""), DEFAULT_KEYS.to_vec());
        assert_eq!(keys_or_default("ctrl-a"), vec![1]);
    }

    #[test]
    fn the_sequence_in_one_chunk_detaches_and_keeps_what_came_before() {
        let mut p = EscapeProxy::new(DEFAULT_KEYS.to_vec());
        assert_eq!(p.feed(b"ls\r\x10\x11"), Filtered::Detach(b"ls\r".to_vec()));
    }

    #[test]
    fn a_sequence_split_across_reads_is_held_then_detaches() {
        let mut p = EscapeProxy::new(DEFAULT_KEYS.to_vec());
        assert_eq!(p.feed(b"\x10"), Filtered::Data(vec![]));
        assert_eq!(p.feed(b"\x11"), Filtered::Detach(vec![]));
    }

    #[test]
    fn a_broken_prefix_is_flushed_to_the_container() {
        let mut p = EscapeProxy::new(DEFAULT_KEYS.to_vec());
        assert_eq!(p.feed(b"\x10"), Filtered::Data(vec![]));
        assert_eq!(p.feed(b"a"), Filtered::Data(b"\x10a".to_vec()));
        // ctrl-p ctrl-p ctrl-q: the first ctrl-p is data, the rest detaches.
        assert_eq!(p.feed(b"\x10\x10"), Filtered::Data(b"\x10".to_vec()));
        assert_eq!(p.feed(b"\x11"), Filtered::Detach(vec![]));
    }

    #[test]
    fn single_key_and_empty_sequences() {
        let mut p = EscapeProxy::new(vec![3]);
        assert_eq!(p.feed(b"ab\x03cd"), Filtered::Detach(b"ab".to_vec()));
        let mut none = EscapeProxy::new(vec![]);
        assert_eq!(none.feed(b"\x10\x11"), Filtered::Data(b"\x10\x11".to_vec()));
    }
}
