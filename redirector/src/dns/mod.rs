//! Authoritative DNS for the services' names, over UDP and TCP.
//!
//! Wire handling is hand-written on `hickory-proto`'s message types (parse with
//! `Message::from_vec`, answer with `Message::to_vec`): the routing answer depends on
//! the client's subnet (ECS) and on live health, which a zone-file authority does not
//! model, and owning the loop lets malformed packets get `FORMERR` instead of silence.
//! UDP is served by blocking threads (one per core) sharing one socket, each taking queries
//! in batches (`recvmmsg`/`sendmmsg`, [`batch`]); TCP by tokio.
//!
//! ## Why our own loop and not hickory-server's request handler
//! It is measurably faster. The same answer logic ([`answer`]) served both ways in one
//! process (`examples/dns_transport.rs`: this module's [`bind`] on one port,
//! hickory-server 0.26.3's `Server` + `RequestHandler` on another), measured with
//! `redirector/bench/bench.sh transport 10 5` — `dnsperf -s 127.0.0.1 -p PORT -d
//! queries.txt -l 10 -c 4 -Q 2000000 -q 500 -E 8:00011800c00002` (one A query with ECS
//! 192.0.2.0/24, 2003 client /24s), five rounds alternating which goes first, release
//! build, on the shared 2-core VM (load average 6-7 from other builds, so runs are noisy):
//!
//! | transport | median qps | runs |
//! | --- | ---: | --- |
//! | own loop (this module) | 186 570 | 155 560, 226 952, 130 490, 186 570, 207 730 |
//! | hickory-server `RequestHandler` | 77 686 | 80 427, 77 686, 72 647, 79 370, 72 121 |
//!
//! Own loop / hickory-server: 2.40. (The hickory-server variant also parses the answer
//! bytes back into records for its `MessageResponse`, which it then encodes; its request
//! is parsed by hickory-server before the handler runs. See `bench/RESULTS.md`.)
//!
//! ## How a packet is answered
//! [`answer`] drops what has no full header or is a response; `fast` answers the
//! common shape (one A/AAAA question at a service name, optional OPT with only ECS)
//! straight from the bytes; everything else goes through `general` (hickory-proto
//! `Message`s). Both paths give the same bytes for what the fast path takes.
//! [`check_input`] / [`check_packet`] are the fuzzing and replay entry.
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

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Error, Shared, StopFlag};

mod batch;
mod check;
mod fast;
mod general;
#[cfg(test)]
mod tests;

pub use check::{check_input, check_packet};

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
pub async fn bind(addr: SocketAddr, shared: Arc<Shared>) -> Result<RunningDns, Error> {
    let io = |what: &'static str| move |source| Error::Io { what, source };
    let mut attempt = 0;
    let (udp, tcp) = loop {
        let udp = udp_socket(addr, addr.port() != 0).map_err(|source| Error::Bind {
            what: "DNS UDP",
            addr,
            source,
        })?;
        let bound = udp.local_addr().map_err(io("DNS UDP socket address"))?;
        match tokio::net::TcpListener::bind(bound).await {
            Ok(t) => break (udp, t),
            Err(e) if addr.port() == 0 && attempt < 20 => {
                attempt += 1;
                tracing::debug!(error = %e, "TCP port taken, retrying");
            }
            Err(source) => {
                return Err(Error::Bind {
                    what: "DNS TCP",
                    addr: bound,
                    source,
                })
            }
        }
    };
    let local = udp.local_addr().map_err(io("DNS UDP socket address"))?;
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(io("DNS UDP read timeout"))?;
    let stop = StopFlag::default();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    // A configured port: one socket per thread on it (SO_REUSEPORT; the kernel spreads
    // clients over them by address), as Knot does: no shared socket lock, no thread woken for
    // a packet another one takes. Port 0 (tests): one socket shared by the threads, because
    // an ephemeral bind with SO_REUSEPORT may join another same-user group on a port it picks.
    let mut socks = vec![udp];
    for _ in 1..threads {
        let s = if addr.port() != 0 {
            udp_socket(local, true).map_err(|source| Error::Bind {
                what: "DNS UDP",
                addr: local,
                source,
            })?
        } else {
            socks[0].try_clone().map_err(io("DNS UDP socket clone"))?
        };
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(io("DNS UDP read timeout"))?;
        socks.push(s);
    }
    for (i, sock) in socks.into_iter().enumerate() {
        let shared = shared.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name(format!("dns-udp-{i}"))
            .spawn(move || udp_loop(sock, shared, stop))
            .map_err(io("DNS UDP thread"))?;
    }
    let tcp = tokio::spawn(tcp_loop(tcp, shared));
    Ok(RunningDns {
        addr: local,
        stop,
        tcp,
    })
}

/// A UDP socket bound to `addr`; with `reuse_port`, with `SO_REUSEPORT`, so each DNS thread
/// can have its own socket on the same port (only processes of the same user can join the
/// group).
fn udp_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn udp_loop(sock: std::net::UdpSocket, shared: Arc<Shared>, stop: StopFlag) {
    batch::serve(
        &sock,
        || stop.stopped(),
        |packet, src| answer(&shared, packet, src, true),
    );
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

/// Answers one DNS message from `src` (`udp`: the answer must fit the client's UDP
/// payload); `None` means drop it (no full header, or a response).
pub fn answer(shared: &Shared, packet: &[u8], src: IpAddr, udp: bool) -> Option<Vec<u8>> {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return None; // no header, or a response: drop
    }
    if let Some(out) = fast::fast_answer(shared, packet, src) {
        return Some(out);
    }
    general::general_answer(shared, packet, src, udp)
}
