//! A playground on many nodes, on one machine: `dockhand gateway` processes,
//! and the DNS server that lists the nodes as a headless Service's records
//! would (every node's address under one name).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A DNS server on loopback that answers A queries for one name with a list
/// of addresses (which the test may change), and every other query with no
/// records. Stops when dropped.
pub struct FakeDns {
    pub addr: SocketAddr,
    pub records: Arc<Mutex<Vec<Ipv4Addr>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDns {
    pub fn start(name: &str, records: Vec<Ipv4Addr>) -> FakeDns {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a DNS port");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let records = Arc::new(Mutex::new(records));
        let stop = Arc::new(AtomicBool::new(false));
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let thread = {
            let (records, stop) = (records.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let ips = records.lock().unwrap().clone();
                    if let Some(reply) = answer(&buf[..n], &name, &ips) {
                        let _ = sock.send_to(&reply, from);
                    }
                }
            })
        };
        FakeDns {
            addr,
            records,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one DNS query: `ips` for an A query of `name`, no records
/// for any other (NXDOMAIN for another name).
fn answer(q: &[u8], name: &str, ips: &[Ipv4Addr]) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, OpCode, ResponseCode};
    use hickory_proto::rr::{rdata::A, RData, Record, RecordType};
    let q = Message::from_vec(q).ok()?;
    let mut r = Message::response(q.metadata.id, OpCode::Query);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    for query in &q.queries {
        r.add_query(query.clone());
        let asked = query.name().to_ascii().to_ascii_lowercase();
        if asked.trim_end_matches('.') != name {
            r.metadata.response_code = ResponseCode::NXDomain;
        } else if query.query_type() == RecordType::A {
            for ip in ips {
                // TTL 0: nothing to cache.
                r.add_answer(Record::from_rdata(
                    query.name().clone(),
                    0,
                    RData::A(A(*ip)),
                ));
            }
        }
    }
    r.to_vec().ok()
}

/// A running `dockhand gateway`; killed when dropped.
pub struct Gateway {
    pub addr: SocketAddr,
    pub log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Gateway {
    /// `dockhand gateway --nodes dns:NAME:PORT --dns-server DNS` plus `extra`,
    /// on a free loopback port; waits until it is listening.
    pub fn start(nodes: &str, dns: SocketAddr, extra: &[&str]) -> Gateway {
        let dir = tempfile::Builder::new()
            .prefix("dockhand-gateway-")
            .tempdir()
            .expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.path().join("gateway.log");
        let mut cmd = Command::new(crate::serve::serve_bin());
        cmd.arg("gateway")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--nodes")
            .arg(nodes)
            .arg("--dns-server")
            .arg(dns.to_string())
            .args(extra);
        let mut child = crate::spawn_logged(cmd, &log);
        crate::wait_ready(&mut child, &log, Duration::from_secs(30), || {
            crate::serve::http_at(addr, "GET", "/healthz", None, "").0 == 200
        });
        Gateway {
            addr,
            log,
            child,
            _dir: dir,
        }
    }

    /// The gateway's table of nodes (`GET /api/gateway/nodes`).
    pub fn nodes(&self) -> Vec<serde_json::Value> {
        let (_, body) = crate::serve::http_at(self.addr, "GET", "/api/gateway/nodes", None, "");
        serde_json::from_str(&body).unwrap_or_default()
    }

    /// Nodes it sees answering.
    pub fn nodes_up(&self) -> usize {
        self.nodes().iter().filter(|n| n["up"] == true).count()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    #[test]
    fn the_fake_answers_its_name_with_every_address() {
        let ips = [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)];
        let r = answer(&query("Nodes.Test", 1), "nodes.test", &ips).unwrap();
        assert_eq!(&r[0..2], &[0xab, 0xcd], "the id is the query's");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 2, "two answers");
        assert_eq!(&r[r.len() - 4..], &[127, 0, 0, 3]);
        let aaaa = answer(&query("nodes.test", 28), "nodes.test", &ips).unwrap();
        assert_eq!(u16::from_be_bytes([aaaa[6], aaaa[7]]), 0);
        let other = answer(&query("other.test", 1), "nodes.test", &ips).unwrap();
        assert_eq!(other[3] & 0x0f, 3, "NXDOMAIN");
        assert!(answer(&[1, 2, 3], "nodes.test", &ips).is_none());
    }
}
