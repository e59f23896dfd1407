//! Crash consistency: a seeded stream of operations (create, start, exec,
//! commit, tag, rmi, stop, rm, network and volume create/rm, virtual host
//! create/rm and a container in one, load) while SIGKILL hits the daemon at
//! random points, and now and then a container's monitor. After each restart
//! every record parses, every image's content exists, every container
//! directory has its record, running containers are adopted (same process,
//! still usable), stopped ones keep their exit codes; a killed monitor's
//! container is seen exited, its processes, cgroup and links gone. Once all is
//! removed, nothing of what the operations made remains: no process, mount,
//! cgroup, loop device, link or firewall line, and no image content but
//! whole layers a killed operation stored for the next to reuse.
//!
//! The seed is printed; `DOCKHAND_CRASH_SEED=N` replays a run and
//! `DOCKHAND_CRASH_OPS=N` changes its length (200 by default).

use dockhand_tests::holdings::dir_names as entries;
use dockhand_tests::rng::Rng;
use dockhand_tests::Daemon;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A container as `inspect` shows it: status, pid, exit code.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    status: String,
    pid: i64,
    code: i64,
}

fn lines(s: String) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn containers(d: &Daemon) -> BTreeMap<String, Seen> {
    let ids = lines(d.cli(&["ps", "-aq", "--no-trunc"]).ok());
    if ids.is_empty() {
        return BTreeMap::new();
    }
    let mut args = vec![
        "inspect",
        "-f",
        "{{.Name}} {{.State.Status}} {{.State.Pid}} {{.State.ExitCode}}",
    ];
    args.extend(ids.iter().map(String::as_str));
    lines(d.cli(&args).ok())
        .into_iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 4, "inspect line {l:?}");
            (
                f[0].trim_start_matches('/').to_string(),
                Seen {
                    status: f[1].into(),
                    pid: f[2].parse().expect("pid"),
                    code: f[3].parse().expect("exit code"),
                },
            )
        })
        .collect()
}

fn names_in(d: &Daemon, args: &[&str], prefix: &str) -> Vec<String> {
    lines(d.cli(args).ok())
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn images(d: &Daemon) -> Vec<String> {
    names_in(d, &["images", "--format", "{{.Repository}}:{{.Tag}}"], "cr")
}

fn hosts(d: &Daemon) -> Vec<String> {
    names_in(d, &["host", "ls", "-q"], "crh")
}

/// Every JSON file of the data root outside image content and container
/// file systems parses.
fn check_records_parse(root: &Path) {
    fn walk(dir: &Path, seen: &mut usize) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                if !["layers", "blobs", "_data", "rootfs", "upper", "work", "run"]
                    .contains(&name.as_str())
                {
                    walk(&p, seen);
                }
            } else if t.is_file() && name.ends_with(".json") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
                    panic!("{} does not parse: {e}: {text:?}", p.display());
                }
                *seen += 1;
            }
        }
    }
    let mut seen = 0;
    walk(root, &mut seen);
    assert!(seen > 0, "no record found under {}", root.display());
}

/// Each container directory of the daemon's own scope has a record, and each
/// record is listed.
fn check_directories_have_records(d: &Daemon, listed: &BTreeMap<String, Seen>) {
    let ids: BTreeSet<String> = lines(d.cli(&["ps", "-aq", "--no-trunc"]).ok())
        .into_iter()
        .collect();
    assert_eq!(ids.len(), listed.len());
    let dirs: BTreeSet<String> = std::fs::read_dir(d.root.join("daemons/default/containers"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dirs, ids, "container directories and records differ");
}

/// Every image's config blob and layers are in the store.
fn check_image_content(d: &Daemon) {
    let ids: BTreeSet<String> = lines(d.cli(&["images", "-q", "--no-trunc"]).ok())
        .into_iter()
        .collect();
    for id in ids {
        let r = d
            .cli(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", &id])
            .ok();
        let hex = id.trim_start_matches("sha256:");
        assert!(
            d.root.join("blobs/sha256").join(hex).is_file(),
            "config of {id} missing"
        );
        let layers: Vec<String> = serde_json::from_str(&r).expect("layers");
        for l in layers {
            let dir = d.root.join("layers").join(l.trim_start_matches("sha256:"));
            assert!(dir.is_dir(), "layer {l} of {id} missing");
        }
    }
}

/// Containers untouched by the interrupted operation are as they were:
/// running ones adopted with the same process, stopped ones with their code.
fn check_adopted(before: &BTreeMap<String, Seen>, after: &BTreeMap<String, Seen>, touched: &str) {
    for (name, was) in before {
        if name == touched {
            continue;
        }
        let Some(now) = after.get(name) else {
            panic!("{name} ({was:?}) is gone after the restart");
        };
        if name.starts_with("crq") && was.status == "running" {
            // A container whose command exits at once: running or exited with its code.
            assert!(
                now == was || (now.status == "exited" && now.code == quick_code(name)),
                "{name}: {was:?} -> {now:?}"
            );
            continue;
        }
        assert_eq!(now, was, "{name} changed across the restart");
    }
    for (name, now) in after {
        if now.status == "running" {
            assert!(
                Path::new(&format!("/proc/{}", now.pid)).exists(),
                "{name} is listed running with a dead pid {}",
                now.pid
            );
        }
    }
}

/// Exit code of a quick container, from its name `crq<N>`.
fn quick_code(name: &str) -> i64 {
    name.trim_start_matches("crq").parse::<i64>().unwrap_or(0) % 7
}

/// The pid of container `id`'s monitor.
/// The monitor of a container: the parent of its process, when that is a
/// monitor of this container (a stale monitor of an earlier start would be
/// another process with the same command line).
fn monitor_of(pid: i64, id: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The parent's pid is the second field after the command name's ")".
    let ppid: i32 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let cmd = std::fs::read(format!("/proc/{ppid}/cmdline")).unwrap_or_default();
    let cmd = String::from_utf8_lossy(&cmd);
    (cmd.contains("__monitor") && cmd.contains(id)).then_some(ppid)
}

/// What the operations could leave behind, by kind; compared before and after.
fn footprint(d: &Daemon) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    out.extend(
        d.leftover_processes()
            .into_iter()
            .map(|p| format!("process {p}")),
    );
    out.extend(
        d.leftover_cgroups()
            .into_iter()
            .map(|c| format!("cgroup {}", c.display())),
    );
    out.extend(
        d.leftover_mounts()
            .into_iter()
            .map(|m| format!("mount {m}")),
    );
    out.extend(d.leftover_network());
    let root = d.root.to_string_lossy().into_owned();
    let loops = Command::new("losetup").arg("-a").output();
    out.extend(
        loops
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&root))
            .map(|l| format!("loop {l}")),
    );
    out
}

struct Run<'a> {
    d: Daemon,
    rng: Rng,
    n: usize,
    tar: &'a Path,
    kills: usize,
    monitor_kills: usize,
}

impl Run<'_> {
    /// One operation: (CLI arguments, name of the container it touches).
    fn choose(&mut self) -> Option<(Vec<String>, String, Option<String>)> {
        let n = self.n;
        let all = containers(&self.d);
        let names: Vec<String> = all.keys().cloned().collect();
        let running: Vec<String> = all
            .iter()
            .filter(|(_, s)| s.status == "running")
            .map(|(n, _)| n.clone())
            .collect();
        let created: Vec<String> = all
            .iter()
            .filter(|(_, s)| s.status == "created")
            .map(|(n, _)| n.clone())
            .collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let op = self.rng.below(100);
        let (args, touched, host): (Vec<String>, String, Option<String>) = match op {
            0..=14 => {
                let long = self.rng.below(3) > 0;
                let name = if long {
                    format!("crc{n}")
                } else {
                    format!("crq{n}")
                };
                let mut a = s(&["create", "--name", &name]);
                let vols = names_in(&self.d, &["volume", "ls", "-q"], "crvol");
                if let Some(v) = self.rng.pick(&vols).cloned() {
                    a.extend(["-v".into(), format!("{v}:/data")]);
                }
                let nets = names_in(
                    &self.d,
                    &["network", "ls", "--format", "{{.Name}}"],
                    "crnet",
                );
                if let Some(net) = self.rng.pick(&nets).cloned() {
                    a.extend(["--network".into(), net]);
                } else if self.rng.below(2) == 0 {
                    a.extend(s(&["-p", "80"]));
                }
                a.push("busybox".into());
                if long {
                    a.extend(s(&["sleep", "1000"]));
                } else {
                    a.extend(s(&["sh", "-c"]));
                    a.push(format!("exit {}", quick_code(&name)));
                }
                (a, name, None)
            }
            15..=29 => {
                let c = self.rng.pick(&created)?.clone();
                (s(&["start", &c]), c, None)
            }
            30..=37 => {
                let c = self.rng.pick(&running)?.clone();
                (s(&["exec", &c, "sh", "-c", "echo x >> /tmp/x"]), c, None)
            }
            38..=44 => {
                let c = self.rng.pick(&names)?.clone();
                let img = format!("crimg:{n}");
                (s(&["commit", &c, &img]), c, None)
            }
            45..=50 => {
                let img = self.rng.pick(&images(&self.d))?.clone();
                (
                    s(&["tag", &img, &format!("crtag:{n}")]),
                    String::new(),
                    None,
                )
            }
            51..=56 => {
                let img = self.rng.pick(&images(&self.d))?.clone();
                (s(&["rmi", "-f", &img]), String::new(), None)
            }
            57..=61 => {
                let c = self.rng.pick(&running)?.clone();
                (s(&["stop", "-t", "1", &c]), c, None)
            }
            62..=68 => {
                let c = self.rng.pick(&names)?.clone();
                (s(&["rm", "-f", &c]), c, None)
            }
            69..=71 => (
                s(&["network", "create", &format!("crnet{n}")]),
                String::new(),
                None,
            ),
            72..=73 => {
                let nets = names_in(
                    &self.d,
                    &["network", "ls", "--format", "{{.Name}}"],
                    "crnet",
                );
                let net = self.rng.pick(&nets)?.clone();
                (s(&["network", "rm", &net]), String::new(), None)
            }
            74..=76 => (
                s(&["volume", "create", &format!("crvol{n}")]),
                String::new(),
                None,
            ),
            77..=78 => {
                let vols = names_in(&self.d, &["volume", "ls", "-q"], "crvol");
                let v = self.rng.pick(&vols)?.clone();
                (s(&["volume", "rm", &v]), String::new(), None)
            }
            79..=82 => {
                if hosts(&self.d).len() >= 3 {
                    return None;
                }
                (
                    s(&["host", "create", &format!("crh{n}")]),
                    String::new(),
                    None,
                )
            }
            83..=84 => {
                let h = self.rng.pick(&hosts(&self.d))?.clone();
                (s(&["host", "rm", "-f", &h]), String::new(), None)
            }
            85..=89 => {
                let h = self.rng.pick(&hosts(&self.d))?.clone();
                (
                    s(&["run", "-d", "busybox", "sleep", "1000"]),
                    String::new(),
                    Some(h),
                )
            }
            _ => (
                s(&["load", "-q", "-i", &self.tar.to_string_lossy()]),
                String::new(),
                None,
            ),
        };
        Some((args, touched, host))
    }

    fn command(&self, args: &[String], host: Option<&str>) -> Command {
        let mut cmd = Command::new(dockhand_tests::bin());
        match host {
            // A virtual host's own API socket.
            Some(h) => {
                let sock = self
                    .d
                    .cli(&["host", "inspect", "-f", "{{.Socket}}", h])
                    .ok();
                cmd.arg("-H").arg(format!("unix://{sock}"))
            }
            None => cmd.arg("-H").arg(self.d.host_uri()),
        };
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    /// Run one operation, killing the daemon during it now and then.
    fn step(&mut self) {
        self.n += 1;
        let Some((args, touched, host)) = self.choose() else {
            return;
        };
        let before = containers(&self.d);
        let mut child = self.command(&args, host.as_deref()).spawn().expect("cli");
        if self.rng.below(8) == 0 {
            std::thread::sleep(Duration::from_millis(self.rng.below(120)));
            self.d.kill9();
            let _ = child.wait();
            self.kills += 1;
            self.d.restart();
            self.check_after_restart(&before, &touched);
        } else {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                assert!(Instant::now() < deadline, "{args:?} hangs");
                std::thread::sleep(Duration::from_millis(5));
            }
            if self.rng.below(25) == 0 {
                self.kill_a_monitor();
            }
        }
    }

    fn check_after_restart(&self, before: &BTreeMap<String, Seen>, touched: &str) {
        let after = containers(&self.d);
        check_records_parse(&self.d.root);
        check_directories_have_records(&self.d, &after);
        check_image_content(&self.d);
        check_adopted(before, &after, touched);
        // An adopted container is usable: exec reaches it.
        // (One whose command sleeps: a quick one may be exiting right now.)
        if let Some((name, _)) = after
            .iter()
            .find(|(n, s)| s.status == "running" && n.starts_with("crc"))
        {
            let r = self.d.cli(&["exec", name, "true"]);
            assert_eq!(r.code(), 0, "exec in adopted {name}: {}", r.stderr());
        }
        for h in hosts(&self.d) {
            let r = self.d.vhost_cli(&h, &["ps", "-a"]);
            assert_eq!(r.code(), 0, "ps in virtual host {h}: {}", r.stderr());
        }
    }

    /// SIGKILL a running container's monitor: the container is seen exited
    /// (137, as containerd reports a container whose shim died), nothing of
    /// its processes, cgroup or links stays, and it starts again.
    fn kill_a_monitor(&mut self) {
        let all = containers(&self.d);
        let running: Vec<&String> = all
            .iter()
            .filter(|(n, s)| s.status == "running" && n.starts_with("crc"))
            .map(|(n, _)| n)
            .collect();
        let Some(name) = self.rng.pick(&running).map(|n| n.to_string()) else {
            return;
        };
        let id = self.d.cli(&["inspect", "-f", "{{.Id}}", &name]).ok();
        let pid = all[&name].pid;
        let Some(mon) = monitor_of(pid, &id) else {
            panic!("the parent of {name}'s process {pid} is not its monitor");
        };
        // SAFETY: kill(2) on the monitor process found above.
        unsafe { libc::kill(mon, libc::SIGKILL) };
        self.monitor_kills += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self
                .d
                .cli(&[
                    "inspect",
                    "-f",
                    "{{.State.Status}} {{.State.ExitCode}}",
                    &name,
                ])
                .ok();
            if st == "exited 137" && !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name} after its monitor was killed: {st}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = self.d.cli(&["start", &name]);
        assert_eq!(r.code(), 0, "start {name} again: {}", r.stderr());
    }
}

#[test]
fn sigkill_at_random_points_leaves_consistent_state_and_nothing_behind() {
    dockhand_tests::require_root!();
    let (rng, _) = Rng::from_env("DOCKHAND_CRASH_SEED");
    let ops: usize = std::env::var("DOCKHAND_CRASH_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let d = Daemon::start();
    // Warm up: the bridge, its chains, busybox; this is what the daemon
    // itself holds and keeps.
    d.cli(&["run", "--rm", "-p", "80", "busybox", "true"]).ok();
    let base = footprint(&d);
    // The archive `load` reads: an image of our own, saved and removed.
    d.cli(&[
        "run",
        "--name",
        "crseed",
        "busybox",
        "sh",
        "-c",
        "echo seed > /seed",
    ])
    .ok();
    d.cli(&["commit", "crseed", "crloaded:1"]).ok();
    let tar = d.dir.path().join("loaded.tar");
    d.cli(&["save", "-o", &tar.to_string_lossy(), "crloaded:1"])
        .ok();
    d.cli(&["rm", "crseed"]).ok();
    d.cli(&["rmi", "crloaded:1"]).ok();

    let mut run = Run {
        d,
        rng,
        n: 0,
        tar: &tar,
        kills: 0,
        monitor_kills: 0,
    };
    for _ in 0..ops {
        run.step();
    }
    // One more kill at rest, then everything is removed.
    let before = containers(&run.d);
    run.d.restart();
    run.check_after_restart(&before, "");
    eprintln!(
        "{} operations, {} daemon kills, {} monitor kills, {} containers, {} images at the end",
        ops,
        run.kills + 1,
        run.monitor_kills,
        before.len(),
        images(&run.d).len()
    );
    let d = &run.d;
    d.cli(&["host", "rm", "--all", "-f"]).ok();
    for id in lines(d.cli(&["ps", "-aq"]).ok()) {
        d.cli(&["rm", "-f", &id]).ok();
    }
    // Children before parents: an image with dependent children is refused,
    // as docker refuses it, until they are gone.
    for _ in 0..20 {
        let ids: BTreeSet<String> = lines(d.cli(&["images", "-q"]).ok()).into_iter().collect();
        if ids.is_empty() {
            break;
        }
        for id in ids {
            let _ = d.cli(&["rmi", "-f", &id]);
        }
    }
    assert_eq!(d.cli(&["images", "-q"]).ok(), "", "images left");
    for net in names_in(d, &["network", "ls", "--format", "{{.Name}}"], "crnet") {
        d.cli(&["network", "rm", &net]).ok();
    }
    for v in names_in(d, &["volume", "ls", "-q"], "crvol") {
        d.cli(&["volume", "rm", &v]).ok();
    }
    // Released asynchronously at most for a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        let left: Vec<String> = footprint(d).difference(&base).cloned().collect();
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(left.is_empty(), "left behind: {left:#?}");
    // No image is left, so no config or manifest; a layer stored whole (its
    // blob and its tree) by a commit or load that was killed before its
    // index stays for the next to reuse, as after a killed pull: but never
    // half of one.
    let blobs: BTreeSet<String> = entries(d.root.join("blobs/sha256")).into_iter().collect();
    let layers: BTreeSet<String> = entries(d.root.join("layers")).into_iter().collect();
    assert_eq!(blobs, layers, "content left half-made");
    assert!(
        entries(d.root.join("daemons/default/containers")).is_empty(),
        "container directories left"
    );
}

/// A monitor run by hand from a container's `spec.json`, as the daemon runs
/// it; killed on drop.
struct HandMonitor(std::process::Child);

impl HandMonitor {
    fn spawn(dir: &Path) -> HandMonitor {
        HandMonitor(
            Command::new(dockhand_tests::bin())
                .arg("__monitor")
                .arg(dir)
                .arg("1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn the monitor"),
        )
    }

    /// Its first report line.
    fn first_report(&mut self) -> serde_json::Value {
        use std::io::BufRead;
        let out = self.0.stdout.as_mut().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("read a report");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("report {line:?}: {e}"))
    }

    /// Wait (bounded) for it to end.
    fn wait_end(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.0.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < deadline, "{what}: the monitor still runs");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HandMonitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A start the daemon did not see through leaves no container running
/// unseen: a monitor that cannot join the container's cgroup (a restarted
/// daemon removed it as an orphan) fails the start, and one whose daemon
/// stopped reading before the start was done gives the container up.
#[test]
fn a_monitor_gives_up_a_start_its_daemon_did_not_see_through() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "-d",
        "--name",
        "half",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    let id = d.cli(&["inspect", "-f", "{{.Id}}", "half"]).ok();
    // Stopped: the container's cgroup is gone when `stop` answers.
    d.cli(&["stop", "-t", "0", "half"]).ok();
    let dir = d.root.join("daemons/default/containers").join(&id);
    let spec_path = dir.join("spec.json");
    let text = std::fs::read_to_string(&spec_path).expect("spec.json");
    let mut spec: serde_json::Value = serde_json::from_str(&text).expect("spec");
    let procs = spec["cgroup_procs"].as_array().cloned().unwrap_or_default();

    if procs.is_empty() {
        dockhand_tests::say_skipped("the cgroup half: this daemon runs without cgroups");
    } else {
        // The container's cgroup went with its exit.
        let mut m = HandMonitor::spawn(&dir);
        let r = m.first_report();
        let msg = r["failed"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with("join cgroup ") && msg.ends_with(": no such file or directory"),
            "{r}"
        );
        m.wait_end("cgroup gone");
    }

    // Without cgroups, so that only the daemon's absence is tried.
    spec["cgroup_procs"] = serde_json::json!([]);
    spec["cgroupns"] = false.into();
    spec["cgroup2_mount"] = false.into();
    std::fs::write(&spec_path, spec.to_string()).expect("write spec.json");
    let mut m = HandMonitor::spawn(&dir);
    let r = m.first_report();
    let pid = r["ready"]["pid"].as_i64().unwrap_or_else(|| panic!("{r}"));
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    // The daemon ends: nobody reads the monitor's reports any more.
    drop(m.0.stdout.take());
    m.wait_end("daemon gone");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the container's process {pid} still runs"
    );
    assert_eq!(d.leftover_processes(), Vec::<i32>::new(), "processes left");

    // The daemon's own start of it is unaffected.
    d.cli(&["start", "half"]).ok();
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Status}}", "half"]).ok(),
        "running"
    );
    d.cli(&["rm", "-f", "half"]).ok();
}
