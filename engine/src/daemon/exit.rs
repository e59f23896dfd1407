//! Exit handling: what happens when a container's process ends, and the
//! restart policy.

use super::*;
use shared::sync::Locked;

impl Daemon {
    /// Read the control stream until the monitor reports the exit.
    pub(super) async fn watch_exit(self: Arc<Self>, id: String, mut stream: UnixStream) {
        let mut d = shared::mux::Demuxer::default();
        let mut buf = vec![0u8; 8192];
        let status = loop {
            while let Some((s, data)) = d.next_frame() {
                if s == EXIT_STREAM {
                    if let Ok(st) = serde_json::from_slice::<ExitStatus>(&data) {
                        self.release_network_now(&id).await;
                        self.on_exit(&id, st);
                        return;
                    }
                }
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break self.read_exit(&id),
                Ok(n) => d.push(&buf[..n]),
            }
        };
        // As moby's exit handling: the network (its ports and rules) is
        // released before the container is seen stopped, so that `wait` and
        // `run --rm` return with nothing of it left.
        self.release_network_now(&id).await;
        self.on_exit(&id, status);
    }

    pub(super) fn on_exit(self: &Arc<Self>, id: &str, mut status: ExitStatus) {
        // The kernel's OOM-kill counter of the (fresh) cgroup tells whether the
        // OOM killer ended it; read before the cgroup goes with its processes.
        if let Some(m) = self.cgroup(id) {
            if crate::stats::OomWatch::from_zero()
                .oom_killed(&m)
                .unwrap_or(false)
            {
                status.oom_killed = true;
            }
        }
        self.remove_cgroup(id);
        self.release_network(id);
        // Exec sessions end with the container.
        self.execs.locked().retain(|_, x| x.container_id != id);
        let (auto, restart_in) = {
            let mut st = self.lock();
            let Some(e) = st.get_mut(id) else { return };
            let ran = time::parse(&e.rec.state.started_at)
                .map(|t| chrono::Utc::now() - t)
                .unwrap_or_default();
            let s = &mut e.rec.state;
            s.status = "exited".into();
            s.running = false;
            s.paused = false;
            s.pid = 0;
            s.exit_code = status.code;
            s.oom_killed = status.oom_killed;
            s.finished_at = status.finished_at.clone();
            if status.oom_killed {
                self.emit_container(&e.rec, "oom", &[]);
            }
            self.emit_container(&e.rec, "die", &[("exitCode", status.code.to_string())]);
            let policy = &e.rec.host_config.restart_policy;
            let restart = !e.rec.host_config.auto_remove
                && should_restart(
                    &policy.name,
                    policy.maximum_retry_count,
                    status.code,
                    e.manual_stop,
                    e.rec.restart_count,
                );
            let mut delay = None;
            if restart {
                // moby's restart manager: 100 ms, doubling while the process keeps
                // dying within 10 s of its start, at most a minute.
                e.backoff = if e.backoff.is_zero() || ran >= chrono::Duration::seconds(10) {
                    std::time::Duration::from_millis(100)
                } else {
                    (e.backoff * 2).min(std::time::Duration::from_secs(60))
                };
                e.rec.state.status = "restarting".into();
                e.rec.state.restarting = true;
                delay = Some(e.backoff);
            }
            if let Err(err) = self.persist(e) {
                tracing::error!("persist {id}: {err}");
            }
            e.watch.send_modify(|w| {
                w.exits += 1;
                w.exit_code = status.code;
                w.running = false;
            });
            (e.rec.host_config.auto_remove && !e.starting, delay)
        };
        if let Some(delay) = restart_in {
            let daemon = self.clone();
            let cid = id.to_string();
            let task = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                daemon.restart_by_policy(&cid).await;
            });
            if let Some(e) = self.lock().get_mut(id) {
                e.restart_task = Some(task.abort_handle());
            }
        } else if auto {
            let _ = self.remove_now(id, true);
        }
    }

    pub(super) async fn restart_by_policy(self: &Arc<Self>, id: &str) {
        let (rec, pending) = {
            let mut st = self.lock();
            let Some(e) = st.get_mut(id) else { return };
            if !e.rec.state.restarting || e.starting {
                return;
            }
            e.restart_task = None;
            e.rec.state.restarting = false;
            e.rec.restart_count += 1;
            e.starting = true;
            (e.rec.clone(), std::mem::take(&mut e.pending))
        };
        if let Err(err) = self.start_prepared(rec, pending).await {
            tracing::warn!("restart policy: {id}: {err}");
        }
    }
}

/// Docker's restart decision after an exit.
pub fn should_restart(
    policy: &str,
    max_retries: i64,
    code: i64,
    manual_stop: bool,
    count: i64,
) -> bool {
    match policy {
        "always" | "unless-stopped" => !manual_stop,
        "on-failure" => !manual_stop && code != 0 && (max_retries <= 0 || count < max_retries),
        _ => false,
    }
}
