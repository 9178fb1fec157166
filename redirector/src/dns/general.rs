//! The general path: every query the fast path declines is parsed into a hickory-proto
//! [`Message`], answered by [`respond`] and written back with `Message::to_vec`.
//!
//! - Unparseable queries (with a full header): `FORMERR`, header only.
//! - Opcode other than QUERY: `NOTIMP`; not exactly one question: `FORMERR`.
//! - EDNS (RFC 6891): answered with our own OPT (payload 1232, version 0); a version > 0
//!   gets `BADVERS`. ECS (RFC 7871 §7.1): a source prefix longer than the family allows
//!   or a non-zero scope is `FORMERR`; otherwise the subnet locates the client and is
//!   echoed with the scope the answer is valid for.
//! - Class other than IN/ANY, or a name outside every service zone: `REFUSED`.
//! - Over UDP an answer longer than the client's payload (512 without EDNS, at most
//!   1232) is truncated (`TC`, RFC 1035 §4.2.1).

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::choice::Family;
use crate::topology::{canonical_ip, Cidr};
use crate::Shared;

/// Answers a query (at least a full header, QR clear) through hickory-proto's
/// `Message`; `None`: drop it.
pub(crate) fn general_answer(
    shared: &Shared,
    packet: &[u8],
    src: IpAddr,
    udp: bool,
) -> Option<Vec<u8>> {
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

pub(crate) fn respond(shared: &Shared, req: &Message, src: IpAddr) -> (Message, ResponseCode) {
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
pub(crate) fn pick(
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
    let d = snap.route(svc, loc, matched, &[], &key, Some(fam), true);
    if d.mode == crate::closed_loop::Mode::ClosedLoop {
        // The hysteresis lock is taken anyway in this mode: log the answer too.
        let subnet = format!("{client}/{key_len}");
        shared
            .decisions
            .record(snap, svc, "dns", client, &subnet, &d);
        shared.metrics.reason(d.reason.as_str());
    }
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
    let c = Cidr::new(client, len).expect("length within range");
    let mut key = match c.addr() {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    key.push(len);
    (key, len)
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

pub(crate) fn rcode_name(r: ResponseCode) -> &'static str {
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
