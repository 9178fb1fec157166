//! One child process: started with its stdout and stderr appended to its log file, tied to
//! `up`'s life, awaited until it announces its address, stopped with SIGTERM then SIGKILL.
//!
//! - **Tied to `up`**: each child gets `PR_SET_PDEATHSIG(SIGTERM)`, so it stops even when `up`
//!   is killed with SIGKILL, and its own process group, so a Ctrl-C in the terminal reaches
//!   `up` only and `up` stops the children in order. (The death signal fires when the
//!   *thread* that spawned the child ends: children are spawned from the async runtime's
//!   worker threads, which live as long as `up`.)
//! - **Startup**: the child's log is read from where this start began until a
//!   `listening on http://ADDR` line appears; an exit before it, or silence for
//!   [`START_TIMEOUT`], is an error quoting the log's last lines.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::error::UpError;
use crate::plan::ComponentSpec;

/// How long a child may take to print `listening on`.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a child may take to exit after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Lines of a log quoted in an error.
const TAIL_LINES: usize = 12;

/// Bind-and-release test of every address (TCP; the redirector's DNS address also UDP):
/// the first one taken is an [`UpError::AddrInUse`] naming its component.
pub fn check_free(addrs: &[(String, SocketAddr)]) -> Result<(), UpError> {
    for (component, addr) in addrs {
        let tcp = TcpListener::bind(addr).map(drop);
        let udp = if component.ends_with("(dns)") {
            std::net::UdpSocket::bind(addr).map(drop)
        } else {
            Ok(())
        };
        if let Err(e) = tcp.and(udp) {
            return Err(if e.kind() == std::io::ErrorKind::AddrInUse {
                UpError::AddrInUse {
                    component: component.clone(),
                    addr: *addr,
                }
            } else {
                UpError::Bind {
                    component: component.clone(),
                    addr: *addr,
                    source: e,
                }
            });
        }
    }
    Ok(())
}

/// A started child and where its output of this start begins in the log.
#[derive(Debug)]
pub struct Started {
    /// The process.
    pub child: Child,
    /// Its pid.
    pub pid: u32,
    /// When it was spawned.
    pub at: Instant,
}

/// Spawns `spec`, its stdout and stderr appended to `spec.log` (after a marker line), and
/// waits for its `listening on` line.
pub async fn start(spec: &ComponentSpec) -> Result<Started, UpError> {
    let io = |what, source| UpError::Io {
        what,
        path: spec.log.clone(),
        source,
    };
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(|e| io("cannot open log", e))?;
    writeln!(
        log,
        "--- dashcdn up: starting {} {} ---",
        spec.program.display(),
        spec.args.join(" ")
    )
    .map_err(|e| io("cannot write log", e))?;
    let offset = log
        .seek(SeekFrom::End(0))
        .map_err(|e| io("cannot write log", e))?;
    let err = log.try_clone().map_err(|e| io("cannot open log", e))?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true);
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // up died between fork and prctl: nobody would stop this child
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|source| UpError::Spawn {
        component: spec.id.clone(),
        program: spec.program.clone(),
        source,
    })?;
    let pid = child.id().unwrap_or(0);
    let at = Instant::now();
    loop {
        if listening_since(&spec.log, offset) {
            return Ok(Started { child, pid, at });
        }
        if let Ok(Some(status)) = child.try_wait() {
            // what it printed before exiting is in the log by now
            return Err(UpError::DiedAtStartup {
                component: spec.id.clone(),
                status: describe(status),
                log: spec.log.clone(),
                tail: tail(&spec.log, offset),
            });
        }
        if at.elapsed() > START_TIMEOUT {
            signal(pid, libc::SIGKILL);
            let _ = child.wait().await;
            return Err(UpError::StartTimeout {
                component: spec.id.clone(),
                secs: START_TIMEOUT.as_secs(),
                log: spec.log.clone(),
                tail: tail(&spec.log, offset),
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether the log has a `listening on http://` (or, for the encoder, `publishing http://`,
/// printed once the origin has stored its first MPD) line after `offset`.
fn listening_since(log: &Path, offset: u64) -> bool {
    read_from(log, offset).lines().any(|l| {
        let l = l.trim_start();
        // servers announce their address; the encoder (`up --live`) the URL it publishes
        l.starts_with("listening on http://") || l.starts_with("publishing http://")
    })
}

fn read_from(log: &Path, offset: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_end(&mut text);
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// The last lines of `log` written after `offset`, indented, for an error message.
pub fn tail(log: &Path, offset: u64) -> String {
    let text = read_from(log, offset);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    lines[from..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `sig` to `pid` (ignored if it is gone).
pub fn signal(pid: u32, sig: libc::c_int) {
    if pid > 0 {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as libc::pid_t, sig);
        }
    }
}

/// Stops `child`: SIGTERM, up to [`STOP_GRACE`] to exit, then SIGKILL. Returns its status.
pub async fn stop(child: &mut Child, pid: u32) -> Option<ExitStatus> {
    signal(pid, libc::SIGTERM);
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            signal(pid, libc::SIGKILL);
            child.wait().await.ok()
        }
    }
}

/// `exit status 3`, `signal 9 (SIGKILL)`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("signal {s} ({})", signal_name(s)),
        _ => status.to_string(),
    }
}

fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_address_names_its_component() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let free = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = check_free(&[("origin".into(), free), ("edge-us".into(), addr)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("edge-us: {addr} is already in use (another dashcdn up?)")
        );
        check_free(&[("origin".into(), free)]).unwrap();
    }

    fn spec(dir: &Path, script: &str) -> ComponentSpec {
        ComponentSpec {
            role: crate::plan::Role::Origin,
            id: "test".into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            url: String::new(),
            region: None,
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![],
            log: dir.join("test.log"),
        }
    }

    #[tokio::test]
    async fn waits_for_the_announcement_and_stops_with_sigterm() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(
            dir.path(),
            "echo hello; echo 'listening on http://127.0.0.1:1'; exec sleep 30",
        );
        let mut started = start(&s).await.unwrap();
        let status = stop(&mut started.child, started.pid).await.unwrap();
        assert_eq!(describe(status), "signal 15 (SIGTERM)");
        let log = std::fs::read_to_string(&s.log).unwrap();
        assert!(
            log.contains("--- dashcdn up: starting sh") && log.contains("hello"),
            "{log}"
        );
    }

    #[tokio::test]
    async fn an_exit_at_startup_quotes_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(dir.path(), "echo 'bad flag --x' >&2; exit 2");
        let err = start(&s).await.unwrap_err().to_string();
        assert!(
            err.starts_with("test: exited (exit status 2) during startup"),
            "{err}"
        );
        assert!(err.contains("  | bad flag --x"), "{err}");
    }
}
