//! Real processes under test: [`Process`] is a spawned child that is killed and reaped when
//! it goes out of scope (a failing assertion never leaves a server running), with everything
//! it prints captured so a failure can say what the child said.
//!
//! Our servers announce their address on stdout with a `listening on http://ADDR` line
//! (after any other address lines, such as the redirector's `dns on ADDR (udp+tcp)`);
//! [`Process::listening`] reads up to that line, with a timeout, and fails with what the
//! child printed if it exits or stays silent instead.
//!
//! Output flows through two reader threads, one per pipe: each appends to its buffer
//! ([`Process::stdout`], [`Process::stderr`]); the stdout thread also queues every line for
//! [`Process::next_line`], so the child never blocks on a full pipe whether or not the test
//! reads its lines.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`Process::listening`] waits for the announcement by default.
pub const LISTENING_TIMEOUT: Duration = Duration::from_secs(60);

/// The most output of each stream quoted in a [`WaitError`] (its tail).
const QUOTE_BYTES: usize = 8 << 10;

/// A spawned child process, killed and reaped on drop, its output captured.
pub struct Process {
    child: Child,
    name: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    lines: Receiver<String>,
    readers: Vec<JoinHandle<()>>,
}

/// Why a wait for a line or an exit failed; the message quotes what the child printed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// Nothing matching within the timeout.
    #[error("{name}: no {what} within {after:?}\n{output}")]
    TimedOut {
        /// The process (program and first arguments).
        name: String,
        /// What was awaited.
        what: String,
        /// The timeout.
        after: Duration,
        /// What it printed so far (tails of stdout and stderr).
        output: String,
    },
    /// The child closed its stdout (usually: exited) before printing it.
    #[error("{name}: exited ({status}) before {what}\n{output}")]
    Exited {
        /// The process (program and first arguments).
        name: String,
        /// What was awaited.
        what: String,
        /// Its exit status, or `still running` if it only closed stdout.
        status: String,
        /// What it printed (tails of stdout and stderr).
        output: String,
    },
}

/// What [`Process::listening`] read: the announced URL and the lines printed before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listening {
    /// The URL of the `listening on URL` line (`http://ADDR`).
    pub url: String,
    /// The stdout lines before it (the redirector's `dns on ADDR (udp+tcp)`).
    pub before: Vec<String>,
}

/// The URL announced by a `listening on URL` line, if `line` is one.
pub fn listening_url(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("listening on ")
        .map(str::trim)
        .filter(|url| !url.is_empty())
}

impl Process {
    /// Spawns `cmd` with stdin closed and stdout/stderr captured (any stdio set on `cmd`
    /// is replaced).
    pub fn spawn(cmd: &mut Command) -> io::Result<Process> {
        let name = std::iter::once(cmd.get_program())
            .chain(cmd.get_args().take(2))
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let (tx, lines) = mpsc::channel();
        let readers = vec![
            read_into(child.stdout.take().unwrap(), Arc::clone(&stdout), Some(tx)),
            read_into(child.stderr.take().unwrap(), Arc::clone(&stderr), None),
        ];
        Ok(Process {
            child,
            name,
            stdout,
            stderr,
            lines,
            readers,
        })
    }

    /// The child's process id (for signals).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The program and its first arguments, as failure messages name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The tails of stdout and stderr, labelled, for a failure message.
    pub fn output_report(&self) -> String {
        format!(
            "--- stdout:\n{}\n--- stderr:\n{}",
            tail(&self.stdout(), QUOTE_BYTES),
            tail(&self.stderr(), QUOTE_BYTES)
        )
    }

    /// The next stdout line not yet taken (without its line end).
    pub fn next_line(&mut self, timeout: Duration) -> Result<String, WaitError> {
        self.wait_for_line(timeout, "output line", |l| Some(l.to_owned()))
            .map(|(line, _)| line)
    }

    /// Takes stdout lines until `pick` returns `Some` for one, and returns that value with
    /// the lines taken before it; fails after `timeout` or when stdout closes. `what` names
    /// the awaited line in the error.
    pub fn wait_for_line<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<(T, Vec<String>), WaitError> {
        let deadline = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => match pick(&line) {
                    Some(v) => return Ok((v, before)),
                    None => before.push(line),
                },
                Err(RecvTimeoutError::Timeout) => {
                    return Err(WaitError::TimedOut {
                        name: self.name.clone(),
                        what: what.to_owned(),
                        after: timeout,
                        output: self.output_report(),
                    })
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stdout closed: give the exit a moment to be observable
                    let status = self.exit_status_within(Duration::from_secs(2));
                    return Err(WaitError::Exited {
                        name: self.name.clone(),
                        what: what.to_owned(),
                        status: status.map_or("still running".into(), |s| s.to_string()),
                        output: self.output_report(),
                    });
                }
            }
        }
    }

    /// Reads stdout up to the `listening on URL` line ([`listening_url`]) within `timeout`.
    pub fn listening(&mut self, timeout: Duration) -> Result<Listening, WaitError> {
        self.wait_for_line(timeout, "`listening on URL` line", |l| {
            listening_url(l).map(str::to_owned)
        })
        .map(|(url, before)| Listening { url, before })
    }

    /// The exit status if the child has exited (does not block).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Kills the child (if still running) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the child to exit and for its output to end, and returns both: like
    /// [`Command::output`], for a process the test watched while it ran.
    pub fn wait_output(mut self) -> io::Result<Output> {
        let status = self.child.wait()?;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Ok(Output {
            status,
            stdout: self.stdout().into_bytes(),
            stderr: self.stderr().into_bytes(),
        })
    }

    fn exit_status_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        }
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        // the reader threads end at EOF; a grandchild holding the pipes keeps them alive,
        // so they are not joined here
    }
}

/// Appends every line of `pipe` to `buf` (and queues it on `lines` without its line end).
fn read_into(
    pipe: impl Read + Send + 'static,
    buf: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut pipe = BufReader::new(pipe);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match pipe.read_until(b'\n', &mut raw) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&raw);
            buf.lock().unwrap().push_str(&text);
            if let Some(tx) = &lines {
                let line = text.trim_end_matches(['\n', '\r']).to_owned();
                let _ = tx.send(line);
            }
        }
    })
}

/// The last `max` bytes of `text` (from a char boundary), marked when cut.
fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[… {start} bytes before]{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Process {
        Process::spawn(Command::new("sh").args(["-c", script])).unwrap()
    }

    #[test]
    fn parses_the_announcement() {
        assert_eq!(
            listening_url("listening on http://127.0.0.1:8080\n"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(listening_url("listening on "), None);
        assert_eq!(listening_url("dns on 127.0.0.1:53 (udp+tcp)"), None);
    }

    #[test]
    fn reads_up_to_the_listening_line_and_keeps_the_lines_before() {
        let mut p = sh("echo 'dns on 127.0.0.1:5353 (udp+tcp)'; echo 'listening on http://127.0.0.1:9'; echo after; echo oops >&2; sleep 30");
        let l = p.listening(Duration::from_secs(10)).unwrap();
        assert_eq!(l.url, "http://127.0.0.1:9");
        assert_eq!(l.before, ["dns on 127.0.0.1:5353 (udp+tcp)"]);
        assert_eq!(p.next_line(Duration::from_secs(10)).unwrap(), "after");
        crate::eventually_sync(Duration::from_secs(10), || p.stderr() == "oops\n");
    }

    #[test]
    fn an_early_exit_is_reported_with_the_output() {
        let mut p = sh("echo starting; echo 'bad flag' >&2; exit 3");
        let err = p.listening(Duration::from_secs(10)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, WaitError::Exited { .. }), "{text}");
        assert!(text.contains("exited (exit status: 3)"), "{text}");
        assert!(
            text.contains("starting") && text.contains("bad flag"),
            "{text}"
        );
        assert!(text.starts_with("sh -c"), "{text}");
    }

    #[test]
    fn silence_times_out_and_drop_kills_and_reaps() {
        let mut p = sh("echo hello; sleep 30");
        let err = p.listening(Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, WaitError::TimedOut { .. }), "{err}");
        assert!(err.to_string().contains("hello"), "{err}");
        let pid = p.id();
        drop(p);
        // reaped: no such process any more (not even a zombie)
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn wait_output_returns_everything() {
        let p = sh("printf 'a\\nb\\n'; printf 'e' >&2");
        let out = p.wait_output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"a\nb\n");
        assert_eq!(out.stderr, b"e");
    }

    #[test]
    fn tail_cuts_at_a_char_boundary() {
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("aéb", 2), "[… 3 bytes before]b");
    }
}
