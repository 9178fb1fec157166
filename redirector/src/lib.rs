//! # redirector — send each client to the nearest healthy edge (or, closed-loop, the nearest one whose players are doing well)
//!
//! A request router in the style of Apache Traffic Control's Traffic Router, speaking
//! three protocols over one routing core:
//!
//! - **DNS** ([`dns`]): `A`/`AAAA` for the CDN name answered with the chosen edge's
//!   address (short TTL, EDNS Client Subnet honoured and its scope echoed).
//! - **HTTP** ([`http`]): `GET /<path>` answers `302 Location: <edge URL>/<path>`.
//! - **DASH-IF Content Steering** ([`steering`]): `/steer` returns a pathway priority
//!   list; `/steered/<asset>/manifest.mpd` is the origin's MPD with one `BaseURL` per
//!   edge and a `ContentSteering` element pointing back here.
//!
//! ## How a query flows
//! 1. The client is located ([`choice::Snapshot::locate`]): HTTP uses the peer address
//!    (or `X-Forwarded-For` when the peer is a trusted proxy), DNS the ECS subnet or the
//!    resolver's address; longest-prefix match over the coverage zones
//!    ([`topology::ZoneTable`]), else the default location.
//! 2. [`choice::Snapshot::route`] — the one routing function of the 302, steering, DNS
//!    and `/debug/route` ([`route`]) — calls [`choice::Snapshot::choose`], which ranks
//!    the service's healthy edges by great-circle distance (or the RTT table) adjusted by
//!    bias, hashes the content key (rendezvous) among the edges within slack of the
//!    best, and applies bounded load; then, with `[closed_loop] mode = "closed-loop"`,
//!    [`closed_loop::rank`] re-ranks them by what the edges report ([`live`]: load, and
//!    their players' CMCD buffer starvation and measured throughput) with hysteresis per
//!    client/asset pair. Every decision carries its [`closed_loop::Reason`].
//! 3. The answer is written and counted ([`metrics`]).
//!
//! Health ([`health`]) probes every edge in the background, and [`live`] scrapes every
//! edge's `/metrics` (both modes, so `/debug/route` shows the figures); the topology
//! ([`topology`]) is reloaded on SIGHUP or file change and swapped atomically — a bad
//! file keeps the previous topology, so answers never stop during a reload.
//!
//! Edges may also announce themselves ([`announce`], `POST /announce` with a shared
//! token, heartbeats, expiry): the routing snapshot is the configured topology plus the
//! announced edges, rebuilt whenever either changes ([`Shared::rebuild`]). Every HTTP and
//! steering answer (and, in closed-loop mode, every DNS answer) goes into the decision log
//! ([`decisions`]) that `/debug/decisions` and `/debug/edges` show.
//!
//! Starting fails with a typed [`Error`] (a [`TopologyError`] names file, line and field).

pub mod announce;
pub mod choice;
pub mod closed_loop;
pub mod decisions;
pub mod dns;
pub mod geo;
pub mod health;
pub mod http;
pub mod live;
pub mod metrics;
pub mod registry;
pub mod route;
pub mod steering;
pub mod topology;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

pub use choice::{routing_key, Decision, Snapshot};
pub use topology::{Topology, TopologyError};

/// Why the redirector could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The topology file is missing or invalid.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// A DNS socket could not be bound.
    #[error("cannot bind {what} on {addr}")]
    Bind {
        /// Which socket (`DNS UDP`, `DNS TCP`).
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server could not start.
    #[error("cannot start the HTTP server on {addr}")]
    Http {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Any other I/O failure while starting (socket options, threads, signals).
    #[error("{what}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// State shared by every interface: the configured topology, the announced edges, the
/// current snapshot (both merged), health, the decision log and metrics.
#[derive(Debug)]
pub struct Shared {
    current: RwLock<Arc<Snapshot>>,
    /// The topology as the file says (without announced edges).
    configured: RwLock<Arc<Topology>>,
    /// Serialises rebuilds so two concurrent ones cannot swap in an older view.
    rebuild_lock: std::sync::Mutex<()>,
    registry: health::HealthRegistry,
    live: live::LiveRegistry,
    sticky: Arc<closed_loop::Sticky>,
    /// Edges that announced themselves.
    pub announced: announce::Announced,
    /// Recent decisions and answers per edge.
    pub decisions: decisions::DecisionLog,
    /// Probe a newly announced edge at once (on when health checks run).
    pub(crate) probe_on_announce: AtomicBool,
    /// Metrics.
    pub metrics: metrics::Metrics,
    topology_path: PathBuf,
    epoch: Instant,
}

impl Shared {
    /// Loads the topology at `path`.
    pub fn load(path: &Path) -> Result<Shared, TopologyError> {
        let topology = Topology::load(path)?;
        let registry = health::HealthRegistry::default();
        let live = live::LiveRegistry::default();
        let sticky = Arc::new(closed_loop::Sticky::default());
        let epoch = Instant::now();
        let snap = Self::build(&registry, &live, &sticky, topology.clone(), epoch);
        Ok(Shared {
            current: RwLock::new(Arc::new(snap)),
            configured: RwLock::new(Arc::new(topology)),
            rebuild_lock: std::sync::Mutex::new(()),
            registry,
            live,
            sticky,
            announced: announce::Announced::default(),
            decisions: decisions::DecisionLog::default(),
            probe_on_announce: AtomicBool::new(false),
            metrics: metrics::Metrics::new(),
            topology_path: path.to_path_buf(),
            epoch,
        })
    }

    /// Swaps in a snapshot of the configured topology plus the announced edges (health
    /// carries over by edge id and URL). Called after every announce change and reload.
    pub fn rebuild(&self) {
        let _guard = self.rebuild_lock.lock().expect("rebuild lock poisoned");
        let configured = self
            .configured
            .read()
            .expect("topology lock poisoned")
            .clone();
        let merged = configured.with_announced(self.announced.edges());
        let snap = Arc::new(Self::build(
            &self.registry,
            &self.live,
            &self.sticky,
            merged,
            self.epoch,
        ));
        *self.current.write().expect("snapshot lock poisoned") = snap;
        self.metrics.set_announced(self.announced.len());
    }

    /// Milliseconds since this redirector started (the health clock).
    pub fn uptime_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn build(
        registry: &health::HealthRegistry,
        live: &live::LiveRegistry,
        sticky: &Arc<closed_loop::Sticky>,
        topology: Topology,
        epoch: Instant,
    ) -> Snapshot {
        let health = topology
            .edges
            .iter()
            .map(|e| registry.get(&e.id, &e.url))
            .collect();
        let lives = topology
            .edges
            .iter()
            .map(|e| live.get(&e.id, &e.url))
            .collect();
        let keep: Vec<(String, String)> = topology
            .edges
            .iter()
            .map(|e| (e.id.clone(), e.url.clone()))
            .collect();
        registry.retain(&keep);
        live.retain(&keep);
        let mut snap = Snapshot::new(topology, health, epoch);
        snap.live = lives;
        snap.sticky = sticky.clone();
        snap
    }

    /// The current snapshot (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().expect("snapshot lock poisoned").clone()
    }

    /// Re-reads the topology file; on error the current topology stays in place.
    pub fn reload(&self) -> Result<(), TopologyError> {
        match Topology::load(&self.topology_path) {
            Ok(t) => {
                let disabled = t.announce.is_none();
                let dropped = self
                    .announced
                    .drop_ids(|id| disabled || t.edge_index(id).is_some());
                for id in dropped {
                    let why = if disabled {
                        "announcing is now disabled"
                    } else {
                        "the topology now configures this id"
                    };
                    tracing::warn!(edge = %id, why, "announced edge dropped");
                }
                *self.configured.write().expect("topology lock poisoned") = Arc::new(t);
                self.rebuild();
                self.metrics.reload(true);
                tracing::info!(file = %self.topology_path.display(), "topology reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics.reload(false);
                tracing::error!(error = %e, "topology reload failed; keeping the previous topology");
                Err(e)
            }
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RedirectorConfig {
    /// The topology file.
    pub topology: PathBuf,
    /// DNS listen address (UDP and TCP); `None`: no DNS.
    pub dns: Option<SocketAddr>,
    /// HTTP listen address; `None`: no HTTP.
    pub http: Option<SocketAddr>,
    /// Poll the topology file for changes this often (`None`: only SIGHUP / [`Shared::reload`]).
    pub watch_interval: Option<Duration>,
    /// Reload on SIGHUP.
    pub reload_on_sighup: bool,
    /// Probe edges' health (tests may turn it off and drive health by hand).
    pub health_checks: bool,
}

impl RedirectorConfig {
    /// Defaults: file watching every second, SIGHUP, health checks on.
    pub fn new(topology: impl Into<PathBuf>) -> RedirectorConfig {
        RedirectorConfig {
            topology: topology.into(),
            dns: None,
            http: None,
            watch_interval: Some(Duration::from_secs(1)),
            reload_on_sighup: true,
            health_checks: true,
        }
    }
}

/// A running redirector (background tasks and threads).
#[derive(Debug)]
pub struct RunningRedirector {
    shared: Arc<Shared>,
    http: Option<serve::Server>,
    dns: Option<dns::RunningDns>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningRedirector {
    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|h| h.local_addr())
    }

    /// The bound DNS address (UDP and TCP).
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns.as_ref().map(|d| d.local_addr())
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops everything.
    pub fn stop(mut self) {
        if let Some(h) = self.http.take() {
            h.shutdown();
        }
        if let Some(d) = self.dns.take() {
            d.stop();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for RunningRedirector {
    fn drop(&mut self) {
        if let Some(h) = &self.http {
            h.shutdown();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Loads the topology and starts the configured interfaces, health checks and reloads.
pub async fn bind(config: RedirectorConfig) -> Result<RunningRedirector, Error> {
    let shared = Arc::new(Shared::load(&config.topology)?);
    let mut tasks = Vec::new();
    if config.health_checks {
        shared.probe_on_announce.store(true, Ordering::Relaxed);
        tasks.push(tokio::spawn(health::run(shared.clone(), shared.epoch)));
        tasks.push(tokio::spawn(live::run(shared.clone())));
    }
    tasks.push(tokio::spawn(expire_announced(shared.clone())));
    if let Some(every) = config.watch_interval {
        let s = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = file_stamp(&s.topology_path);
            loop {
                tokio::time::sleep(every).await;
                let now = file_stamp(&s.topology_path);
                if now.is_some() && now != last {
                    last = now;
                    let _ = s.reload();
                }
            }
        }));
    }
    if config.reload_on_sighup {
        let s = shared.clone();
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|source| Error::Io {
                what: "cannot install the SIGHUP handler",
                source,
            })?;
        tasks.push(tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the topology");
                let _ = s.reload();
            }
        }));
    }
    let dns = match config.dns {
        Some(addr) => Some(dns::bind(addr, shared.clone()).await?),
        None => None,
    };
    let http = match config.http {
        Some(addr) => Some(
            http::bind(addr, shared.clone())
                .await
                .map_err(|e| match e {
                    serve::ServerError::Bind { addr, source } => Error::Listen { addr, source },
                    other => Error::Http {
                        addr,
                        source: Box::new(other),
                    },
                })?,
        ),
        None => None,
    };
    Ok(RunningRedirector {
        shared,
        http,
        dns,
        tasks,
    })
}

/// Removes announced edges silent for longer than `expire_after × heartbeat_ms`
/// (checked every quarter heartbeat, at least every 50 ms).
async fn expire_announced(shared: Arc<Shared>) {
    loop {
        let cfg = shared.snapshot().topology.announce.clone();
        let every = cfg.as_ref().map_or(Duration::from_secs(1), |a| {
            Duration::from_millis((a.heartbeat_ms / 4).clamp(50, 1000))
        });
        tokio::time::sleep(every).await;
        let Some(cfg) = cfg else { continue };
        let gone = shared
            .announced
            .expire(Instant::now(), Duration::from_millis(cfg.expire_ms()));
        if !gone.is_empty() {
            for id in &gone {
                tracing::warn!(edge = %id, silent_ms = cfg.expire_ms(), "announced edge expired: no heartbeat");
                shared.metrics.announce("expired");
            }
            shared.rebuild();
        }
    }
}

/// Global stop flag helper for blocking threads.
#[derive(Debug, Default, Clone)]
pub(crate) struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub(crate) fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub(crate) fn stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
