//! One terminal tab: a login shell in an instance, on a PTY held by the
//! instance's container monitor, and the WebSocket side of it.
//!
//! The shell is an exec in the instance's init (`sh -l`, `TERM=xterm-256color`,
//! cwd `/root`). One task reads the monitor's stream for as long as the shell
//! lives, whoever is connected: every chunk is numbered by [`ReplayBuffer::push`]
//! and broadcast to the sockets of the moment, under one lock, so a socket that
//! takes its replay and subscribes under the same lock misses nothing and sees
//! nothing twice. A socket that falls behind the broadcast (`Lagged`) takes a new
//! replay from the last byte it sent, so slowness costs time, never bytes. The
//! shell's environment carries a random marker (`DOCKHAND_TAB`), by which the
//! server finds its processes on the machine: for the upload's working directory
//! and to end them when the tab is closed.

use axum::extract::ws::{CloseFrame, Message};
use bytes::Bytes;
use engine::daemon::Daemon;
use engine::monitor::EXIT_STREAM;
use engine::procs::{self, parent_pid, pids_with_env};
use engine::runtime::spec::ExitStatus;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use nix::sys::signal::Signal;
use shared::playground::{
    close_code, encode_output, ReplayBuffer, TabId, TerminalCommand, TerminalEvent,
};
use shared::sync::Locked;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

/// Name of the environment variable that marks a tab's shell and its children.
pub const MARKER_ENV: &str = "DOCKHAND_TAB";
/// Chunks the broadcast holds for slow sockets before they must re-read the replay.
const LIVE_QUEUE: usize = 256;

/// What the reader task tells the connected sockets.
#[derive(Debug, Clone)]
pub enum Out {
    /// PTY bytes starting at stream offset `.0`.
    Data(u64, Bytes),
    /// The shell ended with this code (`None`: the monitor went away).
    Exited(Option<i32>),
    /// The tab or the session is gone: close with this code.
    Gone(u16),
}

struct TermState {
    replay: ReplayBuffer,
    exited: Option<Option<i32>>,
    gone: Option<u16>,
}

/// A terminal tab's shell and its output.
pub struct Terminal {
    pub tab: TabId,
    marker: String,
    /// The instance and the exec of the shell (`None` in unit tests).
    exec: Option<(Arc<Daemon>, String)>,
    input: mpsc::Sender<Bytes>,
    state: Mutex<TermState>,
    live: broadcast::Sender<Out>,
}

/// Where a tab is attached: the pieces a socket needs, taken under the lock.
pub struct Attach {
    pub replay: shared::playground::Replay,
    pub rx: broadcast::Receiver<Out>,
    pub exited: Option<Option<i32>>,
    pub gone: Option<u16>,
}

impl Terminal {
    /// A terminal whose output arrives through [`Terminal::output`] and whose
    /// input goes to the returned receiver (the seam the unit tests use).
    pub fn detached(
        tab: TabId,
        exec: Option<(Arc<Daemon>, String)>,
        marker: String,
        replay_bytes: usize,
    ) -> (Arc<Terminal>, mpsc::Receiver<Bytes>) {
        let (input, rx) = mpsc::channel(256);
        let t = Arc::new(Terminal {
            tab,
            marker,
            exec,
            input,
            state: Mutex::new(TermState {
                replay: ReplayBuffer::new(replay_bytes),
                exited: None,
                gone: None,
            }),
            live: broadcast::channel(LIVE_QUEUE).0,
        });
        (t, rx)
    }

    /// Start a login shell in `daemon`'s init and the task that pumps it.
    /// `on_exit` runs once when the shell has ended.
    pub async fn start(
        daemon: Arc<Daemon>,
        tab: TabId,
        replay_bytes: usize,
        on_exit: impl FnOnce(Option<i32>) + Send + 'static,
    ) -> engine::error::Result<Arc<Terminal>> {
        let marker = hex_token(12);
        let req = shared::api::ExecCreateRequest {
            attach_stdin: true,
            attach_stdout: true,
            attach_stderr: true,
            tty: true,
            cmd: vec!["sh".into(), "-l".into()],
            env: vec![
                "TERM=xterm-256color".into(),
                "HOME=/root".into(),
                format!("{MARKER_ENV}={marker}"),
            ],
            working_dir: "/root".into(),
            console_size: Some([24, 80]),
            ..Default::default()
        };
        let exec_id = daemon.sandbox_exec_create(req)?;
        let conn = daemon.exec_start(&exec_id, Some([24, 80]))?.await?;
        let (term, input) = Terminal::detached(
            tab,
            Some((daemon.clone(), exec_id.clone())),
            marker,
            replay_bytes,
        );
        let t = term.clone();
        tokio::spawn(async move {
            let code = t.pump(conn, input).await;
            daemon.exec_finished(&exec_id, code.map(i64::from).unwrap_or(255));
            t.finish(code);
            on_exit(code);
        });
        Ok(term)
    }

    /// Copy the monitor's frames into the buffer and the typed bytes to the
    /// monitor until the exit frame; the shell's exit code.
    async fn pump(
        &self,
        conn: tokio::net::UnixStream,
        mut input: mpsc::Receiver<Bytes>,
    ) -> Option<i32> {
        let (mut r, mut w) = conn.into_split();
        let writer = tokio::spawn(async move {
            while let Some(b) = input.recv().await {
                if w.write_all(&b).await.is_err() {
                    break;
                }
            }
        });
        let mut d = shared::mux::Demuxer::default();
        let mut buf = vec![0u8; 32 * 1024];
        let mut code = None;
        'read: loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => d.push(&buf[..n]),
            }
            while let Some((s, data)) = d.next_frame() {
                if s == EXIT_STREAM {
                    code = serde_json::from_slice::<ExitStatus>(&data)
                        .ok()
                        .map(|e| e.code as i32);
                    break 'read;
                }
                self.output(&data);
            }
        }
        writer.abort();
        code
    }

    /// PTY output: number it, keep it, and pass it to the sockets.
    pub fn output(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut st = self.state.locked();
        let offset = st.replay.push(data);
        let _ = self
            .live
            .send(Out::Data(offset, Bytes::copy_from_slice(data)));
    }

    /// The shell ended.
    pub fn finish(&self, code: Option<i32>) {
        let mut st = self.state.locked();
        if st.exited.is_none() {
            st.exited = Some(code);
            let _ = self.live.send(Out::Exited(code));
        }
    }

    /// The tab or session is gone: connected sockets close with `code`, later
    /// ones too.
    pub fn close(&self, code: u16) {
        let mut st = self.state.locked();
        if st.gone.is_none() {
            st.gone = Some(code);
            let _ = self.live.send(Out::Gone(code));
        }
    }

    /// The replay for a client that has `offset` bytes, and the live output after it.
    pub fn attach(&self, offset: u64) -> Attach {
        let st = self.state.locked();
        Attach {
            replay: st.replay.replay_from(offset),
            rx: self.live.subscribe(),
            exited: st.exited,
            gone: st.gone,
        }
    }

    /// Bytes of output so far.
    pub fn end(&self) -> u64 {
        self.state.locked().replay.end()
    }

    pub fn exited(&self) -> bool {
        self.state.locked().exited.is_some()
    }

    /// Typed bytes for the shell.
    pub async fn input(&self, data: Bytes) {
        let _ = self.input.send(data).await;
    }

    /// Set the PTY's size.
    pub async fn resize(&self, cols: u16, rows: u16) {
        if cols == 0 || rows == 0 {
            return;
        }
        if let Some((daemon, exec_id)) = &self.exec {
            if let Err(e) = daemon.resize("", Some(exec_id), rows, cols).await {
                tracing::debug!("resize of tab {}: {e}", self.tab);
            }
        }
    }

    /// Machine pids of the shell and of every process that inherited its marker.
    pub fn pids(&self) -> Vec<i32> {
        pids_with_env(MARKER_ENV, &self.marker)
    }

    /// The shell itself: the marked process whose parent is not marked.
    pub fn shell_pid(&self) -> Option<i32> {
        let pids = self.pids();
        pids.iter()
            .copied()
            .find(|p| parent_pid(*p).is_none_or(|pp| !pids.contains(&pp)))
    }

    /// End the shell and what it started in the foreground or background (SIGHUP,
    /// as a closed terminal does, then SIGKILL for what ignores it).
    pub async fn kill(&self) {
        for sig in [Signal::SIGHUP, Signal::SIGKILL] {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            procs::signal_all(&pids, sig);
            for _ in 0..25 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                if self.exited() {
                    return;
                }
            }
        }
    }
}

/// `n` random bytes as lowercase hex.
pub fn hex_token(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

fn text(ev: &TerminalEvent) -> Message {
    Message::Text(serde_json::to_string(ev).unwrap_or_default().into())
}

fn close(code: u16) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: "".into(),
    }))
}

/// Serve one terminal socket: replay from `offset`, then live output; typed
/// bytes and resizes go to the shell. Written over `Sink`/`Stream` so tests
/// drive it with channels. `touch` notes activity (terminal input). A
/// `read_only` socket (a trainer's mirror) gets the output and nothing it
/// sends reaches the shell.
pub async fn serve_socket<S, R, E>(
    term: Arc<Terminal>,
    offset: u64,
    mut tx: S,
    mut rx: R,
    touch: impl Fn() + Send,
    read_only: bool,
) where
    S: Sink<Message> + Unpin + Send,
    R: Stream<Item = Result<Message, E>> + Unpin + Send,
{
    let Attach {
        replay,
        rx: mut live,
        exited,
        gone,
    } = term.attach(offset);
    if let Some(code) = gone {
        let _ = tx.send(close(code)).await;
        return;
    }
    if let Some(start) = replay.reset {
        if tx
            .send(text(&TerminalEvent::Reset { start }))
            .await
            .is_err()
        {
            return;
        }
    }
    let mut sent = replay.offset + replay.data.len() as u64;
    for frame in replay.frames() {
        if tx.send(Message::Binary(frame.into())).await.is_err() {
            return;
        }
    }
    if tx.send(text(&TerminalEvent::Live)).await.is_err() {
        return;
    }
    if let Some(code) = exited {
        let _ = tx.send(text(&TerminalEvent::Exited { code })).await;
        let _ = tx.send(close(close_code::NORMAL)).await;
        return;
    }
    loop {
        tokio::select! {
            out = live.recv() => match out {
                Ok(Out::Data(off, data)) => {
                    let end = off + data.len() as u64;
                    if end <= sent {
                        continue;
                    }
                    // Only the part the client does not have (none after a resync).
                    let skip = sent.saturating_sub(off) as usize;
                    let frame = encode_output(off + skip as u64, &data[skip..]);
                    if tx.send(Message::Binary(frame.into())).await.is_err() {
                        return;
                    }
                    sent = end;
                }
                Ok(Out::Exited(code)) => {
                    let _ = tx.send(text(&TerminalEvent::Exited { code })).await;
                    let _ = tx.send(close(close_code::NORMAL)).await;
                    return;
                }
                Ok(Out::Gone(code)) => {
                    let _ = tx.send(close(code)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Too slow for the broadcast: resume from what was sent.
                    let again = term.attach(sent);
                    live = again.rx;
                    if let Some(start) = again.replay.reset {
                        if tx.send(text(&TerminalEvent::Reset { start })).await.is_err() {
                            return;
                        }
                    }
                    for frame in again.replay.frames() {
                        if tx.send(Message::Binary(frame.into())).await.is_err() {
                            return;
                        }
                    }
                    sent = again.replay.offset + again.replay.data.len() as u64;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) if read_only => {}
                Some(Ok(Message::Binary(b))) => {
                    touch();
                    term.input(b).await;
                }
                Some(Ok(Message::Text(t))) => {
                    match serde_json::from_str::<TerminalCommand>(t.as_str()) {
                        Ok(TerminalCommand::Resize { cols, rows }) => term.resize(cols, rows).await,
                        Err(e) => tracing::debug!("terminal socket: {e}"),
                    }
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playground::test_socket::{pair, FromServer, ToServer};
    use shared::playground::{decode_output, OutputCursor};

    type Socket = (ToServer, FromServer, tokio::task::JoinHandle<()>);

    fn connect(term: &Arc<Terminal>, offset: u64) -> Socket {
        let (to_server, from_server, sink, stream) = pair();
        let t = term.clone();
        let task = tokio::spawn(serve_socket(t, offset, sink, stream, || {}, false));
        (to_server, from_server, task)
    }

    /// Feed every binary frame through a client cursor; text frames as JSON.
    async fn read_until(
        rx: &mut FromServer,
        cursor: &mut OutputCursor,
        screen: &mut Vec<u8>,
        want: &[u8],
    ) -> Vec<TerminalEvent> {
        let mut events = vec![];
        while !screen.ends_with(want) {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
                .await
                .expect("frame in time")
                .expect("socket open");
            match msg {
                Message::Binary(b) => {
                    let f = decode_output(&b).unwrap();
                    screen.extend_from_slice(cursor.accept(f).unwrap());
                }
                Message::Text(t) => {
                    let ev: TerminalEvent = serde_json::from_str(t.as_str()).unwrap();
                    if let TerminalEvent::Reset { start } = ev {
                        cursor.reset(start);
                        screen.clear();
                    }
                    events.push(ev);
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        events
    }

    #[tokio::test]
    async fn a_reconnect_gets_exactly_the_missed_output() {
        let (term, _input) = Terminal::detached(1, None, "m".into(), 1024);
        term.output(b"$ ls\r\n");
        let (c1, mut r1, t1) = connect(&term, 0);
        let mut cursor = OutputCursor::new();
        let mut screen = vec![];
        read_until(&mut r1, &mut cursor, &mut screen, b"$ ls\r\n").await;
        drop(c1);
        t1.await.unwrap();
        // Output while nobody is connected.
        term.output(b"a b c\r\n");
        term.output(b"$ ");
        let (_c2, mut r2, _t2) = connect(&term, cursor.received());
        let evs = read_until(&mut r2, &mut cursor, &mut screen, b"$ ").await;
        term.output(b"echo hi\r\n");
        read_until(&mut r2, &mut cursor, &mut screen, b"echo hi\r\n").await;
        assert!(evs.is_empty());
        assert_eq!(screen, b"$ ls\r\na b c\r\n$ echo hi\r\n");
    }

    #[tokio::test]
    async fn an_evicted_offset_is_reset_to_the_buffer_start() {
        let (term, _input) = Terminal::detached(1, None, "m".into(), 16);
        term.output(b"line one\r\nline two\r\nline three\r\n");
        let (_c, mut r, _t) = connect(&term, 3);
        let mut cursor = OutputCursor::new();
        let mut screen = vec![];
        let evs = read_until(&mut r, &mut cursor, &mut screen, b"three\r\n").await;
        assert!(matches!(evs[..], [TerminalEvent::Reset { .. }]));
        assert!(
            screen.starts_with(b"line"),
            "{:?}",
            String::from_utf8_lossy(&screen)
        );
    }

    #[tokio::test]
    async fn a_slow_socket_that_lags_resyncs_without_holes_or_repeats() {
        let (term, _input) = Terminal::detached(1, None, "m".into(), 1 << 20);
        let (_c, mut r, _t) = connect(&term, 0);
        // Far more chunks than the broadcast holds, before the socket reads any.
        let mut want = vec![];
        for i in 0..(LIVE_QUEUE * 3) {
            let line = format!("{i}\n");
            want.extend_from_slice(line.as_bytes());
            term.output(line.as_bytes());
        }
        term.output(b"END");
        want.extend_from_slice(b"END");
        let mut cursor = OutputCursor::new();
        let mut screen = vec![];
        read_until(&mut r, &mut cursor, &mut screen, b"END").await;
        assert_eq!(screen, want);
    }

    #[tokio::test]
    async fn input_goes_to_the_shell_and_exit_closes_normally() {
        let (term, mut input) = Terminal::detached(1, None, "m".into(), 1024);
        let (c, mut r, task) = connect(&term, 0);
        c.send(Ok(Message::Binary(Bytes::from_static(b"ls\r"))))
            .unwrap();
        assert_eq!(input.recv().await.unwrap(), Bytes::from_static(b"ls\r"));
        term.finish(Some(0));
        let mut got = vec![];
        while let Some(m) = r.recv().await {
            got.push(m);
        }
        task.await.unwrap();
        // The (empty) replay is over, then the exit.
        assert!(matches!(&got[0], Message::Text(t) if t.as_str() == r#"{"type":"live"}"#));
        assert!(
            matches!(&got[1], Message::Text(t) if t.as_str() == r#"{"type":"exited","code":0}"#)
        );
        assert!(matches!(&got[2], Message::Close(Some(f)) if f.code == close_code::NORMAL));
        // A late socket learns the exit at once, after its replay.
        let (_c2, mut r2, _t2) = connect(&term, 0);
        assert!(
            matches!(r2.recv().await, Some(Message::Text(t)) if t.as_str() == r#"{"type":"live"}"#)
        );
        assert!(matches!(r2.recv().await, Some(Message::Text(t)) if t.as_str().contains("exited")));
    }

    #[tokio::test]
    async fn a_closed_tab_closes_its_sockets_with_the_given_code() {
        let (term, _input) = Terminal::detached(1, None, "m".into(), 1024);
        let (_c, mut r, _t) = connect(&term, 0);
        term.close(close_code::GONE);
        assert!(
            matches!(r.recv().await, Some(Message::Close(Some(f))) if f.code == close_code::GONE)
        );
        let (_c2, mut r2, _t2) = connect(&term, 0);
        assert!(
            matches!(r2.recv().await, Some(Message::Close(Some(f))) if f.code == close_code::GONE)
        );
    }

    #[test]
    fn marked_processes_are_found_by_their_environment() {
        engine::testing::require_root!();
        let marker = hex_token(8);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(MARKER_ENV, &marker)
            .spawn()
            .unwrap();
        // Until the child has exec'd, its environment is still ours.
        let mut pids = vec![];
        for _ in 0..100 {
            pids = pids_with_env(MARKER_ENV, &marker);
            if !pids.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(pids, vec![child.id() as i32]);
        assert_eq!(parent_pid(child.id() as i32), None);
        assert!(parent_pid(std::process::id() as i32).is_some());
    }
}
