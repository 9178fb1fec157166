//! # up — the whole CDN in one command
//!
//! `dashcdn up` runs the CDN as the real deployment does: each part is its own process,
//! started from the same `dashcdn` binary (`--bin`, default the running one), with its own
//! log file in the run directory (`./run/up` unless `--run-dir`). This crate is a supervisor,
//! not a hop: it depends on no hop crate and talks to the children over HTTP only.
//!
//! ## What runs (the built-in topology; `--port-offset N` / `--ip-base 127.A.B` shift it)
//! With `--live` the origin also takes push ingest (`--ingest --ingest-token-file`, a per-run
//! token `up` writes to `<run dir>/ingest.token`, mode 0600) and `dashcdn live` runs as the
//! supervised child `encoder` (role `encoder`, started last, same restart policy and log
//! file), publishing the low-latency stream `/ingest/live/manifest.mpd` (`--token-file`: the
//! token is never on a command line). The page offers it beside VoD and the origin's looped
//! live stream `/live/default/manifest.mpd`, both through the redirector.
//!
//! | role | id | address |
//! | --- | --- | --- |
//! | origin | `origin` | `127.0.0.1:8080`, serving `./content` (packaged first if absent) |
//! | shield | `shield` | `127.0.0.20:8081`, mid-tier parent of every edge |
//! | edge | `edge-eu` / `edge-us` / `edge-ap` | `127.0.0.21`/`.22`/`.23:8081` (Frankfurt, Ashburn, Singapore) |
//! | redirector | `redirector` | HTTP `127.0.0.1:8053`, DNS `127.0.0.1:8054` |
//! | page + API | (`up` itself) | `127.0.0.1:8000` |
//!
//! `--config cdn.toml` runs a user topology instead ([`plan`]; `examples/cdn.toml`), and
//! `--check` validates it (each child's own `--check`), prints the table and exits.
//!
//! ## How data flows
//! 1. [`plan::Plan`]: what runs where; the redirector's topology is written to
//!    `<run dir>/topology.toml` (coverage zone per region, `default_location = "eu"`, so a
//!    browser on loopback goes to `edge-eu`).
//! 2. Before anything starts: every address is bind-and-release tested
//!    ([`child::check_free`]) and each child's configuration is checked with its `--check`;
//!    any failure is one [`UpError`] line naming the component.
//! 3. [`supervisor::Supervisor::start_all`] starts the children in dependency order
//!    (origin, shield, edges, redirector), each awaited until its `listening on http://ADDR`
//!    line appears in its log ([`child`]). Children die with `up` (`PR_SET_PDEATHSIG`) and
//!    sit in their own process group (Ctrl-C reaches `up`, which stops them in order).
//! 4. `up` serves the page and the API ([`api`]); the page reads the components' own
//!    endpoints (edges' `/metrics` and `X-Cache`/`X-Served-By`, the redirector's
//!    `/debug/edges` and `/debug/decisions`, the origin's `/metrics`) and drives the
//!    controls through the API.
//! 5. `--players N`: once the redirector sees every edge up, a `dashcdn player swarm` runs
//!    through it ([`players`]) and its report is printed.
//! 6. Ctrl-C / SIGTERM: children get SIGTERM in reverse order (redirector, edges, shield,
//!    origin), up to 5 s each, then SIGKILL; `up` exits 0.
//!
//! ## Restart policy ([`backoff`])
//! A child that dies on its own is reported (terminal, page, `/api/events`) and restarted
//! after 0.5 s, doubling to at most 30 s for each further death; 60 s of running resets the
//! wait. `up` never gives up on a component. One stopped or killed through the API stays
//! down until started through the API.
//!
//! ## Control API (loopback peers and `Host`s only; `POST`s need `Content-Type: application/json`)
//! | route | what |
//! | --- | --- |
//! | `GET /` | the page (`web/up.html`; also `/up.js`, `/live-clock.js`, `/vendor/dash.all.min.js`) |
//! | `GET /api/status` | `{run_dir, urls: {redirector, steered_mpd, mpd, looped_live_mpd, low_latency_mpd (null without --live), origin, shield, edges: [{id,url,region}], page}, components: [{role,id,url,addr,region,pid,state,restarts,log,last_exit}], throttle_bits_per_sec}`; `state` is `starting`, `running`, `stopped`, `restarting` or `killed` |
//! | `POST /api/components/{id}/kill` | SIGKILL; stays down |
//! | `POST /api/components/{id}/stop` | SIGTERM (5 s, then SIGKILL); stays down |
//! | `POST /api/components/{id}/start` | start a component that is down (or restart one waiting for its backoff now) |
//! | `POST /api/throttle` | `{"bits_per_sec": N}` (0 = off) or `{"schedule": [{"bits_per_sec": N, "secs": S}, …, {"bits_per_sec": N}]}`: applied to every edge and the shield through their `POST /_dashcdn/limit-rate`, with a per-run random admin token handed to the edges in `DASHCDN_EDGE_ADMIN_TOKEN`; a new request replaces a running schedule |
//! | `GET /api/events?since=SEQ` | `{"events": [{seq, at_ms, kind, component, message}]}`, oldest first: `started`, `died`, `restarted`, `restart-failed`, `stopped`, `killed`, `throttle`, `players` |

pub mod api;
pub mod backoff;
pub mod child;
pub mod error;
pub mod limit;
pub mod plan;
pub mod players;
pub mod supervisor;
pub mod throttle;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

pub use error::UpError;
pub use plan::{Plan, Shift};
pub use players::Players;

/// What `dashcdn up` was asked to do.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The `dashcdn` binary the children run.
    pub bin: PathBuf,
    /// A user topology (`cdn.toml`); the built-in one without it.
    pub config: Option<PathBuf>,
    /// Content root of the built-in topology (packaged there if absent).
    pub content: PathBuf,
    /// Shift of the built-in topology's addresses.
    pub shift: Shift,
    /// Where the logs and the topology go.
    pub run_dir: PathBuf,
    /// The page's directory (`up.html`, `up.js`, `vendor/dash.all.min.js`); found next to
    /// the binary or in the working directory without it ([`find_web_dir`]).
    pub web: Option<PathBuf>,
    /// Validate, print the table, start nothing.
    pub check: bool,
    /// A swarm of players to run through the CDN.
    pub players: Option<Players>,
    /// `--live`: also run `dashcdn live` publishing to the origin's ingest ([`Plan::live`]).
    pub live: bool,
}

/// The web directory: `--web`, else `<binary dir>/../../web` (a cargo build in the
/// repository), `<binary dir>/../share/dashcdn/web` (an install, e.g. the Docker image's
/// `/usr/share/dashcdn/web`), `./web`; the first that holds `up.html`.
pub fn find_web_dir(explicit: Option<&Path>, bin: &Path) -> Result<PathBuf, UpError> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(p) => vec![p.to_owned()],
        None => {
            let dir = bin.parent().unwrap_or(Path::new("."));
            vec![
                dir.join("../../web"),
                dir.join("../share/dashcdn/web"),
                PathBuf::from("web"),
            ]
        }
    };
    let Some(web) = candidates.iter().find(|d| d.join("up.html").is_file()) else {
        let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
        return Err(UpError::Web(format!(
            "no up.html in {} (pass --web DIR)",
            tried.join(", ")
        )));
    };
    let dash = web.join("vendor/dash.all.min.js");
    if !dash.is_file() {
        return Err(UpError::Web(format!(
            "{} is missing: run `npm ci && npm run vendor` in {} (or ./demo.sh)",
            dash.display(),
            web.display()
        )));
    }
    Ok(web.canonicalize().unwrap_or_else(|_| web.clone()))
}

/// A random hex token (the edges' admin token for this run), from the kernel's generator.
fn random_token() -> Result<String, UpError> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| UpError::Io {
            what: "cannot read",
            path: "/dev/urandom".into(),
            source,
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `dashcdn up` until Ctrl-C / SIGTERM (or the end of `--players` with
/// `exit_after`): plan, checks, children, page, optional swarm, orderly stop.
pub async fn run(opts: UpOptions) -> Result<(), UpError> {
    // Signals are caught from the start: one during startup stops what already runs.
    let io_err = |source| UpError::Io {
        what: "cannot install a signal handler",
        path: PathBuf::new(),
        source,
    };
    let mut sigterm = signal(SignalKind::terminate()).map_err(io_err)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(io_err)?;

    let mut plan = match &opts.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| UpError::Config {
                path: path.clone(),
                message: e.to_string(),
            })?;
            Plan::from_toml(path, &text)?
        }
        None => Plan::builtin(opts.content.clone(), opts.shift),
    };
    plan.live = opts.live;
    if !opts.bin.is_file() {
        return Err(UpError::MissingBinary {
            component: "origin".into(),
            path: opts.bin.clone(),
        });
    }
    let web = find_web_dir(opts.web.as_deref(), &opts.bin)?;
    let io = |what, path: &Path, source| UpError::Io {
        what,
        path: path.to_owned(),
        source,
    };
    std::fs::create_dir_all(&opts.run_dir)
        .map_err(|e| io("cannot create run dir", &opts.run_dir, e))?;
    let run_dir = opts
        .run_dir
        .canonicalize()
        .map_err(|e| io("cannot open run dir", &opts.run_dir, e))?;
    let topo = run_dir.join(plan::TOPOLOGY_FILE);
    std::fs::write(&topo, plan.topology_text()).map_err(|e| io("cannot write", &topo, e))?;
    let token = random_token()?;
    if plan.live {
        write_secret(&run_dir.join(plan::INGEST_TOKEN_FILE), &random_token()?)?;
    }
    let specs = plan.components(&opts.bin, &run_dir, &token);
    print_table(&plan, &specs, &run_dir, &web);
    if opts.check {
        check_configs(&specs).await?;
        println!("configuration OK (--check: nothing started)");
        return Ok(());
    }
    child::check_free(&plan.addresses())?;
    if opts.config.is_none() {
        package_if_absent(&opts.bin, &plan.content, &plan.asset).await?;
    }
    check_configs(&specs).await?;

    let sup = supervisor::Supervisor::new(specs, token, false);
    tokio::select! {
        r = sup.start_all() => r?,
        _ = sigterm.recv() => { sup.shutdown().await; return Ok(()); }
        _ = sigint.recv() => { sup.shutdown().await; return Ok(()); }
    }
    let urls = urls(&plan);
    let app = api::router(sup.clone(), web, urls.clone(), &run_dir);
    let server = match serve::bind(plan.page, app, serve::ServerOptions::default()).await {
        Ok(s) => s,
        Err(e) => {
            sup.shutdown().await;
            return Err(UpError::Bind {
                component: "page".into(),
                addr: plan.page,
                source: std::io::Error::other(e.to_string()),
            });
        }
    };
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a plain HTTP client builds");
    let ready = players::wait_edges_up(
        &client,
        &urls.redirector,
        plan.edges.len(),
        Duration::from_secs(15),
    );
    if let Err(e) = ready.await {
        println!("up: warning: {e}");
    }
    println!("page: {}", urls.page);
    println!("(Ctrl-C stops everything)");

    let mut result = Ok(());
    let mut exit_now = false;
    if let Some(p) = &opts.players {
        let edges: Vec<String> = plan.edges.iter().map(|e| e.url.clone()).collect();
        sup.event(
            "players",
            None,
            format!(
                "{} players through {} (log {})",
                p.count,
                urls.redirector,
                run_dir.join("players.log").display()
            ),
        );
        let swarm = players::run(
            &opts.bin,
            p,
            &urls.redirector,
            &edges,
            &urls.origin,
            &run_dir,
        );
        tokio::select! {
            r = swarm => match r {
                Ok(report) => {
                    print!("{report}");
                    println!("players: report and per-request logs in {}", run_dir.join("players").display());
                    exit_now = p.exit_after;
                }
                Err(e) => { result = Err(e); exit_now = true; }
            },
            _ = sigterm.recv() => exit_now = true,
            _ = sigint.recv() => exit_now = true,
        }
    }
    if !exit_now {
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = sigint.recv() => {}
        }
    }
    println!("up: stopping (redirector, edges, shield, origin)");
    sup.shutdown().await;
    let _ = server.stop(Duration::from_secs(1)).await;
    println!("up: stopped");
    result
}

/// Writes `secret` to `path`, readable by this user only (0600, also when it existed).
fn write_secret(path: &Path, secret: &str) -> Result<(), UpError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |source| UpError::Io {
        what: "cannot write",
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    f.write_all(secret.as_bytes()).map_err(io)
}

fn urls(plan: &Plan) -> api::Urls {
    let redirector = format!("http://{}", plan.redirector_http);
    api::Urls {
        looped_live_mpd: format!("{redirector}/live/{}/manifest.mpd", plan.asset),
        low_latency_mpd: plan
            .live
            .then(|| format!("{redirector}/ingest/{}/manifest.mpd", plan::LIVE_STREAM)),
        steered_mpd: format!("{redirector}/steered/{}/manifest.mpd", plan.asset),
        mpd: format!("{redirector}/{}/manifest.mpd", plan.asset),
        redirector,
        origin: format!("http://{}", plan.origin),
        shield: plan.shield.as_ref().map(|(_, a)| format!("http://{a}")),
        edges: plan
            .edges
            .iter()
            .map(|e| api::EdgeUrl {
                id: e.id.clone(),
                url: e.url.clone(),
                region: e.region.clone(),
            })
            .collect(),
        page: format!("http://{}/", plan.page),
    }
}

fn print_table(plan: &Plan, specs: &[plan::ComponentSpec], run_dir: &Path, web: &Path) {
    println!("dashcdn up: run dir {}", run_dir.display());
    println!("{:<11} {:<11} {:<34} log", "role", "id", "address");
    for s in specs {
        let mut addr = s.url.clone();
        if s.role == plan::Role::Redirector {
            addr = format!("{addr} dns {}", plan.redirector_dns);
        }
        if let Some(r) = &s.region {
            addr = format!("{addr} ({r})");
        }
        let log = s.log.strip_prefix(run_dir).unwrap_or(&s.log);
        println!(
            "{:<11} {:<11} {:<34} {}",
            s.role.as_str(),
            s.id,
            addr,
            log.display()
        );
    }
    println!(
        "{:<11} {:<11} {:<34} (web {})",
        "page",
        "up",
        format!("http://{}/", plan.page),
        web.display()
    );
    let u = urls(plan);
    println!("looped live: {}", u.looped_live_mpd);
    if let Some(ll) = &u.low_latency_mpd {
        println!("low-latency live: {ll} (dashcdn live, the encoder above)");
    }
}

/// Runs each child's command with `--check` (validate the configuration, open no socket).
async fn check_configs(specs: &[plan::ComponentSpec]) -> Result<(), UpError> {
    // the encoder has no --check (its flags are parsed at start, a failure is in its log)
    for s in specs.iter().filter(|s| s.role != plan::Role::Encoder) {
        let out = tokio::process::Command::new(&s.program)
            .args(&s.args)
            .arg("--check")
            .envs(s.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|source| UpError::Spawn {
                component: s.id.clone(),
                program: s.program.clone(),
                source,
            })?;
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stderr);
            let text = if text.trim().is_empty() {
                String::from_utf8_lossy(&out.stdout)
            } else {
                text
            };
            let message = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| {
                    l.strip_prefix("Error: ")
                        .or_else(|| l.strip_prefix("error: "))
                        .unwrap_or(l)
                })
                .collect::<Vec<_>>()
                .join(" ");
            return Err(UpError::BadComponentConfig {
                component: s.id.clone(),
                message,
            });
        }
    }
    Ok(())
}

/// `dashcdn package --out CONTENT` (the embedded default) if `CONTENT/<asset>/manifest.mpd`
/// or its HLS playlist `master.m3u8` is absent (content packaged before HLS gets its
/// playlists); its progress goes to the terminal.
async fn package_if_absent(bin: &Path, content: &Path, asset: &str) -> Result<(), UpError> {
    let dir = content.join(asset);
    if dir.join("manifest.mpd").is_file() && dir.join("master.m3u8").is_file() {
        return Ok(());
    }
    println!(
        "up: packaging the default content into {} (first run only)",
        content.display()
    );
    let status = tokio::process::Command::new(bin)
        .arg("package")
        .arg("--out")
        .arg(content)
        .stdin(std::process::Stdio::null())
        .status()
        .await
        .map_err(|source| UpError::Spawn {
            component: "package".into(),
            program: bin.to_owned(),
            source,
        })?;
    if !status.success() {
        return Err(UpError::Package {
            out: content.to_owned(),
            status: child::describe(status),
        });
    }
    Ok(())
}
