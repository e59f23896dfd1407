//! `exec`: records of exec'd processes, starting them and inspecting them.

use super::*;
use shared::sync::Locked;

impl Daemon {
    pub(super) fn execs(&self) -> MutexGuard<'_, HashMap<String, ExecRecord>> {
        self.execs.locked()
    }

    /// `POST /containers/{id}/exec`: record what to run; it starts with `exec_start`.
    pub fn exec_create(&self, key: &str, req: shared::api::ExecCreateRequest) -> Result<String> {
        let rec = self.inspect(key)?;
        if !req.user.is_empty() && rec.state.running && !rec.state.paused {
            // As moby: the user is looked up in the container now, so that a
            // wrong one fails the create (400) rather than the start.
            let pid = self.inspect_raw(key)?.state.pid;
            if let Some(root) = (pid > 0).then(|| PathBuf::from(format!("/proc/{pid}/root"))) {
                let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap_or_default();
                if root.exists() {
                    crate::runtime::user::resolve(
                        &req.user,
                        &read("etc/passwd"),
                        &read("etc/group"),
                    )
                    .map_err(Error::InvalidParameter)?;
                }
            }
        }
        self.exec_create_for(rec, req)
    }

    pub(super) fn exec_create_for(
        &self,
        rec: ContainerInspect,
        req: shared::api::ExecCreateRequest,
    ) -> Result<String> {
        if rec.state.paused {
            return Err(Error::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        if !rec.state.running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        if req.cmd.is_empty() {
            return Err(Error::InvalidParameter("No exec command specified".into()));
        }
        let user = if req.user.is_empty() {
            rec.config.user.clone()
        } else {
            req.user.clone()
        };
        let cwd = if req.working_dir.is_empty() {
            rec.config.working_dir.clone()
        } else {
            req.working_dir.clone()
        };
        let env = container::merge_env(&rec.config.env, &req.env);
        let privileged = req.privileged || rec.host_config.privileged;
        let id = random_id();
        let mut process =
            self.process_spec(&rec, req.cmd.clone(), env, &user, &cwd, req.tty, privileged);
        // The container's filter, whatever the exec's privileges (as runc).
        process.seccomp = self.seccomp_for(&rec)?;
        let spec = ExecSpec {
            id: id.clone(),
            process,
            stdin: req.attach_stdin,
            console_size: req
                .console_size
                .map(|[h, w]| [h as u16, w as u16])
                .filter(|[h, w]| *h > 0 && *w > 0),
        };
        self.execs().insert(
            id.clone(),
            ExecRecord {
                container_id: rec.id,
                spec,
                running: false,
                started: false,
                exit_code: None,
                stdout: req.attach_stdout,
                stderr: req.attach_stderr,
                detach_keys: req.detach_keys,
            },
        );
        Ok(id)
    }

    pub(super) fn exec_record(&self, exec_id: &str) -> Result<ExecRecord> {
        self.execs()
            .get(exec_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such exec instance: {exec_id}")))
    }

    /// Whether the exec has a TTY, and its detach keys.
    pub fn exec_tty(&self, exec_id: &str) -> Result<(bool, String)> {
        let x = self.exec_record(exec_id)?;
        Ok((x.spec.process.tty, x.detach_keys))
    }

    /// `POST /exec/{id}/start`: the connection to the monitor that runs it. The
    /// stream ends with the exit frame; pass its code to `exec_finished`.
    pub fn exec_start(
        &self,
        exec_id: &str,
        console_size: Option<[u16; 2]>,
    ) -> Result<impl std::future::Future<Output = Result<UnixStream>> + Send + 'static> {
        let (req, socket) = {
            let mut execs = self.execs();
            let x = execs
                .get_mut(exec_id)
                .ok_or_else(|| Error::NotFound(format!("No such exec instance: {exec_id}")))?;
            if x.running {
                return Err(Error::Conflict(format!(
                    "exec command {exec_id} is already running"
                )));
            }
            if x.started {
                return Err(Error::Conflict(format!(
                    "exec command {exec_id} has already run"
                )));
            }
            let running = self
                .lock()
                .get(&x.container_id)
                .is_some_and(|e| e.rec.state.running);
            if !running {
                return Err(Error::Conflict(format!(
                    "container {} is not running",
                    x.container_id
                )));
            }
            x.running = true;
            x.started = true;
            let mut spec = x.spec.clone();
            if console_size.is_some() {
                spec.console_size = console_size;
            }
            let req = AttachRequest {
                stdin: spec.stdin,
                stdout: x.stdout,
                stderr: x.stderr,
                exec: Some(spec),
                ..Default::default()
            };
            (req, self.socket_path(&x.container_id))
        };
        Ok(async move {
            connect_monitor(&socket, &req)
                .await
                .map_err(Error::monitor("exec"))
        })
    }

    /// The exec'd process ended with `code`.
    pub fn exec_finished(&self, exec_id: &str, code: i64) {
        if let Some(x) = self.execs().get_mut(exec_id) {
            x.running = false;
            x.exit_code = Some(code);
        }
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<shared::api::ExecInspect> {
        let x = self.exec_record(exec_id)?;
        let p = &x.spec.process;
        Ok(shared::api::ExecInspect {
            id: exec_id.to_string(),
            running: x.running,
            exit_code: x.exit_code,
            process_config: shared::api::ExecProcessConfig {
                tty: p.tty,
                entrypoint: p.args.first().cloned().unwrap_or_default(),
                arguments: p.args.iter().skip(1).cloned().collect(),
                privileged: p.privileged,
                user: p.user.clone(),
            },
            open_stdin: x.spec.stdin,
            open_stderr: x.stderr,
            open_stdout: x.stdout,
            can_remove: false,
            container_id: x.container_id.clone(),
            detach_keys: x.detach_keys.clone(),
            pid: 0,
        })
    }
}
