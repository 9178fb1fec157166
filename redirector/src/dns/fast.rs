//! The fast path: the common query shape answered straight from the packet bytes,
//! without building hickory `Message`s (see `bench/RESULTS.md` for what it buys). It
//! must answer byte for byte as `general` would (checked by the equivalence
//! tests in `dns/tests.rs` and by the fuzz target's [`super::check_packet`]).

use std::net::IpAddr;

use crate::choice::Family;
use crate::topology::{canonical_ip, Cidr};
use crate::Shared;

use super::general::pick;

/// Answers the common case without building a `Message`: one question for A/AAAA at a
/// service apex, class IN, no other records but an optional well-formed OPT (version 0,
/// at most an ECS option). `None`: not that case, use the general path.
pub(crate) fn fast_answer(shared: &Shared, p: &[u8], src: IpAddr) -> Option<Vec<u8>> {
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
    if i - 12 > 255 {
        // Longer than a DNS name may be (RFC 1035 §2.3.4): no service has it, and the
        // general path answers FORMERR. Declined before the snapshot lookup.
        return None;
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
                if Cidr::new(client, source).map(|c| c.addr()) != Some(client) {
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
