//! A small authoritative DNS responder on loopback UDP, built on hickory's wire types. It
//! answers A, AAAA, MX, SRV and TXT from a table, NXDOMAIN for unknown names, and stays silent for
//! names marked `hang`, and answers names marked `slow` only after a delay. Every question is
//! logged.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, MX, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

#[derive(Default, Clone)]
pub struct Zone {
    records: HashMap<(String, RecordType), Vec<RData>>,
    names: HashSet<String>,
    hang: HashSet<String>,
    slow: HashMap<String, Duration>,
    /// Delay of every answer that `slow` does not set (a path's round trip, for bench/).
    latency: Option<Duration>,
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn name(s: &str) -> Name {
    Name::from_ascii(if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    })
    .unwrap()
}

impl Zone {
    fn add(&mut self, owner: &str, t: RecordType, data: RData) -> &mut Self {
        self.names.insert(key(owner));
        self.records.entry((key(owner), t)).or_default().push(data);
        self
    }
    pub fn a(&mut self, owner: &str, ip: &str) -> &mut Self {
        match ip.parse::<IpAddr>().unwrap() {
            IpAddr::V4(v4) => self.add(owner, RecordType::A, RData::A(A(v4))),
            IpAddr::V6(v6) => self.add(owner, RecordType::AAAA, RData::AAAA(AAAA(v6))),
        }
    }
    pub fn mx(&mut self, owner: &str, pref: u16, exchange: &str) -> &mut Self {
        self.add(
            owner,
            RecordType::MX,
            RData::MX(MX::new(pref, name(exchange))),
        )
    }
    /// `target` "." means "service not offered".
    pub fn srv(
        &mut self,
        owner: &str,
        prio: u16,
        weight: u16,
        port: u16,
        target: &str,
    ) -> &mut Self {
        let t = if target == "." {
            Name::root()
        } else {
            name(target)
        };
        self.add(
            owner,
            RecordType::SRV,
            RData::SRV(SRV::new(prio, weight, port, t)),
        )
    }
    /// One TXT record made of these character-strings (a record may be split in several).
    pub fn txt(&mut self, owner: &str, strings: &[&str]) -> &mut Self {
        let strings = strings.iter().map(|s| s.to_string()).collect();
        self.add(owner, RecordType::TXT, RData::TXT(TXT::new(strings)))
    }
    /// Answer questions about this name only after `delay`.
    pub fn slow(&mut self, owner: &str, delay: Duration) -> &mut Self {
        self.slow.insert(key(owner), delay);
        self
    }
    /// Answer every question only after `delay` (unless `slow` names it).
    pub fn latency(&mut self, delay: Duration) -> &mut Self {
        self.latency = Some(delay);
        self
    }
    /// Never answer questions about this name.
    pub fn hang(&mut self, owner: &str) -> &mut Self {
        self.hang.insert(key(owner));
        self
    }
}

pub struct DnsServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl DnsServer {
    /// Bind 127.0.0.1 on a free port and serve `zone` on the current tokio runtime.
    pub async fn start(zone: Zone) -> DnsServer {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = sock.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let Some(query) = q.queries.first().cloned() else {
                    continue;
                };
                let qname = key(&query.name().to_ascii());
                log2.lock()
                    .unwrap()
                    .push(format!("{:?} {qname}", query.query_type()));
                if zone.hang.contains(&qname) {
                    continue;
                }
                let mut resp = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
                resp.metadata.recursion_desired = q.metadata.recursion_desired;
                resp.metadata.recursion_available = true;
                resp.metadata.authoritative = true;
                resp.add_query(query.clone());
                match zone.records.get(&(qname.clone(), query.query_type())) {
                    Some(list) => {
                        for d in list {
                            resp.add_answer(Record::from_rdata(
                                query.name().clone(),
                                60,
                                d.clone(),
                            ));
                        }
                    }
                    None => {
                        if !zone.names.contains(&qname) {
                            resp.metadata.response_code = ResponseCode::NXDomain;
                        }
                        let soa =
                            SOA::new(name("ns.test"), name("hostmaster.test"), 1, 60, 60, 60, 60);
                        resp.add_authority(Record::from_rdata(name("test"), 60, RData::SOA(soa)));
                    }
                }
                let Ok(bytes) = resp.to_vec() else { continue };
                match zone.slow.get(&qname).or(zone.latency.as_ref()) {
                    Some(delay) => {
                        let (sock, delay) = (sock.clone(), *delay);
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = sock.send_to(&bytes, peer).await;
                        });
                    }
                    None => {
                        let _ = sock.send_to(&bytes, peer).await;
                    }
                }
            }
        });
        DnsServer { addr, log }
    }

    /// Questions asked so far: `"SRV _imaps._tcp.lab.test"`.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}
