//! Send-buffer policy for file bodies sent with `sendfile(2)` ([`crate::direct`]).
//!
//! ## What it does
//! Before the first file body on a connection, the direct path may raise the socket's
//! `SO_SNDBUF` to the kernel's TCP send-buffer ceiling (`net.ipv4.tcp_wmem`'s maximum; the
//! kernel doubles the value it is given, for its bookkeeping). A whole segment then fits in
//! the buffer: one or two `sendfile` calls and writable wake-ups per response instead of one
//! per half-buffer the autotuned buffer frees.
//!
//! ## Why
//! With nginx and the origin both sending with `sendfile`, the kernel's splice path is about
//! 90 % of either's CPU; what is left on our side is mostly tokio's wake-ups per writable
//! event. Measured with `origin/bench/origin_vs_nginx.sh` (4 MiB segment, 64 connections,
//! 2 cores, interleaved A/B, 2026-12-06): CPU seconds per GB 0.083 with the raised buffer
//! against 0.132 without (nginx 0.094) on shared cores, 0.073 against 0.091 (nginx 0.077)
//! with wrk on a core of its own; no difference beyond the noise at 1 MiB. The runs are in
//! `origin/bench/README.md`.
//!
//! ## When it does not
//! Setting `SO_SNDBUF` turns the kernel's autotuning off for that socket, and the kernel
//! clamps the value to `net.core.wmem_max`. On a stock system `wmem_max` (208 KiB) is far
//! below the autotuning ceiling (4 MiB), so a fixed buffer would be *smaller* than what
//! autotuning reaches on a long fat path: [`raised_send_buffer`] then declines and the
//! socket keeps autotuning. The buffer is raised only where the administrator has allowed
//! buffers as large as the ceiling (`wmem_max` ≥ `tcp_wmem` max), as streaming hosts are
//! commonly tuned; lowering `wmem_max` turns the policy off. Only file bodies raise it:
//! their queued bytes are references to page-cache pages, not copies, so a slow reader
//! holding a full buffer costs no memory beyond the file's cached pages.

use std::os::fd::RawFd;
use std::sync::OnceLock;

/// The `SO_SNDBUF` value to set before sending a file, given `net.core.wmem_max` and the
/// maximum of `net.ipv4.tcp_wmem` (bytes): the autotuning ceiling, if the kernel lets a
/// socket have a buffer that large; `None` (leave autotuning on) otherwise.
pub fn raised_send_buffer(wmem_max: u64, tcp_wmem_max: u64) -> Option<libc::c_int> {
    if tcp_wmem_max == 0 || wmem_max < tcp_wmem_max {
        return None;
    }
    libc::c_int::try_from(tcp_wmem_max).ok()
}

/// The third field of `net.ipv4.tcp_wmem` ("min default max").
fn tcp_wmem_max(text: &str) -> Option<u64> {
    text.split_whitespace().nth(2)?.parse().ok()
}

/// This host's policy, read once from `/proc/sys` (`None` if a file cannot be read).
fn policy() -> Option<libc::c_int> {
    static POLICY: OnceLock<Option<libc::c_int>> = OnceLock::new();
    *POLICY.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let wmem_max = read("/proc/sys/net/core/wmem_max")?.trim().parse().ok()?;
        let tcp_max = tcp_wmem_max(&read("/proc/sys/net/ipv4/tcp_wmem")?)?;
        let raised = raised_send_buffer(wmem_max, tcp_max);
        tracing::debug!(wmem_max, tcp_max, ?raised, "send buffer for file bodies");
        raised
    })
}

/// Raises `sock`'s send buffer as [`raised_send_buffer`] says for this host; does nothing
/// where the policy declines. A failing `setsockopt` only leaves autotuning on.
pub fn raise_for_file(sock: RawFd) {
    if let Some(n) = policy() {
        // SAFETY: `sock` is an open socket; the option value is a live `c_int` of the
        // length given.
        unsafe {
            libc::setsockopt(
                sock,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&n as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_to_the_autotuning_ceiling_only_where_the_kernel_allows_it() {
        // tuned host: wmem_max at or above the ceiling
        assert_eq!(raised_send_buffer(4 << 20, 4 << 20), Some(4 << 20));
        assert_eq!(raised_send_buffer(16 << 20, 6 << 20), Some(6 << 20));
        // stock host: a fixed buffer would be clamped below what autotuning reaches
        assert_eq!(raised_send_buffer(212_992, 4 << 20), None);
        // nonsense values leave autotuning on
        assert_eq!(raised_send_buffer(4 << 20, 0), None);
        assert_eq!(raised_send_buffer(u64::MAX, 1 << 40), None);
    }

    #[test]
    fn reads_the_maximum_of_tcp_wmem() {
        assert_eq!(tcp_wmem_max("4096\t16384\t4194304\n"), Some(4_194_304));
        assert_eq!(tcp_wmem_max("4096 16384"), None);
        assert_eq!(tcp_wmem_max("a b c"), None);
    }

    #[test]
    fn a_raised_buffer_is_what_the_socket_gets_and_is_at_least_the_ceiling() {
        let Some(n) = policy() else {
            return; // stock host: nothing is set (covered above)
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sock = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
        raise_for_file(fd);
        let mut got: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `fd` is open; `got`/`len` are live and sized for a c_int.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&mut got as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        assert!(got >= n, "SO_SNDBUF {got} < {n}");
    }
}
