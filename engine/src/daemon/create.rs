//! `create`: a new container record, its directory, and the runtime spec it
//! starts with.

use super::*;

impl Daemon {
    /// `POST /containers/create`.
    pub fn create(&self, name: Option<&str>, req: ContainerCreateRequest) -> Result<IdResponse> {
        if let Some(n) = name {
            if !names::valid(n.trim_start_matches('/')) {
                return Err(Error::InvalidParameter(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
        }
        let image = self.images.resolve(&req.config.image)?;
        let mut config = container::merge_config(&req.config, &image.config);
        let Some((path, args)) = container::command_of(&config) else {
            return Err(Error::InvalidParameter("no command specified".into()));
        };
        validate_host_config(&req.host_config).map_err(Error::InvalidParameter)?;
        let requested_networks = self.requested_networks(&req)?;
        let (resources, warnings) =
            crate::resources::Resources::for_create(&req.host_config.extra, &self.sys)?;
        crate::runtime::caps::effective_set(
            false,
            &req.host_config.cap_add,
            &req.host_config.cap_drop,
            u64::MAX,
        )
        .map_err(Error::InvalidParameter)?;
        let id = random_id();
        if config.hostname.is_empty() {
            // With the host's network the container shows the host's name, as Docker.
            config.hostname =
                if let (true, Some(v)) = (req.host_config.network_mode == "host", &self.virt) {
                    v.hostname.clone()
                } else if req.host_config.network_mode == "host" {
                    nix::unistd::gethostname()
                        .map(|h| h.to_string_lossy().into_owned())
                        .unwrap_or_else(|_| id[..12].to_string())
                } else {
                    id[..12].to_string()
                };
        }
        if let Some(other) = req.host_config.network_mode.strip_prefix("container:") {
            self.resolve(other)?;
        }
        let mounts: Vec<serde_json::Value> = self
            .mount_points(&req.host_config, &config)?
            .into_iter()
            .filter_map(|m| serde_json::to_value(m).ok())
            .collect();
        let dir = self.cdir(&id);
        let rec = {
            let mut st = self.lock();
            let name = match name {
                Some(n) => {
                    let n = format!("/{}", n.trim_start_matches('/'));
                    if let Some(other) = st.values().find(|e| e.rec.name == n) {
                        return Err(Error::Conflict(format!(
                            "Conflict. The container name \"{n}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                            other.rec.id
                        )));
                    }
                    n
                }
                None => {
                    let mut retry = 0;
                    loop {
                        let n = format!("/{}", names::generate(retry));
                        if !st.values().any(|e| e.rec.name == n) {
                            break n;
                        }
                        retry += 1;
                    }
                }
            };
            let mut host_config = req.host_config.clone();
            resources.write_to(&mut host_config.extra);
            let runtime = host_config
                .extra
                .entry("Runtime")
                .or_insert_with(|| "".into());
            if runtime.as_str().unwrap_or("").is_empty() {
                *runtime = "runc".into();
            }
            if host_config.restart_policy.name.is_empty() {
                host_config.restart_policy.name = "no".into();
            }
            // dockerd's default cgroup namespace mode, shown by inspect.
            let cgroupns = host_config
                .extra
                .entry("CgroupnsMode")
                .or_insert_with(|| "".into());
            if cgroupns.as_str().unwrap_or("").is_empty() {
                *cgroupns = if self.cgroup_version() == "2" {
                    "private"
                } else {
                    "host"
                }
                .into();
            }
            let log = host_config
                .extra
                .entry("LogConfig")
                .or_insert_with(|| serde_json::json!({}));
            if let Some(obj) = log.as_object_mut() {
                if obj
                    .get("Type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .is_empty()
                {
                    obj.insert("Type".into(), "json-file".into());
                }
                obj.entry("Config").or_insert_with(|| serde_json::json!({}));
            }
            if host_config.network_mode.is_empty() || host_config.network_mode == "default" {
                host_config.network_mode = "bridge".into();
            }
            let rec = ContainerInspect {
                id: id.clone(),
                created: time::now_rfc3339(),
                path,
                args,
                state: shared::api::ContainerState {
                    status: "created".into(),
                    started_at: time::ZERO.into(),
                    finished_at: time::ZERO.into(),
                    ..Default::default()
                },
                image: image.id.clone(),
                resolv_conf_path: dir.join("resolv.conf").display().to_string(),
                hostname_path: dir.join("hostname").display().to_string(),
                hosts_path: dir.join("hosts").display().to_string(),
                // The `none` driver keeps nothing, and moby shows no path.
                log_path: if log_driver(&req.host_config) == "none" {
                    String::new()
                } else {
                    dir.join(format!("{id}-json.log")).display().to_string()
                },
                name,
                driver: "overlay2".into(),
                platform: "linux".into(),
                host_config,
                graph_driver: shared::api::GraphDriver {
                    name: "overlay2".into(),
                    data: BTreeMap::from([
                        (
                            "LowerDir".into(),
                            image
                                .layers
                                .iter()
                                .rev()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(":"),
                        ),
                        ("UpperDir".into(), dir.join("upper").display().to_string()),
                        ("WorkDir".into(), dir.join("work").display().to_string()),
                        ("MergedDir".into(), dir.join("rootfs").display().to_string()),
                    ]),
                },
                config,
                network_settings: shared::api::NetworkSettings {
                    networks: requested_networks,
                    ..Default::default()
                },
                mounts,
                ..Default::default()
            };
            // Reserve the name before the slow part; the record is not on disk yet.
            let (tx, _) = watch::channel(Watch::default());
            st.insert(id.clone(), Entry::new(rec.clone(), tx, true, false));
            rec
        };
        let made = self.lay_out(&rec).and_then(|_| {
            let (tx, _) = watch::channel(Watch::default());
            self.persist(&Entry::new(rec.clone(), tx, false, false))
        });
        let mut st = self.lock();
        match made {
            Ok(()) => {
                if let Some(e) = st.get_mut(&id) {
                    e.starting = false;
                    self.emit_container(&e.rec, "create", &[]);
                }
                Ok(IdResponse { id, warnings })
            }
            Err(e) => {
                st.remove(&id);
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// The container's directory: upper and work dirs, the init layer with the
    /// mount points Docker's `-init` layer has, and the hosts/hostname/resolv files.
    pub(super) fn lay_out(&self, rec: &ContainerInspect) -> Result<()> {
        let dir = self.cdir(&rec.id);
        let init = dir.join("init");
        for d in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(dir.join(d)).ctx("create dir", dir.join(d))?;
        }
        for d in ["proc", "sys", "dev/pts", "dev/shm", "etc"] {
            std::fs::create_dir_all(init.join(d)).ctx("create dir", init.join(d))?;
        }
        for f in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
            std::fs::write(init.join(f), b"").ctx("write", init.join(f))?;
        }
        let _ = std::os::unix::fs::symlink("/proc/mounts", init.join("etc/mtab"));
        let mut hosts = HOSTS_BASE.to_string();
        for h in &rec.host_config.extra_hosts {
            if let Some((name, ip)) = h.split_once(':') {
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        let w = |name: &str, data: &str| {
            std::fs::write(dir.join(name), data).ctx("write", dir.join(name))
        };
        w("hosts", &hosts)?;
        w("hostname", &format!("{}\n", rec.config.hostname))?;
        w(
            "resolv.conf",
            &container_resolv_conf(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            ),
        )?;
        // In a virtual host the container's root directory and these files belong
        // to its root (the image layers are idmapped instead).
        for f in ["upper", "hosts", "hostname", "resolv.conf"] {
            self.chown_to_root(&dir.join(f));
        }
        Ok(())
    }

    pub(super) fn spec_for(&self, rec: &ContainerInspect) -> Result<RuntimeSpec> {
        let dir = self.cdir(&rec.id);
        let is_sandbox = hidden(rec);
        let mut lower = match (&self.virt, is_sandbox) {
            (Some(v), true) => vec![v.base_layer.clone()],
            _ => self.images.resolve(&rec.image)?.layers,
        };
        lower.push(dir.join("init"));
        let hc = &rec.host_config;
        let log_opt = |k: &str| {
            hc.extra
                .get("LogConfig")
                .and_then(|l| l.get("Config"))
                .and_then(|c| c.get(k))
                .and_then(|v| v.as_str())
                .map(String::from)
        };
        let log_max_size = match log_opt("max-size") {
            Some(v) => Some(
                parse_size(&v)
                    .ok_or_else(|| Error::InvalidParameter(format!("invalid max-size: {v}")))?,
            ),
            None => None,
        };
        let log_max_file = match log_opt("max-file") {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::InvalidParameter(format!("invalid max-file: {v}")))?,
            None => 1,
        };
        let net = self.net_namespace(&hc.network_mode)?;
        let mode = |k: &str| hc.extra.get(k).and_then(|v| v.as_str()).unwrap_or("") == "host";
        let sandbox = self.virt.as_ref().map(|v| {
            let init_pid = v.init_pid.load(std::sync::atomic::Ordering::SeqCst);
            crate::runtime::spec::SandboxNs {
                init_pid: (!is_sandbox).then_some(init_pid),
                uid_base: v.uid_base,
                size: v.size,
            }
        });
        if sandbox.as_ref().is_some_and(|s| s.init_pid == Some(0)) {
            return Err(Error::Conflict("the virtual host is not running".into()));
        }
        let mut mounts = self.runtime_mounts(rec)?;
        let mut self_binds = vec![];
        if let (Some(v), true) = (&self.virt, is_sandbox) {
            // The directory, not the socket: a restarted daemon binds a new
            // socket there and the running host sees it.
            mounts.push(crate::runtime::spec::SpecMount {
                kind: "bind".into(),
                source: v.socket.parent().unwrap_or(&v.socket).to_path_buf(),
                destination: "/var/run".into(),
                ..Default::default()
            });
            self_binds.push("/usr/local/bin/docker".to_string());
            self_binds.push("/usr/local/bin/docker-compose".to_string());
            // Read-only rule listings, answered by the engine (`cli/src/rules.rs`).
            self_binds.push("/usr/sbin/iptables".to_string());
            self_binds.push("/usr/sbin/iptables-save".to_string());
        }
        let mut spec = RuntimeSpec {
            mounts,
            pid_host: mode("PidMode"),
            ipc_host: mode("IpcMode"),
            uts_host: mode("UTSMode"),
            sandbox,
            self_binds,
            net,
            id: rec.id.clone(),
            rootfs: dir.join("rootfs"),
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            process: self.process_spec(
                rec,
                rec_args(rec),
                {
                    // Legacy links: the linked containers' addresses, ports and env.
                    let mut env = rec.config.env.clone();
                    for l in self.link_infos(rec)? {
                        env.extend(crate::network::hosts::link_env(
                            rec.name.trim_start_matches('/'),
                            &l,
                        ));
                    }
                    env
                },
                &rec.config.user,
                &rec.config.working_dir,
                rec.config.tty,
                hc.privileged,
            ),
            open_stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            console_size: hc
                .console_size
                .map(|[h, w]| [h as u16, w as u16])
                .filter(|[h, w]| *h > 0 && *w > 0),
            readonly_rootfs: hc.readonly_rootfs,
            init: hc.init.unwrap_or(false),
            hosts_path: dir.join("hosts"),
            hostname_path: dir.join("hostname"),
            resolv_conf_path: dir.join("resolv.conf"),
            log_path: PathBuf::from(&rec.log_path),
            log_max_size,
            log_max_file,
            cgroup_procs: self.cgroup_procs(rec)?,
            socket: self.socket_path(&rec.id),
            exit_path: dir.join("exit.json"),
            ..Default::default()
        };
        // Docker's default: a private cgroup namespace on cgroup v2, the
        // machine's on v1; never without a cgroup of its own (the namespace
        // would be rooted at ours).
        spec.cgroupns = !spec.cgroup_procs.is_empty()
            && match hc.extra.get("CgroupnsMode").and_then(|v| v.as_str()) {
                Some("private") => true,
                Some("host") => false,
                _ => self.cgroup_version() == "2",
            };
        spec.cgroup2_mount = spec.cgroupns && self.cgroup_version() == "2";
        spec.process.seccomp = self.seccomp_for(rec)?;
        Ok(spec)
    }

    /// The endpoint settings a create asks for (aliases, fixed addresses,
    /// links, driver options), by network name, in inspect's shape. Every
    /// network named must exist, as moby checks at create; API 1.44+ joins
    /// them all at start. Networks other than the primary one are refused for
    /// host, none and container: modes.
    pub(super) fn requested_networks(
        &self,
        req: &ContainerCreateRequest,
    ) -> Result<BTreeMap<String, serde_json::Value>> {
        let mut out = BTreeMap::new();
        let mode = req.host_config.network_mode.as_str();
        let Some(nets) = self.networks.get() else {
            return Ok(out);
        };
        let configs = req
            .networking_config
            .as_ref()
            .and_then(|n| n.get("EndpointsConfig"))
            .and_then(|e| e.as_object())
            .cloned()
            .unwrap_or_default();
        let primary = net::primary_network(mode);
        let primary_rec = match primary {
            Some(p) => Some(
                nets.find(p)
                    .map_err(|_| Error::NotFound(format!("network {p} not found")))?,
            ),
            None => None,
        };
        for (key, cfg) in &configs {
            let key = if key == "default" {
                "bridge"
            } else {
                key.as_str()
            };
            let found = nets
                .find(key)
                .map_err(|_| Error::NotFound(format!("network {key} not found")))?;
            let is_primary = key == mode || primary_rec.as_ref().is_some_and(|p| p.id == found.id);
            if is_primary {
                continue;
            }
            if primary.is_none() {
                return Err(Error::InvalidParameter(format!(
                    "container sharing network namespace with another container or host cannot be connected to any other network ({mode} and {})",
                    found.name
                )));
            }
            out.insert(found.name.clone(), net::endpoint_settings(&found.id, cfg));
        }
        if let Some(found) = primary_rec {
            let mut cfg = configs
                .get(mode)
                .or_else(|| configs.get(&found.name))
                .or_else(|| {
                    (found.name == "bridge")
                        .then(|| configs.get("default"))
                        .flatten()
                })
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}));
            // Config.MacAddress (API < 1.44) belongs to the primary endpoint.
            if let Some(mac) = req.config.mac_address.as_deref().filter(|m| !m.is_empty()) {
                if cfg["MacAddress"].as_str().unwrap_or_default().is_empty() {
                    cfg["MacAddress"] = serde_json::json!(mac);
                }
            }
            if let Some(mac) = cfg["MacAddress"].as_str().filter(|m| !m.is_empty()) {
                if crate::network::ipam::parse_mac(mac).is_none() {
                    return Err(Error::InvalidParameter(format!(
                        "invalid MAC address: {mac}"
                    )));
                }
            }
            out.insert(found.name.clone(), net::endpoint_settings(&found.id, &cfg));
        }
        Ok(out)
    }

    /// `--net host`, `--net container:NAME`, or a namespace of its own.
    pub(super) fn net_namespace(&self, mode: &str) -> Result<crate::runtime::spec::NetNamespace> {
        use crate::runtime::spec::NetNamespace;
        if mode == "host" {
            return Ok(NetNamespace::Host);
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let rec = self.inspect_raw(other)?;
            if !rec.state.running || rec.state.pid <= 0 {
                return Err(Error::Conflict(format!(
                    "cannot join network namespace of a non running container: {other}"
                )));
            }
            return Ok(NetNamespace::Join(rec.state.pid as i32));
        }
        Ok(NetNamespace::New)
    }

    /// The seccomp filters of a container's processes (exec'd ones too), as
    /// moby chooses them: none with `seccomp=unconfined`, none when privileged
    /// unless a profile is named, else the profile given or the built-in one,
    /// compiled for the capabilities the container holds. In a virtual host
    /// every process, its hidden init and shells included, also carries the
    /// host-level filter, installed first.
    pub(super) fn seccomp_for(
        &self,
        rec: &ContainerInspect,
    ) -> Result<Option<Vec<crate::runtime::seccomp::Program>>> {
        use crate::runtime::{caps, seccomp};
        let invalid = |e: seccomp::SeccompError| Error::InvalidParameter(e.to_string());
        let mut programs = Vec::new();
        if self.virt.is_some() {
            programs.extend(seccomp::virtual_host_programs().map_err(invalid)?);
        }
        let hc = &rec.host_config;
        let opts = config::security_opts(&hc.security_opt).map_err(Error::InvalidParameter)?;
        // None: no container filter; Some(None): the built-in profile.
        let container = match opts.seccomp.as_deref() {
            _ if hidden(rec) => None,
            Some("unconfined") => None,
            None | Some("builtin") if hc.privileged => None,
            None | Some("builtin") => Some(None),
            Some(json) => Some(Some(seccomp::parse(json).map_err(invalid)?)),
        };
        if let Some(custom) = container {
            let set = caps::effective_set(hc.privileged, &hc.cap_add, &hc.cap_drop, u64::MAX)
                .map_err(Error::InvalidParameter)?;
            let held = caps::names_of(set);
            programs.extend(match custom {
                None => seccomp::builtin_programs(&held).map_err(invalid)?,
                Some(profile) => seccomp::compile(&profile, &held, seccomp::running_kernel())
                    .map_err(invalid)?
                    .unwrap_or_default(),
            });
        }
        Ok((!programs.is_empty()).then_some(programs))
    }

    /// The process part of a spec: the container's own or an exec'd one, which
    /// shares the container's capability settings.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn process_spec(
        &self,
        rec: &ContainerInspect,
        args: Vec<String>,
        env: Vec<String>,
        user: &str,
        cwd: &str,
        tty: bool,
        privileged: bool,
    ) -> ProcessSpec {
        let hc = &rec.host_config;
        ProcessSpec {
            args,
            env,
            cwd: cwd.to_string(),
            user: user.to_string(),
            hostname: rec.config.hostname.clone(),
            tty,
            privileged,
            no_new_privileges: config::security_opts(&hc.security_opt)
                .map(|o| o.no_new_privileges)
                .unwrap_or(false),
            cap_add: hc.cap_add.clone(),
            cap_drop: hc.cap_drop.clone(),
            seccomp: None,
            group_add: hc
                .extra
                .get("GroupAdd")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(group_spec).collect())
                .unwrap_or_default(),
        }
    }
}

/// `HostConfig.LogConfig.Type` as asked (empty for the default).
fn log_driver(hc: &shared::api::HostConfig) -> &str {
    hc.extra
        .get("LogConfig")
        .and_then(|l| l.get("Type"))
        .and_then(|t| t.as_str())
        .unwrap_or("")
}

/// One entry of `GroupAdd`: docker-py sends numbers as JSON numbers too.
fn group_spec(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
