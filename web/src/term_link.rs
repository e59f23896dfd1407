//! One terminal's connection, as a reducer: what the terminal component must do
//! for each thing its WebSocket reports. It owns the [`OutputCursor`], so a
//! reconnect asks for exactly the bytes not yet shown, and it decides when to retry.
//! The component only carries out the returned [`Effect`]s (write to xterm, clear
//! it, send a resize, schedule a reconnect).

use crate::backoff;
use shared::playground::{close_code, decode_output, OutputCursor, TerminalEvent};

/// Where the connection stands; shown on the terminal and in its `data-state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// A socket is being opened.
    Connecting,
    /// Output flows.
    Live,
    /// The socket dropped; the next attempt starts after `retry_ms`.
    Waiting { attempt: u32, retry_ms: u32 },
    /// The shell exited; the tab is closed, nothing reconnects.
    Exited(Option<i32>),
    /// The server refused for good (unknown tab, session gone, wrong token).
    Failed(String),
}

impl Status {
    /// Short word for `data-state` attributes and CSS.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Live => "live",
            Status::Waiting { .. } => "waiting",
            Status::Exited(_) => "exited",
            Status::Failed(_) => "failed",
        }
    }
}

/// Something the socket reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// The socket opened.
    Opened,
    /// A binary frame arrived.
    Binary(&'a [u8]),
    /// A text frame arrived.
    Text(&'a str),
    /// The socket closed with this code and the reason the server gave (a
    /// gateway says why a session's node is gone). `jitter` in `0..1` spreads
    /// the retry delay.
    Closed {
        code: u16,
        reason: &'a str,
        jitter: f64,
    },
    /// The retry delay is over; a new socket is being opened.
    Retrying,
}

/// What the component must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect<'a> {
    /// Write these bytes to the terminal.
    Write(&'a [u8]),
    /// Write these replayed bytes to the terminal without answering what they
    /// ask of it (cursor-position and device queries of old prompts).
    Replay(&'a [u8]),
    /// Clear the terminal (its output was replaced by the server's replay).
    ResetScreen,
    /// Send the terminal's current size.
    SendResize,
    /// Close the socket now; a `Closed` input will follow and schedule the retry.
    Drop,
    /// Open a new socket with `offset=` after `after_ms`.
    Reconnect { after_ms: u32 },
    /// Print a line of status to the terminal (dimmed), e.g. why it stopped.
    Note(String),
}

/// The state of one terminal's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermLink {
    cursor: OutputCursor,
    status: Status,
    attempt: u32,
    /// Between a socket's opening and the server's `Live`: output is replay.
    replaying: bool,
}

impl Default for TermLink {
    fn default() -> Self {
        Self::new()
    }
}

impl TermLink {
    /// A link about to open its first socket (`offset=0`).
    pub fn new() -> Self {
        Self {
            cursor: OutputCursor::new(),
            status: Status::Connecting,
            attempt: 0,
            replaying: false,
        }
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The `offset=` for the next socket: bytes already shown.
    pub fn offset(&self) -> u64 {
        self.cursor.received()
    }

    /// True once nothing will reconnect any more.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, Status::Exited(_) | Status::Failed(_))
    }

    /// Apply one input; the effects borrow from it (written bytes are not copied).
    pub fn reduce<'a>(&mut self, input: Input<'a>) -> Vec<Effect<'a>> {
        match input {
            Input::Opened => {
                self.status = Status::Live;
                self.attempt = 0;
                self.replaying = true;
                vec![Effect::SendResize]
            }
            Input::Retrying => {
                self.status = Status::Connecting;
                vec![]
            }
            Input::Binary(bytes) => {
                let Ok(frame) = decode_output(bytes) else {
                    // A frame we cannot place: start over from what we know.
                    return vec![Effect::Drop];
                };
                match self.cursor.accept(frame) {
                    Ok([]) => vec![],
                    Ok(new) if self.replaying => vec![Effect::Replay(new)],
                    Ok(new) => vec![Effect::Write(new)],
                    Err(_) => vec![Effect::Drop],
                }
            }
            Input::Text(text) => match serde_json::from_str::<TerminalEvent>(text) {
                Ok(TerminalEvent::Reset { start }) => {
                    self.cursor.reset(start);
                    vec![Effect::ResetScreen]
                }
                Ok(TerminalEvent::Exited { code }) => {
                    self.status = Status::Exited(code);
                    let note = match code {
                        Some(c) => format!("[the shell exited with code {c}]"),
                        None => "[the shell exited]".to_string(),
                    };
                    vec![Effect::Note(note)]
                }
                Ok(TerminalEvent::Live) => {
                    self.replaying = false;
                    vec![]
                }
                // Unknown control messages come from a newer server: ignore them.
                Err(_) => vec![],
            },
            Input::Closed {
                code,
                reason,
                jitter,
            } => {
                if self.is_finished() {
                    return vec![];
                }
                if close_code::is_final(code) {
                    // Written into the terminal: no control characters (an
                    // escape sequence or a line break of the server's).
                    let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
                    let why = match code {
                        _ if !reason.trim().is_empty() => reason.trim(),
                        close_code::UNAUTHORIZED => "this link's token is not valid",
                        close_code::NOT_FOUND => "this terminal no longer exists",
                        close_code::GONE => "the session has ended",
                        _ => "the server closed this terminal",
                    };
                    self.status = Status::Failed(why.to_string());
                    return vec![Effect::Note(format!("[disconnected: {why}]"))];
                }
                self.attempt += 1;
                let retry_ms = backoff::delay_ms(self.attempt, jitter);
                self.status = Status::Waiting {
                    attempt: self.attempt,
                    retry_ms,
                };
                vec![Effect::Reconnect { after_ms: retry_ms }]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::playground::{encode_output, ReplayBuffer};

    fn screen_of(link: &mut TermLink, inputs: &[Vec<u8>], screen: &mut Vec<u8>) {
        for frame in inputs {
            for effect in link.reduce(Input::Binary(frame)) {
                match effect {
                    Effect::Write(b) | Effect::Replay(b) => screen.extend_from_slice(b),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }

    #[test]
    fn output_before_the_servers_live_mark_is_replay() {
        let mut server = ReplayBuffer::new(4096);
        server.push(b"old prompt \x1b[6n");
        let mut link = TermLink::new();
        link.reduce(Input::Opened);
        let replay = server.replay_from(0);
        let frames = replay.frames();
        assert_eq!(
            link.reduce(Input::Binary(&frames[0])),
            vec![Effect::Replay(b"old prompt \x1b[6n")]
        );
        let live = serde_json::to_string(&TerminalEvent::Live).unwrap();
        assert_eq!(live, r#"{"type":"live"}"#);
        assert_eq!(link.reduce(Input::Text(&live)), vec![]);
        let off = server.push(b"new");
        let frame = encode_output(off, b"new");
        assert_eq!(
            link.reduce(Input::Binary(&frame)),
            vec![Effect::Write(b"new")]
        );
        // A new socket replays again until its own mark.
        link.reduce(Input::Closed {
            code: close_code::ABNORMAL,
            reason: "",
            jitter: 0.0,
        });
        link.reduce(Input::Retrying);
        link.reduce(Input::Opened);
        let off = server.push(b"more");
        let frame = encode_output(off, b"more");
        assert_eq!(
            link.reduce(Input::Binary(&frame)),
            vec![Effect::Replay(b"more")]
        );
    }

    #[test]
    fn opening_goes_live_and_sends_the_size() {
        let mut link = TermLink::new();
        assert_eq!(link.status().word(), "connecting");
        assert_eq!(link.reduce(Input::Opened), vec![Effect::SendResize]);
        assert_eq!(link.status(), &Status::Live);
    }

    #[test]
    fn a_dropped_connection_resumes_without_repeating_or_losing_output() {
        let mut server = ReplayBuffer::new(4096);
        let mut link = TermLink::new();
        let mut screen = Vec::new();
        link.reduce(Input::Opened);
        let first = server.push(b"$ echo hi\r\nhi\r\n");
        screen_of(
            &mut link,
            &[encode_output(first, b"$ echo hi\r\nhi\r\n")],
            &mut screen,
        );

        // The socket drops while the shell keeps printing.
        let effects = link.reduce(Input::Closed {
            code: close_code::ABNORMAL,
            reason: "",
            jitter: 0.5,
        });
        assert_eq!(effects, vec![Effect::Reconnect { after_ms: 500 }]);
        server.push(b"$ ");
        link.reduce(Input::Retrying);
        link.reduce(Input::Opened);

        // The server replays from the offset the link asks for.
        let replay = server.replay_from(link.offset());
        assert_eq!(replay.reset, None);
        screen_of(&mut link, &replay.frames(), &mut screen);
        // Live output the server had already queued before the replay repeats.
        screen_of(&mut link, &[encode_output(13, b"\r\n$ ")], &mut screen);
        assert_eq!(screen, b"$ echo hi\r\nhi\r\n$ ");
        assert_eq!(link.offset(), server.end());
    }

    #[test]
    fn a_reset_clears_the_screen_and_continues_at_the_buffer_start() {
        let mut link = TermLink::new();
        link.reduce(Input::Opened);
        link.reduce(Input::Binary(&encode_output(0, b"old")));
        assert_eq!(
            link.reduce(Input::Text(r#"{"type":"reset","start":500}"#)),
            vec![Effect::ResetScreen]
        );
        assert_eq!(link.offset(), 500);
        let frame = encode_output(500, b"new");
        assert_eq!(
            link.reduce(Input::Binary(&frame)),
            vec![Effect::Replay(b"new")]
        );
    }

    #[test]
    fn a_hole_or_garbage_frame_drops_the_socket_to_resync() {
        let mut link = TermLink::new();
        link.reduce(Input::Opened);
        assert_eq!(
            link.reduce(Input::Binary(&encode_output(9, b"x"))),
            vec![Effect::Drop]
        );
        assert_eq!(link.reduce(Input::Binary(b"??")), vec![Effect::Drop]);
        assert_eq!(link.offset(), 0);
    }

    #[test]
    fn retries_back_off_and_reset_after_a_good_connection() {
        let mut link = TermLink::new();
        let mut delays = vec![];
        for _ in 0..3 {
            let closed = Input::Closed {
                code: close_code::ABNORMAL,
                reason: "",
                jitter: 0.5,
            };
            if let [Effect::Reconnect { after_ms }] = link.reduce(closed)[..] {
                delays.push(after_ms);
            }
            link.reduce(Input::Retrying);
        }
        assert_eq!(delays, [500, 1000, 2000]);
        link.reduce(Input::Opened);
        let again = link.reduce(Input::Closed {
            code: close_code::GOING_AWAY,
            reason: "",
            jitter: 0.5,
        });
        assert_eq!(again, vec![Effect::Reconnect { after_ms: 500 }]);
    }

    #[test]
    fn final_close_codes_stop_reconnecting() {
        let mut link = TermLink::new();
        let effects = link.reduce(Input::Closed {
            code: close_code::GONE,
            reason: "",
            jitter: 0.0,
        });
        assert!(matches!(&effects[..], [Effect::Note(_)]));
        assert!(link.is_finished());
        assert_eq!(link.status().word(), "failed");
        let later = link.reduce(Input::Closed {
            code: close_code::ABNORMAL,
            reason: "",
            jitter: 0.0,
        });
        assert!(later.is_empty());
    }

    #[test]
    fn a_final_close_shows_the_servers_reason() {
        let mut link = TermLink::new();
        link.reduce(Input::Opened);
        let effects = link.reduce(Input::Closed {
            code: close_code::GONE,
            reason: shared::playground::NODE_UNAVAILABLE_MESSAGE,
            jitter: 0.0,
        });
        assert_eq!(
            effects,
            vec![Effect::Note(format!(
                "[disconnected: {}]",
                shared::playground::NODE_UNAVAILABLE_MESSAGE
            ))]
        );
        assert_eq!(
            link.status(),
            &Status::Failed(shared::playground::NODE_UNAVAILABLE_MESSAGE.to_string())
        );
        // A reason's control characters are not written to the terminal;
        // without a reason, the code says why.
        for (reason, note) in [
            ("gone\x1b[2J\r\nnow\x07", "[disconnected: gone[2Jnow]"),
            (" ", "[disconnected: the session has ended]"),
        ] {
            let mut link = TermLink::new();
            let effects = link.reduce(Input::Closed {
                code: close_code::GONE,
                reason,
                jitter: 0.0,
            });
            assert_eq!(effects, vec![Effect::Note(note.into())], "{reason:?}");
        }
    }

    #[test]
    fn an_exited_shell_is_not_reconnected() {
        let mut link = TermLink::new();
        link.reduce(Input::Opened);
        let effects = link.reduce(Input::Text(r#"{"type":"exited","code":130}"#));
        assert_eq!(
            effects,
            vec![Effect::Note("[the shell exited with code 130]".into())]
        );
        let closed = link.reduce(Input::Closed {
            code: close_code::NORMAL,
            reason: "",
            jitter: 0.0,
        });
        assert!(closed.is_empty());
        assert_eq!(link.status(), &Status::Exited(Some(130)));
    }

    #[test]
    fn unknown_control_messages_are_ignored() {
        let mut link = TermLink::new();
        assert!(link.reduce(Input::Text(r#"{"type":"future"}"#)).is_empty());
    }
}
