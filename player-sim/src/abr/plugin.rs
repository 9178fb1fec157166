//! ABRs as plug-ins, in any language: `--abr 'plugin:python3 my_abr.py'`.
//!
//! The text after `plugin:` is a command line, split on whitespace with simple quoting (`'...'`
//! literal, `"..."` with `\"` and `\\`, `\x` outside quotes); no shell is involved. A plug-in
//! command cannot contain a comma, since `--abr` lists are comma-separated. The plug-in's name in
//! tables is `plugin:` + the file name of its first argument that is not an option (the
//! program's own name when there is none): `plugin:bba.py` (the whole command when two plug-ins
//! of a study would share a name).
//!
//! # Protocol, version 1
//!
//! JSON lines over the child's stdin (dashcdn → plug-in) and stdout (plug-in → dashcdn); one
//! object per line, UTF-8, `\n`-terminated. The plug-in's stderr is free for logging (its last
//! lines are quoted when it dies). Numbers are IEEE doubles printed shortest-round-trip, so a
//! plug-in computing in doubles sees exactly what the built-in ABRs see; unknown ("not yet
//! known") values are `null`. Every message has a `type`.
//!
//! **`start`** — a new playback begins; the plug-in resets its per-playback state. Answer with a
//! hello line. One process serves many playbacks in turn (see *Processes* below).
//!
//! ```json
//! {"type":"start","version":1,"model":"pensieve","sizes":"exact","levels":6,
//!  "bitrates_kbps":[300,750,1200,1850,2850,4300],"segment_ms":4000,"segments":48,
//!  "buffer_max_ms":60000,"sizes_bits":[[1, ...], ...]}
//! ```
//!
//! `model` is `sabre`, `pensieve` or `generic` (some reference rules differ per model, e.g. BBA
//! computes in seconds under Pensieve); `sizes_bits[segment][quality]` holds the sizes of the
//! `segments` segments played, `sizes` says whether they are `exact` (the simulator) or
//! `nominal` (`play`/`swarm`: `@bandwidth × duration` from the MPD).
//!
//! Reply: `{"type":"hello","version":1,"wants":["abandon"]}`. `version` must be 1; `wants`
//! lists optional calls: `"abandon"` asks for `abandon` messages during downloads (without it
//! none are sent, so a plug-in that never abandons costs nothing there).
//!
//! **Requests** — each needs one answer line. All carry the player state the built-in ABRs get
//! ([`super::Ctx`]) and the reports since the previous request:
//!
//! ```json
//! {"type":"decide","index":3,"buffer_ms":9873.2,"last_quality":2,"throughput_kbps":2810.5,
//!  "latency_ms":80,"next_sizes_bits":[...per quality...],"reports":[...]}
//! ```
//!
//! * `first` (Sabre/generic models, segment 0, before any download) → `{"quality": q}`. The
//!   Pensieve model always starts at quality 1 and never asks.
//! * `decide` (segment `index`, 0-based; `buffer_ms` is the level now) → `{"quality": q}` or
//!   `{"quality": q, "delay_ms": d}` (idle `d` ms before the request; Sabre/generic). Under
//!   Pensieve the decision after the last segment is asked (as `bb.py` does) and discarded;
//!   `next_sizes_bits` is then `[]`.
//! * `abandon` (only if wanted; during the download of `index` at `quality`, every 50 ms or
//!   12 kbit in simulation, as chunks arrive in `play`) with extra fields `quality`,
//!   `size_bits`, `downloaded_bits`, `time_ms` (since the request, incl. latency), `ttfb_ms`,
//!   `level_ms` (the level at request minus the elapsed time, floored at 0) →
//!   `{"abandon_to": null}` to go on or `{"abandon_to": q}` to abandon to quality `q`.
//!
//! `q` is an integer in `0..levels`. Any answer may instead be `{"error": "text"}`: the playback
//! fails with that text (the process stays in use).
//!
//! **Reports** need no answer: they ride in the `reports` list of the next request, in order,
//! so each decision costs one round trip:
//!
//! * `{"type":"download","index":i,"quality":q,"size_bits":..,"downloaded_bits":..,
//!   "time_ms":..,"ttfb_ms":..,"abandon_to":null|q,"buffer_ms":..}` — a download finished
//!   (or was abandoned: `abandon_to` set, `downloaded_bits < size_bits`); `buffer_ms` is the
//!   level after it.
//! * `{"type":"delay","ms":d}` — the player idled `d` ms with a full buffer before the next
//!   decision.
//!
//! **`end`** — `{"type":"end","reports":[...]}`: the playback is over (with the reports since
//! the last request); no answer. The next message is the next `start`.
//!
//! `examples/abr/dashcdn_abr.py` implements this loop in Python (a plug-in writes only a
//! `decide` function); `examples/abr/bba.py` is the built-in BBA as a plug-in.
//!
//! # Processes
//!
//! A child is spawned when a playback needs one and no idle child of the same command exists;
//! after a playback it goes back to a per-command idle pool, so a study spawns about one child
//! per worker thread, not one per playback ([`close_idle`] ends idle children). A child that
//! failed is killed and reaped, never reused; the next playback starts a fresh one. Children are
//! killed and reaped when dropped. Lines from the plug-in are bounded ([`MAX_LINE_BYTES`]).
//!
//! # Errors
//!
//! A plug-in that exits, answers bad JSON, an out-of-range quality, an `error`, or nothing
//! within the timeout ([`super::AbrOptions::plugin_timeout`], default 5 s per answer; the first
//! answer of a new process may take up to 30 s for imports) fails that playback:
//! [`Abr::failure`] names the command and what happened, e.g. `plug-in "python3 my_abr.py":
//! answered quality 9 for segment 3, ladder has 6 (0..5)`. The session stops early; studies
//! go on with the other playbacks and report the failures.
//!
//! # Overhead
//!
//! One round trip per decision (`start` rides with the first request). Release build, 2 cores
//! kept at load ~6 by other jobs, 142 HSDPA traces × 48 decisions under the Pensieve model,
//! `examples/abr/bba.py`, `--jobs 1`: 0.42 s at best (~0.6 s typically) against 0.002 s for the
//! built-in `bba`; about 0.25 s of it is starting Python once, and a decision costs about 26 µs
//! more (`--segments 12` against `48`), 18 µs of which is the Python helper's own JSON work.
//! README, "Your own ABR in Python", has the command.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Abr, Ctx, Decision, Download, Progress};

/// Prefix of a plug-in in `--abr` lists.
pub const PREFIX: &str = "plugin:";
/// Protocol version sent in `start` and expected in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest line accepted from a plug-in, bytes; a longer one fails the playback.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Default time allowed for each answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the first answer of a new process (interpreter start, imports), at least.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle children kept per command.
const MAX_IDLE_PER_COMMAND: usize = 16;
/// Stderr lines kept for crash messages.
const STDERR_TAIL_LINES: usize = 8;

/// Errors of a plug-in ABR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// `plugin:` with nothing after it.
    #[error("plug-in command is empty (use plugin:PROGRAM [ARGS...])")]
    EmptyCommand,
    /// The command line has an unterminated quote.
    #[error("plug-in command {0:?} has an unterminated quote")]
    UnbalancedQuote(String),
    /// The program could not be started.
    #[error("plug-in \"{command}\": cannot start {program:?}: {reason}")]
    Spawn {
        /// The plug-in command.
        command: String,
        /// The program.
        program: String,
        /// The OS error.
        reason: String,
    },
    /// The plug-in misbehaved during a playback.
    #[error("plug-in \"{command}\": {what}")]
    Failed {
        /// The plug-in command.
        command: String,
        /// What happened.
        what: String,
    },
}

/// The command of a `plugin:...` algorithm spec, if it is one.
pub fn command_of(spec: &str) -> Option<&str> {
    spec.strip_prefix(PREFIX).map(str::trim)
}

/// Splits a command line on whitespace with simple quoting (no shell): `'...'` is literal,
/// `"..."` honours `\"` and `\\`, `\x` outside quotes is `x`.
pub fn split_command(cmd: &str) -> Result<Vec<String>, PluginError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(PluginError::UnbalancedQuote(cmd.to_string())),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(PluginError::UnbalancedQuote(cmd.to_string())),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(PluginError::UnbalancedQuote(cmd.to_string())),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    if out.is_empty() {
        return Err(PluginError::EmptyCommand);
    }
    Ok(out)
}

/// Short display name of an algorithm spec: built-ins as they are, a plug-in as `plugin:` + the
/// file name of its first non-option argument (or of the program), a learned policy as
/// `learned:` + its file stem.
pub fn display_name(spec: &str) -> String {
    if let Some(path) = spec.strip_prefix(super::learned::PREFIX) {
        let stem = std::path::Path::new(path)
            .file_stem()
            .map_or(path.into(), |s| s.to_string_lossy());
        return format!("{}{stem}", super::learned::PREFIX);
    }
    let Some(cmd) = command_of(spec) else {
        return spec.to_string();
    };
    let argv = split_command(cmd).unwrap_or_else(|_| vec![cmd.to_string()]);
    let pick = argv[1..]
        .iter()
        .find(|a| !a.starts_with('-'))
        .unwrap_or(&argv[0]);
    let base = pick.rsplit('/').find(|s| !s.is_empty()).unwrap_or(pick);
    format!("{PREFIX}{base}")
}

/// Display names for a list of specs ([`super::AbrKind`]s or their names): [`display_name`], or the
/// whole spec where two would collide.
pub fn display_names<S: std::fmt::Display>(specs: &[S]) -> Vec<String> {
    let full: Vec<String> = specs.iter().map(ToString::to_string).collect();
    let short: Vec<String> = full.iter().map(|s| display_name(s)).collect();
    short
        .iter()
        .zip(full)
        .map(|(n, s)| {
            if short.iter().filter(|m| *m == n).count() > 1 {
                s
            } else {
                n.clone()
            }
        })
        .collect()
}

/// What the reader thread hands over.
enum Line {
    Text(Vec<u8>),
    TooLong,
    Eof,
    Error(String),
}

/// One running plug-in process.
struct Proc {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Line>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Disconnected once the stderr drain saw the end of the plug-in's stderr.
    stderr_done: Receiver<()>,
    /// No answer read yet (allowed [`STARTUP_TIMEOUT`]).
    fresh: bool,
}

impl Proc {
    fn spawn(command: &str, argv: &[String]) -> Result<Proc, PluginError> {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| PluginError::Spawn {
                command: command.to_string(),
                program: argv[0].clone(),
                reason: e.to_string(),
            })?;
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(i), Some(o), Some(e)) => (i, o, e),
                _ => unreachable!("all three pipes were requested"),
            };
        let (tx, lines) = mpsc::sync_channel(4);
        std::thread::Builder::new()
            .name("abr-plugin-out".into())
            .spawn(move || read_lines(stdout, tx))
            .map_err(|e| PluginError::Spawn {
                command: command.to_string(),
                program: argv[0].clone(),
                reason: format!("no reader thread: {e}"),
            })?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stderr_tail.clone();
        let (done_tx, stderr_done) = mpsc::channel::<()>();
        let _ = std::thread::Builder::new()
            .name("abr-plugin-err".into())
            .spawn(move || {
                drain_stderr(stderr, tail);
                drop(done_tx);
            });
        Ok(Proc {
            child,
            stdin,
            lines,
            stderr_tail,
            stderr_done,
            fresh: true,
        })
    }

    /// Last non-empty stderr line, if any.
    fn last_stderr(&self) -> Option<String> {
        let t = self.stderr_tail.lock().ok()?;
        t.iter().rev().find(|l| !l.trim().is_empty()).cloned()
    }

    /// Why the process is gone: its exit status (waiting briefly), `during`, and its last
    /// stderr line.
    fn death(&mut self, during: &str) -> String {
        let deadline = Instant::now() + Duration::from_millis(500);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break None,
            }
        };
        // Let the stderr drain reach the end of a process that just died.
        let _ = self.stderr_done.recv_timeout(Duration::from_millis(500));
        let mut s = match status {
            Some(st) => format!("exited ({st})"),
            None => "closed its stdout".to_string(),
        };
        s.push(' ');
        s.push_str(during);
        if let Some(l) = self.last_stderr() {
            s.push_str(&format!("; stderr: {}", l.trim()));
        }
        s
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `\n`-terminated lines of at most [`MAX_LINE_BYTES`] into `tx`.
fn read_lines(stdout: impl Read, tx: mpsc::SyncSender<Line>) {
    let mut r = BufReader::with_capacity(64 * 1024, stdout);
    loop {
        let mut line = Vec::new();
        let msg = loop {
            let buf = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Line::Error(e.to_string()),
            };
            if buf.is_empty() {
                break Line::Eof;
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if line.len() + take > MAX_LINE_BYTES {
                break Line::TooLong;
            }
            line.extend_from_slice(&buf[..take]);
            r.consume(take + usize::from(done));
            if done {
                break Line::Text(line);
            }
        };
        let last = !matches!(msg, Line::Text(_));
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}

/// Keeps the last [`STDERR_TAIL_LINES`] lines (each cut to 300 bytes) of the plug-in's stderr.
fn drain_stderr(stderr: impl Read, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut r = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bounded like stdout: read at most 64 KiB per "line".
        match (&mut r).take(64 * 1024).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let mut s = String::from_utf8_lossy(&line).trim_end().to_string();
                if s.len() > 300 {
                    let mut cut = 300;
                    while !s.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    s.truncate(cut);
                    s.push('…');
                }
                if let Ok(mut t) = tail.lock() {
                    if t.len() == STDERR_TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(s);
                }
            }
        }
    }
}

/// Idle children by command.
static IDLE: Mutex<Option<HashMap<String, Vec<Proc>>>> = Mutex::new(None);

fn lease(command: &str) -> Option<Proc> {
    let mut g = IDLE.lock().ok()?;
    let v = g.as_mut()?.get_mut(command)?;
    while let Some(mut p) = v.pop() {
        if matches!(p.child.try_wait(), Ok(None)) {
            return Some(p);
        }
    }
    None
}

fn give_back(command: &str, p: Proc) {
    if let Ok(mut g) = IDLE.lock() {
        let v = g
            .get_or_insert_with(HashMap::new)
            .entry(command.to_string())
            .or_default();
        if v.len() < MAX_IDLE_PER_COMMAND {
            v.push(p);
        }
    }
}

/// Kills and reaps the idle children of the plug-ins among `specs` ([`super::AbrKind`]s or their
/// names; built-ins are ignored). Children in use are not affected.
pub fn close_idle<S: std::fmt::Display>(specs: &[S]) {
    let specs: Vec<String> = specs.iter().map(ToString::to_string).collect();
    let gone: Vec<Proc> = match IDLE.lock() {
        Ok(mut g) => match g.as_mut() {
            Some(m) => specs
                .iter()
                .filter_map(|s| command_of(s))
                .flat_map(|c| m.remove(c).unwrap_or_default())
                .collect(),
            None => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    drop(gone);
}

/// A report waiting for the next request.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Report {
    Download {
        index: usize,
        quality: usize,
        size_bits: f64,
        downloaded_bits: f64,
        time_ms: f64,
        ttfb_ms: f64,
        abandon_to: Option<usize>,
        buffer_ms: f64,
    },
    Delay {
        ms: f64,
    },
}

#[derive(Serialize)]
struct StartMsg<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    version: u32,
    model: &'static str,
    sizes: &'static str,
    levels: usize,
    bitrates_kbps: &'a [f64],
    segment_ms: f64,
    segments: usize,
    buffer_max_ms: f64,
    sizes_bits: &'a [Vec<f64>],
}

#[derive(Serialize)]
struct ProgressMsg {
    quality: usize,
    size_bits: f64,
    downloaded_bits: f64,
    time_ms: f64,
    ttfb_ms: f64,
    level_ms: f64,
}

#[derive(Serialize)]
struct RequestMsg<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    buffer_ms: f64,
    last_quality: usize,
    throughput_kbps: Option<f64>,
    latency_ms: Option<f64>,
    next_sizes_bits: &'a [f64],
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    progress: Option<ProgressMsg>,
    reports: &'a [Report],
}

#[derive(Serialize)]
struct EndMsg<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reports: &'a [Report],
}

#[derive(Deserialize)]
struct Hello {
    version: Option<serde_json::Value>,
    #[serde(default)]
    wants: Vec<String>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    quality: Option<serde_json::Value>,
    #[serde(default)]
    delay_ms: Option<f64>,
    #[serde(default)]
    abandon_to: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<String>,
}

/// An ABR answered by a child process speaking the protocol above.
pub struct Plugin {
    command: String,
    timeout: Duration,
    nominal_sizes: bool,
    proc: Option<Proc>,
    /// `start` sent for the current playback.
    started: bool,
    /// The hello to `start` is still to be read.
    hello_pending: bool,
    wants_abandon: bool,
    reports: Vec<Report>,
    out: Vec<u8>,
    failure: Option<PluginError>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("command", &self.command)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// A plug-in running `command` (reusing an idle child of the same command, else spawning
    /// one). `nominal_sizes`: the ladder's sizes are nominal (`play`), not exact.
    pub fn new(
        command: &str,
        timeout: Duration,
        nominal_sizes: bool,
    ) -> Result<Plugin, PluginError> {
        let command = command.trim().to_string();
        let argv = split_command(&command)?;
        let proc = match lease(&command) {
            Some(p) => p,
            None => Proc::spawn(&command, &argv)?,
        };
        Ok(Plugin {
            command,
            timeout,
            nominal_sizes,
            proc: Some(proc),
            started: false,
            hello_pending: false,
            wants_abandon: false,
            reports: Vec::new(),
            out: Vec::with_capacity(1024),
            failure: None,
        })
    }

    /// The command as given (after `plugin:`).
    pub fn command(&self) -> &str {
        &self.command
    }

    fn fail(&mut self, what: String) {
        if self.failure.is_none() {
            self.failure = Some(PluginError::Failed {
                command: self.command.clone(),
                what,
            });
        }
        self.proc = None; // killed and reaped
    }

    /// Reads one line within the timeout; `None` after recording a failure.
    fn read_line(&mut self, what: &str) -> Option<Vec<u8>> {
        let p = self.proc.as_mut()?;
        let wait = if p.fresh {
            self.timeout.max(STARTUP_TIMEOUT)
        } else {
            self.timeout
        };
        let r = p.lines.recv_timeout(wait);
        p.fresh = false;
        let why = match r {
            Ok(Line::Text(l)) => return Some(l),
            Ok(Line::TooLong) => {
                format!("answered {what} with a line longer than {MAX_LINE_BYTES} bytes (killed)")
            }
            Ok(Line::Error(e)) => format!("reading its answer to {what}: {e}"),
            Ok(Line::Eof) | Err(RecvTimeoutError::Disconnected) => {
                p.death(&format!("while answering {what}"))
            }
            Err(RecvTimeoutError::Timeout) => format!(
                "no answer to {what} within {} (killed; see --plugin-timeout)",
                fmt_secs(wait)
            ),
        };
        self.fail(why);
        None
    }

    /// Sends `start` (if due) and a request; reads the hello (if due) and the answer.
    fn round_trip(
        &mut self,
        ctx: &Ctx,
        kind: &'static str,
        what: &str,
        progress: Option<ProgressMsg>,
    ) -> Option<Answer> {
        if self.failure.is_some() {
            return None;
        }
        self.proc.as_ref()?;
        self.out.clear();
        if !self.started {
            let segments = ctx.segments.min(ctx.ladder.segments());
            let start = StartMsg {
                kind: "start",
                version: PROTOCOL_VERSION,
                model: ctx.quirks.model,
                sizes: if self.nominal_sizes {
                    "nominal"
                } else {
                    "exact"
                },
                levels: ctx.levels(),
                bitrates_kbps: &ctx.ladder.bitrates_kbps,
                segment_ms: ctx.seg_ms(),
                segments,
                buffer_max_ms: ctx.buffer_max_ms,
                sizes_bits: &ctx.ladder.sizes_bits[..segments],
            };
            write_json(&mut self.out, &start);
            self.started = true;
            self.hello_pending = true;
        }
        let next: &[f64] = if ctx.index < ctx.segments.min(ctx.ladder.segments()) {
            &ctx.ladder.sizes_bits[ctx.index]
        } else {
            &[]
        };
        let req = RequestMsg {
            kind,
            index: ctx.index,
            buffer_ms: ctx.buffer_ms,
            last_quality: ctx.last_quality,
            throughput_kbps: ctx.throughput_kbps,
            latency_ms: ctx.latency_ms,
            next_sizes_bits: next,
            progress,
            reports: &self.reports,
        };
        write_json(&mut self.out, &req);
        self.reports.clear();
        let p = self.proc.as_mut()?;
        if let Err(e) = p.stdin.write_all(&self.out).and_then(|_| p.stdin.flush()) {
            let why = if e.kind() == std::io::ErrorKind::BrokenPipe {
                p.death(&format!("before {what}"))
            } else {
                format!("writing {what}: {e}")
            };
            self.fail(why);
            return None;
        }
        if self.hello_pending {
            let line = self.read_line("start")?;
            self.hello_pending = false;
            match serde_json::from_slice::<Hello>(&line) {
                Ok(h) => {
                    let v = h.version.as_ref().and_then(serde_json::Value::as_u64);
                    if v != Some(u64::from(PROTOCOL_VERSION)) {
                        self.fail(format!(
                            "hello has version {}, dashcdn speaks {PROTOCOL_VERSION}",
                            h.version.map_or("(none)".to_string(), |v| v.to_string())
                        ));
                        return None;
                    }
                    self.wants_abandon = h.wants.iter().any(|w| w == "abandon");
                }
                Err(e) => {
                    self.fail(bad_json("start", &line, &e));
                    return None;
                }
            }
        }
        let line = self.read_line(what)?;
        match serde_json::from_slice::<Answer>(&line) {
            Ok(a) => match &a.error {
                Some(msg) => {
                    // The plug-in reported its own error; its process is still usable.
                    let f = PluginError::Failed {
                        command: self.command.clone(),
                        what: format!("error in {what}: {msg}"),
                    };
                    self.failure = Some(f);
                    None
                }
                None => Some(a),
            },
            Err(e) => {
                self.fail(bad_json(what, &line, &e));
                None
            }
        }
    }

    /// Checks a quality in an answer.
    fn quality_in(
        &mut self,
        v: Option<&serde_json::Value>,
        field: &str,
        ctx: &Ctx,
        seg: usize,
    ) -> Option<usize> {
        let n = ctx.levels();
        let bad = match v {
            None => format!("answered no {field} for segment {seg}"),
            Some(v) => match v.as_u64() {
                Some(q) if (q as usize) < n => return Some(q as usize),
                _ => format!(
                    "answered {field} {v} for segment {seg}, ladder has {n} (0..{})",
                    n - 1
                ),
            },
        };
        self.fail(bad);
        None
    }

    fn report(&mut self, r: Report) {
        if self.failure.is_none() {
            self.reports.push(r);
        }
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let Some(mut p) = self.proc.take() else {
            return;
        };
        // A process still held is in step with the protocol (a failed one was dropped, i.e.
        // killed and reaped, when the failure happened), even after an `error` answer.
        if self.started {
            self.out.clear();
            write_json(
                &mut self.out,
                &EndMsg {
                    kind: "end",
                    reports: &self.reports,
                },
            );
            if p.stdin
                .write_all(&self.out)
                .and_then(|_| p.stdin.flush())
                .is_err()
            {
                return;
            }
        }
        give_back(&self.command, p);
    }
}

fn write_json<T: Serialize>(out: &mut Vec<u8>, v: &T) {
    // Serializing these plain structs into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
    out.push(b'\n');
}

fn fmt_secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn bad_json(what: &str, line: &[u8], e: &serde_json::Error) -> String {
    let text = String::from_utf8_lossy(line);
    let mut shown: String = text.chars().take(80).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("answered {what} with bad JSON ({e}): {shown:?}")
}

impl Abr for Plugin {
    fn first_quality(&mut self, ctx: &Ctx) -> usize {
        let Some(a) = self.round_trip(ctx, "first", "first (segment 0)", None) else {
            return 0;
        };
        self.quality_in(a.quality.as_ref(), "quality", ctx, 0)
            .unwrap_or(0)
    }

    fn decide(&mut self, ctx: &Ctx) -> Decision {
        let what = format!("decide for segment {}", ctx.index);
        let Some(a) = self.round_trip(ctx, "decide", &what, None) else {
            return Decision::q(0);
        };
        let Some(quality) = self.quality_in(a.quality.as_ref(), "quality", ctx, ctx.index) else {
            return Decision::q(0);
        };
        let delay_ms = a.delay_ms.unwrap_or(0.0);
        if !(delay_ms.is_finite() && delay_ms >= 0.0) {
            self.fail(format!(
                "answered delay_ms {delay_ms} for segment {}",
                ctx.index
            ));
            return Decision::q(0);
        }
        Decision { quality, delay_ms }
    }

    fn report_delay(&mut self, ms: f64) {
        self.report(Report::Delay { ms });
    }

    fn report_download(&mut self, ctx: &Ctx, d: &Download) {
        self.report(Report::Download {
            index: d.index,
            quality: d.quality,
            size_bits: d.size_bits,
            downloaded_bits: d.downloaded_bits,
            time_ms: d.time_ms,
            ttfb_ms: d.ttfb_ms,
            abandon_to: d.abandon_to,
            buffer_ms: ctx.buffer_ms,
        });
    }

    fn check_abandon(&mut self, ctx: &Ctx, p: &Progress, level_ms: f64) -> Option<usize> {
        if !self.wants_abandon || self.failure.is_some() {
            return None;
        }
        let what = format!("abandon for segment {}", p.index);
        let prog = ProgressMsg {
            quality: p.quality,
            size_bits: p.size_bits,
            downloaded_bits: p.downloaded_bits,
            time_ms: p.time_ms,
            ttfb_ms: p.ttfb_ms,
            level_ms,
        };
        let a = self.round_trip(ctx, "abandon", &what, Some(prog))?;
        match a.abandon_to {
            None | Some(serde_json::Value::Null) => None,
            v => self.quality_in(v.as_ref(), "abandon_to", ctx, p.index),
        }
    }

    fn new_video(&mut self) {
        if self.failure.is_none() && self.started {
            if let Some(p) = self.proc.as_mut() {
                self.out.clear();
                write_json(
                    &mut self.out,
                    &EndMsg {
                        kind: "end",
                        reports: &self.reports,
                    },
                );
                let _ = p.stdin.write_all(&self.out).and_then(|_| p.stdin.flush());
            }
        }
        self.reports.clear();
        self.started = false;
    }

    fn failure(&self) -> Option<String> {
        self.failure.as_ref().map(ToString::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_quotes_and_escapes() {
        let s = |x: &str| split_command(x).unwrap();
        assert_eq!(s("python3  my_abr.py"), ["python3", "my_abr.py"]);
        assert_eq!(s("python3 'my abr.py' -x"), ["python3", "my abr.py", "-x"]);
        assert_eq!(s(r#"a "b \"c\" \\d" e\ f"#), ["a", r#"b "c" \d"#, "e f"]);
        assert_eq!(s("a ''"), ["a", ""]);
        assert_eq!(split_command("  "), Err(PluginError::EmptyCommand));
        assert!(matches!(
            split_command("python3 'x.py"),
            Err(PluginError::UnbalancedQuote(_))
        ));
    }

    #[test]
    fn names_are_short_and_unique() {
        assert_eq!(display_name("bba"), "bba");
        assert_eq!(
            display_name("plugin:python3 -u examples/abr/bba.py --x 1"),
            "plugin:bba.py"
        );
        assert_eq!(display_name("plugin:/opt/my-abr"), "plugin:my-abr");
        assert_eq!(
            display_name("learned:examples/abr/learned-envivio.json"),
            "learned:learned-envivio"
        );
        let specs = vec![
            "bba".to_string(),
            "plugin:python3 a/bba.py".to_string(),
            "plugin:python3 b/bba.py".to_string(),
            "plugin:python3 c/x.py".to_string(),
        ];
        assert_eq!(
            display_names(&specs),
            [
                "bba",
                "plugin:python3 a/bba.py",
                "plugin:python3 b/bba.py",
                "plugin:x.py"
            ]
        );
    }

    #[test]
    fn long_lines_are_cut_off() {
        let (tx, rx) = mpsc::sync_channel(4);
        let mut data = b"{\"quality\":1}\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        data.push(b'\n');
        read_lines(&data[..], tx);
        assert!(matches!(rx.recv().unwrap(), Line::Text(l) if l == b"{\"quality\":1}"));
        assert!(matches!(rx.recv().unwrap(), Line::TooLong));
        assert!(rx.recv().is_err());
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let e = Plugin::new("/nonexistent/python9 x.py", DEFAULT_TIMEOUT, false).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("plug-in \"/nonexistent/python9 x.py\": cannot start"),
            "{m}"
        );
    }
}
