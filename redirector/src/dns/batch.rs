//! Batched UDP I/O for the DNS threads: `recvmmsg(2)` takes every query waiting on the socket
//! (up to [`BATCH`]) in one call, `sendmmsg(2)` sends all their answers in one more.
//!
//! Why: a profile of the redirector under `dnsperf` (redirector/bench/RESULTS.md) spent more
//! time switching threads and entering the kernel than answering — one blocking `recv_from`
//! wake-up and one `send_to` per query. Knot DNS, the peer, batches the same way. A thread
//! still blocks for the first packet (`MSG_WAITFORONE`), so an idle server sleeps as before
//! and wakes on the socket's read timeout to check its stop flag.
//! Hand-written on `libc`: std has no `recvmmsg`, and the crates that wrap it (`nix`,
//! `socket2`'s unstable parts) would add a dependency for two calls.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

/// Most datagrams one call receives or sends.
pub(crate) const BATCH: usize = 32;
/// Largest query read (what the former single-packet loop read).
const MAX_PACKET: usize = 4096;

/// Serves `sock` until `stopped()` is true: receives up to [`BATCH`] queries, asks `answer`
/// for each, sends the answers back in one call.
pub(crate) fn serve(
    sock: &std::net::UdpSocket,
    stopped: impl Fn() -> bool,
    mut answer: impl FnMut(&[u8], IpAddr) -> Option<Vec<u8>>,
) {
    let fd = sock.as_raw_fd();
    let mut bufs = vec![[0u8; MAX_PACKET]; BATCH];
    // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs; all-zero is valid.
    let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut outs: Vec<(Vec<u8>, usize)> = Vec::with_capacity(BATCH);
    while !stopped() {
        for i in 0..BATCH {
            iovs[i] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr().cast(),
                iov_len: MAX_PACKET,
            };
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            msgs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers/addresses sized as declared above.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            // EAGAIN on the read timeout (time to look at the stop flag), EINTR, or a
            // transient error: go round again.
            continue;
        }
        outs.clear();
        for i in 0..n as usize {
            let len = msgs[i].msg_len as usize;
            let Some(peer) = to_socket_addr(&addrs[i]) else {
                continue;
            };
            if let Some(out) = answer(&bufs[i][..len], peer.ip()) {
                outs.push((out, i));
            }
        }
        send_all(fd, &mut outs, &mut addrs, &mut msgs, &mut iovs);
    }
}

/// Sends every answer to the address its query came from, in as few `sendmmsg` calls as
/// the kernel takes (a full socket buffer drops the rest, as a failed `send_to` did).
fn send_all(
    fd: libc::c_int,
    outs: &mut [(Vec<u8>, usize)],
    addrs: &mut [libc::sockaddr_storage],
    msgs: &mut [libc::mmsghdr],
    iovs: &mut [libc::iovec],
) {
    for (j, (out, i)) in outs.iter_mut().enumerate() {
        iovs[j] = libc::iovec {
            iov_base: out.as_mut_ptr().cast(),
            iov_len: out.len(),
        };
        let namelen = match addrs[*i].ss_family as libc::c_int {
            libc::AF_INET => std::mem::size_of::<libc::sockaddr_in>(),
            _ => std::mem::size_of::<libc::sockaddr_in6>(),
        };
        let h = &mut msgs[j].msg_hdr;
        h.msg_name = (&mut addrs[*i] as *mut libc::sockaddr_storage).cast();
        h.msg_namelen = namelen as libc::socklen_t;
        h.msg_iov = &mut iovs[j];
        h.msg_iovlen = 1;
        h.msg_control = std::ptr::null_mut();
        h.msg_controllen = 0;
        h.msg_flags = 0;
    }
    let mut sent = 0usize;
    while sent < outs.len() {
        // SAFETY: headers 0..outs.len() point at live answers and addresses.
        let r = unsafe {
            libc::sendmmsg(
                fd,
                msgs[sent..].as_mut_ptr(),
                (outs.len() - sent) as libc::c_uint,
                libc::MSG_NOSIGNAL,
            )
        };
        if r <= 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // Skip the datagram that failed (e.g. an unreachable peer) and go on.
            sent += 1;
            continue;
        }
        sent += r as usize;
    }
}

/// The address in a `sockaddr_storage` the kernel filled in.
fn to_socket_addr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// [`serve`] on `sock` in a thread, until [`Running::stop`].
    struct Running {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        thread: std::thread::JoinHandle<()>,
    }

    impl Running {
        fn start(
            sock: std::net::UdpSocket,
            answer: impl FnMut(&[u8], IpAddr) -> Option<Vec<u8>> + Send + 'static,
        ) -> Running {
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let addr = sock.local_addr().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread =
                std::thread::spawn(move || serve(&sock, || flag.load(Ordering::Relaxed), answer));
            Running { addr, stop, thread }
        }

        /// Stops the thread; fails the test if the answer function panicked.
        fn stop(self) {
            self.stop.store(true, Ordering::Relaxed);
            self.thread.join().unwrap();
        }
    }

    /// Many datagrams from several sockets (v4), each answered to its own sender.
    #[test]
    fn every_query_is_answered_to_its_sender_in_batches() {
        let server = Running::start(std::net::UdpSocket::bind("127.0.0.1:0").unwrap(), |q, _| {
            let mut a = q.to_vec();
            a.reverse();
            Some(a)
        });
        let addr = server.addr;
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                c
            })
            .collect();
        // 4 clients x 50 queries sent before any answer is read: the server sees batches.
        for (k, c) in clients.iter().enumerate() {
            for i in 0..50u8 {
                c.send_to(&[k as u8, i, 0xAB], addr).unwrap();
            }
        }
        for (k, c) in clients.iter().enumerate() {
            let mut got = Vec::new();
            let mut buf = [0u8; 16];
            for _ in 0..50 {
                let (n, from) = c.recv_from(&mut buf).unwrap();
                assert_eq!(from, addr);
                assert_eq!(n, 3);
                assert_eq!(buf[2], k as u8, "answer went to the wrong client");
                got.push(buf[1]);
            }
            got.sort_unstable();
            assert_eq!(got, (0..50u8).collect::<Vec<_>>());
        }
        server.stop();
    }

    #[test]
    fn v6_addresses_round_trip() {
        let Ok(sock) = std::net::UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 loopback here
        };
        let server = Running::start(sock, |q, ip| {
            assert_eq!(ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
            Some(q.to_vec())
        });
        let c = std::net::UdpSocket::bind("[::1]:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.send_to(b"hello", server.addr).unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], server.addr));
        server.stop();
    }
}
