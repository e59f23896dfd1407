//! A command under a new pseudo-terminal, driven like a user at a keyboard: the
//! child gets the slave side as its controlling terminal (setsid + TIOCSCTTY) on
//! stdin, stdout and stderr; the test writes keystrokes to the master, reads
//! what the terminal would show, resizes the window, and waits for the exit.
//! The child's process group is killed on drop, so no test leaves a CLI behind.

use crate::{bin, docker_cli, Daemon, Run};
use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Everything the terminal has shown, filled by a reader thread.
#[derive(Default)]
struct Screen {
    bytes: Vec<u8>,
    closed: bool,
}

pub struct Pty {
    master: File,
    slave_path: String,
    child: Child,
    screen: Arc<(Mutex<Screen>, Condvar)>,
    /// Where the next `expect` starts looking.
    cursor: usize,
}

fn set_size(fd: i32, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from a valid pointer.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

fn open_pty() -> (File, String) {
    // SAFETY: plain libc calls on a descriptor we own; ptsname_r writes into a
    // buffer of the size we pass.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        assert_eq!(libc::grantpt(m), 0, "grantpt");
        assert_eq!(libc::unlockpt(m), 0, "unlockpt");
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()),
            0,
            "ptsname_r"
        );
        let path = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        (File::from_raw_fd(m), path)
    }
}

impl Pty {
    /// Start `cmd` on a new terminal of `rows` x `cols`.
    pub fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Pty {
        let (master, slave_path) = open_pty();
        set_size(master.as_raw_fd(), rows, cols);
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&slave_path)
            .expect("open pty slave");
        let fd = |f: &File| Stdio::from(OwnedFd::from(f.try_clone().expect("dup slave")));
        cmd.stdin(fd(&slave)).stdout(fd(&slave)).stderr(fd(&slave));
        if std::env::var_os("TERM").is_none() {
            cmd.env("TERM", "xterm");
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn under pty");
        // Our copies of the slave close here (the Command owned three of them),
        // so the master sees EOF/EIO once the child's side is gone.
        drop(cmd);
        drop(slave);
        let screen = Arc::new((Mutex::new(Screen::default()), Condvar::new()));
        let mut reader = master.try_clone().expect("dup master");
        let mut answer = master.try_clone().expect("dup master");
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // The tail of the previous read, so a query split across reads is seen.
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*sink;
                let mut s = lock.lock().expect("screen");
                if n == 0 {
                    s.closed = true;
                    cv.notify_all();
                    return;
                }
                s.bytes.extend_from_slice(&buf[..n]);
                cv.notify_all();
                drop(s);
                // Behave like a terminal: answer "where is the cursor?" (DSR,
                // ESC[6n), which busybox's line editor sends with each prompt and
                // waits for; unanswered, it would eat the next keystrokes.
                tail.extend_from_slice(&buf[..n]);
                let queries = tail.windows(4).filter(|w| *w == b"\x1b[6n").count();
                for _ in 0..queries {
                    let _ = answer.write_all(b"\x1b[1;1R");
                }
                let keep = tail.len().saturating_sub(3);
                if queries > 0 {
                    tail.clear();
                } else {
                    tail.drain(..keep);
                }
            }
        });
        Pty {
            master,
            slave_path,
            child,
            screen,
            cursor: 0,
        }
    }

    /// Type bytes (keystrokes: `\r` is Enter, `\x03` ctrl-c, `\x10\x11` ctrl-p ctrl-q).
    pub fn send(&mut self, data: &[u8]) {
        self.master.write_all(data).expect("write to pty");
        self.master.flush().expect("flush pty");
    }

    /// Wait until `text` appears after the previous match; returns what was shown
    /// up to and including it, or on timeout everything shown since that match.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.screen;
        let mut s = lock.lock().expect("screen");
        loop {
            let hay = &s.bytes[self.cursor.min(s.bytes.len())..];
            if let Some(pos) = find(hay, text.as_bytes()) {
                let end = self.cursor + pos + text.len();
                let seen = String::from_utf8_lossy(&s.bytes[self.cursor..end]).into_owned();
                self.cursor = end;
                return Ok(seen);
            }
            let now = Instant::now();
            if now >= deadline || s.closed {
                return Err(String::from_utf8_lossy(hay).into_owned());
            }
            s = cv.wait_timeout(s, deadline - now).expect("screen").0;
        }
    }

    /// `expect` that fails the test with the screen's content.
    #[track_caller]
    pub fn want(&mut self, text: &str, timeout: Duration) -> String {
        match self.expect(text, timeout) {
            Ok(s) => s,
            Err(seen) => {
                panic!("{text:?} did not appear within {timeout:?}; the terminal showed:\n{seen:?}")
            }
        }
    }

    /// Everything the terminal has shown so far.
    pub fn screen(&self) -> String {
        let s = self.screen.0.lock().expect("screen");
        String::from_utf8_lossy(&s.bytes).into_owned()
    }

    /// Change the window size as a terminal emulator does: TIOCSWINSZ on the
    /// master (the kernel signals the foreground group) plus an explicit
    /// SIGWINCH to the child's group.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        set_size(self.master.as_raw_fd(), rows, cols);
        // SAFETY: kill(2) on the process group we created with setsid.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGWINCH) };
    }

    /// Send a signal to the child (the CLI) itself.
    pub fn signal(&mut self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit code (128+n after signal n), or `None` if still running at the timeout.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code().or_else(|| st.signal().map(|s| 128 + s));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Is the terminal in raw mode (no canonical input, no echo)? After a CLI
    /// ends, the terminal must be back in the mode it found it in.
    pub fn is_raw(&self) -> bool {
        let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&self.slave_path)
        else {
            return false;
        };
        // SAFETY: tcgetattr fills the zeroed termios we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(f.as_raw_fd(), &mut t) != 0 {
                return false;
            }
            t.c_lflag & (libc::ICANON | libc::ECHO) == 0
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Drop for Pty {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created with setsid.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which client drives the daemon: ours or the real docker CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Dockhand,
    Docker,
}

impl Via {
    /// The client's command line against this daemon, not yet started.
    pub fn command(self, d: &Daemon, args: &[&str]) -> Command {
        match self {
            Via::Dockhand => {
                let mut c = Command::new(bin());
                c.arg("-H").arg(d.host_uri()).args(args);
                c
            }
            Via::Docker => {
                let mut c = Command::new(docker_cli().expect("docker CLI"));
                c.env("DOCKER_HOST", d.host_uri())
                    .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
                    .env("DOCKER_BUILDKIT", "0")
                    .env("DOCKER_CLI_HINTS", "false")
                    .args(args);
                c
            }
        }
    }

    /// Run to completion (bounded at 60 s) with `stdin` piped in.
    pub fn run(self, d: &Daemon, args: &[&str], stdin: Option<&[u8]>) -> Run {
        crate::run_with(self.command(d, args), stdin)
    }

    /// Start the client on a new terminal of 24 x 80.
    pub fn pty(self, d: &Daemon, args: &[&str]) -> Pty {
        Pty::spawn(self.command(d, args), 24, 80)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_under_the_pty_sees_a_terminal_of_the_given_size() {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("stty size; tty; read x; echo got:$x; exit 4");
        let mut p = Pty::spawn(c, 33, 101);
        p.want("33 101", Duration::from_secs(5));
        p.want("/dev/pts/", Duration::from_secs(5));
        p.send(b"hello\r");
        p.want("got:hello", Duration::from_secs(5));
        assert_eq!(p.wait(Duration::from_secs(5)), Some(4));
        assert!(!p.is_raw());
    }

    #[test]
    fn resize_reaches_the_foreground_job() {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done");
        let mut p = Pty::spawn(c, 24, 80);
        p.want("ready", Duration::from_secs(5));
        p.resize(50, 132);
        p.want("50 132", Duration::from_secs(5));
        assert_eq!(p.wait(Duration::from_secs(5)), Some(0));
    }

    #[test]
    fn expect_times_out_with_what_was_shown() {
        let mut c = Command::new("sh");
        c.arg("-c").arg("echo something; sleep 5");
        let mut p = Pty::spawn(c, 24, 80);
        let seen = p.expect("never", Duration::from_millis(500)).unwrap_err();
        assert!(seen.contains("something"), "{seen:?}");
    }
}
