//! The course's networking on the real kernel: published ports (the echo server
//! with `nc -lp 45678 | nc -lp 45679`), UDP, dynamic ports, user networks with
//! names, isolation, `--internal`, legacy links, and nothing left afterwards.
//! Traffic goes only to loopback and to the test's own containers.

use dockhand_tests::Daemon;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// A shell function for clients of `while true; do ... nc -lp PORT; done`
/// servers, which need a moment to listen again after each connection: up to
/// ten tries, 0.2 s apart.
const TRY: &str = "try() { for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 \"$1\" \"$2\" && return 0; sleep 0.2; done; return 1; };";

/// Connect to 127.0.0.1:port, retrying while the server inside starts (bounded).
fn connect(port: u16) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("connect 127.0.0.1:{port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_course_echo_server_through_two_published_ports() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let (p1, p2) = (free_port(), free_port());
    let a = format!("{p1}:45678");
    let b = format!("{p2}:45679");
    d.cli(&[
        "run",
        "-d",
        "--name",
        "echo-server",
        "-p",
        &a,
        "-p",
        &b,
        "busybox",
        "sh",
        "-c",
        "nc -lp 45678 | nc -lp 45679",
    ])
    .ok();
    // Both nc must listen before anyone connects: a connection that comes
    // first is accepted by the proxy and closed, as with Docker's.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listening = d.cli(&["exec", "echo-server", "netstat", "-ltn"]).stdout();
        if listening.contains(":45678 ") && listening.contains(":45679 ") {
            break;
        }
        assert!(Instant::now() < deadline, "nc does not listen: {listening}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reader first (45679), then the writer (45678), as the course does it.
    let mut reader = connect(p2);
    let mut writer = connect(p1);
    writer.write_all(b"hello through docker\n").unwrap();
    drop(writer);
    reader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = String::new();
    let _ = reader.read_to_string(&mut got);
    assert_eq!(got, "hello through docker\n");
    let ports = d.cli(&["port", "echo-server"]).ok();
    assert!(
        ports.contains(&format!("45678/tcp -> 0.0.0.0:{p1}")),
        "{ports}"
    );
    // The NAT table shows the DNAT for the published ports.
    let nat = std::process::Command::new("iptables")
        .args(["-t", "nat", "-n", "-L"])
        .output()
        .unwrap();
    let nat = String::from_utf8_lossy(&nat.stdout);
    assert!(
        nat.contains(&format!("dpt:{p1}")) && nat.contains("DNAT"),
        "{nat}"
    );
    d.cli(&["rm", "-f", "echo-server"]).ok();
    let nat = std::process::Command::new("iptables-save")
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&nat.stdout).contains(&format!("--dport {p1}")),
        "rules removed with the container"
    );
}

#[test]
fn dynamic_and_udp_ports() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&[
        "run",
        "-d",
        "--name",
        "dyn",
        "-p",
        "45678",
        "busybox",
        "sh",
        "-c",
        "echo served | nc -lp 45678",
    ])
    .ok();
    let addr = d.cli(&["port", "dyn", "45678"]).ok();
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let bounds: Vec<u16> = range
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(
        port >= bounds[0] && port <= bounds[1],
        "{port} in the ephemeral range"
    );
    let mut s = connect(port);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    assert_eq!(got, "served\n");
    // UDP: Debian's static busybox has no UDP netcat, so the receiver is a test
    // thread that joins the container's network namespace (only that thread).
    let up = free_port();
    let spec = format!("{up}:1234/udp");
    d.cli(&[
        "run", "-d", "--name", "udp", "-p", &spec, "busybox", "sleep", "100",
    ])
    .ok();
    let pid: i32 = d
        .cli(&["inspect", "-f", "{{.State.Pid}}", "udp"])
        .ok()
        .parse()
        .unwrap();
    let receiver = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| e.to_string())?;
        use std::os::fd::AsRawFd;
        // SAFETY: setns on this thread only, with a namespace fd we opened.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let sock = UdpSocket::bind("0.0.0.0:1234").map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let (n, _) = sock.recv_from(&mut buf).map_err(|e| e.to_string())?;
        Ok(buf[..n].to_vec())
    });
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    while !receiver.is_finished() && Instant::now() < deadline {
        sock.send_to(b"ping-udp", ("127.0.0.1", up)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(receiver.join().unwrap().unwrap(), b"ping-udp");
}

#[test]
fn a_taken_port_is_refused_and_nothing_remains() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let held = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let spec = format!("{port}:80");
    let r = d.cli(&[
        "run", "-d", "--name", "clash", "-p", &spec, "busybox", "sleep", "100",
    ]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr().contains("address already in use")
            || r.stderr().contains("port is already allocated"),
        "{}",
        r.stderr()
    );
    assert_eq!(
        d.cli(&["inspect", "-f", "{{.State.Running}}", "clash"])
            .ok(),
        "false"
    );
    let save = String::from_utf8_lossy(
        &std::process::Command::new("iptables-save")
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        !save.contains(&format!("--dport {port}")),
        "no rule of the failed start"
    );
    assert!(d.leftover_processes().is_empty());
}

#[test]
fn user_networks_resolve_names_and_are_isolated() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let id = d.cli(&["network", "create", "learning"]).ok();
    assert_eq!(id.len(), 64);
    assert!(d.cli(&["network", "ls"]).ok().contains("learning"));
    d.cli(&["network", "create", "other"]).ok();
    d.cli(&[
        "run",
        "-d",
        "--net",
        "learning",
        "--name",
        "server",
        "--network-alias",
        "srv",
        "busybox",
        "sh",
        "-c",
        "while true; do echo pong | nc -lp 7000; done",
    ])
    .ok();
    // By name and by alias, through the embedded DNS.
    let out = d
        .cli(&[
            "run",
            "--rm",
            "--net",
            "learning",
            "busybox",
            "sh",
            "-c",
            &format!("{TRY} cat /etc/resolv.conf; nslookup server; try server 7000; try srv 7000"),
        ])
        .ok();
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert_eq!(out.matches("pong").count(), 2, "{out}");
    // Another network cannot reach it, not even by address.
    let ip = d
        .cli(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.learning.IPAddress}}",
            "server",
        ])
        .ok();
    assert!(ip.contains('.'), "{ip}");
    let r = d
        .cli(&[
            "run",
            "--rm",
            "--net",
            "other",
            "busybox",
            "sh",
            "-c",
            &format!("nc -w 2 {ip} 7000 || echo unreachable"),
        ])
        .ok();
    assert!(r.contains("unreachable"), "{r}");
    let r = d
        .cli(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "nslookup server >/dev/null 2>&1 && echo found || echo unknown",
        ])
        .ok();
    assert_eq!(r, "unknown", "the default bridge has no name resolution");
    // connect puts a container on a second network.
    d.cli(&["run", "-d", "--name", "roamer", "busybox", "sleep", "100"])
        .ok();
    d.cli(&["network", "connect", "learning", "roamer"]).ok();
    assert!(d
        .cli(&[
            "exec",
            "roamer",
            "sh",
            "-c",
            &format!("{TRY} try server 7000")
        ])
        .ok()
        .contains("pong"));
    d.cli(&["network", "disconnect", "learning", "roamer"]).ok();
    let r = d.cli(&["network", "rm", "learning"]);
    assert!(
        r.stderr().contains("has active endpoints"),
        "{}",
        r.stderr()
    );
    d.cli(&["rm", "-f", "server", "roamer"]).ok();
    assert_eq!(
        d.cli(&["network", "rm", "learning", "other"]).ok(),
        "learning\nother"
    );
}

#[test]
fn internal_networks_have_no_way_out_and_links_go_one_way() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["network", "create", "--internal", "closed"]).ok();
    let r = d
        .cli(&[
            "run",
            "--rm",
            "--net",
            "closed",
            "busybox",
            "sh",
            "-c",
            "ip route | grep -c default || true",
        ])
        .ok();
    assert_eq!(r, "0", "no default route on an internal network");
    // Legacy links on the default bridge.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "db",
        "-e",
        "SECRET=42",
        "--expose",
        "5432",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    let out = d
        .cli(&[
            "run",
            "--rm",
            "--link",
            "db:database",
            "busybox",
            "sh",
            "-c",
            "env | sort; cat /etc/hosts",
        ])
        .ok();
    assert!(out.contains("DATABASE_ENV_SECRET=42"), "{out}");
    assert!(out.contains("DATABASE_PORT_5432_TCP_PORT=5432"), "{out}");
    assert!(out.contains("DATABASE_NAME=/"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("database") && l.contains("db")),
        "{out}"
    );
    // One way only: db knows nothing of its linker.
    let env = d.cli(&["exec", "db", "env"]).ok();
    assert!(!env.contains("_PORT_"), "{env}");
    // The default bridge reaches its gateway and has its own IP in /etc/hosts.
    let ip = d
        .cli(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"])
        .ok();
    assert!(d
        .cli(&["exec", "db", "cat", "/etc/hosts"])
        .ok()
        .contains(&ip));
    d.cli(&["rm", "-f", "db"]).ok();
    d.cli(&["network", "rm", "closed"]).ok();
}

#[test]
fn the_real_docker_cli_drives_networks_and_ports() {
    dockhand_tests::require_root!();
    dockhand_tests::require_docker_cli!();
    let d = Daemon::start();
    d.docker(&["network", "create", "learning"]).ok();
    assert!(d
        .docker(&["network", "ls", "--format", "{{.Name}}"])
        .ok()
        .lines()
        .any(|l| l == "learning"));
    d.docker(&[
        "run",
        "-d",
        "--net",
        "learning",
        "--name",
        "server",
        "busybox",
        "sh",
        "-c",
        "while true; do echo hi | nc -lp 8080; done",
    ])
    .ok();
    let out = d
        .docker(&[
            "run",
            "--rm",
            "--net",
            "learning",
            "busybox",
            "sh",
            "-c",
            &format!("{TRY} try server 8080"),
        ])
        .ok();
    assert_eq!(out, "hi");
    let p = free_port();
    let spec = format!("{p}:8080");
    d.docker(&[
        "run",
        "-d",
        "--name",
        "pub",
        "-p",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo published | nc -lp 8080",
    ])
    .ok();
    assert_eq!(
        d.docker(&["port", "pub"]).ok(),
        format!("8080/tcp -> 0.0.0.0:{p}")
    );
    let mut s = connect(p);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    assert_eq!(got, "published\n");
    d.docker(&["run", "-d", "--name", "late", "busybox", "sleep", "100"])
        .ok();
    d.docker(&["network", "connect", "learning", "late"]).ok();
    assert_eq!(
        d.docker(&[
            "exec",
            "late",
            "sh",
            "-c",
            &format!("{TRY} try server 8080")
        ])
        .ok(),
        "hi"
    );
    let v: serde_json::Value =
        serde_json::from_str(&d.docker(&["network", "inspect", "learning"]).ok()).unwrap();
    assert_eq!(v[0]["Containers"].as_object().map(|m| m.len()), Some(2));
    d.docker(&["rm", "-f", "server", "pub", "late"]).ok();
    d.docker(&["network", "rm", "learning"]).ok();
    assert!(d.leftover_processes().is_empty());
}

#[test]
fn add_host_publish_all_bound_ip_and_networks_survive_a_restart() {
    dockhand_tests::require_root!();
    let mut d = Daemon::start();
    // --add-host, with host-gateway meaning the default bridge's gateway.
    let hosts = d
        .cli(&[
            "run",
            "--rm",
            "--add-host",
            "db.local:10.9.9.9",
            "--add-host",
            "host.docker.internal:host-gateway",
            "busybox",
            "cat",
            "/etc/hosts",
        ])
        .ok();
    assert!(hosts.contains("10.9.9.9\tdb.local"), "{hosts}");
    let gw = d
        .cli(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ip route | awk '/default/ {print $3}'",
        ])
        .ok();
    assert!(
        hosts.contains(&format!("{gw}\thost.docker.internal")),
        "gateway {gw} in {hosts}"
    );
    // -P publishes every exposed port on a free host port.
    d.cli(&[
        "run", "-d", "--name", "all", "--expose", "7001", "--expose", "7002", "-P", "busybox",
        "sleep", "100",
    ])
    .ok();
    let ports = d.cli(&["port", "all"]).ok();
    assert!(
        ports.contains("7001/tcp -> 0.0.0.0:") && ports.contains("7002/tcp -> 0.0.0.0:"),
        "{ports}"
    );
    // -p IP:HOST:CONTAINER binds that address only.
    let p = free_port();
    let spec = format!("127.0.0.1:{p}:80");
    d.cli(&[
        "run",
        "-d",
        "--name",
        "local",
        "-p",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo local-only | nc -lp 80",
    ])
    .ok();
    assert_eq!(
        d.cli(&["port", "local", "80"]).ok(),
        format!("127.0.0.1:{p}")
    );
    let mut s = connect(p);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    assert_eq!(got, "local-only\n");
    // User networks and running containers' endpoints persist across a daemon
    // killed with SIGKILL.
    d.cli(&[
        "network",
        "create",
        "--subnet",
        &format!("10.{}.77.0/24", 180 + (std::process::id() % 60)),
        "keep",
    ])
    .ok();
    d.cli(&[
        "run",
        "-d",
        "--net",
        "keep",
        "--name",
        "stay",
        "busybox",
        "sh",
        "-c",
        "while true; do echo alive | nc -lp 9000; done",
    ])
    .ok();
    d.restart();
    assert!(d
        .cli(&["network", "ls", "--format", "{{.Name}}"])
        .ok()
        .lines()
        .any(|l| l == "keep"));
    let out = d
        .cli(&[
            "run",
            "--rm",
            "--net",
            "keep",
            "busybox",
            "sh",
            "-c",
            &format!("{TRY} try stay 9000"),
        ])
        .ok();
    assert_eq!(out, "alive");
    d.cli(&["rm", "-f", "all", "local", "stay"]).ok();
    d.cli(&["network", "rm", "keep"]).ok();
}
