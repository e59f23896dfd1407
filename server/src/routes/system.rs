//! `/_ping`, `/version`, `/info`.

use crate::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use shared::api::{Component, Platform, VersionResponse};
use std::collections::BTreeMap;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub async fn ping() -> impl IntoResponse {
    let mut h = HeaderMap::new();
    h.insert(
        "Api-Version",
        shared::API_VERSION.parse().expect("static header"),
    );
    h.insert("Ostype", "linux".parse().expect("static header"));
    h.insert(
        "Docker-Experimental",
        "false".parse().expect("static header"),
    );
    h.insert("Builder-Version", "1".parse().expect("static header"));
    h.insert(
        "Cache-Control",
        "no-cache, no-store, must-revalidate"
            .parse()
            .expect("static header"),
    );
    h.insert("Pragma", "no-cache".parse().expect("static header"));
    (h, "OK")
}

pub async fn version() -> Json<VersionResponse> {
    Json(VersionResponse {
        platform: Platform {
            name: "Dockhand Engine".into(),
        },
        components: vec![Component {
            name: "Engine".into(),
            version: VERSION.into(),
            details: BTreeMap::from([
                ("ApiVersion".into(), shared::API_VERSION.into()),
                ("MinAPIVersion".into(), shared::MIN_API_VERSION.into()),
                ("Os".into(), "linux".into()),
                ("Arch".into(), "amd64".into()),
                ("KernelVersion".into(), kernel()),
            ]),
        }],
        version: VERSION.into(),
        api_version: shared::API_VERSION.into(),
        min_api_version: shared::MIN_API_VERSION.into(),
        git_commit: "dockhand".into(),
        go_version: "n/a (Rust)".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        kernel_version: kernel(),
        build_time: String::new(),
    })
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|k| k * 1024)
        .unwrap_or(0)
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

pub async fn info(State(st): State<AppState>) -> Json<serde_json::Value> {
    let (total, running, paused, stopped) = st.daemon.counts();
    let images = st.daemon.images.list(true).len();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    Json(json!({
        "ID": format!("dockhand-{}", st.daemon.name()),
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "overlayfs layers"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["null"], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": st.daemon.sys.memory_limit,
        "SwapLimit": st.daemon.sys.swap_limit,
        "KernelMemory": st.daemon.sys.kernel_memory,
        "OomKillDisable": st.daemon.sys.oom_kill_disable,
        "CpuCfsPeriod": st.daemon.sys.cpu_cfs,
        "CpuCfsQuota": st.daemon.sys.cpu_cfs,
        "CPUShares": st.daemon.sys.cpu_shares,
        "CPUSet": st.daemon.sys.cpuset,
        "PidsLimit": st.daemon.sys.pids_limit,
        "IPv4Forwarding": true,
        "Debug": false,
        "NFd": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
        "NGoroutines": 0,
        "SystemTime": engine::time::now_rfc3339(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": st.daemon.cgroup_version(),
        "NEventsListener": 0,
        "KernelVersion": kernel(),
        "OperatingSystem": os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
        "NCPU": ncpu,
        "MemTotal": mem_total(),
        "DockerRootDir": st.data_root.display().to_string(),
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": VERSION,
        "Runtimes": {"runc": {"path": "dockhand __monitor"}, "dockhand": {"path": "dockhand __monitor"}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        // As dockerd: the default seccomp profile, and cgroup namespaces
        // (private by default) where the machine runs cgroup v2.
        "SecurityOptions": if st.daemon.cgroup_version() == "2" {
            vec!["name=seccomp,profile=builtin", "name=cgroupns"]
        } else {
            vec!["name=seccomp,profile=builtin"]
        },
        "Warnings": st.daemon.limit_warnings(),
    }))
}
