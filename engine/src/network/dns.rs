//! The embedded DNS server of user-defined networks.
//!
//! Every container on a user network has `nameserver 127.0.0.11` in resolv.conf.
//! For each such container a fresh thread enters its network namespace, brings `lo`
//! up, binds UDP and TCP sockets on 127.0.0.11:53 and exits; the sockets stay in the
//! container's namespace and are served by tokio tasks of the daemon. A query for
//! an A record of a container name or alias on a network the asking container is
//! on is answered from our records; anything else is forwarded, as is, to the
//! host's resolvers from the host's namespace (the daemon's, or the virtual
//! host's, see [`Upstreams`]), with a bounded timeout.
//!
//! DNS messages are parsed by hand: we only need the header and the first question,
//! and we only build answers with A records (RFC 1035 section 4).

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

use super::hosts::EMBEDDED_DNS;
use super::netns::{self, NsHandle};

/// Where unknown names are forwarded: the host's resolvers, asked from the host's
/// network namespace (so a virtual host's egress policy applies to them too).
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    pub servers: Vec<SocketAddr>,
    pub ns: NsHandle,
}

/// Per upstream server.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const TCP_IDLE: Duration = Duration::from_secs(10);
const TTL: u32 = 600;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const RCODE_SERVFAIL: u16 = 2;

/// Answers a name (lower case, no trailing dot) with the addresses it has for the
/// asking container (IPv4, and IPv6 on networks with IPv6), or None when the
/// name is not one of ours.
pub type Lookup = Arc<dyn Fn(&str) -> Option<Vec<IpAddr>> + Send + Sync>;

/// A running server; dropping it closes its sockets.
#[derive(Debug)]
pub struct DnsServer {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Bind 127.0.0.11:53 (UDP and TCP) inside the network namespace of `pid`.
pub async fn bind_in(pid: u32) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    netns::run_async(pid, || {
        netns::loopback_up()?;
        let addr = SocketAddr::from((EMBEDDED_DNS, 53));
        let udp = std::net::UdpSocket::bind(addr)?;
        let tcp = std::net::TcpListener::bind(addr)?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        Ok((udp, tcp))
    })
    .await
}

/// Serve the sockets from [`bind_in`]; must be called inside a tokio runtime.
pub fn serve(
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
    lookup: Lookup,
    upstreams: Arc<Upstreams>,
) -> io::Result<DnsServer> {
    let udp = Arc::new(UdpSocket::from_std(udp)?);
    let tcp = TcpListener::from_std(tcp)?;
    let (l1, u1) = (lookup.clone(), upstreams.clone());
    let udp_task = tokio::spawn(async move {
        let mut inflight = JoinSet::new();
        let mut buf = vec![0u8; 4096];
        loop {
            tokio::select! {
                r = udp.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { continue };
                    let query = buf[..n].to_vec();
                    let (sock, l, u) = (udp.clone(), l1.clone(), u1.clone());
                    inflight.spawn(async move {
                        if let Some(reply) = respond(&query, &l, &u).await {
                            let _ = sock.send_to(&reply, from).await;
                        }
                    });
                }
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            }
        }
    });
    let tcp_task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                r = tcp.accept() => {
                    let Ok((mut s, _)) = r else { continue };
                    let (l, u) = (lookup.clone(), upstreams.clone());
                    conns.spawn(async move {
                        loop {
                            let Ok(Ok(len)) = tokio::time::timeout(TCP_IDLE, s.read_u16()).await else {
                                return;
                            };
                            let mut q = vec![0u8; usize::from(len)];
                            if s.read_exact(&mut q).await.is_err() {
                                return;
                            }
                            let Some(reply) = respond(&q, &l, &u).await else { return };
                            let Ok(rlen) = u16::try_from(reply.len()) else { return };
                            if s.write_u16(rlen).await.is_err() || s.write_all(&reply).await.is_err() {
                                return;
                            }
                        }
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    Ok(DnsServer {
        tasks: vec![udp_task, tcp_task],
    })
}

/// The reply to one query: ours, the upstream's, or SERVFAIL. None drops it.
pub async fn respond(query: &[u8], lookup: &Lookup, upstreams: &Upstreams) -> Option<Vec<u8>> {
    match answer_locally(query, lookup)? {
        Local::Reply(r) => Some(r),
        Local::Forward => match forward(query, upstreams).await {
            Some(r) => Some(r),
            None => Some(build_reply(query, &[], RCODE_SERVFAIL)?),
        },
    }
}

#[derive(Debug, PartialEq)]
pub enum Local {
    Reply(Vec<u8>),
    Forward,
}

/// The first question of a message.
#[derive(Debug, PartialEq)]
pub struct Question {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Offset just after the question.
    pub end: usize,
}

pub fn parse_question(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 || u16::from_be_bytes([msg[4], msg[5]]) != 1 {
        return None;
    }
    let mut labels: Vec<String> = Vec::new();
    let mut i = 12;
    loop {
        let len = usize::from(*msg.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        let label = msg.get(i..i + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(i + 2)?, *msg.get(i + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        qclass,
        end: i + 4,
    })
}

/// Decide from our records alone. None: not a query we can even read.
pub fn answer_locally(query: &[u8], lookup: &Lookup) -> Option<Local> {
    let q = parse_question(query)?;
    let is_response = query[2] & 0x80 != 0;
    let opcode = (query[2] >> 3) & 0x0F;
    if is_response || opcode != 0 {
        return None;
    }
    if q.qclass != CLASS_IN {
        return Some(Local::Forward);
    }
    // A name of ours without an address of the asked family gets an empty
    // NOERROR answer, so the resolver does not go looking for it upstream.
    match (q.qtype, lookup(&q.name)) {
        (TYPE_A, Some(ips)) => {
            let v4: Vec<IpAddr> = ips.into_iter().filter(IpAddr::is_ipv4).collect();
            Some(Local::Reply(build_answer(query, &v4, 0)?))
        }
        (TYPE_AAAA, Some(ips)) => {
            let v6: Vec<IpAddr> = ips.into_iter().filter(IpAddr::is_ipv6).collect();
            Some(Local::Reply(build_answer(query, &v6, 0)?))
        }
        _ => Some(Local::Forward),
    }
}

/// A response echoing the question, with `ips` as A records.
pub fn build_reply(query: &[u8], ips: &[Ipv4Addr], rcode: u16) -> Option<Vec<u8>> {
    let ips: Vec<IpAddr> = ips.iter().copied().map(IpAddr::V4).collect();
    build_answer(query, &ips, rcode)
}

/// A response echoing the question, with `ips` as A (IPv4) and AAAA (IPv6)
/// records.
fn build_answer(query: &[u8], ips: &[IpAddr], rcode: u16) -> Option<Vec<u8>> {
    let q = parse_question(query)?;
    let rd = u16::from(query[2] & 0x01) << 8;
    let flags: u16 = 0x8000 | rd | 0x0080 | rcode;
    let mut out = Vec::with_capacity(q.end + ips.len() * 16);
    out.extend_from_slice(&query[0..2]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&u16::try_from(ips.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..q.end]);
    for ip in ips {
        out.extend_from_slice(&[0xC0, 0x0C]);
        let (kind, data): (u16, Vec<u8>) = match ip {
            IpAddr::V4(v4) => (TYPE_A, v4.octets().to_vec()),
            IpAddr::V6(v6) => (TYPE_AAAA, v6.octets().to_vec()),
        };
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&u16::try_from(data.len()).ok()?.to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}

/// Ask each upstream in turn; the first reply with our id wins.
async fn forward(query: &[u8], upstreams: &Upstreams) -> Option<Vec<u8>> {
    for up in upstreams.servers.iter().take(3) {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(sock) = upstreams.ns.udp_bind(bind).await else {
            continue;
        };
        if sock.connect(up).await.is_err() || sock.send(query).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        let deadline = tokio::time::Instant::now() + UPSTREAM_TIMEOUT;
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            if n >= 2 && buf[..2] == query[..2] {
                buf.truncate(n);
                return Some(buf);
            }
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query for `name` with type `qtype` and id 0x1234, recursion desired.
    pub fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    /// The A records and rcode of a reply.
    pub fn parse_a(reply: &[u8]) -> (u16, Vec<Ipv4Addr>) {
        let rcode = u16::from(reply[3] & 0x0F);
        let an = u16::from_be_bytes([reply[6], reply[7]]);
        let q = parse_question(reply).unwrap();
        let mut i = q.end;
        let mut ips = Vec::new();
        for _ in 0..an {
            // pointer name (2) type (2) class (2) ttl (4) rdlen (2)
            let rdlen = usize::from(u16::from_be_bytes([reply[i + 10], reply[i + 11]]));
            if rdlen == 4 {
                let d = &reply[i + 12..i + 16];
                ips.push(Ipv4Addr::new(d[0], d[1], d[2], d[3]));
            }
            i += 12 + rdlen;
        }
        (rcode, ips)
    }

    fn lookup() -> Lookup {
        Arc::new(|n: &str| match n {
            "web" => Some(vec![IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3))]),
            "six" => Some(vec![
                IpAddr::V4(Ipv4Addr::new(10, 1, 2, 4)),
                IpAddr::V6("2001:db8::4".parse().unwrap()),
            ]),
            _ => None,
        })
    }

    #[test]
    fn an_ipv6_endpoint_gets_an_aaaa_record() {
        let Some(Local::Reply(r)) = answer_locally(&query("six", TYPE_AAAA), &lookup()) else {
            panic!("expected a local answer");
        };
        // One answer, its data the 16 bytes of the address, at the end.
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1);
        let addr: std::net::Ipv6Addr = "2001:db8::4".parse().unwrap();
        assert_eq!(&r[r.len() - 16..], &addr.octets());
        assert_eq!(u16::from_be_bytes([r[r.len() - 18], r[r.len() - 17]]), 16);
        let Some(Local::Reply(r)) = answer_locally(&query("six", TYPE_A), &lookup()) else {
            panic!("expected a local answer");
        };
        assert_eq!(parse_a(&r), (0, vec![Ipv4Addr::new(10, 1, 2, 4)]));
    }

    #[test]
    fn question_parses_case_insensitively() {
        let q = parse_question(&query("Web.Example", TYPE_A)).unwrap();
        assert_eq!(q.name, "web.example");
        assert_eq!(q.qtype, TYPE_A);
    }

    #[test]
    fn known_name_gets_a_record_unknown_is_forwarded() {
        let Some(Local::Reply(r)) = answer_locally(&query("WEB", TYPE_A), &lookup()) else {
            panic!("expected a local answer");
        };
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(parse_a(&r), (0, vec![Ipv4Addr::new(10, 1, 2, 3)]));
        assert_eq!(
            answer_locally(&query("other", TYPE_A), &lookup()),
            Some(Local::Forward)
        );
        let Some(Local::Reply(r)) = answer_locally(&query("web", TYPE_AAAA), &lookup()) else {
            panic!("expected an empty local answer");
        };
        assert_eq!(parse_a(&r), (0, vec![]));
    }

    #[test]
    fn garbage_is_dropped() {
        assert_eq!(answer_locally(&[1, 2, 3], &lookup()), None);
        let mut q = query("web", TYPE_A);
        q[2] |= 0x80; // a response, not a query
        assert_eq!(answer_locally(&q, &lookup()), None);
        let mut q = query("web", TYPE_A);
        q.truncate(q.len() - 2);
        assert_eq!(answer_locally(&q, &lookup()), None);
    }

    #[tokio::test]
    async fn no_upstream_means_servfail() {
        let r = respond(
            &query("elsewhere", TYPE_A),
            &lookup(),
            &Upstreams::default(),
        )
        .await
        .unwrap();
        assert_eq!(parse_a(&r).0, RCODE_SERVFAIL);
    }
}
