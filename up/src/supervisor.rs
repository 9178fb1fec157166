//! The supervisor: one task per child that restarts it when it dies on its own (with the
//! [`crate::backoff`] policy), obeys `start` / `stop` / `kill` from the API, and records
//! what happened as [`Event`]s (printed on the terminal, served on `/api/events`).
//!
//! A component is in one [`State`]: `starting` → `running`; a death makes it `restarting`
//! until the backoff has passed and it runs again; `stop` (SIGTERM) and `kill` (SIGKILL)
//! through the API make it `stopped` / `killed`, and it stays down until `start`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::backoff::Backoff;
use crate::child::{self, Started};
use crate::error::UpError;
use crate::limit;
use crate::plan::{ComponentSpec, Role};

/// Events kept for `/api/events`.
const EVENTS_KEPT: usize = 200;

/// Where a component is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Spawned, not yet announced its address.
    Starting,
    /// Announced its address and still alive.
    Running,
    /// Stopped through the API (SIGTERM), or by `up`'s own shutdown.
    Stopped,
    /// Died on its own; restarts after the backoff.
    Restarting,
    /// Killed through the API (SIGKILL).
    Killed,
}

/// One component as `/api/status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ComponentStatus {
    /// What it is.
    pub role: Role,
    /// Its id.
    pub id: String,
    /// Its base URL.
    pub url: String,
    /// Its HTTP listen address.
    pub addr: String,
    /// Its region (edges).
    pub region: Option<String>,
    /// The current process id, if running.
    pub pid: Option<u32>,
    /// Its state.
    pub state: State,
    /// Restarts after deaths (not counting starts through the API).
    pub restarts: u32,
    /// Its log file.
    pub log: String,
    /// How its last process ended (`exit status 1`, `signal 9 (SIGKILL)`).
    pub last_exit: Option<String>,
}

/// Something that happened to the CDN.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// Increasing number (the page asks for events after the last one it saw).
    pub seq: u64,
    /// Unix time, milliseconds.
    pub at_ms: u64,
    /// `started`, `died`, `restarted`, `restart-failed`, `stopped`, `killed`, `throttle`,
    /// `players`.
    pub kind: String,
    /// The component concerned, if one.
    pub component: Option<String>,
    /// One line for people.
    pub message: String,
}

enum Command {
    Start,
    Stop,
    Kill,
    Shutdown(oneshot::Sender<()>),
}

struct Component {
    spec: ComponentSpec,
    status: Mutex<ComponentStatus>,
    tx: mpsc::UnboundedSender<Command>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Command>>>,
}

struct Inner {
    components: Vec<Component>,
    events: Mutex<VecDeque<Event>>,
    next_seq: AtomicU64,
    rate: AtomicU64,
    admin_token: String,
    client: reqwest::Client,
    quiet: bool,
}

/// The supervised children of one `up` (cheap to clone: a handle).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

/// What an API command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Sent to the component's task.
    Sent,
    /// No component has that id.
    NoSuchComponent,
}

impl Supervisor {
    /// A supervisor of `specs` (in start order); nothing runs until [`Supervisor::start_all`].
    /// `admin_token` is the edges' (for the throttle); `quiet` keeps events off stdout.
    pub fn new(specs: Vec<ComponentSpec>, admin_token: String, quiet: bool) -> Supervisor {
        let components = specs
            .into_iter()
            .map(|spec| {
                let (tx, rx) = mpsc::unbounded_channel();
                let status = ComponentStatus {
                    role: spec.role,
                    id: spec.id.clone(),
                    url: spec.url.clone(),
                    addr: spec.addr.to_string(),
                    region: spec.region.clone(),
                    pid: None,
                    state: State::Stopped,
                    restarts: 0,
                    log: spec.log.display().to_string(),
                    last_exit: None,
                };
                Component {
                    spec,
                    status: Mutex::new(status),
                    tx,
                    rx: Mutex::new(Some(rx)),
                }
            })
            .collect();
        Supervisor {
            inner: Arc::new(Inner {
                components,
                events: Mutex::new(VecDeque::new()),
                next_seq: AtomicU64::new(1),
                rate: AtomicU64::new(0),
                admin_token,
                client: reqwest::Client::builder()
                    .no_proxy()
                    .timeout(Duration::from_secs(3))
                    .build()
                    .expect("a plain HTTP client builds"),
                quiet,
            }),
        }
    }

    /// Starts every component in order, each awaited until it announces its address; on
    /// the first failure stops the ones already running (in reverse) and returns the error.
    pub async fn start_all(&self) -> Result<(), UpError> {
        for i in 0..self.inner.components.len() {
            let c = &self.inner.components[i];
            c.status.lock().unwrap().state = State::Starting;
            match child::start(&c.spec).await {
                Ok(started) => {
                    self.set_running(i, &started, false);
                    self.event(
                        "started",
                        Some(&c.spec.id),
                        format!(
                            "{} started (pid {}) on {}",
                            c.spec.id, started.pid, c.spec.url
                        ),
                    );
                    let rx = c.rx.lock().unwrap().take().expect("started once");
                    tokio::spawn(supervise(Arc::clone(&self.inner), i, started, rx));
                }
                Err(e) => {
                    c.status.lock().unwrap().state = State::Stopped;
                    self.shutdown().await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Stops every running component, in reverse start order (the edges of one tier
    /// together): SIGTERM, up to 5 s, then SIGKILL.
    pub async fn shutdown(&self) {
        let comps = &self.inner.components;
        let mut i = comps.len();
        while i > 0 {
            let role = comps[i - 1].spec.role;
            let mut acks = Vec::new();
            while i > 0 && comps[i - 1].spec.role == role {
                i -= 1;
                let (tx, rx) = oneshot::channel();
                if comps[i].tx.send(Command::Shutdown(tx)).is_ok() {
                    acks.push(rx);
                }
            }
            for ack in acks {
                let _ = ack.await;
            }
        }
    }

    /// Sends `start`, `stop` or `kill` to component `id`.
    pub fn command(&self, id: &str, verb: Verb) -> CommandOutcome {
        let Some(c) = self.inner.components.iter().find(|c| c.spec.id == id) else {
            return CommandOutcome::NoSuchComponent;
        };
        let cmd = match verb {
            Verb::Start => Command::Start,
            Verb::Stop => Command::Stop,
            Verb::Kill => Command::Kill,
        };
        let _ = c.tx.send(cmd);
        CommandOutcome::Sent
    }

    /// Every component's status, in start order.
    pub fn status(&self) -> Vec<ComponentStatus> {
        self.inner
            .components
            .iter()
            .map(|c| c.status.lock().unwrap().clone())
            .collect()
    }

    /// The events after `since` (all kept ones for 0), oldest first.
    pub fn events(&self, since: u64) -> Vec<Event> {
        self.inner
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect()
    }

    /// Records (and prints) an event.
    pub fn event(&self, kind: &str, component: Option<&str>, message: String) {
        self.inner.event(kind, component, message);
    }

    /// The edges and the shield: the components a throttle applies to (id, URL, running).
    pub fn rate_limited(&self) -> Vec<(String, String, bool)> {
        self.inner
            .components
            .iter()
            .filter(|c| matches!(c.spec.role, Role::Edge | Role::Shield))
            .map(|c| {
                let running = c.status.lock().unwrap().state == State::Running;
                (c.spec.id.clone(), c.spec.url.clone(), running)
            })
            .collect()
    }

    /// Sets the throttle every edge gets (also re-applied to an edge that restarts), and
    /// sends it to every running edge; returns the ids that refused or could not be reached.
    pub async fn apply_rate(&self, bits_per_sec: u64) -> Vec<String> {
        self.inner.rate.store(bits_per_sec, Ordering::Relaxed);
        let targets = self.rate_limited();
        let sends = targets
            .iter()
            .filter(|(_, _, running)| *running)
            .map(|(id, url, _)| {
                let inner = Arc::clone(&self.inner);
                async move {
                    limit::set(&inner.client, url, &inner.admin_token, bits_per_sec)
                        .await
                        .err()
                        .map(|e| format!("{id} ({e})"))
                }
            });
        futures::future::join_all(sends)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// The current throttle (0 = off).
    pub fn rate(&self) -> u64 {
        self.inner.rate.load(Ordering::Relaxed)
    }

    fn set_running(&self, i: usize, started: &Started, restart: bool) {
        self.inner.set_running(i, started, restart);
    }
}

/// An API verb on one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Start it (if down).
    Start,
    /// SIGTERM; stays down.
    Stop,
    /// SIGKILL; stays down.
    Kill,
}

impl Inner {
    fn event(&self, kind: &str, component: Option<&str>, message: String) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if !self.quiet {
            println!("up: {message}");
        }
        tracing::debug!(kind, component, "{message}");
        let mut events = self.events.lock().unwrap();
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(Event {
            seq,
            at_ms,
            kind: kind.into(),
            component: component.map(str::to_owned),
            message,
        });
    }

    fn set_running(&self, i: usize, started: &Started, restart: bool) {
        let c = &self.components[i];
        let mut s = c.status.lock().unwrap();
        s.state = State::Running;
        s.pid = Some(started.pid);
        if restart {
            s.restarts += 1;
        }
    }

    fn set_down(&self, i: usize, state: State, exit: Option<String>) {
        let mut s = self.components[i].status.lock().unwrap();
        s.state = state;
        s.pid = None;
        if exit.is_some() {
            s.last_exit = exit;
        }
    }
}

enum Phase {
    Running(Started),
    RestartIn(Duration),
    Down,
}

/// The life of component `i` after its first start: restarts on death, obeys commands.
async fn supervise(
    inner: Arc<Inner>,
    i: usize,
    started: Started,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let spec = inner.components[i].spec.clone();
    let id = spec.id.as_str();
    let log = spec.log.display().to_string();
    let mut backoff = Backoff::default();
    let mut phase = Phase::Running(started);
    loop {
        phase = match phase {
            Phase::Running(mut s) => {
                tokio::select! {
                    status = s.child.wait() => {
                        let exit = status.map_or_else(|e| e.to_string(), child::describe);
                        let delay = backoff.on_death(s.at.elapsed());
                        inner.set_down(i, State::Restarting, Some(exit.clone()));
                        inner.event("died", Some(id), format!(
                            "{id} died ({exit}); log {log}; restarting in {:.1} s",
                            delay.as_secs_f64()
                        ));
                        Phase::RestartIn(delay)
                    }
                    cmd = rx.recv() => match cmd {
                        Some(Command::Start) => Phase::Running(s),
                        Some(Command::Stop) => {
                            let exit = child::stop(&mut s.child, s.pid).await.map(child::describe);
                            inner.set_down(i, State::Stopped, exit);
                            inner.event("stopped", Some(id), format!("{id} stopped (SIGTERM) through the API; stays down until started"));
                            Phase::Down
                        }
                        Some(Command::Kill) => {
                            child::signal(s.pid, libc::SIGKILL);
                            let exit = s.child.wait().await.ok().map(child::describe);
                            inner.set_down(i, State::Killed, exit);
                            inner.event("killed", Some(id), format!("{id} killed (SIGKILL) through the API; stays down until started"));
                            Phase::Down
                        }
                        Some(Command::Shutdown(ack)) => {
                            let exit = child::stop(&mut s.child, s.pid).await.map(child::describe);
                            inner.set_down(i, State::Stopped, exit);
                            let _ = ack.send(());
                            return;
                        }
                        None => {
                            child::stop(&mut s.child, s.pid).await;
                            return;
                        }
                    }
                }
            }
            Phase::RestartIn(delay) => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => attempt(&inner, i, &mut backoff, true).await,
                    cmd = rx.recv() => match cmd {
                        Some(Command::Start) => attempt(&inner, i, &mut backoff, true).await,
                        Some(Command::Stop) | Some(Command::Kill) => {
                            inner.set_down(i, State::Stopped, None);
                            inner.event("stopped", Some(id), format!("{id}: restart cancelled through the API; stays down until started"));
                            Phase::Down
                        }
                        Some(Command::Shutdown(ack)) => {
                            inner.set_down(i, State::Stopped, None);
                            let _ = ack.send(());
                            return;
                        }
                        None => return,
                    }
                }
            }
            Phase::Down => match rx.recv().await {
                Some(Command::Start) => {
                    backoff.reset();
                    attempt(&inner, i, &mut backoff, false).await
                }
                Some(Command::Stop) | Some(Command::Kill) => Phase::Down,
                Some(Command::Shutdown(ack)) => {
                    let _ = ack.send(());
                    return;
                }
                None => return,
            },
        };
    }
}

/// Starts component `i` again: running, or another backoff wait if it fails.
async fn attempt(inner: &Arc<Inner>, i: usize, backoff: &mut Backoff, restart: bool) -> Phase {
    let spec = &inner.components[i].spec;
    let id = spec.id.as_str();
    inner.components[i].status.lock().unwrap().state = State::Starting;
    match child::start(spec).await {
        Ok(started) => {
            inner.set_running(i, &started, restart);
            let (kind, verb) = if restart {
                ("restarted", "restarted")
            } else {
                ("started", "started through the API")
            };
            inner.event(
                kind,
                Some(id),
                format!("{id} {verb} (pid {}) on {}", started.pid, spec.url),
            );
            let rate = inner.rate.load(Ordering::Relaxed);
            if rate > 0 && matches!(spec.role, Role::Edge | Role::Shield) {
                if let Err(e) = limit::set(&inner.client, &spec.url, &inner.admin_token, rate).await
                {
                    inner.event(
                        "throttle",
                        Some(id),
                        format!("{id}: cannot re-apply the throttle: {e}"),
                    );
                }
            }
            Phase::Running(started)
        }
        Err(e) => {
            let delay = backoff.on_death(Duration::ZERO);
            let first = e.to_string().lines().next().unwrap_or_default().to_owned();
            inner.set_down(i, State::Restarting, Some(first.clone()));
            inner.event(
                "restart-failed",
                Some(id),
                format!("{first}; next try in {:.1} s", delay.as_secs_f64()),
            );
            Phase::RestartIn(delay)
        }
    }
}
