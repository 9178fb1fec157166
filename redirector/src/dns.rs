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
    if let Some(out) = fast_answer(shared, packet, src) {
        return Some(out);
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
                let (addr, scope) = pick(
                    shared,
                    &snap,
                    svc,
                    client,
                    ecs.map(|s| s.source_prefix()),
                    fam,
                );
                match addr {
                    Some(a) => {
                        resp.add_answer(Record::from_rdata(owner, ttl, addr_rdata(a)));
                    }
                    None => {
                        resp.add_authority(soa());
                    }
                }
                if let (Some(s), Some(edns)) = (ecs, resp.edns.as_mut()) {
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

/// Routes one A/AAAA query: the chosen edge's address of the family (if any) and the
/// ECS scope the answer is valid for. Counts the answer.
fn pick(
    shared: &Shared,
    snap: &crate::Snapshot,
    svc: usize,
    client: IpAddr,
    ecs_source: Option<u8>,
    fam: Family,
) -> (Option<IpAddr>, u8) {
    let t = &snap.topology;
    let (loc, matched) = snap.locate(client);
    // Key: the client's subnet, so resolvers spread over near-equal edges while each
    // subnet keeps its edge.
    let (key, key_len) = subnet_key(client, ecs_source);
    let d = snap.choose(svc, loc, matched, &key, Some(fam), true);
    let mut addr = None;
    if let Some(e) = d.chosen {
        let edge = &t.edges[e];
        addr = match fam {
            Family::V4 => edge.ipv4.map(IpAddr::V4),
            Family::V6 => edge.ipv6.map(IpAddr::V6),
        };
        shared.metrics.answer_dns(snap, e, loc, d.degraded);
    }
    let source = ecs_source.unwrap_or(0);
    let near = d.candidates.iter().filter(|c| c.near).count();
    let scope = match matched {
        _ if source == 0 => 0,
        Some(m) if near > 1 => m.max(key_len),
        Some(m) => m,
        None if near > 1 => source.max(key_len),
        None => source,
    };
    (addr, scope)
}

/// Answers the common case without building a `Message`: one question for A/AAAA at a
/// service apex, class IN, no other records but an optional well-formed OPT (version 0,
/// at most an ECS option). `None`: not that case, use the general path.
fn fast_answer(shared: &Shared, p: &[u8], src: IpAddr) -> Option<Vec<u8>> {
    // Header: QR=0, opcode 0, QD=1, AN=0, NS=0, AR<=1.
    if p[2] & 0xf8 != 0 || p[4..10] != [0, 1, 0, 0, 0, 0] || p[10] != 0 || p[11] > 1 {
        return None;
    }
    let mut i = 12;
    let mut name = String::with_capacity(32);
    loop {
        let l = *p.get(i)? as usize;
        if l == 0 {
            i += 1;
            break;
        }
        if l > 63 {
            return None;
        }
        let label = p.get(i + 1..i + 1 + l)?;
        for &b in label {
            if !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return None;
            }
            name.push(b.to_ascii_lowercase() as char);
        }
        name.push('.');
        i += 1 + l;
    }
    let q = p.get(i..i + 4)?;
    let qend = i + 4;
    let fam = match (q[0], q[1], q[2], q[3]) {
        (0, 1, 0, 1) => Family::V4,
        (0, 28, 0, 1) => Family::V6,
        _ => return None,
    };
    // Optional OPT: root name, type 41, payload, ext-rcode 0, version 0, flags, rdata.
    let mut ecs: Option<(u16, u8, Vec<u8>)> = None;
    let has_opt = p[11] == 1;
    let mut client = canonical_ip(src);
    if has_opt {
        let o = p.get(qend..qend + 11)?;
        if o[0] != 0 || o[1..3] != [0, 41] || o[5] != 0 || o[6] != 0 {
            return None;
        }
        let rdlen = u16::from_be_bytes([o[9], o[10]]) as usize;
        let rd = p.get(qend + 11..qend + 11 + rdlen)?;
        if qend + 11 + rdlen != p.len() {
            return None;
        }
        if !rd.is_empty() {
            // Exactly one option: ECS.
            if rd.len() < 8
                || rd[0..2] != [0, 8]
                || u16::from_be_bytes([rd[2], rd[3]]) as usize != rd.len() - 4
            {
                return None;
            }
            let family = u16::from_be_bytes([rd[4], rd[5]]);
            let (source, scope) = (rd[6], rd[7]);
            let addr = &rd[8..];
            let max = match family {
                1 => 32,
                2 => 128,
                _ => return None,
            };
            if source > max || scope != 0 || addr.len() != source.div_ceil(8) as usize {
                return None;
            }
            if source > 0 {
                client = match family {
                    1 => {
                        let mut b = [0u8; 4];
                        b[..addr.len()].copy_from_slice(addr);
                        IpAddr::from(b)
                    }
                    _ => {
                        let mut b = [0u8; 16];
                        b[..addr.len()].copy_from_slice(addr);
                        IpAddr::from(b)
                    }
                };
                if crate::topology::Cidr::new(client, source).map(|c| c.addr()) != Some(client) {
                    return None; // bits beyond the source prefix: let the general path judge
                }
            }
            ecs = Some((family, source, addr.to_vec()));
        }
    } else if qend != p.len() {
        return None;
    }
    let snap = shared.snapshot();
    let t = &snap.topology;
    let svc = t.service_for_dns(&name)?;
    let (addr, scope) = pick(shared, &snap, svc, client, ecs.as_ref().map(|e| e.1), fam);
    let addr = addr?;
    let mut out = Vec::with_capacity(qend + 64);
    out.extend_from_slice(&p[0..2]);
    out.push(0x84 | (p[2] & 0x01)); // QR, AA, RD copied
    out.push(p[3] & 0x10); // CD copied, RCODE 0
    out.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, has_opt as u8]);
    out.extend_from_slice(&p[12..qend]);
    out.extend_from_slice(&[0xc0, 0x0c]);
    out.extend_from_slice(&p[qend - 4..qend]);
    out.extend_from_slice(&t.dns.ttl.to_be_bytes());
    match addr {
        IpAddr::V4(a) => {
            out.extend_from_slice(&[0, 4]);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.extend_from_slice(&[0, 16]);
            out.extend_from_slice(&a.octets());
        }
    }
    if has_opt {
        out.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        match ecs {
            Some((family, source, a)) => {
                let len = 4 + a.len();
                out.extend_from_slice(&((len + 4) as u16).to_be_bytes());
                out.extend_from_slice(&[0, 8]);
                out.extend_from_slice(&(len as u16).to_be_bytes());
                out.extend_from_slice(&family.to_be_bytes());
                out.extend_from_slice(&[source, scope]);
                out.extend_from_slice(&a);
            }
            None => out.extend_from_slice(&[0, 0]),
        }
    }
    shared.metrics.dns_response("NOERROR");
    Some(out)
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
fn subnet_key(client: IpAddr, ecs_source: Option<u8>) -> (Vec<u8>, u8) {
    let (bits, max) = match client {
        IpAddr::V4(_) => (24u8, 32u8),
        IpAddr::V6(_) => (56u8, 128u8),
    };
    let len = ecs_source
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
