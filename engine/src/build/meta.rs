//! The instructions that change only the image's config (ENV, LABEL, EXPOSE,
//! VOLUME, USER, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, ARG,
//! MAINTAINER) and WORKDIR, with the history text moby gives each
//! (`/bin/sh -c #(nop)  ENV A=b`, Go's `%q` for lists and healthchecks); and the
//! dispatch of every instruction to its step.

use super::dockerfile::{CommandForm, Instruction, Kind};
use super::exec::{resolve_workdir, BuildError, Builder, State};
use crate::image::LayerInfo;
use serde_json::json;
use shared::api::HealthConfig;
use std::collections::BTreeMap;

/// Go's `%q` of a string slice: `["a" "b"]`, as moby writes CMD in history.
pub(super) fn go_list(v: &[String]) -> String {
    let parts: Vec<String> = v.iter().map(|s| shared::go::quote(s)).collect();
    format!("[{}]", parts.join(" "))
}

/// Go's `time.Duration.String` for whole nanoseconds.
pub(super) fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let s = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", trim_frac(u as f64 / 1e3))
    } else if u < 1_000_000_000 {
        format!("{}ms", trim_frac(u as f64 / 1e6))
    } else {
        let total_s = u / 1_000_000_000;
        let frac = u % 1_000_000_000;
        let (h, m, s) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
        let secs = if frac == 0 {
            format!("{s}s")
        } else {
            let f = format!("{frac:09}");
            format!("{s}.{}s", f.trim_end_matches('0'))
        };
        if h > 0 {
            format!("{h}h{m}m{secs}")
        } else if m > 0 {
            format!("{m}m{secs}")
        } else {
            secs
        }
    };
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

pub(super) fn trim_frac(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// moby's history text of a HEALTHCHECK (Go's `%q` of the struct).
pub(super) fn health_comment(h: &HealthConfig) -> String {
    let retries = if h.retries >= 0 && h.retries < 0x80 {
        let c = h.retries as u8;
        if c.is_ascii_graphic() || c == b' ' {
            format!("'{}'", c as char)
        } else {
            format!("'\\x{c:02x}'")
        }
    } else {
        format!("'\\u{:04x}'", h.retries)
    };
    format!(
        "HEALTHCHECK &{{{} {} {} {} {} {retries}}}",
        go_list(&h.test),
        shared::go::quote(&go_duration(h.interval)),
        shared::go::quote(&go_duration(h.timeout)),
        shared::go::quote(&go_duration(h.start_period)),
        shared::go::quote(&go_duration(h.start_interval)),
    )
}

pub(super) fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let prefix = format!("{key}=");
    let entry = format!("{key}={value}");
    match env
        .iter_mut()
        .find(|e| e.starts_with(&prefix) || **e == key)
    {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

pub(super) fn display_arg(name: &str, default: Option<&str>) -> String {
    match default {
        Some(d) => format!("{name}={d}"),
        None => name.to_string(),
    }
}

impl Builder {
    pub(super) async fn dispatch(
        &mut self,
        stage: usize,
        st: &mut State,
        ins: &Instruction,
    ) -> Result<(), BuildError> {
        match &ins.kind {
            Kind::Env(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let k = self.expand(st, k)?;
                    let v = self.expand(st, v)?;
                    if k.is_empty() {
                        return Err(BuildError::failed("ENV names can not be blank"));
                    }
                    set_env(&mut st.config.env, &k, &v);
                    shown.push(format!("{k}={v}"));
                }
                self.meta_step(st, format!("ENV {}", shown.join(" ")))
            }
            Kind::Label(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let k = self.expand(st, k)?;
                    let v = self.expand(st, v)?;
                    st.config.labels.insert(k.clone(), v.clone());
                    shown.push(format!("{k}={v}"));
                }
                self.meta_step(st, format!("LABEL {}", shown.join(" ")))
            }
            Kind::Maintainer(m) => {
                st.author = m.clone();
                self.meta_step(st, format!("MAINTAINER {m}"))
            }
            Kind::Expose(ports) => {
                let mut raw = Vec::new();
                for p in ports {
                    raw.extend(self.expand_words(st, p)?);
                }
                let map = st.config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &raw {
                    for port in crate::image::changes::expand_port(p).map_err(BuildError::failed)? {
                        map.insert(port, json!({}));
                    }
                }
                self.meta_step(st, format!("EXPOSE {}", raw.join(" ")))
            }
            Kind::Volume(vols) => {
                let mut shown = Vec::new();
                for v in vols {
                    let v = self.expand(st, v)?;
                    if v.trim().is_empty() {
                        return Err(BuildError::failed(
                            "VOLUME specified can not be an empty string",
                        ));
                    }
                    st.config
                        .volumes
                        .get_or_insert_with(BTreeMap::new)
                        .insert(v.clone(), json!({}));
                    shown.push(v);
                }
                // Go's `%v` of the list, as moby writes it.
                self.meta_step(st, format!("VOLUME [{}]", shown.join(" ")))
            }
            Kind::User(u) => {
                st.config.user = self.expand(st, u)?;
                let c = format!("USER {}", st.config.user);
                self.meta_step(st, c)
            }
            Kind::StopSignal(s) => {
                let s = self.expand(st, s)?;
                if crate::daemon::parse_signal(&s).is_none() {
                    return Err(BuildError::failed(format!("Invalid signal: {s}")));
                }
                st.config.stop_signal = Some(s.clone());
                self.meta_step(st, format!("STOPSIGNAL {s}"))
            }
            Kind::Workdir(w) => {
                let w = self.expand(st, w)?;
                let dir = resolve_workdir(&st.config.working_dir, &w);
                st.config.working_dir = dir.clone();
                self.workdir_step(st, &dir).await
            }
            Kind::Cmd(form) => {
                let cmd = self.command(st, form);
                st.config.cmd = Some(cmd.clone());
                st.cmd_set = true;
                self.meta_step(st, format!("CMD {}", go_list(&cmd)))
            }
            Kind::Entrypoint(form) => {
                let ep = self.command(st, form);
                st.config.entrypoint = Some(ep.clone());
                if !st.cmd_set {
                    st.config.cmd = None;
                }
                self.meta_step(st, format!("ENTRYPOINT {}", go_list(&ep)))
            }
            Kind::Shell(sh) => {
                st.config.shell = Some(sh.clone());
                self.meta_step(st, format!("SHELL {}", go_list(sh)))
            }
            Kind::Healthcheck(h) => {
                let hc = HealthConfig {
                    test: h.test.clone(),
                    interval: h.interval.unwrap_or(0),
                    timeout: h.timeout.unwrap_or(0),
                    start_period: h.start_period.unwrap_or(0),
                    start_interval: h.start_interval.unwrap_or(0),
                    retries: h.retries.unwrap_or(0),
                };
                let comment = health_comment(&hc);
                st.config.healthcheck = Some(hc);
                self.meta_step(st, comment)
            }
            Kind::Onbuild(t) => {
                st.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(t.clone());
                self.meta_step(st, format!("ONBUILD {t}"))
            }
            Kind::Arg(decls) => {
                let mut shown = Vec::new();
                for a in decls {
                    let default = match &a.default {
                        Some(d) => Some(self.expand(st, d)?),
                        None => None,
                    };
                    let value = match self.opts.build_args.get(&a.name) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => default.clone().or_else(|| {
                            // A redeclared meta arg keeps its value.
                            self.df
                                .meta_args
                                .iter()
                                .find(|m| m.name == a.name)
                                .and_then(|_| self.meta_value(&a.name))
                        }),
                    };
                    self.declare(&a.name);
                    st.args.insert(a.name.clone(), value);
                    shown.push(display_arg(&a.name, default.as_deref()));
                }
                self.meta_step(st, format!("ARG {}", shown.join(" ")))
            }
            Kind::Run(run) => super::run::run_step(self, stage, st, run).await,
            Kind::Copy(c) => super::run::copy_step(self, stage, st, c, false).await,
            Kind::Add(c) => super::run::copy_step(self, stage, st, c, true).await,
        }
    }

    /// CMD/ENTRYPOINT: exec form as is, shell form through the stage's SHELL.
    pub(super) fn command(&self, st: &State, form: &CommandForm) -> Vec<String> {
        match form {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => {
                let mut v = st.shell();
                v.push(s.clone());
                v
            }
        }
    }

    /// WORKDIR: the directory is made in the image when it is missing.
    pub(super) async fn workdir_step(
        &mut self,
        st: &mut State,
        dir: &str,
    ) -> Result<(), BuildError> {
        let comment = format!("WORKDIR {dir}");
        // moby: one space here, where other metadata steps have two.
        let created_by = format!("{} #(nop) {comment}", st.shell().join(" "));
        if let Some(id) = self.cached(st, &created_by, "") {
            return self.use_cache(st, id);
        }
        let layers = match &st.image {
            Some(id) => self.daemon.images.resolve(id)?.layers,
            None => vec![],
        };
        let view = super::copy::LayerView::new(layers);
        let dir = dir.to_string();
        let daemon = self.daemon.clone();
        let layer =
            tokio::task::spawn_blocking(move || -> Result<Option<LayerInfo>, BuildError> {
                if view.is_dir(&dir) {
                    return Ok(None);
                }
                let l = crate::commit::register_produced(&daemon, |w| {
                    super::run::write_mkdir_layer(&view, &dir, w)
                })?;
                Ok(Some(l))
            })
            .await
            .map_err(|e| BuildError::failed(e.to_string()))??;
        self.commit(st, created_by, "", layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_healthchecks_read_as_mobys_history() {
        assert_eq!(go_duration(5_000_000_000), "5s");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        let h = HealthConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: 5_000_000_000,
            ..Default::default()
        };
        assert_eq!(
            health_comment(&h),
            r#"HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" '\x00'}"#
        );
    }
}
