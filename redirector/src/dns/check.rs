//! What must hold for any packet a client can send: the fuzz target
//! (`redirector/fuzz/fuzz_targets/dns_answer.rs`) and the corpus replay test
//! (`tests/it/dns_corpus.rs`) call [`check_input`] and nothing else.

use std::net::IpAddr;

use hickory_proto::op::Message;

use crate::Shared;

use super::{answer, fast, general};

/// Answers `packet` from `src` over UDP and over TCP and panics if any rule is broken:
///
/// 1. Fewer than 12 bytes, or the QR bit set: dropped (`None`) on both transports.
/// 2. Any other packet gets an answer: at least a header, the query's ID, QR set, the
///    query's opcode, and hickory-proto can parse it back.
/// 3. Over UDP it fits the client's payload (512 bytes without EDNS, else the OPT
///    payload clamped to 512..=1232).
/// 4. When the fast path takes the packet, its bytes are exactly what the general
///    (hickory-proto `Message`) path writes for it.
///
/// The topology given should leave load unbounded (a huge `min_load`): both paths of
/// rule 4 then route the same way.
pub fn check_packet(shared: &Shared, packet: &[u8], src: IpAddr) {
    let udp = answer(shared, packet, src, true);
    let tcp = answer(shared, packet, src, false);
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        assert!(udp.is_none() && tcp.is_none(), "answered a non-query");
        return;
    }
    for (out, is_udp) in [(&udp, true), (&tcp, false)] {
        let out = out
            .as_deref()
            .expect("every query with a header gets an answer");
        assert!(out.len() >= 12, "answer shorter than a header: {out:02x?}");
        assert_eq!(out[..2], packet[..2], "answer ID differs");
        assert_eq!(out[2] & 0x80, 0x80, "answer without QR");
        assert_eq!(out[2] & 0x78, packet[2] & 0x78, "answer opcode differs");
        let parsed = Message::from_vec(out)
            .unwrap_or_else(|e| panic!("answer does not parse ({e}): {out:02x?}"));
        if is_udp {
            let max = udp_limit(packet);
            assert!(
                out.len() <= max,
                "UDP answer of {} bytes over the {max}-byte limit",
                out.len()
            );
        }
        drop(parsed);
    }
    if let Some(quick) = fast::fast_answer(shared, packet, src) {
        let slow = general::general_answer(shared, packet, src, false)
            .expect("the general path answers what the fast path answers");
        assert_eq!(
            quick, slow,
            "fast path and hickory-proto path differ for {packet:02x?}"
        );
    }
}

/// The fuzz input format: two bytes choosing the client address (the first picks the
/// network: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 or 2001:db8:1::/64; the second
/// the host), then the packet, checked by [`check_packet`]. Inputs shorter than two
/// bytes are ignored.
pub fn check_input(shared: &Shared, data: &[u8]) {
    if let [a, b, packet @ ..] = data {
        check_packet(shared, packet, client(*a, *b));
    }
}

fn client(a: u8, b: u8) -> IpAddr {
    match a % 4 {
        0 => IpAddr::from([192, 0, 2, b]),
        1 => IpAddr::from([198, 51, 100, b]),
        2 => IpAddr::from([203, 0, 113, b]),
        _ => IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, u16::from(b)]),
    }
}

/// The UDP answer size the query allows: its OPT payload clamped to 512..=1232, or 512.
fn udp_limit(packet: &[u8]) -> usize {
    match Message::from_vec(packet) {
        Ok(m) => m
            .edns
            .as_ref()
            .map_or(512, |e| e.max_payload().clamp(512, 1232)) as usize,
        Err(_) => 512,
    }
}
