//! `kill`, `stop` and `wait`.

use super::*;

impl Daemon {
    pub(super) fn signal(&self, id: &str, sig: i32) -> Result<()> {
        let pid = self.lock().get(id).map(|e| e.rec.state.pid).unwrap_or(0);
        if pid <= 0 {
            return Ok(());
        }
        // SAFETY: kill(2) with a pid we recorded for a running container. Not
        // nix's `kill`: its `Signal` cannot name the real-time signals docker
        // accepts by number.
        let sent = nix::errno::Errno::result(unsafe { libc::kill(pid as i32, sig) });
        match sent.map(drop) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(Error::sys(format!("kill {pid}"))(e)),
        }
        // A frozen process only acts on the signal once thawed.
        if sig == libc::SIGKILL || sig == libc::SIGTERM {
            self.thaw_if_paused(id);
        }
        Ok(())
    }

    /// `POST /containers/{id}/kill`. With SIGKILL (the default) it returns once
    /// the exit is recorded, as moby does, so `kill x && rm x` finds it stopped.
    pub async fn kill(&self, key: &str, signal: Option<&str>) -> Result<()> {
        let sig = match signal {
            Some(s) if !s.is_empty() => parse_signal(s)
                .ok_or_else(|| Error::InvalidParameter(format!("Invalid signal: {s}")))?,
            _ => libc::SIGKILL,
        };
        let (id, rx) = {
            let mut st = self.lock();
            let id = resolve_in(&st, key)?;
            let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
            if !e.rec.state.running {
                return Err(Error::Conflict(format!(
                    "Cannot kill container: {key}: Container {id} is not running"
                )));
            }
            // A fatal signal suspends the restart policy until the next start
            // (Docker's documented rule); SIGUSR1 and the like leave it in place.
            let stop_sig = e.rec.config.stop_signal.as_deref().and_then(parse_signal);
            if [libc::SIGKILL, libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig)
                || Some(sig) == stop_sig
            {
                e.manual_stop = true;
                let _ = self.persist(e);
            }
            (id, e.watch.subscribe())
        };
        self.signal(&id, sig)?;
        if sig != libc::SIGKILL {
            return Ok(());
        }
        let exited = wait_for(
            rx,
            |w| !w.running || w.removed,
            std::time::Duration::from_secs(10),
        )
        .await;
        if !exited {
            return Err(Error::Internal(format!(
                "Cannot kill container: {key}: tried to kill container, but did not receive an exit event"
            )));
        }
        Ok(())
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after `timeout`
    /// seconds. `Ok(false)` when it was not running (Docker's 304).
    pub async fn stop(
        &self,
        key: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<bool> {
        let (id, rx, stop_signal, default_timeout) = {
            let mut st = self.lock();
            let id = resolve_in(&st, key)?;
            let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
            if !e.rec.state.running {
                if e.rec.state.restarting {
                    e.cancel_restart();
                    e.manual_stop = true;
                    let _ = self.persist(e);
                }
                return Ok(false);
            }
            e.manual_stop = true;
            let _ = self.persist(e);
            (
                id.clone(),
                e.watch.subscribe(),
                e.rec.config.stop_signal.clone(),
                e.rec.config.stop_timeout,
            )
        };
        let sig_name = signal
            .map(String::from)
            .or(stop_signal)
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&sig_name)
            .ok_or_else(|| Error::InvalidParameter(format!("Invalid signal: {sig_name}")))?;
        let t = timeout.or(default_timeout).unwrap_or(10);
        self.signal(&id, sig)?;
        let done = if t < 0 {
            wait_for(
                rx.clone(),
                |w| !w.running || w.removed,
                std::time::Duration::from_secs(u64::MAX / 4),
            )
            .await
        } else {
            wait_for(
                rx.clone(),
                |w| !w.running || w.removed,
                std::time::Duration::from_secs(t as u64),
            )
            .await
        };
        if !done {
            self.signal(&id, libc::SIGKILL)?;
            wait_for(
                rx,
                |w| !w.running || w.removed,
                std::time::Duration::from_secs(30),
            )
            .await;
        }
        Ok(true)
    }

    /// `POST /containers/{id}/wait`: subscribe now (so the caller can flush headers
    /// before `start`), resolve later.
    pub fn wait(
        &self,
        key: &str,
        cond: WaitCondition,
    ) -> Result<impl std::future::Future<Output = WaitResponse> + Send + 'static> {
        let mut rx = {
            let st = self.lock();
            let id = resolve_in(&st, key)?;
            st[&id].watch.subscribe()
        };
        let start = rx.borrow().clone();
        Ok(async move {
            loop {
                let w = rx.borrow_and_update().clone();
                let done = match cond {
                    WaitCondition::NotRunning => !w.running,
                    WaitCondition::NextExit => w.exits > start.exits,
                    WaitCondition::Removed => w.removed,
                };
                if done {
                    return WaitResponse {
                        status_code: w.exit_code,
                        error: None,
                    };
                }
                if rx.changed().await.is_err() {
                    let w = rx.borrow().clone();
                    return WaitResponse {
                        status_code: w.exit_code,
                        error: None,
                    };
                }
            }
        })
    }
}
