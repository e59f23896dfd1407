//! The userland proxy: one listener per published port, in the daemon, that
//! forwards to `container_ip:port` (what docker-proxy does).
//!
//! Why a proxy and not hairpin NAT: traffic from the host to `127.0.0.1:PORT` never
//! traverses PREROUTING, and DNAT-ing loopback to a bridge needs `route_localnet=1`,
//! which makes 127/8 routable and lets containers reach services bound to the
//! host's loopback. The listener also *holds* the port in the host's socket table,
//! so another process cannot take it, binding it is the real conflict check (with
//! the error docker prints), and port 0 asks the kernel for a free port from
//! `ip_local_port_range`. Traffic from other machines (and to the host's own
//! non-loopback addresses) is DNAT-ed by the kernel and never reaches the proxy.
//!
//! For a virtual host every socket of the proxy (the listener, each outgoing
//! connection, each UDP flow) is made inside the virtual host's namespace by its
//! [`NsHandle`] worker, then served by the daemon's runtime.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use super::netns::NsHandle;

/// How long a UDP flow without replies is kept.
const UDP_IDLE: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A running proxy; dropping it stops the listener and every connection it forwards.
#[derive(Debug)]
pub struct Proxy {
    task: JoinHandle<()>,
    pub port: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Docker's text for a listen failure: `listen tcp4 0.0.0.0:8080: bind: address
/// already in use` (`tcp6 [::]:8080` for IPv6).
pub fn listen_error(proto: &str, ip: IpAddr, port: u16, e: &io::Error) -> String {
    let reason = match e.raw_os_error() {
        Some(code) => {
            let d = nix::errno::Errno::from_raw(code).desc();
            let mut c = d.chars();
            match c.next() {
                Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        }
        None => e.to_string(),
    };
    match ip {
        IpAddr::V4(ip) => format!("listen {proto}4 {ip}:{port}: bind: {reason}"),
        IpAddr::V6(ip) => format!("listen {proto}6 [{ip}]:{port}: bind: {reason}"),
    }
}

/// Bind `ip:port` (port 0: a free ephemeral port) in `ns` and forward to `target`.
pub async fn start(
    ns: &NsHandle,
    proto: &str,
    ip: IpAddr,
    port: u16,
    target: SocketAddrV4,
) -> io::Result<Proxy> {
    match proto {
        "udp" => {
            let sock = ns.udp_bind(SocketAddr::new(ip, port)).await?;
            let port = sock.local_addr()?.port();
            let task = tokio::spawn(udp_proxy(ns.clone(), Arc::new(sock), target));
            Ok(Proxy { task, port })
        }
        _ => {
            let listener = ns.tcp_listen(SocketAddr::new(ip, port)).await?;
            let port = listener.local_addr()?.port();
            let task = tokio::spawn(tcp_proxy(ns.clone(), listener, target));
            Ok(Proxy { task, port })
        }
    }
}

async fn tcp_proxy(ns: NsHandle, listener: TcpListener, target: SocketAddrV4) {
    // Connection tasks live in the set, so aborting the listener ends them too.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut inbound, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let ns = ns.clone();
                conns.spawn(async move {
                    let Ok(Ok(mut outbound)) =
                        tokio::time::timeout(CONNECT_TIMEOUT, ns.tcp_connect(target.into())).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn udp_proxy(ns: NsHandle, sock: Arc<UdpSocket>, target: SocketAddrV4) {
    let mut flows: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut tasks: JoinSet<SocketAddr> = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, client)) = r else { continue };
                let up = match flows.get(&client) {
                    Some(up) => up.clone(),
                    None => {
                        let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
                        let Ok(up) = ns.udp_bind(any).await else { continue };
                        if up.connect(target).await.is_err() {
                            continue;
                        }
                        let up = Arc::new(up);
                        flows.insert(client, up.clone());
                        let (up2, back) = (up.clone(), sock.clone());
                        tasks.spawn(async move {
                            let mut b = vec![0u8; 65535];
                            while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, up2.recv(&mut b)).await {
                                let _ = back.send_to(&b[..n], client).await;
                            }
                            client
                        });
                        up
                    }
                };
                let _ = up.send(&buf[..n]).await;
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(client) = done {
                    flows.remove(&client);
                }
            }
        }
    }
}
