//! `start`: preparing a container and launching its monitor.

use super::*;

impl Daemon {
    /// `POST /containers/{id}/start`. `Ok(false)` when it already runs (Docker's 304).
    pub async fn start(self: &Arc<Self>, key: &str) -> Result<bool> {
        let (rec, pending) = {
            let mut st = self.lock();
            let id = resolve_in(&st, key)?;
            let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
            if e.rec.state.running {
                return Ok(false);
            }
            if e.starting {
                return Err(Error::Conflict(format!(
                    "container {id} is already being started"
                )));
            }
            e.cancel_restart();
            e.starting = true;
            e.manual_stop = false;
            e.rec.restart_count = 0;
            e.backoff = std::time::Duration::ZERO;
            (e.rec.clone(), std::mem::take(&mut e.pending))
        };
        self.start_prepared(rec, pending).await
    }

    /// Start a container already marked `starting` (a manual start, or a restart
    /// by policy which keeps the restart count).
    pub(super) async fn start_prepared(
        self: &Arc<Self>,
        rec: ContainerInspect,
        pending: Vec<Pending>,
    ) -> Result<bool> {
        let id = rec.id.clone();
        let exits_before = self
            .lock()
            .get(&id)
            .map(|e| e.watch.borrow().exits)
            .unwrap_or(0);
        let result = self.launch(&rec, pending).await;
        // Records are persisted under the state lock so that this update and the
        // exit watcher's (which may already have run, for a short-lived process)
        // land in order, and never after an auto-remove deleted the directory.
        let mut st = self.lock();
        let Some(e) = st.get_mut(&id) else {
            // Ran, exited and was auto-removed before we got here.
            return match result {
                Ok(_) => Ok(true),
                Err((_, msg)) => Err(Error::Internal(format!(
                    "failed to create task for container: {msg}: unknown"
                ))),
            };
        };
        e.starting = false;
        match result {
            Ok(pid) => {
                let already_exited = e.watch.borrow().exits > exits_before;
                let s = &mut e.rec.state;
                s.started_at = time::now_rfc3339();
                if !already_exited {
                    s.status = "running".into();
                    s.running = true;
                    s.pid = pid as i64;
                    s.exit_code = 0;
                    s.error.clear();
                    s.finished_at = time::ZERO.into();
                    e.watch.send_modify(|w| w.running = true);
                }
                self.persist(e)?;
                let rec = e.rec.clone();
                drop(st);
                self.emit_container(&rec, "start", &[]);
                if !already_exited {
                    self.start_health(&id);
                }
                // The exit watcher leaves auto-removal to us while we start.
                if already_exited && rec.host_config.auto_remove {
                    let _ = self.remove_now(&id, true);
                }
                Ok(true)
            }
            Err((code, msg)) => {
                e.rec.state.exit_code = code;
                e.rec.state.error = msg.clone();
                let _ = self.persist(e);
                let rec = e.rec.clone();
                drop(st);
                // As moby: a container that was to be removed on exit is removed
                // when it cannot start (`run --rm` waits for that).
                if rec.host_config.auto_remove {
                    let _ = self.remove_now(&id, true);
                }
                let full = format!("failed to create task for container: {msg}: unknown");
                Err(if code == 126 || code == 127 {
                    Error::InvalidParameter(full)
                } else {
                    Error::Internal(full)
                })
            }
        }
    }

    /// Spawn the monitor, hand it the pending attachers, learn whether exec worked.
    pub(super) async fn launch(
        self: &Arc<Self>,
        rec: &ContainerInspect,
        pending: Vec<Pending>,
    ) -> Result<i32, (i64, String)> {
        let internal = |e: &dyn std::fmt::Display| (125i64, e.to_string());
        let spec = self.spec_for(rec).map_err(|e| internal(&e))?;
        let dir = self.cdir(&rec.id);
        let _ = std::fs::remove_file(&spec.exit_path);
        write_json_atomic(&dir.join("spec.json"), &spec).map_err(|e| internal(&e))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("monitor.log"))
            .map_err(|e| internal(&e))?;
        let mut child = tokio::process::Command::new(&self.exe)
            .arg("__monitor")
            .arg(&dir)
            .arg((pending.len() + 1).to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| internal(&format!("start monitor: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| internal(&"monitor stdout"))?;
        let monitor_pid = child.id();
        // Reap the monitor whenever it ends; the container's fate is reported by it.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let mut pid = 0;
        let mut pending = pending;
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<MonitorReport>(&line) {
                Ok(MonitorReport::Ready {
                    pid: p,
                    vhost_pid,
                    monitor,
                }) => {
                    pid = p;
                    let monitor_pid = monitor.map(|m| m as u32).or(monitor_pid);
                    if let Some(e) = self.lock().get_mut(&rec.id) {
                        e.vhost_pid = vhost_pid.unwrap_or(0) as i64;
                    }
                    // Interfaces, ports and DNS before the process runs.
                    if let Err(e) = self.attach_network(rec, p).await {
                        // The monitor dies and takes its waiting init with it.
                        if let Some(m) = monitor_pid {
                            let _ = nix::sys::signal::kill(
                                nix::unistd::Pid::from_raw(m as i32),
                                nix::sys::signal::Signal::SIGKILL,
                            );
                        }
                        let _ = std::fs::remove_file(&spec.socket);
                        return Err((125, e.to_string()));
                    }
                    match connect_monitor(&spec.socket, &AttachRequest::default()).await {
                        Ok(control) => {
                            let daemon = self.clone();
                            let id = rec.id.clone();
                            tokio::spawn(async move { daemon.watch_exit(id, control).await });
                        }
                        Err(e) => return Err(internal(&format!("connect to monitor: {e}"))),
                    }
                    for p in pending.drain(..) {
                        let r = connect_monitor(&spec.socket, &p.req).await;
                        let _ = p.tx.send(r.map_err(Error::monitor("attach")));
                    }
                }
                Ok(MonitorReport::Started) => return Ok(pid),
                Ok(MonitorReport::Failed { code, message }) => return Err((code, message)),
                Err(_) => {}
            }
        }
        let log = std::fs::read_to_string(dir.join("monitor.log")).unwrap_or_default();
        Err((
            125,
            format!("container monitor ended unexpectedly: {}", log.trim()),
        ))
    }
}
