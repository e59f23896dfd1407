//! `update`, stats and `top`: the calls that read or change a running
//! container's resources.

use super::*;

impl Daemon {
    /// `POST /containers/{id}/update`: new limits (applied at once to a running
    /// container) and restart policy. Returns Docker's warnings.
    pub fn update(
        &self,
        key: &str,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<String>> {
        use crate::cgroups::CgroupManager;
        let mut st = self.lock();
        let id = resolve_in(&st, key)?;
        let e = st.get_mut(&id).ok_or_else(|| no_such(key))?;
        let current = crate::resources::Resources::from_host_config(&e.rec.host_config.extra)?;
        let (merged, warnings) =
            crate::resources::Resources::for_update(&current, body, &self.sys)?;
        let mut policy = e.rec.host_config.restart_policy.clone();
        if let Some(rp) = body.get("RestartPolicy") {
            policy = serde_json::from_value(rp.clone())
                .map_err(|err| Error::InvalidParameter(format!("invalid restart policy: {err}")))?;
            let mut probe = e.rec.host_config.clone();
            probe.restart_policy = policy.clone();
            validate_host_config(&probe).map_err(|m| {
                if m.contains("AutoRemove") {
                    Error::InvalidParameter(
                        "Cannot update restart policy of an AutoRemove container".into(),
                    )
                } else {
                    Error::InvalidParameter(m)
                }
            })?;
        }
        if e.rec.state.running {
            if let Some(m) = self.cgroup(&id) {
                m.apply(&merged.limits()).map_err(|err| {
                    Error::Internal(format!("Cannot update container {id}: {err}"))
                })?;
            }
        }
        merged.write_to(&mut e.rec.host_config.extra);
        e.rec.host_config.restart_policy = policy;
        self.persist(e)?;
        Ok(warnings)
    }

    /// What `stats` samples: the container's cgroup, name and PID 1 (for its
    /// network counters), or `None` when it does not run.
    #[allow(clippy::type_complexity)]
    pub fn stats_source(
        &self,
        key: &str,
    ) -> Result<(
        String,
        String,
        Option<(crate::cgroups::AnyCgroupManager, i32)>,
    )> {
        let rec = self.inspect_raw(key)?;
        let running = rec.state.running && rec.state.pid > 0;
        let src = if running {
            self.cgroup(&rec.id).map(|m| (m, rec.state.pid as i32))
        } else {
            None
        };
        Ok((rec.id, rec.name, src))
    }

    /// `GET /containers/{id}/top`: the container's processes, as `ps -ef` columns.
    pub fn top(&self, key: &str) -> Result<shared::api::TopResponse> {
        let rec = self.inspect_raw(key)?;
        if !rec.state.running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        Ok(crate::top::top(rec.state.pid as i32))
    }
}
