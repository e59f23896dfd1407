//! `version` and `info` in docker's layouts (docker/cli 28 `system/version.go`,
//! `system/info.go`).

use crate::client::{Client, ClientError, Query, DEFAULT_API_VERSION};
use crate::commands::CmdResult;
use crate::format::humanize::human_size_with_precision;
use crate::format::table::go_tabwriter;
use crate::format::template::render_json;
use clap::Args;
use serde_json::{json, Value};
use std::io::Write;

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    pub format: Option<String>,
}

/// The client half of `docker version`.
fn client_version(client: &Client) -> Value {
    json!({
        "Platform": {"Name": "Dockhand"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": client.version,
        "DefaultAPIVersion": DEFAULT_API_VERSION,
        "GitCommit": "",
        "GoVersion": "n/a (Rust)",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Render `docker version`'s default layout (docker/cli `defaultVersionTemplate`).
pub fn render_version(data: &Value) -> String {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let c = &data["Client"];
    let mut t = String::new();
    let pname = c.get("Platform").map(|p| s(p, "Name")).unwrap_or_default();
    t.push_str(&format!(
        "Client:{}\n",
        if pname.is_empty() {
            String::new()
        } else {
            format!(" {pname}")
        }
    ));
    t.push_str(&format!(" Version:\t{}\n", s(c, "Version")));
    let api = s(c, "ApiVersion");
    let def = s(c, "DefaultAPIVersion");
    let down = if api != def {
        format!(" (downgraded from {def})")
    } else {
        String::new()
    };
    t.push_str(&format!(" API version:\t{api}{down}\n"));
    t.push_str(&format!(" Go version:\t{}\n", s(c, "GoVersion")));
    t.push_str(&format!(" Git commit:\t{}\n", s(c, "GitCommit")));
    t.push_str(&format!(" Built:\t{}\n", s(c, "BuildTime")));
    t.push_str(&format!(" OS/Arch:\t{}/{}\n", s(c, "Os"), s(c, "Arch")));
    t.push_str(&format!(" Context:\t{}", s(c, "Context")));
    if let Some(sv) = data.get("Server").filter(|v| !v.is_null()) {
        let pname = sv.get("Platform").map(|p| s(p, "Name")).unwrap_or_default();
        t.push_str(&format!(
            "\n\nServer:{}",
            if pname.is_empty() {
                String::new()
            } else {
                format!(" {pname}")
            }
        ));
        for comp in sv
            .get("Components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let name = s(&comp, "Name");
            let details = comp.get("Details").cloned().unwrap_or(json!({}));
            let d = |k: &str| s(&details, k);
            t.push_str(&format!("\n {name}:"));
            if name == "Engine" {
                t.push_str(&format!("\n  Version:\t{}", s(&comp, "Version")));
                t.push_str(&format!(
                    "\n  API version:\t{} (minimum version {})",
                    d("ApiVersion"),
                    d("MinAPIVersion")
                ));
                t.push_str(&format!("\n  Go version:\t{}", d("GoVersion")));
                t.push_str(&format!("\n  Git commit:\t{}", d("GitCommit")));
                t.push_str(&format!("\n  Built:\t{}", d("BuildTime")));
                t.push_str(&format!("\n  OS/Arch:\t{}/{}", d("Os"), d("Arch")));
                t.push_str(&format!("\n  Experimental:\t{}", d("Experimental")));
            } else {
                t.push_str(&format!("\n  Version:\t{}", s(&comp, "Version")));
                let mut keys: Vec<String> = details
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                keys.sort();
                for k in keys {
                    t.push_str(&format!("\n  {k}:\t{}", d(&k)));
                }
            }
        }
    }
    t.push('\n');
    let mut tw = go_tabwriter(20, 1);
    let _ = tw.write_all(t.as_bytes());
    let _ = tw.flush();
    String::from_utf8_lossy(&tw.into_inner().unwrap_or_default()).into_owned()
}

pub async fn version(client: &Client, a: &VersionArgs) -> CmdResult {
    let mut data = json!({"Client": client_version(client), "Server": null});
    let server: Result<Value, ClientError> = client.get_json("/version", &Query::new()).await;
    let mut err = None;
    match server {
        Ok(mut sv) => {
            let has_engine = sv
                .get("Components")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .any(|c| c.get("Name").and_then(Value::as_str) == Some("Engine"))
                })
                .unwrap_or(false);
            if !has_engine {
                let g = |k: &str| sv.get(k).cloned().unwrap_or(json!(""));
                let engine = json!({
                    "Name": "Engine", "Version": g("Version"),
                    "Details": {
                        "ApiVersion": g("ApiVersion"), "MinAPIVersion": g("MinAPIVersion"),
                        "GitCommit": g("GitCommit"), "GoVersion": g("GoVersion"), "Os": g("Os"),
                        "Arch": g("Arch"), "BuildTime": g("BuildTime"),
                        "Experimental": sv.get("Experimental").and_then(Value::as_bool).unwrap_or(false).to_string(),
                    }
                });
                match sv.get_mut("Components").and_then(Value::as_array_mut) {
                    Some(a) => a.push(engine),
                    None => sv["Components"] = json!([engine]),
                }
            }
            data["Server"] = sv;
        }
        Err(e) => err = Some(e),
    }
    match a.format.as_deref() {
        None | Some("") => print!("{}", render_version(&data)),
        Some("json") => println!("{}", data),
        Some(f) => println!("{}", render_json(f, &data)?),
    }
    match err {
        Some(e) => Err(e.into()),
        None => Ok(0),
    }
}

/// `docker info`'s layout for the fields our daemon reports.
pub fn render_info(info: &Value) -> String {
    let s = |k: &str| {
        info.get(k).map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
    };
    let mut o = String::new();
    o.push_str("Client:\n");
    o.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    o.push_str(" Context:    default\n");
    o.push_str(" Debug Mode: false\n\n");
    o.push_str("Server:\n");
    let line = |o: &mut String, indent: &str, label: &str, key: &str| {
        if let Some(v) = s(key) {
            o.push_str(&format!("{indent}{label}: {v}\n"));
        }
    };
    line(&mut o, " ", "Containers", "Containers");
    line(&mut o, "  ", "Running", "ContainersRunning");
    line(&mut o, "  ", "Paused", "ContainersPaused");
    line(&mut o, "  ", "Stopped", "ContainersStopped");
    line(&mut o, " ", "Images", "Images");
    line(&mut o, " ", "Server Version", "ServerVersion");
    line(&mut o, " ", "Storage Driver", "Driver");
    if let Some(st) = info.get("DriverStatus").and_then(Value::as_array) {
        for pair in st {
            if let (Some(k), Some(v)) = (
                pair.get(0).and_then(Value::as_str),
                pair.get(1).and_then(Value::as_str),
            ) {
                o.push_str(&format!("  {k}: {v}\n"));
            }
        }
    }
    line(&mut o, " ", "Logging Driver", "LoggingDriver");
    line(&mut o, " ", "Cgroup Driver", "CgroupDriver");
    line(&mut o, " ", "Cgroup Version", "CgroupVersion");
    line(&mut o, " ", "Default Runtime", "DefaultRuntime");
    line(&mut o, " ", "Init Binary", "InitBinary");
    line(&mut o, " ", "Kernel Version", "KernelVersion");
    line(&mut o, " ", "Operating System", "OperatingSystem");
    line(&mut o, " ", "OSType", "OSType");
    line(&mut o, " ", "Architecture", "Architecture");
    line(&mut o, " ", "CPUs", "NCPU");
    if let Some(m) = info.get("MemTotal").and_then(Value::as_f64) {
        o.push_str(&format!(" Total Memory: {}\n", human_binary_size(m)));
    }
    line(&mut o, " ", "Name", "Name");
    line(&mut o, " ", "ID", "ID");
    line(&mut o, " ", "Docker Root Dir", "DockerRootDir");
    line(&mut o, " ", "Debug Mode", "Debug");
    line(&mut o, " ", "Experimental", "ExperimentalBuild");
    line(&mut o, " ", "Live Restore Enabled", "LiveRestoreEnabled");
    if let Some(w) = info.get("Warnings").and_then(Value::as_array) {
        for x in w.iter().filter_map(Value::as_str) {
            o.push_str(&format!("{x}\n"));
        }
    }
    let _ = human_size_with_precision;
    o
}

/// go-units `BytesSize`: binary units with 4 significant digits (`15.51GiB`).
pub fn human_binary_size(size: f64) -> String {
    const U: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < U.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", crate::format::humanize::go_fmt_g(size, 4), U[i])
}

pub async fn info(client: &Client, a: &InfoArgs) -> CmdResult {
    let info: Value = client.get_json("/info", &Query::new()).await?;
    match a.format.as_deref() {
        None | Some("") => print!("{}", render_info(&info)),
        Some("json") => println!("{info}"),
        Some(f) => println!("{}", render_json(f, &info)?),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_layout_aligns_like_docker() {
        let data = json!({
            "Client": {"Version": "0.1.0", "ApiVersion": "1.50", "DefaultAPIVersion": "1.50",
                       "GoVersion": "n/a", "GitCommit": "", "BuildTime": "", "Os": "linux",
                       "Arch": "amd64", "Context": "default"},
            "Server": {"Platform": {"Name": ""}, "Components": [
                {"Name": "Engine", "Version": "0.1.0", "Details": {"ApiVersion": "1.50",
                 "MinAPIVersion": "1.24", "GoVersion": "n/a", "GitCommit": "abc", "BuildTime": "",
                 "Os": "linux", "Arch": "amd64", "Experimental": "false"}}]}
        });
        let out = render_version(&data);
        assert!(
            out.starts_with("Client:\n Version:           0.1.0\n API version:       1.50\n"),
            "{out}"
        );
        assert!(
            out.contains("\n\nServer:\n Engine:\n  Version:          0.1.0\n"),
            "{out}"
        );
        assert!(
            out.contains("  API version:      1.50 (minimum version 1.24)\n"),
            "{out}"
        );
        assert!(out.ends_with("  Experimental:     false\n"), "{out}");
    }

    #[test]
    fn binary_sizes() {
        assert_eq!(human_binary_size(16_652_877_824.0), "15.51GiB");
    }
}
