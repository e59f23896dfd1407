//! A real dockerd (Debian's docker.io, 20.10) beside ours, for interop tests:
//! on its own data root, exec root and socket, with no bridge and no firewall
//! rules, driven by the real docker CLI.
//!
//! ```no_run
//! use dockhand_tests::dockerd::RealDockerd;
//! let Some(real) = RealDockerd::start() else { return };
//! let id = real.ok(&["image", "inspect", "-f", "{{.Id}}", "some:image"]);
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A real dockerd; everything it made (its containerd and shims, mounts,
/// files) is removed on drop, also when the test panics.
pub struct RealDockerd {
    dir: tempfile::TempDir,
    child: Child,
}

impl RealDockerd {
    /// Start dockerd and wait until it answers; `None` (with a `SKIPPED`
    /// line) when dockerd or the docker CLI is not installed.
    pub fn start() -> Option<RealDockerd> {
        let Some(dockerd) = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
        else {
            crate::say_skipped("dockerd is not installed (apt-get install docker.io)");
            return None;
        };
        if crate::docker_cli().is_none() {
            crate::say_skipped("the real docker CLI is not installed at /usr/local/bin/docker");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("dockhand-dockerd-")
            .tempdir()
            .expect("tempdir");
        let p = dir.path();
        let log = std::fs::File::create(p.join("dockerd.log")).expect("dockerd.log");
        let child = Command::new(dockerd)
            .arg(format!("--data-root={}", p.join("root").display()))
            .arg(format!("--exec-root={}", p.join("exec").display()))
            .arg(format!("--pidfile={}", p.join("docker.pid").display()))
            .arg(format!("--host=unix://{}", p.join("docker.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--ip6tables=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dockerd.log"))
            .stderr(log)
            .spawn()
            .ok()?;
        let d = RealDockerd { dir, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if d.docker(&["version"]).status.success() {
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("dockerd did not come up: {}", d.log());
    }

    /// `unix://…/docker.sock`.
    pub fn host_uri(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// Its temporary directory (data root, exec root, socket, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What dockerd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// The docker CLI's configuration directory for this dockerd.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }

    /// Run the real docker CLI against this dockerd (at most 60 s).
    pub fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(crate::docker_cli().expect("docker CLI"));
        cmd.env("DOCKER_HOST", self.host_uri())
            .env("DOCKER_CONFIG", self.config_dir())
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CLI_HINTS", "false")
            .args(args);
        crate::run_with(cmd, None).out
    }

    /// Run the docker CLI, assert success, return trimmed stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

impl Drop for RealDockerd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = self.log();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "--- dockerd.log (tail) ---\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on the dockerd we spawned.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its containerd and shims mention our directory on their command lines.
        let needle = self.dir.path().to_string_lossy().into_owned();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if p != std::process::id() as i32 && String::from_utf8_lossy(&cmd).contains(&needle) {
                // SAFETY: kill(2) on a process our dockerd started.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        for m in crate::mounts_under(self.dir.path()).iter().rev() {
            let _ = Command::new("umount").args(["-R", "-l", m]).status();
        }
        let _ = std::fs::remove_dir_all(self.dir.path());
    }
}
