//! The monitor's loop once the container runs: attach clients, their
//! sessions, the log, and the container's end.

use super::*;

pub(super) struct Client {
    /// Unique for the monitor's life: poll slots name clients by it, since
    /// the list changes while one round of events is handled.
    pub(super) id: u64,
    pub(super) stream: UnixStream,
    pub(super) req: AttachRequest,
    /// Index into `Monitor::sessions` (0 = the container's own process).
    pub(super) session: usize,
    /// Still reading stdin from this client.
    pub(super) reading: bool,
}

impl Client {
    pub(super) fn handshake(stream: UnixStream) -> Option<Client> {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        // Read the request line byte by byte: anything after it is stdin.
        let mut line = Vec::new();
        let mut r = BufReader::with_capacity(1, &stream);
        r.read_until(b'\n', &mut line).ok()?;
        let req: AttachRequest = serde_json::from_slice(&line).ok()?;
        let _ = stream.set_read_timeout(None);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Some(Client {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            reading: req.stdin,
            stream,
            req,
            session: 0,
        })
    }
}

/// One process with its stdio: the container's own, or an exec'd one.
pub(super) struct Session {
    pub(super) exec_id: Option<String>,
    pub(super) pid: nix::unistd::Pid,
    pub(super) pidfd: OwnedFd,
    pub(super) tty: bool,
    pub(super) out: File,
    pub(super) err: Option<File>,
    pub(super) stdin: Option<File>,
    pub(super) open: [bool; 2],
    pub(super) exited: Option<i64>,
    pub(super) stdin_once: bool,
}

impl Session {
    pub(super) fn new(
        exec_id: Option<String>,
        s: Spawned,
        stdin_once: bool,
    ) -> std::io::Result<Session> {
        Ok(Session {
            exec_id,
            pidfd: pidfd_open(s.pid.as_raw())?,
            pid: s.pid,
            tty: s.tty,
            open: [true, s.err.is_some()],
            out: File::from(s.out),
            err: s.err.map(File::from),
            stdin: s.stdin.map(File::from),
            exited: None,
            stdin_once,
        })
    }

    pub(super) fn done(&self) -> bool {
        self.exited.is_some() && !self.open[0] && !self.open[1]
    }
}

/// The json-file log with Docker's `max-size`/`max-file` rotation.
pub(super) struct Log {
    pub(super) path: std::path::PathBuf,
    pub(super) file: File,
    pub(super) size: u64,
    pub(super) max_size: Option<u64>,
    pub(super) max_file: u32,
    pub(super) partial: [Vec<u8>; 2],
}

impl Log {
    pub(super) fn open(spec: &RuntimeSpec) -> std::io::Result<Log> {
        // No path: the `none` log driver, which keeps nothing.
        let path = if spec.log_path.as_os_str().is_empty() {
            std::path::Path::new("/dev/null")
        } else {
            spec.log_path.as_path()
        };
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Log {
            path: spec.log_path.clone(),
            file,
            size,
            max_size: spec.log_max_size,
            max_file: spec.log_max_file.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    pub(super) fn rotate(&mut self) {
        let name = |i: u32| std::path::PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.max_file <= 1 {
            let _ = self.file.set_len(0);
        } else {
            let _ = std::fs::remove_file(name(self.max_file - 1));
            for i in (1..self.max_file - 1).rev() {
                let _ = std::fs::rename(name(i), name(i + 1));
            }
            let _ = std::fs::rename(&self.path, name(1));
            if let Ok(f) = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
            {
                self.file = f;
            }
        }
        self.size = 0;
    }

    pub(super) fn line(&mut self, k: usize, line: &[u8]) {
        let entry = crate::logs::LogEntry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: if k == 0 {
                "stdout".into()
            } else {
                "stderr".into()
            },
            time: crate::time::now_rfc3339(),
        };
        if let Ok(mut s) = serde_json::to_vec(&entry) {
            s.push(b'\n');
            if self
                .max_size
                .is_some_and(|m| self.size + s.len() as u64 > m && self.size > 0)
            {
                self.rotate();
            }
            if self.file.write_all(&s).is_ok() {
                self.size += s.len() as u64;
            }
        }
    }

    pub(super) fn write(&mut self, k: usize, data: &[u8]) {
        self.partial[k].extend_from_slice(data);
        while let Some(pos) = self.partial[k].iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial[k].drain(..=pos).collect();
            self.line(k, &line);
        }
        if self.partial[k].len() >= 16 * 1024 {
            self.flush(k);
        }
    }

    pub(super) fn flush(&mut self, k: usize) {
        if !self.partial[k].is_empty() {
            let line = std::mem::take(&mut self.partial[k]);
            self.line(k, &line);
        }
    }
}

pub(super) struct Monitor<'a> {
    pub(super) spec: &'a RuntimeSpec,
    pub(super) log: Log,
    pub(super) sessions: Vec<Session>,
    pub(super) clients: Vec<Client>,
}

/// What one poll entry stands for.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    Listener,
    Out(usize, usize),
    Exit(usize),
    Client(u64),
}

impl Monitor<'_> {
    /// A new connection: an attach to the container, an exec, or a resize.
    pub(super) fn add_client(&mut self, mut c: Client) {
        if let Some([rows, cols]) = c.req.resize {
            let target = self.sessions.iter().find(|s| s.exec_id == c.req.exec_id);
            if let Some(s) = target.filter(|s| s.tty) {
                child::set_winsize(s.out.as_raw_fd(), rows, cols);
            }
            return;
        }
        if let Some(sig) = c.req.signal {
            let target = self
                .sessions
                .iter()
                .find(|s| s.exec_id.is_some() && s.exec_id == c.req.exec_id && s.exited.is_none());
            if let (Some(s), Ok(sig)) = (target, nix::sys::signal::Signal::try_from(sig)) {
                // Not reaped yet (we are its parent and reap it): the pid is still
                // this process's.
                let _ = nix::sys::signal::kill(s.pid, sig);
            }
            return;
        }
        if let Some(exec) = c.req.exec.clone() {
            self.start_exec(c, exec);
            return;
        }
        c.session = 0;
        self.clients.push(c);
    }

    pub(super) fn start_exec(&mut self, mut c: Client, exec: ExecSpec) {
        // The child joins namespaces through the machine's /proc.
        let init_pid = self.sessions[0].pid.as_raw();
        let init_pid = if self
            .spec
            .sandbox
            .as_ref()
            .is_some_and(|s| s.init_pid.is_some())
        {
            crate::runtime::sandbox::machine_pid(init_pid).unwrap_or(init_pid)
        } else {
            init_pid
        };
        let tty = exec.process.tty;
        let spawned = spawn(
            ChildKind::Exec {
                init_pid,
                exec: &exec,
                sandbox: self.spec.sandbox.is_some(),
            },
            tty,
            exec.stdin,
            exec.console_size,
            &self.spec.cgroup_procs,
        )
        .and_then(|mut s| s.go().map(|_| s));
        match spawned.and_then(|s| {
            Session::new(Some(exec.id.clone()), s, true).map_err(|e| (125, e.to_string()))
        }) {
            Ok(session) => {
                self.sessions.push(session);
                c.session = self.sessions.len() - 1;
                self.clients.push(c);
            }
            Err((code, message)) => {
                // As Docker: the runtime's error on the stream, then the exit code.
                let text = format!("OCI runtime exec failed: exec failed: unable to start container process: {message}: unknown\r\n");
                let _ = c
                    .stream
                    .write_all(&shared::mux::frame(shared::mux::STDOUT, text.as_bytes()));
                let status = ExitStatus {
                    code,
                    oom_killed: false,
                    finished_at: crate::time::now_rfc3339(),
                };
                let _ = c.stream.write_all(&shared::mux::frame(
                    EXIT_STREAM,
                    &serde_json::to_vec(&status).unwrap_or_default(),
                ));
            }
        }
    }

    /// Output of session `si` on stream `k` (0 stdout, 1 stderr).
    pub(super) fn output(&mut self, si: usize, k: usize, data: &[u8]) {
        let stream = if k == 0 {
            shared::mux::STDOUT
        } else {
            shared::mux::STDERR
        };
        let frame = shared::mux::frame(stream, data);
        self.clients.retain_mut(|c| {
            let wants = c.session == si && if k == 0 { c.req.stdout } else { c.req.stderr };
            !wants || c.stream.write_all(&frame).is_ok()
        });
        if si == 0 {
            self.log.write(k, data);
        }
    }

    /// Session `si` is over: tell its clients (exec sessions), drop it.
    pub(super) fn finish_exec(&mut self, si: usize) {
        let s = &self.sessions[si];
        let status = ExitStatus {
            code: s.exited.unwrap_or(255),
            oom_killed: false,
            finished_at: crate::time::now_rfc3339(),
        };
        let payload = serde_json::to_vec(&status).unwrap_or_default();
        self.clients.retain_mut(|c| {
            if c.session != si {
                return true;
            }
            let _ = c
                .stream
                .write_all(&shared::mux::frame(EXIT_STREAM, &payload));
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
            false
        });
        self.sessions.remove(si);
        for c in &mut self.clients {
            if c.session > si {
                c.session -= 1;
            }
        }
    }

    pub(super) fn event_loop(&mut self, listener: &UnixListener) -> std::io::Result<ExitStatus> {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if self.sessions[0].done() {
                break;
            }
            let main_exited = self.sessions[0].exited.is_some();
            let (slots, ready): (Vec<Slot>, Vec<bool>) = {
                let mut fds = vec![PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
                let mut slots = vec![Slot::Listener];
                for (si, s) in self.sessions.iter().enumerate() {
                    if s.open[0] {
                        fds.push(PollFd::new(s.out.as_fd(), PollFlags::POLLIN));
                        slots.push(Slot::Out(si, 0));
                    }
                    if let (true, Some(e)) = (s.open[1], &s.err) {
                        fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
                        slots.push(Slot::Out(si, 1));
                    }
                    if s.exited.is_none() {
                        fds.push(PollFd::new(s.pidfd.as_fd(), PollFlags::POLLIN));
                        slots.push(Slot::Exit(si));
                    }
                }
                for c in &self.clients {
                    if c.reading {
                        fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
                        slots.push(Slot::Client(c.id));
                    }
                }
                // After the container's exit, its stdio closes when the last process
                // of the pid namespace is gone; give stragglers a bounded time.
                let timeout = if main_exited {
                    PollTimeout::from(2000u16)
                } else {
                    PollTimeout::NONE
                };
                let n = poll(&mut fds, timeout).or_else(|e| {
                    if e == nix::errno::Errno::EINTR {
                        Ok(0)
                    } else {
                        Err(e)
                    }
                })?;
                if n == 0 && main_exited {
                    for s in &mut self.sessions {
                        s.open = [false, false];
                        s.exited.get_or_insert(137);
                    }
                    continue;
                }
                let ready = fds
                    .iter()
                    .map(|f| f.revents().is_some_and(|e| !e.is_empty()))
                    .collect();
                (slots, ready)
            };
            let mut closed_clients = Vec::new();
            for (slot, r) in slots.iter().zip(ready) {
                if !r {
                    continue;
                }
                match *slot {
                    Slot::Listener => {
                        if let Ok((s, _)) = listener.accept() {
                            if let Some(c) = Client::handshake(s) {
                                self.add_client(c);
                            }
                        }
                    }
                    Slot::Out(si, k) => {
                        let s = &mut self.sessions[si];
                        let f = if k == 0 {
                            &mut s.out
                        } else {
                            s.err.as_mut().expect("stderr pipe")
                        };
                        match f.read(&mut buf) {
                            // EIO on a PTY master: the last slave holder is gone.
                            Ok(0) | Err(_) => {
                                s.open[k] = false;
                                if si == 0 {
                                    self.log.flush(k);
                                }
                            }
                            Ok(n) => {
                                let data = buf[..n].to_vec();
                                self.output(si, k, &data);
                            }
                        }
                    }
                    Slot::Exit(si) => {
                        let s = &mut self.sessions[si];
                        let code = match nix::sys::wait::waitpid(s.pid, None) {
                            Ok(nix::sys::wait::WaitStatus::Exited(_, c)) => c as i64,
                            Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => 128 + sig as i64,
                            _ => 255,
                        };
                        s.exited = Some(code);
                        if !s.tty {
                            s.stdin = None;
                        }
                    }
                    Slot::Client(id) => {
                        // Gone since the poll (a failed write dropped it).
                        let Some(c) = self.clients.iter_mut().find(|c| c.id == id) else {
                            continue;
                        };
                        match c.stream.read(&mut buf) {
                            Ok(0) | Err(_) => {
                                c.reading = false;
                                closed_clients.push(c.session);
                            }
                            Ok(n) => {
                                let si = c.session;
                                if let Some(s) = self.sessions.get_mut(si) {
                                    if let Some(w) = &mut s.stdin {
                                        if w.write_all(&buf[..n]).is_err() {
                                            s.stdin = None;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for si in closed_clients {
                // Stdin EOF reaches the process (StdinOnce), unless it has a TTY or
                // another client still types.
                let others = self.clients.iter().any(|c| c.session == si && c.reading);
                if let Some(s) = self.sessions.get_mut(si) {
                    if s.stdin_once && !s.tty && !others {
                        s.stdin = None;
                    }
                }
            }
            // Exec sessions that are over.
            let mut si = self.sessions.len();
            while si > 1 {
                si -= 1;
                if self.sessions[si].done() {
                    self.finish_exec(si);
                }
            }
        }
        while self.sessions.len() > 1 {
            let last = self.sessions.len() - 1;
            self.finish_exec(last);
        }
        Ok(ExitStatus {
            code: self.sessions[0].exited.unwrap_or(255),
            oom_killed: false,
            finished_at: crate::time::now_rfc3339(),
        })
    }
}
