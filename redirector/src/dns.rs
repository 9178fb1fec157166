//! Authoritative DNS for the services' names, over UDP and TCP.
//!
//! Wire handling is hand-written on `hickory-proto`'s message types (parse with
//! `Message::from_vec`, answer with `Message::to_vec`): the routing answer depends on
//! the client's subnet (ECS) and on live health, which a zone-file authority does not
//! model, and owning the loop lets malformed packets get `FORMERR` instead of silence.
//! UDP is served by blocking threads (one per core) sharing one socket; TCP by tokio.
//!
//! - `A`/`AAAA` at a service name: the chosen edge's address, TTL `dns.ttl`, `AA`.
//! - EDNS Client Subnet (RFC 7871): the subnet locates the client; the option is echoed
//!   with `SCOPE PREFIX-LENGTH` = the prefix the answer is valid for.
//! - `SOA`/`NS` at the apex; the NS name answers `dns.ns_addresses`; other names in the
//!   zone `NXDOMAIN`; names outside every zone `REFUSED`.
//! - Unparseable queries with a full header: `FORMERR`; shorter ones and responses are
//!   dropped. Nothing a client sends can make the server panic.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::choice::Family;
use crate::topology::canonical_ip;
use crate::{Shared, StopFlag};

/// A running DNS server (UDP threads + TCP task).
#[derive(Debug)]
pub struct RunningDns {
    addr: SocketAddr,
    stop: StopFlag,
    tcp: tokio::task::JoinHandle<()>,
}

impl RunningDns {
    /// The bound address (the same port for UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server (UDP threads exit within ~200 ms).
    pub fn stop(self) {
        self.stop.stop();
        self.tcp.abort();
    }
}

/// Binds UDP and TCP on `addr` (port 0: a free port common to both) and serves.
pub async fn bind(addr: SocketAddr, shared: Arc<Shared>) -> anyhow::Result<RunningDns> {
    let mut attempt = 0;
    let (udp, tcp) = loop {
        let udp = std::net::UdpSocket::bind(addr)
            .with_context(|| format!("cannot bind DNS UDP on {addr}"))?;
        let bound = udp.local_addr()?;
        match tokio::net::TcpListener::bind(bound).await {
            Ok(t) => break (udp, t),
            Err(e) if addr.port() == 0 && attempt < 20 => {
                attempt += 1;
                tracing::debug!(error = %e, "TCP port taken, retrying");
            }
            Err(e) => return Err(e).with_context(|| format!("cannot bind DNS TCP on {bound}")),
        }
    };
    let local = udp.local_addr()?;
    udp.set_read_timeout(Some(Duration::from_millis(200)))?;
    let stop = StopFlag::default();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    for i in 0..threads {
        let sock = udp.try_clone()?;
        let shared = shared.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("dns-udp-{i}"))
            .spawn(move || udp_loop(sock, shared, stop))?;
    }
    let tcp = tokio::spawn(tcp_loop(tcp, shared));
    Ok(RunningDns {
        addr: local,
        stop,
        tcp,
    })
}

fn udp_loop(sock: std::net::UdpSocket, shared: Arc<Shared>, stop: StopFlag) {
    let mut buf = [0u8; 4096];
    while !stop.stopped() {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::debug!(error = %e, "udp recv");
                continue;
            }
        };
        if let Some(out) = answer(&shared, &buf[..n], peer.ip(), true) {
            let _ = sock.send_to(&out, peer);
        }
    }
}

async fn tcp_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let idle = Duration::from_secs(10);
            loop {
                let mut len = [0u8; 2];
                match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
                match tokio::time::timeout(idle, stream.read_exact(&mut msg)).await {
                    Ok(Ok(_)) => {}
                    _ => return,
                }
                let Some(out) = answer(&shared, &msg, peer.ip(), false) else {
                    return;
                };
                let mut framed = Vec::with_capacity(out.len() + 2);
                framed.extend_from_slice(&(out.len() as u16).to_be_bytes());
                framed.extend_from_slice(&out);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn header_only(packet: &[u8], rcode: u8) -> Vec<u8> {
    // ID, QR=1 + the query's opcode and RD, RCODE; all counts zero.
    vec![
        packet[0],
        packet[1],
        0x80 | (packet[2] & 0x79),
        rcode & 0x0f,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]
}

fn rcode_name(r: ResponseCode) -> &'static str {
    match r {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::BADVERS => "BADVERS",
        _ => "OTHER",
    }
}

/// Answers one DNS message from `src`; `None` means drop it.
pub fn answer(shared: &Shared, packet: &[u8], src: IpAddr, udp: bool) -> Option<Vec<u8>> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return None; // no header, or a response: drop
    }
    let req = match Message::from_vec(packet) {
        Ok(m) => m,
        Err(_) => {
            shared.metrics.dns_response("FORMERR");
            return Some(header_only(packet, 1));
        }
    };
    let (resp, rcode) = respond(shared, &req, src);
    shared.metrics.dns_response(rcode_name(rcode));
    let max = if udp {
        req.edns
            .as_ref()
            .map_or(512, |e| e.max_payload().clamp(512, 1232)) as usize
    } else {
        65535
    };
    let mut bytes = resp.to_vec().ok()?;
    if bytes.len() > max {
        let mut t = resp.truncate();
        t.metadata.truncation = true;
        bytes = t.to_vec().ok()?;
    }
    Some(bytes)
}

fn respond(shared: &Shared, req: &Message, src: IpAddr) -> (Message, ResponseCode) {
    let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.checking_disabled = req.metadata.checking_disabled;
    let finish = |mut resp: Message, rcode: ResponseCode| {
        resp.metadata.response_code = rcode;
        (resp, rcode)
    };
    if req.metadata.op_code != OpCode::Query {
        return finish(resp, ResponseCode::NotImp);
    }
    if req.queries.len() != 1 {
        return finish(resp, ResponseCode::FormErr);
    }
    let q = &req.queries[0];
    resp.add_query(q.clone());
    // EDNS: answer with our own OPT; echo ECS with a scope.
    let mut client = canonical_ip(src);
    let mut ecs: Option<ClientSubnet> = None;
    if let Some(e) = &req.edns {
        let mut out = Edns::new();
        out.set_max_payload(1232);
        out.set_version(0);
        if e.version() > 0 {
            resp.set_edns(out);
            return finish(resp, ResponseCode::BADVERS);
        }
        if let Some(EdnsOption::Subnet(s)) = e.option(EdnsCode::Subnet) {
            let max = if s.addr().is_ipv4() { 32 } else { 128 };
            if s.source_prefix() > max || s.scope_prefix() != 0 {
                resp.set_edns(out);
                return finish(resp, ResponseCode::FormErr);
            }
            if s.source_prefix() > 0 {
                client = canonical_ip(s.addr());
            }
            ecs = Some(*s);
        }
        resp.set_edns(out);
    }
    if q.query_class() != DNSClass::IN && q.query_class() != DNSClass::ANY {
        return finish(resp, ResponseCode::Refused);
    }
    let snap = shared.snapshot();
    let t = &snap.topology;
    let qname = q.name().to_lowercase().to_ascii();
    let qname = if qname.ends_with('.') {
        qname
    } else {
        format!("{qname}.")
    };
    // Which zone?
    let Some((svc, apex)) = t
        .services
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.dns_name.as_deref().map(|n| (i, n)))
        .find(|(_, n)| qname == *n || qname.ends_with(&format!(".{n}")))
    else {
        return finish(resp, ResponseCode::Refused);
    };
    resp.metadata.authoritative = true;
    let ttl = t.dns.ttl;
    let apex_name = Name::from_ascii(apex).unwrap_or_else(|_| Name::root());
    let ns_name = relative(&t.dns.ns, &apex_name);
    let soa = || {
        Record::from_rdata(
            apex_name.clone(),
            ttl,
            RData::SOA(SOA::new(
                ns_name.clone(),
                relative(&t.dns.hostmaster, &apex_name),
                t.dns.serial,
                3600,
                600,
                86400,
                ttl,
            )),
        )
    };
    let owner = q.name().clone();
    if qname == apex {
        let family = match q.query_type() {
            RecordType::A | RecordType::ANY => Some(Family::V4),
            RecordType::AAAA => Some(Family::V6),
            _ => None,
        };
        match (q.query_type(), family) {
            (_, Some(fam)) => {
                let (loc, matched) = snap.locate(client);
                // Key: the client's subnet, so resolvers spread over near-equal edges
                // while each subnet keeps its edge.
                let (key, key_len) = subnet_key(client, ecs.as_ref());
                let d = snap.choose(svc, loc, matched, &key, Some(fam), true);
                if let Some(e) = d.chosen {
                    let edge = &t.edges[e];
                    let rdata = match fam {
                        Family::V4 => edge.ipv4.map(|a| RData::A(A::from(a))),
                        Family::V6 => edge.ipv6.map(|a| RData::AAAA(AAAA::from(a))),
                    };
                    if let Some(rdata) = rdata {
                        resp.add_answer(Record::from_rdata(owner, ttl, rdata));
                    }
                    shared
                        .metrics
                        .answer(&edge.id, &d.location, "dns", d.degraded);
                } else {
                    resp.add_authority(soa());
                }
                if let (Some(s), Some(edns)) = (ecs, resp.edns.as_mut()) {
                    let near = d.candidates.iter().filter(|c| c.near).count();
                    let scope = match matched {
                        Some(m) if near > 1 => m.max(key_len),
                        Some(m) => m,
                        None if near > 1 => s.source_prefix().max(key_len),
                        None => s.source_prefix(),
                    };
                    let scope = if s.source_prefix() == 0 { 0 } else { scope };
                    let echo = ClientSubnet::new(s.addr(), s.source_prefix(), scope);
                    edns.options_mut().insert(EdnsOption::Subnet(echo));
                }
            }
            (RecordType::SOA, _) => {
                resp.add_answer(soa());
            }
            (RecordType::NS, _) => {
                resp.add_answer(Record::from_rdata(
                    owner,
                    ttl,
                    RData::NS(NS(ns_name.clone())),
                ));
                for a in &t.dns.ns_addresses {
                    resp.add_additional(Record::from_rdata(ns_name.clone(), ttl, addr_rdata(*a)));
                }
            }
            _ => {
                resp.add_authority(soa());
            }
        }
        return finish(resp, ResponseCode::NoError);
    }
    if q.name().to_lowercase() == ns_name.to_lowercase() {
        let want = match q.query_type() {
            RecordType::A => Some(true),
            RecordType::AAAA => Some(false),
            _ => None,
        };
        let mut any = false;
        for a in &t.dns.ns_addresses {
            if want == Some(a.is_ipv4()) {
                resp.add_answer(Record::from_rdata(owner.clone(), ttl, addr_rdata(*a)));
                any = true;
            }
        }
        if !any {
            resp.add_authority(soa());
        }
        return finish(resp, ResponseCode::NoError);
    }
    resp.add_authority(soa());
    finish(resp, ResponseCode::NXDomain)
}

fn addr_rdata(a: IpAddr) -> RData {
    match a {
        IpAddr::V4(v) => RData::A(A::from(v)),
        IpAddr::V6(v) => RData::AAAA(AAAA::from(v)),
    }
}

/// `name` if absolute (ends with `.`), else `name.<apex>`.
fn relative(name: &str, apex: &Name) -> Name {
    if name.ends_with('.') {
        Name::from_ascii(name).unwrap_or_else(|_| apex.clone())
    } else {
        Name::from_ascii(name)
            .ok()
            .and_then(|n| n.append_domain(apex).ok())
            .unwrap_or_else(|| apex.clone())
    }
}

/// Hash key of a DNS client: its /24 (IPv4) or /56 (IPv6), no finer than the ECS source
/// prefix; returns the key and its prefix length.
fn subnet_key(client: IpAddr, ecs: Option<&ClientSubnet>) -> (Vec<u8>, u8) {
    let (bits, max) = match client {
        IpAddr::V4(_) => (24u8, 32u8),
        IpAddr::V6(_) => (56u8, 128u8),
    };
    let len = ecs
        .map(|s| s.source_prefix())
        .filter(|&p| p > 0)
        .map_or(bits, |p| p.min(bits))
        .min(max);
    let c = crate::topology::Cidr::new(client, len).expect("length within range");
    let mut key = match c.addr() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    key.push(len);
    (key, len)
}
