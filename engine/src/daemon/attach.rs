//! `attach` and `resize`: streams of a container's monitor.

use super::*;

/// What an attach needs before its streams: the container, whether it has a TTY
/// (raw stream) and its log (for `logs=1`).
#[derive(Debug, Clone)]
pub struct AttachTarget {
    pub id: String,
    pub tty: bool,
    pub log_path: PathBuf,
}

impl Daemon {
    /// Docker's refusals of an attach, which come before any stream: a paused or a
    /// restarting container. Any other state may be attached to, stopped ones too
    /// (for their logs, or to wait for the next start as `start -a` does).
    pub fn attach_target(&self, key: &str) -> Result<AttachTarget> {
        let st = self.lock();
        let id = resolve_in(&st, key)?;
        let rec = &st.get(&id).ok_or_else(|| no_such(key))?.rec;
        if rec.state.paused {
            return Err(Error::Conflict(format!(
                "container {key} is paused, unpause the container before attach"
            )));
        }
        if rec.state.restarting {
            return Err(Error::Conflict(format!(
                "container {key} is restarting, wait until the container is running"
            )));
        }
        Ok(AttachTarget {
            id,
            tty: rec.config.tty,
            log_path: PathBuf::from(&rec.log_path),
        })
    }

    /// Connect to a container's output (and stdin). Checks happen now, so errors
    /// reach the client before the HTTP upgrade; the connection resolves later: for
    /// a container not running, when it (next) starts and before its process runs.
    pub fn attach(
        &self,
        key: &str,
        req: AttachRequest,
    ) -> Result<impl std::future::Future<Output = Result<UnixStream>> + Send + 'static> {
        let mut st = self.lock();
        let id = resolve_in(&st, key)?;
        let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
        let socket = self.socket_path(&id);
        let rx = if e.rec.state.running {
            None
        } else {
            let (tx, rx) = oneshot::channel();
            e.pending.push(Pending {
                req: req.clone(),
                tx,
            });
            Some(rx)
        };
        Ok(async move {
            match rx {
                Some(rx) => rx
                    .await
                    .map_err(|_| Error::Internal("container was removed".into()))?,
                None => connect_monitor(&socket, &req)
                    .await
                    .map_err(Error::monitor("attach")),
            }
        })
    }

    /// Whether the container has a TTY (raw stream) or not (multiplexed).
    pub fn has_tty(&self, key: &str) -> Result<bool> {
        Ok(self.inspect(key)?.config.tty)
    }

    /// `POST /containers/{id}/resize` and `POST /exec/{id}/resize`.
    pub async fn resize(
        &self,
        key: &str,
        exec_id: Option<&str>,
        rows: u16,
        cols: u16,
    ) -> Result<()> {
        let id = match exec_id {
            Some(x) => self.exec_record(x)?.container_id,
            None => self.resolve(key)?,
        };
        if !self.lock().get(&id).is_some_and(|e| e.rec.state.running) {
            if exec_id.is_none() {
                return Err(Error::Conflict(format!("Container {id} is not running")));
            }
            return Ok(());
        }
        let req = AttachRequest {
            resize: Some([rows, cols]),
            exec_id: exec_id.map(String::from),
            ..Default::default()
        };
        // The monitor applies it and closes; a failure means it is going away.
        let _ = connect_monitor(&self.socket_path(&id), &req).await;
        Ok(())
    }

    /// Signal the process of a running exec (the health monitor kills a probe
    /// past its timeout). Nothing happens when it has ended.
    pub(super) async fn exec_signal(&self, exec_id: &str, sig: i32) -> Result<()> {
        let id = self.exec_record(exec_id)?.container_id;
        let req = AttachRequest {
            signal: Some(sig),
            exec_id: Some(exec_id.to_string()),
            ..Default::default()
        };
        // The monitor signals and closes; a failure means it is going away.
        let _ = connect_monitor(&self.socket_path(&id), &req).await;
        Ok(())
    }
}
