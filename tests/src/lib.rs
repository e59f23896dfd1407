//! Test harness: each test starts its own daemon on a temporary data root and
//! socket, drives it with our CLI or the real docker CLI, and on drop removes
//! everything it made (containers, monitors, mounts, files), also when the test
//! fails or panics.

pub mod cluster;
pub mod conformance;
pub mod dockerd;
pub mod holdings;
pub mod own_registry;
pub mod pty;
pub mod registry;
pub mod rng;
mod run;
pub mod search_index;
pub mod serve;
pub(crate) use run::run_with;
pub use run::{run_command, slow_machine, Run};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Say on stderr that a test is skipped (straight to stderr: libtest
/// captures `eprintln!` of passing tests, and a skip must be seen).
pub fn say_skipped(why: &str) {
    use std::io::Write;
    let name = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(std::io::stderr(), "SKIPPED: {name}: {why}");
}

/// Whether the test runs as root; if not, it says it is skipped.
pub fn root_or_skip() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        say_skipped("the daemon under test needs root");
    }
    root
}

/// Skip the calling test (return) unless it runs as root: every test that
/// starts a daemon (namespaces, mounts, cgroups, bridges).
#[macro_export]
macro_rules! require_root {
    () => {
        if !$crate::root_or_skip() {
            return;
        }
    };
}

/// The dockhand binary under test: `DOCKHAND_BIN`, else the workspace's debug build.
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCKHAND_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let p = root.join("target/debug/dockhand");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p dockhand-cli` first (or set DOCKHAND_BIN)",
        p.display()
    );
    p
}

/// The real docker CLI, when installed.
pub fn docker_cli() -> Option<PathBuf> {
    let p = PathBuf::from(
        std::env::var_os("DOCKER_CLI").unwrap_or_else(|| "/usr/local/bin/docker".into()),
    );
    p.exists().then_some(p)
}

/// Skip a test visibly when the real docker CLI is absent.
#[macro_export]
macro_rules! require_docker_cli {
    () => {
        match $crate::docker_cli() {
            Some(p) => p,
            None => {
                $crate::say_skipped(
                    "the real docker CLI is not installed at /usr/local/bin/docker",
                );
                return;
            }
        }
    };
}

/// Write `text` to `dir/name`, making its parent directories.
pub fn write_file(dir: &std::path::Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

/// A temporary directory holding `files` (name, content): a build context.
pub fn build_context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        write_file(dir.path(), name, text);
    }
    dir
}

pub struct Daemon {
    /// Index of this daemon's subnets (10.250.N.0/24, 10.(100+N).0.0/16,
    /// playground 192.168.N.0/24).
    net_index: usize,
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
    /// Daemon flags of this test beside the harness's own.
    extra_args: Vec<String>,
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_at(None, &[])
    }

    /// A daemon with these flags too (`--registry-mirror URL`, ...); they are
    /// kept across `restart`.
    pub fn start_with(args: &[&str]) -> Daemon {
        Self::start_at(None, args)
    }

    /// A daemon whose data root is `root` (say a filesystem the test mounted
    /// there); its socket and log are in a directory of its own as usual. The
    /// root is the caller's: it is neither unmounted nor deleted on drop.
    pub fn start_on(root: PathBuf) -> Daemon {
        Self::start_at(Some(root), &[])
    }

    fn start_at(root: Option<PathBuf>, extra: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("dockhand-test-")
            .tempdir()
            .expect("tempdir");
        let root = root.unwrap_or_else(|| dir.path().join("root"));
        let socket = dir.path().join("dockhand.sock");
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let net_index = (std::process::id() as usize + k) % 150;
        let mut d = Daemon {
            net_index,
            dir,
            root,
            socket,
            child: None,
            extra_args: extra.iter().map(|a| a.to_string()).collect(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let n = self.net_index;
        let tag = self.tag();
        let mut cmd = Command::new(bin());
        cmd.arg("daemon")
            .arg("--data-root")
            .arg(&self.root)
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            // Names and subnets of this daemon alone: tests run side by side.
            .arg("--bridge")
            .arg(format!("dhb{tag}"))
            .arg("--bip")
            .arg(format!("10.250.{n}.1/24"))
            .arg("--default-address-pool")
            .arg(format!("base=10.{}.0.0/16,size=24", 100 + n))
            .arg("--iptables-chain-prefix")
            .arg(format!("DH-T{tag}"))
            .arg("--network-bridge-prefix")
            .arg(format!("dhu{tag}"))
            // Virtual hosts' playground network, also this daemon's alone.
            .arg("--playground-bridge")
            .arg(format!("dhp{tag}"))
            .arg("--playground-subnet")
            .arg(format!("192.168.{n}.0/24"))
            .arg("--playground-chain-prefix")
            .arg(format!("DH-P{tag}"))
            .arg("--session-bridge-prefix")
            .arg(format!("dhs{tag}"))
            .args(&self.extra_args);
        let log = self.dir.path().join("daemon.log");
        let mut child = spawn_logged(cmd, &log);
        let socket = self.socket.clone();
        wait_ready(&mut child, &log, Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        self.child = Some(child);
    }

    /// The pid of virtual host `name`'s init, from its sandbox's record.
    pub fn vhost_init_pid(&self, name: &str) -> i64 {
        std::fs::read_dir(self.root.join("daemons").join(name).join("containers"))
            .expect("containers")
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("config.v2.json")).ok())
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .find(|v| v["Config"]["Labels"]["dockhand.sandbox"] == "1")
            .and_then(|v| v["State"]["Pid"].as_i64())
            .expect("the host's init")
    }

    /// The suffix of this daemon's bridge and chain names.
    fn tag(&self) -> String {
        format!(
            "{:04x}",
            (std::process::id() as usize * 31 + self.net_index) & 0xffff
        )
    }

    /// What this daemon holds on the machine is found by: its pid, data root
    /// and chain prefixes (for `holdings`).
    pub fn scope(&self) -> holdings::Scope {
        let tag = self.tag();
        holdings::Scope {
            pid: self.child.as_ref().map(|c| c.id()).expect("daemon running"),
            root: self.root.clone(),
            chain_prefixes: vec![format!("DH-T{tag}"), format!("DH-P{tag}")],
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn host_uri(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Run our CLI against this daemon.
    /// The Engine API over this daemon's socket with `curl`: (status, body).
    /// `body` is sent as JSON.
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut c = Command::new("curl");
        c.args(["-s", "-X", method, "--unix-socket"])
            .arg(&self.socket)
            .args(["-w", "\n%{http_code}"]);
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "-d", b]);
        }
        c.arg(format!("http://localhost/v1.47{path}"));
        let r = run_command(c, None, Duration::from_secs(30));
        let out = r.stdout();
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_stdin(args, None)
    }

    /// The CLI against virtual host `name`'s own API socket.
    pub fn vhost_cli(&self, name: &str, args: &[&str]) -> Run {
        let sock = self
            .cli(&["host", "inspect", "-f", "{{.Socket}}", name])
            .ok();
        let out = Command::new(bin())
            .arg("-H")
            .arg(format!("unix://{}", sock.trim()))
            .args(args)
            .output()
            .expect("run cli");
        Run { out }
    }

    pub fn cli_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = Command::new(bin());
        // Credentials (`login`) go where the real docker CLI's go, in the test's folder.
        cmd.env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .arg("-H")
            .arg(self.host_uri())
            .args(args);
        run_with(cmd, stdin)
    }

    /// Run the real docker CLI against this daemon (panics if absent: guard with
    /// `require_docker_cli!`).
    pub fn docker(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(docker_cli().expect("docker CLI"));
        cmd.env("DOCKER_HOST", self.host_uri())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CLI_HINTS", "false")
            .args(args);
        run_with(cmd, None)
    }

    /// SIGKILL the daemon (containers keep running under their monitors).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM the daemon and wait for it to exit (at most 20 s), as a service
    /// manager stops it. `restart` starts it again.
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("the daemon did not exit within 20 s of SIGTERM");
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Pids of processes whose command line mentions this test's directory
    /// (monitors), plus the processes of its containers.
    pub fn leftover_processes(&self) -> Vec<i32> {
        let needle = self.dir.path().to_string_lossy().into_owned();
        // A data root of the caller's (`start_on`) holds the monitors' directories.
        let root = self.root.to_string_lossy().into_owned();
        let mut pids = vec![];
        let me = std::process::id() as i32;
        let daemon = self.child.as_ref().map(|c| c.id() as i32);
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid == me || Some(pid) == daemon {
                continue;
            }
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains(&needle) || cmd.contains(&root) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Cgroup directories the daemon made (under the prefix it records in its data
    /// root), in every hierarchy.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        let Ok(prefix) = std::fs::read_to_string(self.root.join("cgroup-prefix")) else {
            return vec![];
        };
        cgroup_dirs(prefix.trim())
    }

    /// This daemon's name tag (bridges `dhb<tag>`, `dhu<tag>…`, chains `DH-T<tag>…`).
    /// The daemon's index N (its playground network is 192.168.N.0/24).
    pub fn net_index(&self) -> usize {
        self.net_index
    }

    pub fn net_tag(&self) -> String {
        format!(
            "{:04x}",
            (std::process::id() as usize * 31 + self.net_index) & 0xffff
        )
    }

    /// Links and firewall lines of this daemon still present.
    pub fn leftover_network(&self) -> Vec<String> {
        let tag = self.net_tag();
        let mut out: Vec<String> = links().into_iter().filter(|l| self.owns_link(l)).collect();
        for chain in [format!("DH-T{tag}"), format!("DH-P{tag}")] {
            for table in ["nat", "filter"] {
                let save = Command::new("iptables-save").args(["-t", table]).output();
                let text = save
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                out.extend(
                    text.lines()
                        .filter(|l| l.contains(&chain))
                        .map(|l| format!("{table}: {l}")),
                );
            }
        }
        let tables = Command::new("nft")
            .args(["list", "tables"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.extend(
            tables
                .lines()
                .filter(|l| l.ends_with(&self.guard_table()))
                .map(|l| format!("nft: {l}")),
        );
        out
    }

    /// Bridges of this daemon: its default bridge, user networks, the playground
    /// network and session networks of its virtual hosts.
    fn owns_link(&self, l: &str) -> bool {
        let tag = self.net_tag();
        ["dhb", "dhu", "dhp", "dhs"]
            .iter()
            .any(|p| l.starts_with(&format!("{p}{tag}")))
    }

    /// Delete this daemon's bridges, jump rules and chains (after it is dead).
    fn remove_network(&self) {
        let tag = self.net_tag();
        for l in links() {
            if self.owns_link(&l) {
                let _ = Command::new("ip").args(["link", "del", &l]).output();
            }
        }
        for chain in [format!("DH-T{tag}"), format!("DH-P{tag}")] {
            self.remove_chains(&chain);
        }
        let _ = Command::new("nft")
            .args(["delete", "table", "bridge", &self.guard_table()])
            .output();
    }

    /// The nftables table guarding this daemon's virtual hosts' ports.
    fn guard_table(&self) -> String {
        format!("DH_P{}_guard", self.net_tag())
    }

    fn remove_chains(&self, chain: &str) {
        for table in ["nat", "filter"] {
            let text = Command::new("iptables-save")
                .args(["-t", table])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            // Jumps from the built-in chains first, then our chains.
            for line in text.lines() {
                if let Some(rule) = line.strip_prefix("-A ") {
                    let builtin = !rule.starts_with(chain);
                    if builtin && rule.contains(chain) {
                        let args: Vec<&str> = split_rule(rule);
                        let _ = Command::new("iptables")
                            .args(["-t", table, "-D"])
                            .args(&args)
                            .output();
                    }
                }
            }
            for line in text.lines() {
                if let Some(c) = line
                    .strip_prefix(':')
                    .and_then(|l| l.split_whitespace().next())
                {
                    if c.starts_with(chain) {
                        let _ = Command::new("iptables")
                            .args(["-t", table, "-F", c])
                            .output();
                    }
                }
            }
            for line in text.lines() {
                if let Some(c) = line
                    .strip_prefix(':')
                    .and_then(|l| l.split_whitespace().next())
                {
                    if c.starts_with(chain) {
                        let _ = Command::new("iptables")
                            .args(["-t", table, "-X", c])
                            .output();
                    }
                }
            }
        }
    }

    /// Mount points under this test's directory in the host's mount namespace.
    pub fn leftover_mounts(&self) -> Vec<String> {
        mounts_under(self.dir.path())
    }
}

/// Every directory named `prefix` directly under a cgroup hierarchy root, with
/// everything below it, deepest first.
fn cgroup_dirs(prefix: &str) -> Vec<PathBuf> {
    if prefix.is_empty() || prefix.contains('/') {
        return vec![];
    }
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    for e in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            roots.push(e.path());
        }
    }
    let mut out = vec![];
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&e.path(), out);
            }
        }
        out.push(dir.to_path_buf());
    }
    for r in roots {
        let top = r.join(prefix);
        if top.is_dir() {
            walk(&top, &mut out);
        }
    }
    out
}

/// Names of the network links in the test's (the host's) namespace.
fn links() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Split an `iptables-save` rule into arguments, keeping quoted comments whole.
fn split_rule(rule: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = rule.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap_or(r.len());
            out.push(&r[..end]);
            rest = r[(end + 1).min(r.len())..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = rest[end..].trim_start();
        }
    }
    out
}

/// Mount points under `dir` in the machine's mount namespace.
pub(crate) fn mounts_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&needle))
        .map(String::from)
        .collect()
}

/// Start a daemon (or server) command with its output appended to `log`.
pub(crate) fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("daemon log");
    cmd.env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(f.try_clone().expect("log"))
        .stderr(f)
        .spawn()
        .expect("start the daemon")
}

/// Wait until `ready()` holds; if the process exits first or `limit` passes,
/// kill it and panic with its log.
pub(crate) fn wait_ready(
    child: &mut Child,
    log: &Path,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) {
    let text = || std::fs::read_to_string(log).unwrap_or_default();
    let limit = slow_machine(limit);
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{} exited with {st}: {}", log.display(), text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("not ready within {limit:?}: {}", text());
}

impl Daemon {
    /// When a test fails, what the daemon and the container monitors logged:
    /// the test's directory is gone afterwards.
    fn print_logs(&self) {
        let tail = |p: &Path, n: usize| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        eprintln!(
            "--- daemon.log (tail) ---\n{}",
            tail(&self.dir.path().join("daemon.log"), 80)
        );
        let mut logs = vec![];
        find_files(&self.root, "monitor.log", 4, &mut logs);
        for p in logs {
            let t = tail(&p, 20);
            if !t.is_empty() {
                eprintln!("--- {} ---\n{t}", p.display());
            }
        }
    }
}

fn find_files(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_name() == name {
            out.push(p);
        } else if depth > 0 && e.file_type().is_ok_and(|t| t.is_dir()) {
            find_files(&p, name, depth - 1, out);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_logs();
        }
        // Remove containers through the API while the daemon is up; then make sure
        // nothing survives: kill monitors and container processes, detach mounts.
        if self.child.is_some() {
            let _ = self.cli(&["host", "rm", "--all"]);
            let ids = self.cli(&["ps", "-aq", "--no-trunc"]).stdout();
            for id in ids.split_whitespace() {
                let _ = self.cli(&["rm", "-f", id]);
            }
        }
        self.kill9();
        for _ in 0..3 {
            let pids = self.leftover_processes();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                // SAFETY: kill(2) on a pid we found; errors are ignored.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for dir in self.leftover_cgroups() {
            for pid in std::fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
            {
                if let Ok(p) = pid.trim().parse::<i32>() {
                    // SAFETY: kill(2) on a pid listed in our own cgroup.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            for _ in 0..20 {
                if std::fs::remove_dir(&dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.remove_network();
        for m in self.leftover_mounts().iter().rev() {
            let c = std::ffi::CString::new(m.as_str()).expect("path");
            // SAFETY: umount2 with a path string we own.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
