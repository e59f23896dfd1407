//! A virtual host's hidden init: the container no API call shows.

use super::*;

impl Daemon {
    /// An exec in a virtual host's own init: a shell of the virtual host.
    pub fn sandbox_exec_create(&self, req: shared::api::ExecCreateRequest) -> Result<String> {
        let rec = self.sandbox_record().ok_or_else(|| {
            Error::Conflict("this daemon is not a virtual host's: it has no init".into())
        })?;
        self.exec_create_for(rec, req)
    }

    /// Runs `argv` in the virtual host as its root, without a terminal and
    /// without an event (as a health probe runs): its exit code and the start
    /// of its output. Past `timeout` it is killed and the code is -1.
    pub async fn sandbox_run(
        &self,
        argv: Vec<String>,
        timeout: std::time::Duration,
    ) -> Result<(i64, String)> {
        let exec_id = self.sandbox_exec_create(shared::api::ExecCreateRequest {
            attach_stdout: true,
            attach_stderr: true,
            cmd: argv,
            ..Default::default()
        })?;
        let outcome = tokio::time::timeout(timeout, self.probe(&exec_id)).await;
        if outcome.is_err() {
            let _ = self.exec_signal(&exec_id, libc::SIGKILL).await;
        }
        self.execs().remove(&exec_id);
        outcome.unwrap_or_else(|_| Ok((-1, format!("timed out after {timeout:?}"))))
    }

    /// The virtual host's own init, if this host is virtual and it exists.
    pub fn sandbox_record(&self) -> Option<ContainerInspect> {
        self.lock()
            .values()
            .find(|e| hidden(&e.rec))
            .map(|e| e.rec.clone())
    }

    /// Create (not start) a virtual host's init: a hidden container on the
    /// virtual host's base layer, with `docker-init` reaping as PID 1.
    pub fn create_sandbox(&self, env: Vec<String>, hosts_extra: &str) -> Result<String> {
        let v = self
            .virt
            .as_ref()
            .ok_or_else(|| Error::Internal("not a virtual host".into()))?;
        let id = random_id();
        let dir = self.cdir(&id);
        let config = shared::api::ContainerConfig {
            hostname: v.hostname.clone(),
            env,
            cmd: Some(vec!["sleep".into(), "2147483647".into()]),
            working_dir: "/root".into(),
            labels: BTreeMap::from([(SANDBOX_LABEL.to_string(), "1".to_string())]),
            ..Default::default()
        };
        let mut host_config = shared::api::HostConfig {
            network_mode: "none".into(),
            privileged: true,
            init: Some(true),
            ..Default::default()
        };
        host_config.restart_policy.name = "no".into();
        let rec = ContainerInspect {
            id: id.clone(),
            created: time::now_rfc3339(),
            path: "sleep".into(),
            args: vec!["2147483647".into()],
            state: shared::api::ContainerState {
                status: "created".into(),
                started_at: time::ZERO.into(),
                finished_at: time::ZERO.into(),
                ..Default::default()
            },
            image: "dockhand-vhost-base".into(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            log_path: dir.join(format!("{id}-json.log")).display().to_string(),
            name: format!("/{}-init", v.hostname),
            driver: "overlay2".into(),
            platform: "linux".into(),
            host_config,
            config,
            ..Default::default()
        };
        self.lay_out(&rec)?;
        let hosts = format!("{HOSTS_BASE}{hosts_extra}");
        std::fs::write(dir.join("hosts"), hosts).ctx("write", dir.join("hosts"))?;
        let (tx, _) = watch::channel(Watch::default());
        let e = Entry::new(rec, tx, false, false);
        self.persist(&e)?;
        self.lock().insert(id.clone(), e);
        Ok(id)
    }

    /// Start the virtual host's init (see `create_sandbox`); its real pid.
    pub async fn start_sandbox(self: &Arc<Self>, id: &str) -> Result<i32> {
        let rec = self
            .lock()
            .get(id)
            .map(|e| e.rec.clone())
            .ok_or_else(|| no_such(id))?;
        self.start_prepared(rec, vec![]).await?;
        let pid = self.lock().get(id).map(|e| e.rec.state.pid).unwrap_or(0);
        if pid <= 0 {
            return Err(Error::Internal(
                "the virtual host's init did not start".into(),
            ));
        }
        Ok(pid as i32)
    }
}
