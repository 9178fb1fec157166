//! The descriptor budget of a server process, and from it the default limit on concurrent
//! client connections ([`default_max_connections`]).
//!
//! ## Policy
//! Every client connection is one descriptor; a request in flight may hold one more while
//! it runs (the origin's open file, the edge's upstream socket or disk-tier file). The
//! process also keeps a few for itself (listeners, the runtime's epoll and wakers, log
//! files, the redirector's DNS sockets, the edge's idle upstream pool). So, from the soft
//! `RLIMIT_NOFILE` (the limit `open`/`accept` actually hit):
//!
//! `max_connections = (soft − RESERVE) / 2`, at least [`MIN_CONNECTIONS`]
//!
//! — half of what is left after [`RESERVE`] for connections, half for what their requests
//! open. At the common soft limit of 1,024 that is 480 connections; at 65,536, 32,736.
//! Slow or idle connections (the slowloris case) hold no second descriptor, so at the
//! limit the process still has room for the files and upstream sockets of the requests
//! it serves: a well-behaved client is not refused with `Too many open files`.
//! [`crate::server`] decides what happens at the limit.
//!
//! The soft limit is read, never raised: an operator who wants more connections raises
//! it (`ulimit -n`, systemd's `LimitNOFILE=`) or sets `max_connections`.

use std::io;

/// Descriptors kept out of the connection budget for the process itself.
pub const RESERVE: u64 = 64;

/// The smallest default connection limit, whatever the descriptor limit.
pub const MIN_CONNECTIONS: usize = 16;

/// Used when the limit cannot be read or is unlimited (`RLIM_INFINITY`).
const UNLIMITED_AS: u64 = 1 << 20;

/// The process's `RLIMIT_NOFILE` as `(soft, hard)`; `RLIM_INFINITY` is reported as
/// 2^20.
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes one `rlimit` into the valid, exclusively borrowed `lim`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // `rlim_t` is `u64` on Linux.
    let finite = |v: libc::rlim_t| -> u64 {
        if v == libc::RLIM_INFINITY {
            UNLIMITED_AS
        } else {
            v
        }
    };
    Ok((finite(lim.rlim_cur), finite(lim.rlim_max)))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (as Go programs do at start) and
/// returns the new soft limit. For load generators and tests that open many sockets;
/// servers do not call it (see the [module documentation](self)).
pub fn raise_nofile_soft_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as in `nofile_limit`; then `setrlimit` reads the initialised `lim`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(nofile_limit()?.0)
}

/// The default connection limit for a soft descriptor limit of `soft` (see the
/// [module documentation](self)).
pub fn max_connections_for(soft: u64) -> usize {
    let budget = soft.saturating_sub(RESERVE) / 2;
    usize::try_from(budget)
        .unwrap_or(usize::MAX)
        .max(MIN_CONNECTIONS)
}

/// The default connection limit of this process, from its current soft `RLIMIT_NOFILE`
/// ([`max_connections_for`]; 2^20 descriptors assumed if the limit cannot be read).
pub fn default_max_connections() -> usize {
    let soft = nofile_limit().map(|(soft, _)| soft).unwrap_or(UNLIMITED_AS);
    max_connections_for(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_of_what_is_left_after_the_reserve() {
        assert_eq!(max_connections_for(1024), 480);
        assert_eq!(max_connections_for(65_536), 32_736);
        assert_eq!(max_connections_for(100), 18);
        assert_eq!(max_connections_for(80), MIN_CONNECTIONS);
        assert_eq!(max_connections_for(0), MIN_CONNECTIONS);
    }

    #[test]
    fn reads_this_process_limit() {
        let (soft, hard) = nofile_limit().unwrap();
        assert!(soft > 0 && soft <= hard, "{soft} {hard}");
        assert_eq!(default_max_connections(), max_connections_for(soft));
    }
}
