//! Docker's multiplexed stream framing for non-TTY attach and logs: an 8-byte
//! header `[stream, 0, 0, 0, len(u32 BE)]` then `len` bytes. Stream 0 is stdin,
//! 1 stdout, 2 stderr (3 is the "systemerr" stream some daemons use).

/// Stream identifiers of the framing.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// Encode one frame.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Incremental decoder: feed bytes, take complete frames.
#[derive(Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

impl Demuxer {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if one is buffered.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if self.buf.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return None;
        }
        let stream = self.buf[0];
        let data = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Some((stream, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_split_reads() {
        let mut bytes = frame(STDOUT, b"hello");
        bytes.extend(frame(STDERR, b""));
        bytes.extend(frame(STDERR, b"err\n"));
        let mut d = Demuxer::default();
        let mut got = vec![];
        for chunk in bytes.chunks(3) {
            d.push(chunk);
            while let Some(f) = d.next_frame() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![(1, b"hello".to_vec()), (2, vec![]), (2, b"err\n".to_vec())]
        );
    }
}
