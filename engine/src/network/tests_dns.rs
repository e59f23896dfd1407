//! Real-kernel tests (root) of the embedded DNS server, and the DNS clients
//! the other network tests ask it with.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use super::tests::{links_in, req, Env};
use super::*;

/// A fake upstream resolver on `sock` that answers every A query with
/// `answer`, on a thread of its own; its address.
pub(super) fn fake_upstream_on(sock: UdpSocket, answer: Ipv4Addr) -> SocketAddr {
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Some(r) = dns::build_reply(&buf[..n], &[answer], 0) {
                let _ = sock.send_to(&r, from);
            }
        }
    });
    addr
}

/// A fake upstream resolver on the machine's loopback: every A query is
/// 192.0.2.99.
fn fake_upstream() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    fake_upstream_on(sock, Ipv4Addr::new(192, 0, 2, 99))
}

pub(super) fn dns_udp(pid: u32, name: &str) -> std::io::Result<(u16, Vec<Ipv4Addr>)> {
    let q = dns::tests::query(name, 1);
    netns::run(pid, move || {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        s.set_read_timeout(Some(Duration::from_millis(1500)))?;
        s.send_to(&q, "127.0.0.11:53")?;
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf)?;
        Ok(dns::tests::parse_a(&buf[..n]))
    })
}

pub(super) fn dns_tcp(pid: u32, name: &str) -> std::io::Result<(u16, Vec<Ipv4Addr>)> {
    let mut s = dns_tcp_connect(pid)?;
    dns_tcp_ask(&mut s, name)
}

/// A TCP connection to the embedded DNS server of the namespace of `pid`.
fn dns_tcp_connect(pid: u32) -> std::io::Result<TcpStream> {
    netns::run(pid, move || {
        let s =
            TcpStream::connect_timeout(&"127.0.0.11:53".parse().unwrap(), Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        Ok(s)
    })
}

/// One query on an open DNS-over-TCP connection.
fn dns_tcp_ask(s: &mut TcpStream, name: &str) -> std::io::Result<(u16, Vec<Ipv4Addr>)> {
    let q = dns::tests::query(name, 1);
    s.write_all(&(q.len() as u16).to_be_bytes())?;
    s.write_all(&q)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf)?;
    Ok(dns::tests::parse_a(&buf))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_dns_resolves_names_on_shared_networks_only() {
    crate::testing::require_root!();
    let mut env = Env::new();
    env.cfg.dns_upstreams = Some(vec![fake_upstream()]);
    let nets = env.open();
    nets.create("front", CreateOptions::default())
        .await
        .unwrap();
    nets.create("back", CreateOptions::default()).await.unwrap();
    assert!(nets.uses_embedded_dns("front") && !nets.uses_embedded_dns(BRIDGE));
    let (pa, pb, pc) = (env.container(), env.container(), env.container());
    nets.connect(req("front", "dns-a", "alpha", pa))
        .await
        .unwrap();
    let b = nets
        .connect(ConnectRequest {
            aliases: vec!["db".into()],
            ..req("front", "dns-b", "beta", pb)
        })
        .await
        .unwrap();
    let c = nets
        .connect(req("back", "dns-c", "gamma", pc))
        .await
        .unwrap();
    nets.dns_start("dns-a", pa).await.unwrap();

    assert_eq!(dns_udp(pa, "beta").unwrap(), (0, vec![b.ip]));
    assert_eq!(dns_udp(pa, "DB").unwrap(), (0, vec![b.ip]));
    assert_eq!(dns_tcp(pa, "beta.front").unwrap(), (0, vec![b.ip]));
    // Not on a shared network: not ours, so it goes upstream.
    let (rcode, ips) = dns_udp(pa, "gamma").unwrap();
    assert_eq!(rcode, 0);
    assert!(!ips.contains(&c.ip));
    assert_eq!(
        ips,
        vec![Ipv4Addr::new(192, 0, 2, 99)],
        "forwarded to the upstream"
    );

    // Connected to back too: now gamma resolves. The daemon starts DNS after
    // each connect; the running server stays (stopping it and binding again
    // raced its sockets' closing: "address in use").
    let mut open = dns_tcp_connect(pa).unwrap();
    assert_eq!(dns_tcp_ask(&mut open, "beta").unwrap(), (0, vec![b.ip]));
    nets.connect(req("back", "dns-a", "alpha", pa))
        .await
        .unwrap();
    nets.dns_start("dns-a", pa).await.unwrap();
    assert_eq!(dns_udp(pa, "gamma").unwrap(), (0, vec![c.ip]));
    assert_eq!(
        dns_tcp_ask(&mut open, "gamma").unwrap(),
        (0, vec![c.ip]),
        "the same server answers on its open connection"
    );
    assert!(links_in(pa).contains("eth1"));

    // Disconnect removes the name.
    nets.disconnect("front", "dns-b").await.unwrap();
    assert_eq!(
        dns_udp(pa, "beta").unwrap().1,
        vec![Ipv4Addr::new(192, 0, 2, 99)]
    );

    nets.dns_stop("dns-a");
    assert!(dns_udp(pa, "gamma").is_err(), "server stopped");
    nets.shutdown_cleanup().await.unwrap();
    env.assert_clean();
}
