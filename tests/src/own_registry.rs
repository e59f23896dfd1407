//! `dockhand registry serve` for tests: on a free port of loopback, storage in
//! a temporary directory, deletes enabled (as the conformance suite needs);
//! killed on drop, also when the test panics.

use crate::registry::http_request;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct OwnRegistry {
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl OwnRegistry {
    /// Start it (the binary under test, `crate::bin()`) with these environment
    /// variables too, and wait until `GET /v2/` answers.
    pub fn start(env: &[(&str, String)]) -> OwnRegistry {
        let dir = tempfile::Builder::new()
            .prefix("dockhand-registry-")
            .tempdir()
            .expect("tempdir");
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("address").to_string()
        };
        let mut reg = OwnRegistry {
            dir,
            addr,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            child: None,
        };
        reg.spawn();
        reg
    }

    /// The storage root.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("registry.log");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log");
        let mut cmd = Command::new(crate::bin());
        cmd.args(["registry", "serve", "--addr", &self.addr, "--root"])
            .arg(self.storage())
            .env("REGISTRY_STORAGE_DELETE_ENABLED", "true")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("log"))
            .stderr(f);
        self.child = Some(cmd.spawn().expect("start dockhand registry serve"));
        // Bounded: 600 tries 50 ms apart.
        for _ in 0..600 {
            if http_request(&self.addr, "GET", "/v2/", &[], b"")
                .is_ok_and(|r| r.status == 200 || r.status == 401)
            {
                return;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("dockhand registry serve exited with {st}:\n{}", self.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "dockhand registry serve does not answer GET /v2/ on {}:\n{}",
            self.addr,
            self.log()
        );
    }

    /// Kill it (SIGKILL, as a crash) and start it again on the same storage.
    pub fn crash_and_restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Files under the storage root, relative, sorted.
    pub fn files(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else if let Ok(rel) = p.strip_prefix(base) {
                    out.push(rel.display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.storage(), &self.storage(), &mut out);
        out.sort();
        out
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}
