//! Escape probes: from root in a virtual host, and from a `--privileged
//! --pid host --net host -v /:/host` container in it, the machine's kernel
//! knobs, kernel log, disks, modules, processes, services and link-local
//! addresses stay out of reach. Where a probe can be shown to work when the
//! guard is not there (a container of the machine itself, the test on the
//! machine), it is, so that a probe that fails for another reason is seen.

use dockhand_tests::{Daemon, Run};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The flags of the most powerful container a virtual host's root can run.
const EVERYTHING: &[&str] = &[
    "--privileged",
    "--pid",
    "host",
    "--net",
    "host",
    "-v",
    "/:/host",
];

/// `script` in virtual host `host`: in its own shell (`flags` None) or in a
/// container with `flags`.
fn probe(d: &Daemon, host: &str, flags: Option<&[&str]>, script: &str) -> Run {
    match flags {
        None => d.cli(&["host", "exec", host, "sh", "-c", script]),
        Some(flags) => {
            let mut args = vec!["run", "--rm"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["busybox", "sh", "-c", script]);
            d.vhost_cli(host, &args)
        }
    }
}

/// The machine's root file system's device, when it is a real block device.
fn root_device() -> Option<(u32, u32)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let line = info.lines().find(|l| l.split(' ').nth(4) == Some("/"))?;
    let (maj, min) = line.split(' ').nth(2)?.split_once(':')?;
    let dev = (maj.parse().ok()?, min.parse().ok()?);
    (dev.0 != 0).then_some(dev)
}

#[test]
fn kernel_knobs_logs_disks_modules_and_processes_stay_out_of_reach() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["host", "create", "esc"]).ok();
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let mut probes: Vec<(&str, String)> = vec![
        (
            "writing core_pattern",
            "cat /proc/sys/kernel/core_pattern > /proc/sys/kernel/core_pattern".into(),
        ),
        ("the sysrq trigger", "echo h > /proc/sysrq-trigger".into()),
        ("the kernel log", "dmesg".into()),
        (
            "loading a module",
            "echo x > /tmp/m.ko && insmod /tmp/m.ko".into(),
        ),
        (
            "seeing the machine's processes",
            "ps -o args | grep -v grep | grep -q 'daemon --data-root'".into(),
        ),
    ];
    // Writing back what a /sys/kernel knob holds changes nothing if it worked.
    if std::path::Path::new("/sys/kernel/mm/ksm/run").exists() {
        probes.push((
            "writing /sys/kernel",
            "cat /sys/kernel/mm/ksm/run > /sys/kernel/mm/ksm/run".into(),
        ));
    }
    if let Some((maj, min)) = root_device() {
        probes.push((
            "mounting the machine's disk",
            format!(
                "mknod /tmp/disk b {maj} {min} && mkdir -p /tmp/m && mount -o ro /tmp/disk /tmp/m"
            ),
        ));
    }
    for (context, flags) in [
        ("the virtual host's shell", None),
        ("a privileged container", Some(EVERYTHING)),
    ] {
        for (what, script) in &probes {
            let r = probe(&d, "esc", flags, script);
            assert_ne!(
                r.code(),
                0,
                "{what} worked from {context}: {} {}",
                r.stdout(),
                r.stderr()
            );
        }
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
    // The read probes work where there is no virtual host around the
    // container: the machine's own daemon runs it.
    let ps = d.cli(&[
        "run",
        "--rm",
        "--privileged",
        "--pid",
        "host",
        "busybox",
        "sh",
        "-c",
        "ps -o args | grep -v grep | grep -q 'daemon --data-root'",
    ]);
    assert_eq!(
        ps.code(),
        0,
        "the process probe cannot see: {}",
        ps.stderr()
    );
    if Command::new("dmesg")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
    {
        let r = d.cli(&["run", "--rm", "--privileged", "busybox", "dmesg"]);
        assert_eq!(r.code(), 0, "the log probe cannot read: {}", r.stderr());
    }
    d.cli(&["host", "rm", "-f", "esc"]).ok();
}

/// A listener that counts connections and answers each with `reply`, until
/// dropped (or 60 s).
struct Listener {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Listener {
    fn start(l: TcpListener, reply: &'static [u8]) -> Listener {
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let n = accepted.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                match l.accept() {
                    Ok((mut s, _)) => {
                        n.fetch_add(1, Ordering::SeqCst);
                        let _ = s.write_all(reply);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Listener { port, accepted }
    }
}

/// A network namespace of the test's own holding `addr` (a link-local
/// address), reached from the machine through a veth; removed on drop.
struct LinkLocalPeer {
    ns: String,
    veth: String,
    addr: String,
}

impl LinkLocalPeer {
    fn new(tag: &str, addr: &str) -> LinkLocalPeer {
        let p = LinkLocalPeer {
            ns: format!("dhesc{tag}"),
            veth: format!("dhesc{tag}a"),
            addr: addr.to_string(),
        };
        let peer = format!("dhesc{tag}b");
        let ip = |args: &[&str]| {
            let ok = Command::new("ip").args(args).status().unwrap().success();
            assert!(ok, "ip {args:?}");
        };
        ip(&["netns", "add", &p.ns]);
        ip(&[
            "link", "add", &p.veth, "type", "veth", "peer", "name", &peer,
        ]);
        ip(&["link", "set", &peer, "netns", &p.ns]);
        ip(&["link", "set", &p.veth, "up"]);
        ip(&["route", "add", &format!("{addr}/32"), "dev", &p.veth]);
        let inside = |args: &[&str]| {
            let mut a = vec!["netns", "exec", p.ns.as_str(), "ip"];
            a.extend_from_slice(args);
            ip(&a);
        };
        inside(&["addr", "add", &format!("{addr}/32"), "dev", &peer]);
        inside(&["link", "set", &peer, "up"]);
        inside(&["link", "set", "lo", "up"]);
        inside(&["route", "add", "default", "dev", &peer]);
        p
    }

    /// A listener on the address, bound from a thread that entered the
    /// namespace (setns applies to the calling thread only).
    fn listen(&self, reply: &'static [u8]) -> Listener {
        let path = format!("/run/netns/{}", self.ns);
        let addr = format!("{}:8080", self.addr);
        let l = std::thread::spawn(move || {
            let f = std::fs::File::open(path).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: setns(2) on a namespace file we opened; this thread only.
            let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns");
            TcpListener::bind(addr).unwrap()
        })
        .join()
        .unwrap();
        Listener::start(l, reply)
    }
}

impl Drop for LinkLocalPeer {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

#[test]
fn the_machines_services_and_link_local_addresses_stay_out_of_reach() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // A host that may reach anything outside: the guards hold regardless.
    d.cli(&["host", "create", "--egress", "all", "out"]).ok();
    let tag = format!("{:04x}", std::process::id() & 0xffff);
    let peer = LinkLocalPeer::new(&tag, "169.254.77.77");
    let meta = peer.listen(b"meta-ok\n");
    let lo = Listener::start(TcpListener::bind("127.0.0.1:0").unwrap(), b"lo-ok\n");
    let any = Listener::start(TcpListener::bind("0.0.0.0:0").unwrap(), b"any-ok\n");
    // The link-local peer answers the machine: the probe below can succeed.
    let mut s = TcpStream::connect_timeout(
        &"169.254.77.77:8080".parse().unwrap(),
        Duration::from_secs(3),
    )
    .expect("the machine reaches the link-local peer");
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    assert_eq!(got, "meta-ok\n");
    let before = meta.accepted.load(Ordering::SeqCst);

    let gateway = probe(&d, "out", None, "ip route | awk '/default/ {print $3}'")
        .ok()
        .trim()
        .to_string();
    assert!(!gateway.is_empty(), "no default route in the host");
    let targets = [
        ("the link-local peer", "169.254.77.77".to_string(), 8080),
        ("the machine's loopback", "127.0.0.1".into(), lo.port),
        ("the machine through its gateway", gateway, any.port),
    ];
    for (context, flags) in [
        ("the virtual host's shell", None),
        ("a privileged host-network container", Some(EVERYTHING)),
    ] {
        for (what, ip, port) in &targets {
            let r = probe(
                &d,
                "out",
                flags,
                &format!("timeout 4 nc {ip} {port} </dev/null"),
            );
            assert!(
                !r.stdout().contains("-ok"),
                "{what} answered {context}: {}",
                r.stdout()
            );
        }
    }
    assert_eq!(meta.accepted.load(Ordering::SeqCst), before);
    assert_eq!(lo.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(any.accepted.load(Ordering::SeqCst), 0);
    d.cli(&["host", "rm", "-f", "out"]).ok();
    drop(peer);
}
