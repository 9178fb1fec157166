//! The fast path answers exactly as the hickory-proto path does.
//!
//! For every query of the table, the fast path either declines (and the table says it
//! should) or its bytes equal, byte for byte, those the general path builds with
//! hickory-proto's `Message` (same ID, flags, question copied as sent, answer owner
//! compressed to the question, OPT with payload 1232 and the ECS echo). Every query also
//! goes through [`check_packet`], the fuzz target's rules.

use std::net::IpAddr;
use std::path::Path;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use RecordType::A;

use super::{answer, check_packet, fast, general};
use crate::Shared;

/// Two services: `cdn.example.test` (both edges; paris has A and AAAA, nyc A only) and
/// `v4.example.test` (nyc only: AAAA has no address). Load never bounded. The fuzz
/// target uses the same file.
pub(crate) const TOPOLOGY: &str = include_str!("../../fuzz/topology.toml");

pub(crate) fn shared() -> (tempfile::TempDir, Shared) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topology.toml");
    std::fs::write(&path, TOPOLOGY).unwrap();
    let shared = Shared::load(Path::new(&path)).unwrap();
    (dir, shared)
}

struct Q {
    name: &'static str,
    rtype: RecordType,
    rd: bool,
    cd: bool,
    edns: Option<Edns>,
}

fn q(name: &'static str, rtype: RecordType) -> Q {
    Q {
        name,
        rtype,
        rd: true,
        cd: false,
        edns: None,
    }
}

impl Q {
    fn edns(mut self, payload: u16) -> Q {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        self.edns = Some(e);
        self
    }

    fn ecs(mut self, addr: &str, source: u8) -> Q {
        let mut e = self.edns.take().unwrap_or_else(|| {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            e
        });
        let ip: IpAddr = addr.parse().unwrap();
        e.options_mut()
            .insert(EdnsOption::Subnet(ClientSubnet::new(ip, source, 0)));
        self.edns = Some(e);
        self
    }

    fn flags(mut self, rd: bool, cd: bool) -> Q {
        self.rd = rd;
        self.cd = cd;
        self
    }

    fn bytes(&self, id: u16) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = self.rd;
        m.metadata.checking_disabled = self.cd;
        m.add_query(Query::query(
            Name::from_ascii(self.name).unwrap(),
            self.rtype,
        ));
        if let Some(e) = &self.edns {
            m.set_edns(e.clone());
        }
        m.to_vec().unwrap()
    }
}

/// Runs one query through both paths; returns whether the fast path took it.
fn same_answer(shared: &Shared, packet: &[u8], src: IpAddr) -> bool {
    check_packet(shared, packet, src);
    let quick = fast::fast_answer(shared, packet, src);
    let slow = general::general_answer(shared, packet, src, true);
    let served = answer(shared, packet, src, true);
    match quick {
        Some(quick) => {
            assert_eq!(Some(&quick), slow.as_ref(), "packet {packet:02x?}");
            assert_eq!(served, Some(quick));
            true
        }
        None => {
            assert_eq!(served, slow);
            false
        }
    }
}

#[test]
fn fast_path_answers_as_hickory_does() {
    let (_dir, shared) = shared();
    let eu: IpAddr = "192.0.2.1".parse().unwrap();
    let us: IpAddr = "198.51.100.7".parse().unwrap();
    let v6: IpAddr = "2001:db8:1::9".parse().unwrap();
    use RecordType::{AAAA, MX, NS, SOA, TXT};
    // (query, expected: does the fast path take it?)
    let table: Vec<(Q, bool)> = vec![
        (q("cdn.example.test.", A), true),
        (q("cdn.example.test.", AAAA), true),
        (q("CDN.Example.TEST.", A), true),
        (q("cdn.example.test.", A).flags(false, false), true),
        (q("cdn.example.test.", A).flags(true, true), true),
        (q("cdn.example.test.", A).edns(1232), true),
        (q("cdn.example.test.", A).edns(4096), true),
        (q("cdn.example.test.", A).edns(100), true),
        (q("cdn.example.test.", A).ecs("198.51.100.0", 24), true),
        (q("cdn.example.test.", A).ecs("198.51.100.128", 25), true),
        (q("cdn.example.test.", A).ecs("192.0.0.0", 8), true),
        (q("cdn.example.test.", A).ecs("0.0.0.0", 0), true),
        (q("cdn.example.test.", AAAA).ecs("2001:db8:1::", 48), true),
        (
            q("cdn.example.test.", AAAA).ecs("2001:db8:1:2:3::", 80),
            true,
        ),
        (q("cdn.example.test.", A).ecs("203.0.113.1", 32), true),
        (q("v4.example.test.", A), true),
        // No address of the family: SOA in authority, general path.
        (q("v4.example.test.", AAAA), false),
        (q("v4.example.test.", AAAA).ecs("198.51.100.0", 24), false),
        // Other types, other names, out of zone.
        (q("cdn.example.test.", SOA), false),
        (q("cdn.example.test.", NS), false),
        (q("cdn.example.test.", MX), false),
        (q("cdn.example.test.", TXT).edns(1232), false),
        (q("ns1.cdn.example.test.", A), false),
        (q("ns1.cdn.example.test.", AAAA), false),
        (q("www.cdn.example.test.", A), false),
        (q("example.test.", A), false),
        (q("other.invalid.", A), false),
        (q("cdn.example.test.", RecordType::ANY), false),
        (q("under_score.example.test.", A), false),
    ];
    for (i, (query, fast)) in table.iter().enumerate() {
        for src in [eu, us, v6] {
            let packet = query.bytes(0x1000 + i as u16);
            assert_eq!(
                same_answer(&shared, &packet, src),
                *fast,
                "row {i}: {} {:?} from {src}",
                query.name,
                query.rtype
            );
        }
    }
}

/// The fast path's answer, read back, is what routing chose (not just self-consistent).
#[test]
fn fast_answers_route() {
    let (_dir, shared) = shared();
    let us: IpAddr = "198.51.100.7".parse().unwrap();
    let p = q("cdn.example.test.", A).bytes(7);
    let out = fast::fast_answer(&shared, &p, us).unwrap();
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].ttl, 7);
    assert_eq!(
        m.answers[0].data,
        RData::A(
            "198.51.100.10"
                .parse::<std::net::Ipv4Addr>()
                .unwrap()
                .into()
        )
    );
    let p = q("cdn.example.test.", A).ecs("192.0.2.0", 24).bytes(8);
    let out = fast::fast_answer(&shared, &p, us).unwrap();
    let m = Message::from_vec(&out).unwrap();
    assert_eq!(
        m.answers[0].data,
        RData::A("192.0.2.10".parse::<std::net::Ipv4Addr>().unwrap().into())
    );
}

/// Hand-made packets hickory would not write: odd header bits, trailing bytes, bad OPT,
/// compression in the question, truncations, garbage.
#[test]
fn odd_and_broken_packets() {
    let (_dir, shared) = shared();
    let src: IpAddr = "192.0.2.1".parse().unwrap();
    let base = q("cdn.example.test.", A).bytes(0x4242);
    let with_opt = q("cdn.example.test.", A).ecs("192.0.2.0", 24).bytes(0x4343);
    let mut cases: Vec<(&str, Vec<u8>, Option<bool>)> = Vec::new();
    let mut edit = |what: &'static str, from: &[u8], f: &dyn Fn(&mut Vec<u8>), fast| {
        let mut p = from.to_vec();
        f(&mut p);
        cases.push((what, p, fast));
    };
    edit(
        "AA and TC set in the query",
        &base,
        &|p| p[2] |= 0x06,
        Some(true),
    );
    edit("Z, AD and RA set", &base, &|p| p[3] |= 0xe0, Some(true));
    edit(
        "rcode set in the query",
        &base,
        &|p| p[3] |= 0x05,
        Some(true),
    );
    edit("opcode STATUS", &base, &|p| p[2] |= 2 << 3, Some(false));
    edit("opcode NOTIFY", &base, &|p| p[2] |= 4 << 3, Some(false));
    edit("a response", &base, &|p| p[2] |= 0x80, None);
    edit("QDCOUNT 0", &base, &|p| p[5] = 0, Some(false));
    edit("QDCOUNT 2", &base, &|p| p[5] = 2, Some(false));
    edit("ANCOUNT 1", &base, &|p| p[7] = 1, Some(false));
    edit("trailing byte", &base, &|p| p.push(0), Some(false));
    edit(
        "class CH",
        &base,
        &|p| *p.last_mut().unwrap() = 3,
        Some(false),
    );
    edit(
        "class ANY",
        &base,
        &|p| *p.last_mut().unwrap() = 255,
        Some(false),
    );
    edit(
        "truncated question",
        &base,
        &|p| p.truncate(p.len() - 2),
        Some(false),
    );
    edit("header only", &base, &|p| p.truncate(12), Some(false));
    edit("eleven bytes", &base, &|p| p.truncate(11), None);
    edit("label length 64", &base, &|p| p[12] = 64, Some(false));
    edit("binary label", &base, &|p| p[13] = 0xff, Some(false));
    edit(
        "compressed question",
        &base,
        &|p| {
            p.truncate(12);
            p.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        },
        Some(false),
    );
    edit(
        "EDNS version 1",
        &with_opt,
        &|p| {
            let at = opt_at(p);
            p[at + 6] = 1;
        },
        Some(false),
    );
    edit(
        "extended rcode in OPT",
        &with_opt,
        &|p| {
            let at = opt_at(p);
            p[at + 5] = 1;
        },
        Some(false),
    );
    edit(
        "DO bit",
        &with_opt,
        &|p| {
            let at = opt_at(p);
            p[at + 7] = 0x80;
        },
        Some(true),
    );
    edit(
        "ECS scope set",
        &with_opt,
        &|p| {
            let n = p.len();
            p[n - 4] = 8;
        },
        Some(false),
    );
    edit(
        "ECS host bits beyond the prefix",
        &with_opt,
        &|p| {
            let n = p.len();
            p[n - 1] = 1;
            p[n - 5] = 23;
        },
        Some(false),
    );
    edit(
        "ECS family 3",
        &with_opt,
        &|p| {
            let n = p.len();
            p[n - 6] = 3;
        },
        Some(false),
    );
    edit(
        "OPT rdata truncated",
        &with_opt,
        &|p| p.truncate(p.len() - 1),
        Some(false),
    );
    edit("AR 1 without OPT", &base, &|p| p[11] = 1, Some(false));
    edit("AR 2", &with_opt, &|p| p[11] = 2, Some(false));
    edit(
        "garbage after header",
        &base,
        &|p| {
            p.truncate(12);
            p.extend_from_slice(b"\xde\xad\xbe\xef\x13\x37");
        },
        Some(false),
    );
    // A 290-byte name of valid labels: too long for a DNS name (RFC 1035 §2.3.4); the
    // fast path declines it, hickory-proto refuses to parse it (FORMERR).
    edit(
        "name over 255 bytes",
        &base,
        &|p| {
            let tail = p.split_off(12);
            for _ in 0..29 {
                p.push(9);
                p.extend_from_slice(b"abcdefghi");
            }
            p.extend_from_slice(&tail);
        },
        Some(false),
    );
    for (what, packet, fast) in cases {
        match fast {
            None => {
                check_packet(&shared, &packet, src);
                assert_eq!(answer(&shared, &packet, src, true), None, "{what}");
            }
            Some(fast) => assert_eq!(same_answer(&shared, &packet, src), fast, "{what}"),
        }
    }
}

/// Offset of the OPT record (after the single question) in a packet from [`Q::bytes`].
fn opt_at(p: &[u8]) -> usize {
    let mut i = 12;
    while p[i] != 0 {
        i += 1 + p[i] as usize;
    }
    i + 5
}

#[test]
fn general_path_rcodes() {
    use RecordType::MX;
    let (_dir, shared) = shared();
    let src: IpAddr = "192.0.2.1".parse().unwrap();
    let rcode = |p: &[u8]| {
        Message::from_vec(&answer(&shared, p, src, true).unwrap())
            .unwrap()
            .metadata
            .response_code
    };
    assert_eq!(
        rcode(&q("other.invalid.", A).bytes(1)),
        ResponseCode::Refused
    );
    assert_eq!(
        rcode(&q("x.cdn.example.test.", A).bytes(2)),
        ResponseCode::NXDomain
    );
    assert_eq!(
        rcode(&q("cdn.example.test.", MX).bytes(3)),
        ResponseCode::NoError
    );
    let mut bad = q("cdn.example.test.", A).bytes(4);
    bad.truncate(14);
    assert_eq!(rcode(&bad), ResponseCode::FormErr);
}

/// A configured port: one `SO_REUSEPORT` socket per thread. Queries from many client sockets
/// (spread over the group by the kernel) are each answered, to their sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_port_serves_every_client_over_its_socket_group() {
    let (_dir, shared) = shared();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dns = super::bind(addr, std::sync::Arc::new(shared))
        .await
        .unwrap();
    assert_eq!(dns.local_addr(), addr);
    let query = q("cdn.example.test.", A).bytes(7);
    let answered = tokio::task::spawn_blocking(move || {
        let mut ok = 0;
        for _ in 0..32 {
            let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            c.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
            c.send_to(&query, addr).unwrap();
            let mut buf = [0u8; 512];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            let m = Message::from_vec(&buf[..n]).unwrap();
            assert_eq!(
                (from, m.metadata.id, m.metadata.response_code),
                (addr, 7, ResponseCode::NoError)
            );
            assert_eq!(m.answers.len(), 1);
            ok += 1;
        }
        ok
    })
    .await
    .unwrap();
    assert_eq!(answered, 32);
    dns.stop();
}
