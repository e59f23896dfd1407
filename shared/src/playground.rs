//! The playground's wire protocol between the browser (`web`) and the server: REST
//! JSON bodies, the session event stream and the terminal stream. Both sides use
//! these types and functions, so a field renamed here is renamed on both ends.
//!
//! # Routes
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /api/config` | – | [`PlaygroundConfig`] |
//! | `POST /api/sessions` | [`CreateSession`] | [`SessionCreated`]; 403 wrong access code, 503 full |
//! | `GET /api/sessions/{id}` | – | [`SessionInfo`] |
//! | `DELETE /api/sessions/{id}` | – | 204 |
//! | `POST /api/sessions/{id}/instances` | – | [`InstanceInfo`]; 409 at `max_instances`, 503 full |
//! | `DELETE /api/sessions/{id}/instances/{name}` | – | 204 |
//! | `POST /api/sessions/{id}/instances/{name}/terminals` | – | [`TerminalCreated`] |
//! | `DELETE /api/sessions/{id}/instances/{name}/terminals/{tab}` | – | 204 |
//! | `POST /api/sessions/{id}/instances/{name}/upload?terminal=T&name=F&tar=0\|1` | raw bytes | [`UploadResult`]; 413 over the limit |
//! | `GET /api/sessions/{id}/ws?token=` | WebSocket | [`SessionEvent`]s |
//! | `GET /api/sessions/{id}/instances/{name}/terminals/{tab}?token=&offset=N` | WebSocket | terminal stream |
//! | `GET /s/{id}/{node}/{port}/...` | – | the published port, proxied ([`routes::port_url`]) |
//!
//! Every error answer is [`ErrorBody`] (`{"message": "..."}`, Docker's error shape)
//! with an HTTP status that says what went wrong.
//!
//! # Authentication
//!
//! Creating a session returns a *token*. Whoever holds the session id and the token
//! owns the session: REST calls send it in the [`TOKEN_HEADER`] header, WebSocket
//! URLs in the `token` query parameter (browsers cannot set headers on a WebSocket).
//! The share link [`routes::share_path`] (`/#/s/{id}/{token}`) carries both in the
//! URL fragment, which browsers never send to the server or to `Referer`s, so the
//! token stays out of access logs. Opening the link on another machine joins the same
//! session with the same rights (like Play with Docker, shared viewers may type).
//! Ids and tokens are made of URL-safe characters only ([`is_url_safe_id`]), so they
//! need no escaping anywhere.
//!
//! # The terminal stream
//!
//! Every terminal has one output stream whose bytes are numbered from 0 at the
//! shell's start. The server keeps the last bytes in a [`ReplayBuffer`]; a client
//! remembers how many bytes it has shown ([`OutputCursor`]) and reconnects with
//! `offset=` that number, so it receives exactly the bytes it missed: no repeats, no
//! holes. Frames:
//!
//! * server -> client, binary: `[OUTPUT_TAG][offset: u64 big-endian][pty bytes]`
//!   ([`encode_output`], [`decode_output`]); `offset` numbers the first byte.
//! * server -> client, text: a JSON [`TerminalEvent`] ([`TerminalEvent::Reset`] when
//!   the asked-for offset is no longer buffered, [`TerminalEvent::Exited`]).
//! * client -> server, binary: input bytes for the PTY, verbatim.
//! * client -> server, text: a JSON [`TerminalCommand`] (resize).
//!
//! WebSocket frames keep their order, so a `Reset` sits exactly between the output it
//! invalidates and the output that follows it.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// HTTP header that carries the session token on REST calls.
pub const TOKEN_HEADER: &str = "X-Dockhand-Token";
/// Query parameter that carries the session token on WebSocket URLs.
pub const TOKEN_QUERY: &str = "token";
/// Query parameter of the terminal WebSocket: bytes of output the client already has.
pub const OFFSET_QUERY: &str = "offset";
/// Instances a session may have unless the trainer configures otherwise.
pub const DEFAULT_MAX_INSTANCES: u32 = 5;
/// Bytes of output a terminal keeps for replay unless configured otherwise:
/// 1 MiB, about 10,000 lines of a busy build log, what the browser's terminal
/// keeps as scrollback.
pub const DEFAULT_REPLAY_BYTES: usize = 1024 * 1024;
/// The message of the 503 answer when the server has no room for another session
/// or instance. Polite on purpose: the trainee did nothing wrong.
pub const FULL_MESSAGE: &str =
    "The playground is full right now. Please try again in a few minutes.";
/// The message of the 503 answer of a node that is stopping (SIGTERM with
/// `--drain-deadline`): its sessions go on, new ones go elsewhere.
pub const DRAINING_MESSAGE: &str =
    "This playground node is stopping and takes no new sessions. Please try again.";
/// The message of a gateway's 503 answer about a session whose node is gone.
pub const NODE_UNAVAILABLE_MESSAGE: &str =
    "This session's node is unavailable. Start a new session to go on.";
/// The message of the 403 answer to a wrong or missing access code.
pub const WRONG_CODE_MESSAGE: &str = "That access code is not right. Ask your trainer for it.";

/// Name of a session, e.g. `"k3f9x2"`: URL-safe characters only.
pub type SessionId = String;
/// Number of a terminal tab inside one instance, from 1 up. Never reused while the
/// instance lives, so a stale client cannot attach to somebody else's new shell.
pub type TabId = u32;

// ---------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------

/// `GET /api/config`: what the landing page needs to know before a session exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaygroundConfig {
    /// Title shown on the landing page and in the header (the trainer may set it).
    #[serde(default = "default_title")]
    pub title: String,
    /// True when starting a session needs the trainer's access code.
    pub access_code_required: bool,
    /// Instances (`node1`..`nodeN`) one session may have at once.
    pub max_instances: u32,
    /// Terminal tabs one instance may have at once.
    #[serde(default = "default_max_terminals")]
    pub max_terminals_per_instance: u32,
    /// Lifetime of a session from its creation, in seconds.
    pub session_ttl_secs: u64,
    /// A session with no terminal input and no API call for this long is destroyed
    /// (an open but untouched browser tab does not keep it alive).
    pub idle_timeout_secs: u64,
    /// Largest upload body (file, or tar of a folder) in bytes.
    pub upload_limit_bytes: u64,
    /// False while the server is at capacity: the landing page says so before the
    /// trainee clicks, and `POST /api/sessions` would answer 503.
    #[serde(default = "default_true")]
    pub accepting_sessions: bool,
    /// `--port-domain`: port links are `NODE-PORT-SESSION.<domain>` host names
    /// (one per published port) instead of `/s/SESSION/NODE/PORT/` paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_domain: Option<String>,
    /// `--trainer-code` is set: trainees may join a workshop with its code.
    #[serde(default)]
    pub workshops: bool,
}

fn default_title() -> String {
    "Dockhand".to_string()
}
fn default_max_terminals() -> u32 {
    4
}
fn default_true() -> bool {
    true
}

/// `POST /api/sessions` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSession {
    /// The trainer's access code; `None` when the server requires none.
    #[serde(default)]
    pub access_code: Option<String>,
    /// A workshop's join code: the session is the trainer's to follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workshop: Option<String>,
    /// The trainee's name, shown to the trainer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /api/sessions` answer (HTTP 201). The new session has no instances yet;
/// the web client adds `node1` right away.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    /// The new session's id.
    pub id: SessionId,
    /// The secret that authorizes every later call about this session.
    pub token: String,
    /// When the session will be destroyed, in Unix seconds (server clock).
    pub expires_at: u64,
}

/// Every error answer: Docker's `{"message": "..."}`. The message is shown to the
/// trainee as it is, so the server words it for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

/// `GET /api/sessions/{id}`, and the first [`SessionEvent`] on the session socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: SessionId,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// Destruction time, Unix seconds (server clock).
    pub expires_at: u64,
    /// The server's clock when this was sent, Unix seconds. The client counts down
    /// `expires_at - server_time` from the moment it received this, so a browser
    /// whose clock is off still shows the right time left.
    pub server_time: u64,
    /// Instances the session may have at once.
    pub max_instances: u32,
    /// The instances, in creation order.
    pub instances: Vec<InstanceInfo>,
}

impl SessionInfo {
    /// The instance called `name`, if the session has it.
    pub fn instance(&self, name: &str) -> Option<&InstanceInfo> {
        self.instances.iter().find(|i| i.name == name)
    }
}

/// One instance (virtual host) of a session.
/// `POST /api/sessions/{id}/instances` answers with the new one; it comes with
/// terminal tab 1 already open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// `node1`, `node2`, ...: the lowest free number, so a removed `node2` is reused.
    pub name: String,
    /// The hostname the shell prompt shows.
    pub hostname: String,
    /// The instance's address on the session's network (what `node2` pings).
    pub ip: String,
    /// Creation time, Unix seconds.
    pub created: u64,
    /// Open terminal tabs, ascending.
    pub terminals: Vec<TabId>,
}

/// `POST .../terminals` answer: the new tab (a fresh shell in the instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalCreated {
    pub tab: TabId,
}

/// Query of `POST .../upload`. The body is the raw file, or a tar archive when `tar`
/// is 1 (a dropped folder, whose entries all start with `name/`); it lands in the
/// current directory of the shell in tab `terminal` (a file as `name`, an archive
/// unpacked there), never outside the instance. An existing file is replaced. The
/// server refuses a body over `upload_limit_bytes` with 413, and treats the archive
/// as hostile (no `..`, absolute paths or links that leave the directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadQuery {
    /// The tab whose shell's working directory receives the upload.
    pub terminal: TabId,
    /// File name (a plain name, no `/`), or for a tar the dropped folder's name.
    pub name: String,
    /// 1: the body is a tar archive to unpack; 0: a single file.
    #[serde(default)]
    pub tar: u8,
}

/// `POST .../upload` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResult {
    /// Where the file or folder now is inside the instance (absolute path).
    pub path: String,
    /// Bytes received.
    pub bytes: u64,
}

// ---------------------------------------------------------------------------
// Session WebSocket
// ---------------------------------------------------------------------------

/// Server -> client message on the session socket (JSON text frames, tagged by
/// `"type"`). On connect the server sends [`SessionEvent::Session`] and then one
/// [`SessionEvent::InstanceState`] per instance, so a reconnecting client needs
/// nothing else to be current. The client sends nothing on this socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SessionEvent {
    /// The whole session: sent on connect and whenever an instance or a terminal
    /// tab is added or removed (by anyone sharing the session).
    Session(SessionInfo),
    /// A snapshot of one instance's engine state, sent on connect and each time
    /// the instance's engine emits an event (the server re-reads and pushes; it may
    /// coalesce a burst of events into one snapshot).
    InstanceState(InstanceState),
    /// The session's lesson progress (guided lessons).
    Lesson(crate::lessons::LessonProgress),
    /// A message from the trainer of the session's workshop.
    Message { text: String },
    /// The session ends in `secs_left` seconds: `idle` is true when the idle timeout
    /// is the cause (any input in a terminal resets it).
    Expiring { secs_left: u64, idle: bool },
    /// The session is gone; the server closes the socket after this.
    Closed { reason: CloseReason },
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Its time ran out.
    Expired,
    /// Nobody used it for `idle_timeout_secs`.
    Idle,
    /// Someone deleted it (`DELETE /api/sessions/{id}`).
    Deleted,
    /// The server is shutting down.
    Shutdown,
    /// The trainer closed the workshop the session was part of.
    WorkshopClosed,
}

impl CloseReason {
    /// The sentence the UI shows.
    pub fn message(self) -> &'static str {
        match self {
            CloseReason::Expired => "This session's time is up; its instances were removed.",
            CloseReason::Idle => "This session was idle too long; its instances were removed.",
            CloseReason::Deleted => "This session was closed.",
            CloseReason::Shutdown => "The playground server is shutting down.",
            CloseReason::WorkshopClosed => "The trainer closed the workshop; its sessions ended.",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// What `docker ps -a`, `images`, `network ls` and `volume ls` would show in one
/// instance, as one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceState {
    /// The instance's name (`node1`).
    pub instance: String,
    pub containers: Vec<ContainerRow>,
    pub images: Vec<ImageRow>,
    pub networks: Vec<NetworkRow>,
    pub volumes: Vec<VolumeRow>,
}

/// One container, like a `docker ps -a` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRow {
    /// Short id (12 hex digits).
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// Docker's state word: `created`, `running`, `paused`, `restarting`, `exited`, `dead`.
    pub state: String,
    /// Docker's status text: `Up 3 minutes`, `Exited (0) 5 seconds ago`.
    pub status: String,
    pub ports: Vec<PortLink>,
}

/// One container port; with a public port and TCP it is a link into the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortLink {
    /// The container's port.
    pub private: u16,
    /// The instance's port it is published on, if published.
    #[serde(default)]
    pub public: Option<u16>,
    pub proto: Proto,
    /// Path on the playground server that proxies to the published port
    /// ([`routes::port_url`]); `None` when not published or not TCP.
    #[serde(default)]
    pub url: Option<String>,
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        })
    }
}

impl PortLink {
    /// Docker's notation: `8080->80/tcp`, or `80/tcp` when not published.
    pub fn label(&self) -> String {
        match self.public {
            Some(public) => format!("{public}->{}/{}", self.private, self.proto),
            None => format!("{}/{}", self.private, self.proto),
        }
    }
}

/// One image, like a `docker images` line (one row per image, all its tags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRow {
    /// Short id (12 hex digits of the config digest).
    pub id: String,
    /// `repo:tag` names; empty for a dangling image.
    pub tags: Vec<String>,
    /// Size in bytes.
    pub size: u64,
    /// Creation time, Unix seconds.
    pub created: u64,
}

/// One network, like a `docker network ls` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRow {
    pub id: String,
    pub name: String,
    /// `bridge`, `host`, `null`.
    pub driver: String,
    /// The first IPv4 subnet, if the network has one.
    #[serde(default)]
    pub subnet: Option<String>,
}

/// One volume, like a `docker volume ls` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRow {
    pub name: String,
    pub driver: String,
}

// ---------------------------------------------------------------------------
// Terminal WebSocket
// ---------------------------------------------------------------------------

/// Client -> server control message on a terminal socket (JSON text frame, tagged by
/// `"type"`). Keystrokes travel as binary frames instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalCommand {
    /// The terminal's size changed (or the client just connected): set the PTY's
    /// window size. With several viewers the last one to resize wins.
    Resize { cols: u16, rows: u16 },
}

/// Server -> client control message on a terminal socket (JSON text frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalEvent {
    /// The client's `offset` is not in the replay buffer (older than its start, or
    /// beyond its end because the shell was restarted): the client clears its screen
    /// and the output that follows starts at `start`.
    Reset { start: u64 },
    /// The shell ended (the user typed `exit`); the tab is closed and the server
    /// closes the socket with [`close_code::NORMAL`]. The client must not reconnect.
    Exited { code: Option<i32> },
    /// The replay is over: the output that follows is live. A client must not
    /// answer the replay's queries (a shell's cursor-position request at each
    /// old prompt): the shell stopped waiting for them long ago, and the
    /// answers would arrive as typed input.
    Live,
}

/// WebSocket close codes the server uses, so a client knows whether reconnecting
/// can help. Servers should accept the upgrade and then close with these rather than
/// refuse the handshake: a browser reports every refused handshake as 1006.
pub mod close_code {
    /// Orderly end (the shell exited, the session was closed).
    pub const NORMAL: u16 = 1000;
    /// The server is restarting: reconnect.
    pub const GOING_AWAY: u16 = 1001;
    /// No connection was established or it broke: reconnect.
    pub const ABNORMAL: u16 = 1006;
    /// Wrong or missing token. Do not reconnect.
    pub const UNAUTHORIZED: u16 = 4401;
    /// No such session, instance or tab. Do not reconnect.
    pub const NOT_FOUND: u16 = 4404;
    /// The session expired or was deleted. Do not reconnect.
    pub const GONE: u16 = 4410;

    /// True when reconnecting cannot succeed.
    pub fn is_final(code: u16) -> bool {
        matches!(code, NORMAL | UNAUTHORIZED | NOT_FOUND | GONE)
    }
}

/// First byte of a binary output frame. Other values are reserved; a client that
/// meets one reports a [`FrameError::UnknownTag`].
pub const OUTPUT_TAG: u8 = 0x01;
/// Bytes before the payload of an output frame: tag plus u64 offset.
pub const OUTPUT_HEADER_LEN: usize = 9;
/// Largest payload a server should put in one frame (keeps frames well below any
/// proxy's message limit and lets the browser render while a replay streams).
pub const MAX_OUTPUT_CHUNK: usize = 32 * 1024;

/// One decoded binary output frame: `data` is the stream's bytes
/// `offset .. offset + data.len()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFrame<'a> {
    pub offset: u64,
    pub data: &'a [u8],
}

impl OutputFrame<'_> {
    /// The offset just past this frame's last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }
}

/// A binary frame that is not an output frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than the header.
    Truncated(usize),
    /// The first byte is not [`OUTPUT_TAG`].
    UnknownTag(u8),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Truncated(n) => write!(f, "terminal frame of {n} bytes has no header"),
            FrameError::UnknownTag(t) => write!(f, "unknown terminal frame tag {t:#04x}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Encode an output frame: the bytes `data`, the first of which is byte `offset` of
/// the terminal's stream.
pub fn encode_output(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OUTPUT_HEADER_LEN + data.len());
    out.push(OUTPUT_TAG);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Decode a binary frame from the server.
pub fn decode_output(frame: &[u8]) -> Result<OutputFrame<'_>, FrameError> {
    if frame.len() < OUTPUT_HEADER_LEN {
        return Err(FrameError::Truncated(frame.len()));
    }
    if frame[0] != OUTPUT_TAG {
        return Err(FrameError::UnknownTag(frame[0]));
    }
    let mut be = [0u8; 8];
    be.copy_from_slice(&frame[1..OUTPUT_HEADER_LEN]);
    Ok(OutputFrame {
        offset: u64::from_be_bytes(be),
        data: &frame[OUTPUT_HEADER_LEN..],
    })
}

/// Output arrived that does not continue what the client has: bytes before
/// `got` are missing. The client reconnects with `offset = expected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub expected: u64,
    pub got: u64,
}

/// The client's position in a terminal's output stream: how many bytes it has shown.
/// It is the `offset=` of the next connection, and it turns possibly overlapping
/// frames into exactly the new bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputCursor {
    next: u64,
}

impl OutputCursor {
    /// A cursor that has seen nothing (connect with `offset=0`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes shown so far: the `offset=` to reconnect with.
    pub fn received(&self) -> u64 {
        self.next
    }

    /// The part of `frame` that is new to this client (possibly empty when the whole
    /// frame is a repeat), advancing the cursor past it; or the [`Gap`] when the frame
    /// starts after the next expected byte.
    pub fn accept<'a>(&mut self, frame: OutputFrame<'a>) -> Result<&'a [u8], Gap> {
        if frame.offset > self.next {
            return Err(Gap {
                expected: self.next,
                got: frame.offset,
            });
        }
        if frame.end() <= self.next {
            return Ok(&[]);
        }
        // Lossless: the difference is less than data.len(), a usize.
        let skip = (self.next - frame.offset) as usize;
        self.next = frame.end();
        Ok(&frame.data[skip..])
    }

    /// After [`TerminalEvent::Reset`]: the screen was cleared and output continues
    /// at `start`.
    pub fn reset(&mut self, start: u64) {
        self.next = start;
    }
}

/// What a (re)connecting client must be sent: optionally a
/// [`TerminalEvent::Reset`], then `data`, the stream from `offset` to the end of
/// the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// `Some(start)` when the client's offset was not buffered: send
    /// `TerminalEvent::Reset { start }` first.
    pub reset: Option<u64>,
    /// Stream offset of `data[0]`.
    pub offset: u64,
    pub data: Vec<u8>,
}

impl Replay {
    /// The replay as binary frames of at most [`MAX_OUTPUT_CHUNK`] payload bytes
    /// (none when there is nothing to replay).
    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.data
            .chunks(MAX_OUTPUT_CHUNK)
            .scan(self.offset, |offset, chunk| {
                let frame = encode_output(*offset, chunk);
                *offset += chunk.len() as u64;
                Some(frame)
            })
            .collect()
    }
}

/// The server's memory of one terminal's output: the last `capacity` bytes, each
/// known by its offset in the stream. Pure data structure: the server pushes PTY
/// output into it and answers each (re)connection from it. Take the replay and
/// subscribe to live output under one lock, so nothing falls between them; the
/// client's [`OutputCursor`] drops any overlap, but cannot fill a hole.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    buf: VecDeque<u8>,
    start: u64,
    capacity: usize,
}

/// When old output is dropped, the buffer's start moves forward to the next line
/// start if one is this close, so a replay after a reset begins on a fresh line and
/// not in the middle of a UTF-8 character or an escape sequence.
const LINE_ALIGN_WINDOW: usize = 4096;

impl ReplayBuffer {
    /// A buffer that keeps the last `capacity` bytes (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: VecDeque::new(),
            start: 0,
            capacity: capacity.max(1),
        }
    }

    /// Offset of the oldest byte still buffered.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Offset just past the newest byte: the length of the whole stream so far.
    pub fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Append PTY output, dropping the oldest bytes beyond the capacity. Returns the
    /// offset of `data[0]`, the one to put in its live output frame.
    pub fn push(&mut self, data: &[u8]) -> u64 {
        let offset = self.end();
        self.buf.extend(data);
        if self.buf.len() > self.capacity {
            let excess = self.buf.len() - self.capacity;
            let at_line_start = self.buf.get(excess - 1) == Some(&b'\n');
            self.drop_front(excess);
            let window = self.buf.len().min(LINE_ALIGN_WINDOW);
            if !at_line_start {
                if let Some(nl) = self.buf.range(..window).position(|&b| b == b'\n') {
                    self.drop_front(nl + 1);
                }
            }
        }
        offset
    }

    fn drop_front(&mut self, n: usize) {
        self.buf.drain(..n);
        self.start += n as u64;
    }

    /// What a client that has the stream up to `offset` must be sent. An offset
    /// inside `start..=end` replays exactly the missing bytes; anything else (older
    /// than the buffer, or ahead of the stream after a restart) replays the whole
    /// buffer after a reset.
    pub fn replay_from(&self, offset: u64) -> Replay {
        if (self.start..=self.end()).contains(&offset) {
            let skip = (offset - self.start) as usize;
            Replay {
                reset: None,
                offset,
                data: self.buf.range(skip..).copied().collect(),
            }
        } else {
            Replay {
                reset: Some(self.start),
                offset: self.start,
                data: self.buf.iter().copied().collect(),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// URLs
// ---------------------------------------------------------------------------

/// True for a non-empty string of `[A-Za-z0-9_-]`: what session ids, tokens and
/// instance names must be made of, so they go into paths and queries unescaped.
/// A DNS name of letters, digits and hyphens in dot-separated labels
/// (`play.example.org`, `localhost`).
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

pub fn is_url_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Percent-encode `s` for a query value (everything but RFC 3986's unreserved
/// characters), e.g. an uploaded file's name.
pub fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Paths of every playground endpoint, built in one place for client and server.
/// They are paths: the browser resolves them against the page's origin, and
/// [`routes::ws_url`] turns one into a `ws:`/`wss:` URL.
pub mod routes;

/// Many nodes behind a gateway: a node's report, ids that name their node.
pub mod cluster;

#[cfg(test)]
mod tests;
