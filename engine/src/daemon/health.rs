//! Health checks, as moby's `daemon/health.go` runs them: a probe exec'd in the
//! container every interval, its results in `State.Health`, and a
//! `health_status: …` event when the status changes.

use super::*;
use shared::api::{Health, HealthConfig, HealthResult};
use std::time::Duration;

/// moby's defaults for a check that leaves them unset (0).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
/// Results kept in `State.Health.Log`, and bytes of output kept per result.
const MAX_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;

fn or_default(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

/// The probe's argv, or `None` when the container has no check (`NONE` too).
pub(crate) fn probe_command(hc: &HealthConfig, shell: Option<&[String]>) -> Option<Vec<String>> {
    match hc.test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            let mut argv = match shell {
                Some(s) if !s.is_empty() => s.to_vec(),
                _ => vec!["/bin/sh".into(), "-c".into()],
            };
            argv.push(rest.join(" "));
            Some(argv)
        }
        _ => None,
    }
}

/// One probe result applied to the health state, as moby's
/// `handleProbeResult`: success makes it healthy; a failure counts unless the
/// container is still starting within its start period; `retries` failures in
/// a row make it unhealthy. Returns the new status when it changed.
pub(crate) fn apply_result(
    h: &mut Health,
    result: HealthResult,
    in_start_period: bool,
    retries: i64,
) -> Option<String> {
    let before = h.status.clone();
    if result.exit_code == 0 {
        h.failing_streak = 0;
        h.status = "healthy".into();
    } else if !(h.status == "starting" && in_start_period) {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = "unhealthy".into();
        }
    }
    h.log.push(result);
    if h.log.len() > MAX_LOG {
        let extra = h.log.len() - MAX_LOG;
        h.log.drain(..extra);
    }
    (h.status != before).then(|| h.status.clone())
}

impl Daemon {
    /// Start probing a container that just started, when it has a check. The
    /// task ends when the container stops or goes; a new start begins anew.
    pub(super) fn start_health(self: &Arc<Self>, id: &str) {
        let (hc, argv, rx, started) = {
            let mut st = self.lock();
            let Some(e) = st.get_mut(id) else { return };
            let Some(hc) = e.rec.config.healthcheck.clone() else {
                return;
            };
            let Some(argv) = probe_command(&hc, e.rec.config.shell.as_deref()) else {
                return;
            };
            e.rec.state.health = Some(Health {
                status: "starting".into(),
                failing_streak: 0,
                log: vec![],
            });
            let _ = self.persist(e);
            (hc, argv, e.watch.subscribe(), std::time::Instant::now())
        };
        let daemon = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            daemon.probe_loop(&id, hc, argv, rx, started).await;
        });
    }

    async fn probe_loop(
        self: Arc<Self>,
        id: &str,
        hc: HealthConfig,
        argv: Vec<String>,
        mut rx: tokio::sync::watch::Receiver<Watch>,
        started: std::time::Instant,
    ) {
        let interval = or_default(hc.interval, DEFAULT_INTERVAL);
        let timeout = or_default(hc.timeout, DEFAULT_TIMEOUT);
        let start_period = or_default(hc.start_period, Duration::ZERO);
        let start_interval = or_default(hc.start_interval, DEFAULT_START_INTERVAL);
        let retries = if hc.retries > 0 {
            hc.retries
        } else {
            DEFAULT_RETRIES
        };
        let exits = rx.borrow().exits;
        loop {
            let starting = self
                .lock()
                .get(id)
                .and_then(|e| e.rec.state.health.as_ref().map(|h| h.status == "starting"))
                .unwrap_or(false);
            let wait = if starting && started.elapsed() < start_period {
                start_interval.min(interval)
            } else {
                interval
            };
            let stopped = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                _ = rx.wait_for(|w| !w.running || w.removed || w.exits != exits) => true,
            };
            if stopped {
                return;
            }
            let start = time::now_rfc3339();
            let exec_id = match self.probe_create(id, &argv) {
                Ok(x) => x,
                Err(_) if !self.still_running(id, exits) => return,
                Err(e) => {
                    tracing::warn!("health check of {id}: {e}");
                    continue;
                }
            };
            let outcome = tokio::time::timeout(timeout, self.probe(&exec_id)).await;
            if outcome.is_err() {
                // Past its timeout the probe is killed, as moby kills it.
                let _ = self.exec_signal(&exec_id, libc::SIGKILL).await;
            }
            // A probe is not an exec anyone asked for: its record goes.
            self.execs().remove(&exec_id);
            let (exit_code, output) = match outcome {
                Ok(Ok(r)) => r,
                // The container stopped under the probe.
                Ok(Err(_)) if !self.still_running(id, exits) => return,
                Ok(Err(e)) => (-1, e.to_string()),
                Err(_) => (
                    -1,
                    format!("Health check exceeded timeout ({})", go_duration(timeout)),
                ),
            };
            let result = HealthResult {
                start,
                end: time::now_rfc3339(),
                exit_code,
                output,
            };
            let in_start = started.elapsed() < start_period;
            let changed = {
                let mut st = self.lock();
                let Some(e) = st.get_mut(id) else { return };
                if !e.rec.state.running || e.watch.borrow().exits != exits {
                    return;
                }
                let Some(h) = e.rec.state.health.as_mut() else {
                    return;
                };
                let changed = apply_result(h, result, in_start, retries);
                let _ = self.persist(e);
                changed.map(|s| (s, e.rec.clone()))
            };
            if let Some((status, rec)) = changed {
                self.emit_container(&rec, &format!("health_status: {status}"), &[]);
            }
        }
    }

    fn still_running(&self, id: &str, exits: u64) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|e| e.rec.state.running && e.watch.borrow().exits == exits)
    }

    /// The exec of one probe.
    fn probe_create(&self, id: &str, argv: &[String]) -> Result<String> {
        let rec = self.inspect(id)?;
        self.exec_create_for(
            rec,
            shared::api::ExecCreateRequest {
                attach_stdout: true,
                attach_stderr: true,
                cmd: argv.to_vec(),
                ..Default::default()
            },
        )
    }

    /// Run one probe's exec: its exit code and output. The caller kills it
    /// at the timeout ([`Daemon::exec_signal`]) and drops its record.
    pub(super) async fn probe(&self, exec_id: &str) -> Result<(i64, String)> {
        use tokio::io::AsyncReadExt;
        let connect = self.exec_start(exec_id, None)?;
        async {
            let mut conn = connect.await?;
            let mut d = shared::mux::Demuxer::default();
            let mut buf = vec![0u8; 16 * 1024];
            let mut output = Vec::new();
            loop {
                let n = conn
                    .read(&mut buf)
                    .await
                    .map_err(Error::monitor("health check"))?;
                if n == 0 {
                    return Err(Error::Internal(
                        "health check: the probe ended without an exit status".into(),
                    ));
                }
                d.push(&buf[..n]);
                while let Some((stream, data)) = d.next_frame() {
                    if stream == crate::monitor::EXIT_STREAM {
                        let code =
                            serde_json::from_slice::<crate::runtime::spec::ExitStatus>(&data)
                                .map(|e| e.code)
                                .unwrap_or(-1);
                        return Ok((code, String::from_utf8_lossy(&output).into_owned()));
                    }
                    if output.len() < MAX_OUTPUT {
                        let room = MAX_OUTPUT - output.len();
                        output.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
            }
        }
        .await
    }
}

/// A duration as Go prints it (`30s`, `1.5s`, `500ms`), for moby's messages.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: test.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn result(code: i64) -> HealthResult {
        HealthResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn durations_print_as_go() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(200)), "200ms");
    }

    #[test]
    fn probes_are_commands_or_shell_lines() {
        assert_eq!(
            probe_command(&cfg(&["CMD", "true", "x"]), None),
            Some(vec!["true".into(), "x".into()])
        );
        assert_eq!(
            probe_command(&cfg(&["CMD-SHELL", "exit 1"]), None),
            Some(vec!["/bin/sh".into(), "-c".into(), "exit 1".into()])
        );
        let shell = vec!["/bin/bash".to_string(), "-ec".to_string()];
        assert_eq!(
            probe_command(&cfg(&["CMD-SHELL", "ok"]), Some(&shell)),
            Some(vec!["/bin/bash".into(), "-ec".into(), "ok".into()])
        );
        assert_eq!(probe_command(&cfg(&["NONE"]), None), None);
        assert_eq!(probe_command(&cfg(&[]), None), None);
        assert_eq!(probe_command(&cfg(&["CMD"]), None), None);
    }

    #[test]
    fn results_move_the_status_as_moby_does() {
        let mut h = Health {
            status: "starting".into(),
            ..Default::default()
        };
        // Failures inside the start period do not count.
        assert_eq!(apply_result(&mut h, result(1), true, 2), None);
        assert_eq!(h.failing_streak, 0);
        // After it, they do; `retries` in a row make it unhealthy.
        assert_eq!(apply_result(&mut h, result(1), false, 2), None);
        assert_eq!(
            apply_result(&mut h, result(1), false, 2),
            Some("unhealthy".into())
        );
        assert_eq!(h.failing_streak, 2);
        assert_eq!(
            apply_result(&mut h, result(0), false, 2),
            Some("healthy".into())
        );
        assert_eq!(h.failing_streak, 0);
        // Once healthy, a failure counts even within the start period.
        assert_eq!(apply_result(&mut h, result(1), true, 2), None);
        assert_eq!(h.failing_streak, 1);
        for _ in 0..10 {
            apply_result(&mut h, result(0), false, 2);
        }
        assert_eq!(h.log.len(), MAX_LOG);
    }
}
