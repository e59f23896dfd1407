//! What a container asks of the networks it joins, end to end: IPv6 networks,
//! IP ranges and auxiliary addresses, endpoint settings (aliases, links,
//! driver options, link-local addresses, MAC) as moby 1.45+ shows them, and the
//! refusals moby gives (a second connect, a disconnect of a stranger, an
//! undeclared network). docker-py's network tests found these; each is checked
//! here through our CLI, raw HTTP, and the real docker CLI where present.

use dockhand_tests::{Daemon, Run};
use serde_json::{json, Value};

/// The API with a JSON body: (status, body).
fn http(d: &Daemon, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    d.api(method, path, body.map(|b| b.to_string()).as_deref())
}

fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| body.to_string())
}

fn inspect(d: &Daemon, name: &str) -> Value {
    let out = d.cli(&["inspect", name]).ok();
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

/// The bridges of user networks and the rules that name them are gone (the
/// daemon's own default bridge stays while it runs).
fn assert_no_user_network_left(d: &Daemon) {
    let prefix = format!("dhu{}", d.net_tag());
    let left: Vec<String> = d
        .leftover_network()
        .into_iter()
        .filter(|l| l.contains(&prefix))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn fails_with(r: &Run, text: &str) {
    assert_eq!(
        r.code(),
        1,
        "stdout: {}\nstderr: {}",
        r.stdout(),
        r.stderr()
    );
    assert!(r.stderr().contains(text), "{:?} lacks {text:?}", r.stderr());
}

#[test]
fn ipv6_networks_address_and_route_containers() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let n = d.net_index();
    let subnet = format!("2001:db8:{n:x}::/64");
    // Without --ipv6 the pool is kept (as moby up to 28 keeps it) but no
    // address of it is handed out, nor may one be asked for.
    let unused = format!("2001:db8:{n:x}:1::/64");
    d.cli(&["network", "create", "--subnet", &unused, "no6"])
        .ok();
    let asked = d.cli(&[
        "run",
        "--rm",
        "--network",
        "no6",
        "--ip6",
        &format!("2001:db8:{n:x}:1::5"),
        "busybox",
        "true",
    ]);
    assert_ne!(asked.code(), 0);
    assert!(
        asked
            .stderr()
            .contains("requires a network with IPv6 enabled"),
        "{}",
        asked.stderr()
    );
    d.cli(&["network", "rm", "no6"]).ok();
    d.cli(&["network", "create", "--ipv6", "--subnet", &subnet, "six"])
        .ok();
    let net: Value = serde_json::from_str(&d.cli(&["network", "inspect", "six"]).ok()).unwrap();
    assert_eq!(net[0]["EnableIPv6"], true);
    let fixed = format!("2001:db8:{n:x}::f00d");
    d.cli(&[
        "run",
        "-d",
        "--name",
        "alpha",
        "--network",
        "six",
        "--ip6",
        &fixed,
        "busybox",
        "top",
    ])
    .ok();
    let a = inspect(&d, "alpha");
    let ep = &a["NetworkSettings"]["Networks"]["six"];
    assert_eq!(ep["IPAMConfig"]["IPv6Address"], fixed.as_str());
    assert_eq!(ep["GlobalIPv6Address"], fixed.as_str());
    assert_eq!(ep["GlobalIPv6PrefixLen"], 64);
    assert_eq!(ep["IPv6Gateway"], format!("2001:db8:{n:x}::1"));
    let addrs = d
        .cli(&["exec", "alpha", "ip", "-6", "addr", "show", "eth0"])
        .ok();
    assert!(addrs.contains(&format!("{fixed}/64")), "{addrs}");
    // `ping -6` of `target` from a second container on the network.
    let ping6 = |target: &str| {
        d.cli(&[
            "run",
            "--rm",
            "--network",
            "six",
            "busybox",
            "ping",
            "-6",
            "-c",
            "1",
            "-W",
            "3",
            target,
        ])
    };
    // A second container reaches the first over IPv6, through the bridge.
    let ping = ping6(&fixed);
    assert_eq!(ping.code(), 0, "{} {}", ping.stdout(), ping.stderr());
    assert!(
        ping.stdout().contains("1 packets received"),
        "{}",
        ping.stdout()
    );
    // By name too: the embedded DNS answers AAAA with the IPv6 address.
    let by_name = ping6("alpha");
    assert_eq!(
        by_name.code(),
        0,
        "{} {}",
        by_name.stdout(),
        by_name.stderr()
    );
    assert!(by_name.stdout().contains(&fixed), "{}", by_name.stdout());
    // An address outside the subnet is refused and leaves no container running.
    let bad = d.cli(&[
        "run",
        "-d",
        "--name",
        "beta",
        "--network",
        "six",
        "--ip6",
        "2001:db9::5",
        "busybox",
        "top",
    ]);
    assert_ne!(bad.code(), 0);
    assert!(
        bad.stderr()
            .contains("does not belong to any of this network's subnets"),
        "{}",
        bad.stderr()
    );
    d.cli(&["rm", "-f", "alpha", "beta"]);
    d.cli(&["network", "rm", "six"]).ok();
    assert_no_user_network_left(&d);
}

/// `-p [::1]:P:80` (and `[::]`): an IPv6-only listener of the userland proxy,
/// beside an IPv4 binding of the same port, as Docker binds them.
#[test]
fn ports_publish_on_ipv6_addresses() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let port = {
        let l = std::net::TcpListener::bind("[::1]:0").unwrap();
        l.local_addr().unwrap().port()
    };
    d.cli(&[
        "run",
        "-d",
        "--name",
        "six-web",
        "-p",
        &format!("[::1]:{port}:80"),
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo hi-v6 > /www/index.html && httpd -f -p 80 -h /www",
    ])
    .ok();
    let ports = d.cli(&["ps", "--format", "{{.Ports}}"]).ok();
    assert!(ports.contains(&format!("[::1]:{port}->80/tcp")), "{ports}");
    assert!(
        ports.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{ports}"
    );
    let v = inspect(&d, "six-web");
    let hosts: Vec<&str> = v["NetworkSettings"]["Ports"]["80/tcp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["HostIp"].as_str().unwrap())
        .collect();
    assert!(
        hosts.contains(&"::1") && hosts.contains(&"127.0.0.1"),
        "{hosts:?}"
    );
    for url in [
        format!("http://[::1]:{port}/"),
        format!("http://127.0.0.1:{port}/"),
    ] {
        let mut body = String::new();
        for _ in 0..50 {
            let mut c = std::process::Command::new("curl");
            c.args(["-s", "-g", "--max-time", "3", &url]);
            body =
                dockhand_tests::run_command(c, None, std::time::Duration::from_secs(10)).stdout();
            if body.contains("hi-v6") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(body.contains("hi-v6"), "{url}: {body}");
    }
    // The same IPv6 binding twice is refused, and nothing of the second stays.
    let again = d.cli(&[
        "run",
        "-d",
        "--name",
        "six-again",
        "-p",
        &format!("[::1]:{port}:80"),
        "busybox",
        "sleep",
        "30",
    ]);
    assert_ne!(again.code(), 0);
    assert!(
        again.stderr().contains(&format!(
            "Bind for ::1:{port} failed: port is already allocated"
        )),
        "{}",
        again.stderr()
    );
    d.cli(&["rm", "-f", "six-web", "six-again"]);
    let gone = std::net::TcpListener::bind(("::1", port));
    assert!(gone.is_ok(), "the IPv6 listener stays after rm");
}

#[test]
fn ipam_ranges_aux_addresses_and_endpoint_settings() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let n = d.net_index();
    // docker-py's test_create_network_with_ipam_config, with this daemon's subnet.
    let body = json!({
        "Name": "pool", "CheckDuplicate": true,
        "IPAM": {"Driver": "default", "Config": [{
            "Subnet": format!("10.249.{n}.0/24"), "IPRange": format!("10.249.{n}.128/25"),
            "Gateway": format!("10.249.{n}.254"),
            "AuxiliaryAddresses": {"a": format!("10.249.{n}.128"), "b": format!("10.249.{n}.129")},
        }]},
    });
    let (code, out) = http(&d, "POST", "/networks/create", Some(&body));
    assert_eq!(code, 201, "{out}");
    let (_, out) = http(&d, "GET", "/networks/pool", None);
    let net: Value = serde_json::from_str(&out).unwrap();
    assert!(net["IPAM"]["Options"].is_null(), "{}", net["IPAM"]);
    assert_eq!(net["IPAM"]["Config"], body["IPAM"]["Config"]);

    // Endpoint settings of a create: aliases, driver options, link-local
    // address, a link to a container that comes later.
    let create = json!({
        "Image": "busybox", "Cmd": ["top"],
        "HostConfig": {"NetworkMode": "pool"},
        "NetworkingConfig": {"EndpointsConfig": {"pool": {
            "Aliases": ["hello"], "DriverOpts": {"key1": "a"},
            "Links": ["upstream:bar"],
            "IPAMConfig": {"LinkLocalIPs": ["169.254.8.8"]},
        }}},
    });
    let (code, out) = http(&d, "POST", "/containers/create?name=first", Some(&create));
    assert_eq!(code, 201, "{out}");
    // Not running: inspect shows what was asked, with empty addresses.
    let ep = inspect(&d, "first")["NetworkSettings"]["Networks"]["pool"].clone();
    assert_eq!(ep["Aliases"], json!(["hello"]));
    assert_eq!(ep["DriverOpts"], json!({"key1": "a"}));
    assert_eq!(ep["Links"], json!(["upstream:bar"]));
    assert_eq!(ep["IPAddress"], "");
    assert_eq!(ep["NetworkID"], net["Id"]);
    d.cli(&["start", "first"]).ok();
    let ep = inspect(&d, "first")["NetworkSettings"]["Networks"]["pool"].clone();
    assert_eq!(
        ep["Aliases"],
        json!(["hello"]),
        "no short ID among the aliases (API 1.45)"
    );
    assert_eq!(ep["DriverOpts"], json!({"key1": "a"}));
    assert_eq!(ep["IPAMConfig"]["LinkLocalIPs"], json!(["169.254.8.8"]));
    assert_eq!(
        ep["IPAddress"],
        format!("10.249.{n}.130"),
        "range start, less the aux addresses"
    );
    let dns_names = ep["DNSNames"].as_array().unwrap();
    assert!(
        dns_names.contains(&json!("hello")) && dns_names.len() == 3,
        "{dns_names:?}"
    );
    let addrs = d.cli(&["exec", "first", "ip", "addr", "show", "eth0"]).ok();
    assert!(addrs.contains("169.254.8.8/16"), "{addrs}");
    // The link resolves once its target runs, for the linking container only.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "upstream",
        "--network",
        "pool",
        "busybox",
        "top",
    ])
    .ok();
    let up = inspect(&d, "upstream")["NetworkSettings"]["Networks"]["pool"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let look = d.cli(&["exec", "first", "nslookup", "bar"]);
    assert_eq!(look.code(), 0, "{} {}", look.stdout(), look.stderr());
    assert!(look.stdout().contains(&up), "{}", look.stdout());

    // A second connect and a disconnect of a stranger are refused.
    fails_with(
        &d.cli(&["network", "connect", "pool", "first"]),
        "endpoint with name first already exists in network pool",
    );
    d.cli(&["network", "disconnect", "pool", "upstream"]).ok();
    fails_with(
        &d.cli(&["network", "disconnect", "pool", "upstream"]),
        "is not connected to network pool",
    );
    // Connecting with settings, then inspect shows them.
    d.cli(&[
        "network",
        "connect",
        "--alias",
        "again",
        "--driver-opt",
        "k=v",
        "pool",
        "upstream",
    ])
    .ok();
    let ep = inspect(&d, "upstream")["NetworkSettings"]["Networks"]["pool"].clone();
    assert_eq!(ep["Aliases"], json!(["again"]));
    assert_eq!(ep["DriverOpts"], json!({"k": "v"}));

    // An undeclared network anywhere in EndpointsConfig fails the create and
    // leaves no container; one not named as the mode is joined too.
    let undeclared = json!({
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "pool"},
        "NetworkingConfig": {"EndpointsConfig": {"pool": {}, "nonesuch": {"Aliases": ["x"]}}},
    });
    let (code, out) = http(
        &d,
        "POST",
        "/containers/create?name=stray",
        Some(&undeclared),
    );
    assert_eq!(
        (code, message(&out)),
        (404, "network nonesuch not found".to_string())
    );
    assert_ne!(d.cli(&["inspect", "stray"]).code(), 0);
    let two = json!({
        "Image": "busybox", "Cmd": ["top"], "HostConfig": {"NetworkMode": "pool"},
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {}}},
    });
    let (code, out) = http(&d, "POST", "/containers/create?name=two", Some(&two));
    assert_eq!(code, 201, "{out}");
    d.cli(&["start", "two"]).ok();
    let nets = inspect(&d, "two")["NetworkSettings"]["Networks"].clone();
    assert!(
        nets["pool"]["IPAddress"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{nets}"
    );
    assert!(
        nets["bridge"]["IPAddress"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{nets}"
    );

    d.cli(&["rm", "-f", "first", "upstream", "two"]).ok();
    d.cli(&["network", "rm", "pool"]).ok();
    assert_no_user_network_left(&d);
}

#[test]
fn a_mac_address_asked_at_create_is_the_containers() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // API < 1.44 clients (docker-py's create_container) send Config.MacAddress.
    let create = json!({"Image": "busybox", "Cmd": ["top"], "MacAddress": "02:42:ac:11:00:0a"});
    let (code, out) = http(&d, "POST", "/containers/create?name=mac1", Some(&create));
    assert_eq!(code, 201, "{out}");
    d.cli(&["start", "mac1"]).ok();
    let v = inspect(&d, "mac1");
    assert_eq!(v["NetworkSettings"]["MacAddress"], "02:42:ac:11:00:0a");
    let link = d
        .cli(&["exec", "mac1", "cat", "/sys/class/net/eth0/address"])
        .ok();
    assert_eq!(link.trim(), "02:42:ac:11:00:0a");
    // Our CLI (and docker's) put it in the endpoint, on the default bridge too.
    d.cli(&[
        "run",
        "-d",
        "--name",
        "gamma",
        "--mac-address",
        "02:42:ac:11:00:0b",
        "busybox",
        "top",
    ])
    .ok();
    assert_eq!(
        inspect(&d, "gamma")["NetworkSettings"]["MacAddress"],
        "02:42:ac:11:00:0b"
    );
    let (code, out) = http(
        &d,
        "POST",
        "/containers/create?name=badmac",
        Some(&json!({"Image": "busybox", "MacAddress": "02:42:zz"})),
    );
    assert_eq!(
        (code, message(&out)),
        (400, "invalid MAC address: 02:42:zz".to_string())
    );
    if dockhand_tests::docker_cli().is_some() {
        d.docker(&[
            "run",
            "-d",
            "--name",
            "dm",
            "--mac-address",
            "02:42:ac:11:00:0c",
            "busybox",
            "top",
        ])
        .ok();
        assert_eq!(
            inspect(&d, "dm")["NetworkSettings"]["MacAddress"],
            "02:42:ac:11:00:0c"
        );
        d.cli(&["rm", "-f", "dm"]).ok();
    } else {
        dockhand_tests::say_skipped("the real docker CLI is absent: its --mac-address not run");
    }
    d.cli(&["rm", "-f", "mac1", "gamma"]).ok();
    assert_no_user_network_left(&d);
}
