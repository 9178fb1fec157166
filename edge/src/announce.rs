//! Self-announcement to a redirector (`--announce URL`): the edge registers itself, keeps
//! its registration alive with heartbeats and withdraws it on clean shutdown, so a
//! redirector started without any configured edge routes to every edge that announces.
//! The protocol is [`serve::wire`]'s ([`Announcement`], [`AnnounceReply`]); the edge does
//! not depend on the redirector crate.
//!
//! 1. Startup ([`settings`]): `coords` and a token are required, the redirector and public
//!    URLs must be http(s); the public URL defaults to `http://<bound address>`, refused
//!    when that address is unspecified (`0.0.0.0`, `::`), as clients could not reach it.
//! 2. [`Announcer::start`], right after binding: `POST /announce` at once, then every
//!    `heartbeat_ms` the redirector returned. An unreachable redirector is logged (not
//!    fatal) and retried; a refusal (`400`, `401`, `403`, `409`) is logged as an error and
//!    retried at the heartbeat pace. The token file is re-read at every attempt, so fixing
//!    it needs no restart.
//! 3. [`Announcer::withdraw`] on clean shutdown: `DELETE /announce/{id}` (bounded by a
//!    short timeout), then the edge stops serving.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serve::wire::{AnnounceReply, Announcement, ANNOUNCE_PATH, ANNOUNCE_TOKEN_ENV};

use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::upstream::parse_base;

/// Heartbeat period used until the redirector has told its own.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(2000);

/// Time allowed for one announce or withdraw request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the announce token comes from; read again at every announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A file; its content, trimmed.
    File(PathBuf),
    /// The [`ANNOUNCE_TOKEN_ENV`] environment variable.
    Env,
}

impl TokenSource {
    /// Reads the token; the error says where it was looked for.
    pub fn read(&self) -> Result<String, String> {
        let token = match self {
            TokenSource::File(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the token file {}: {e}", p.display()))?,
            TokenSource::Env => std::env::var(ANNOUNCE_TOKEN_ENV).map_err(|_| {
                format!("no token: give --announce-token-file FILE or set {ANNOUNCE_TOKEN_ENV}")
            })?,
        };
        let token = token.trim().to_string();
        if token.is_empty() {
            return Err(match self {
                TokenSource::File(p) => format!("the token file {} is empty", p.display()),
                TokenSource::Env => format!("{ANNOUNCE_TOKEN_ENV} is empty"),
            });
        }
        Ok(token)
    }
}

/// What to announce, where, with which token.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnounceSettings {
    /// The redirector's base URL (no trailing `/`).
    pub redirector: String,
    /// The body of every announcement.
    pub announcement: Announcement,
    /// The token's source.
    pub token: TokenSource,
}

/// The announce settings of `config` for an edge bound at `bound` (`None` without
/// `announce`). Checks everything, reads the token once (a missing token is a startup
/// error) and opens no socket, so `--check` runs it with the configured listen address.
pub fn settings(
    config: &EdgeConfig,
    bound: SocketAddr,
) -> Result<Option<AnnounceSettings>, EdgeError> {
    let Some(redirector) = &config.announce else {
        return Ok(None);
    };
    let bad = |m: String| EdgeError::Announce(m);
    let redirector_url = parse_base(redirector).map_err(|e| bad(format!("redirector URL: {e}")))?;
    let coords = config
        .coords
        .ok_or_else(|| bad("--coords LAT,LON is required to announce".into()))?;
    let token = match &config.announce_token_file {
        Some(p) => TokenSource::File(p.clone()),
        None => TokenSource::Env,
    };
    token.read().map_err(bad)?;
    let url = match &config.public_url {
        Some(u) => {
            parse_base(u).map_err(|e| bad(format!("public URL: {e}")))?;
            u.trim_end_matches('/').to_string()
        }
        None if bound.ip().is_unspecified() => {
            return Err(bad(format!(
                "listening on {bound} (all interfaces): give --public-url, the URL clients reach this edge at"
            )))
        }
        None => format!("http://{bound}"),
    };
    let addresses = reqwest::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .and_then(|h| h.trim_matches(['[', ']']).parse().ok())
        })
        .into_iter()
        .collect();
    Ok(Some(AnnounceSettings {
        redirector: redirector_url.as_str().trim_end_matches('/').to_string(),
        announcement: Announcement {
            id: config.id.clone(),
            url,
            lat: coords.lat,
            lon: coords.lon,
            region: config.region.clone(),
            addresses,
            capacity: None,
        },
        token,
    }))
}

/// The background announcer of a running edge.
#[derive(Debug)]
pub struct Announcer {
    settings: AnnounceSettings,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

/// What one announcement attempt came to, for logging changes only.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok,
    Refused(String),
    Unreachable(String),
}

async fn announce_once(
    client: &reqwest::Client,
    s: &AnnounceSettings,
) -> (Outcome, Option<AnnounceReply>) {
    let token = match s.token.read() {
        Ok(t) => t,
        Err(e) => return (Outcome::Refused(e), None),
    };
    let r = client
        .post(format!("{}{ANNOUNCE_PATH}", s.redirector))
        .bearer_auth(token)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&s.announcement).unwrap_or_default())
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await;
    match r {
        Err(e) => (Outcome::Unreachable(e.to_string()), None),
        Ok(r) if r.status().is_success() => {
            let body = r.bytes().await.unwrap_or_default();
            match serde_json::from_slice::<AnnounceReply>(&body) {
                Ok(reply) => (Outcome::Ok, Some(reply)),
                Err(e) => (Outcome::Refused(format!("bad reply: {e}")), None),
            }
        }
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            (Outcome::Refused(format!("{status}: {}", body.trim())), None)
        }
    }
}

async fn run(client: reqwest::Client, s: AnnounceSettings) {
    let mut every = DEFAULT_HEARTBEAT;
    let mut last: Option<Outcome> = None;
    loop {
        let (outcome, reply) = announce_once(&client, &s).await;
        if let Some(reply) = reply {
            every = Duration::from_millis(reply.heartbeat_ms.max(50));
        }
        if last.as_ref() != Some(&outcome) {
            let to = &s.redirector;
            let id = &s.announcement.id;
            match &outcome {
                Outcome::Ok => {
                    tracing::info!(redirector = %to, %id, url = %s.announcement.url, heartbeat_ms = every.as_millis() as u64, "announced to the redirector")
                }
                Outcome::Refused(why) => {
                    tracing::error!(redirector = %to, %id, %why, "the redirector refused the announcement; retrying")
                }
                Outcome::Unreachable(why) => {
                    tracing::warn!(redirector = %to, %id, %why, "redirector unreachable; retrying")
                }
            }
            last = Some(outcome);
        }
        tokio::time::sleep(every).await;
    }
}

impl Announcer {
    /// Starts announcing in the background (the first announcement goes out at once).
    pub fn start(settings: AnnounceSettings) -> Announcer {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default();
        let task = tokio::spawn(run(client.clone(), settings.clone()));
        Announcer {
            settings,
            client,
            task,
        }
    }

    /// Stops the heartbeats and withdraws the edge (`DELETE /announce/{id}`); failures
    /// are logged, never fatal (the redirector expires a silent edge anyway).
    pub async fn withdraw(self) {
        self.task.abort();
        let s = &self.settings;
        let token = match s.token.read() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot withdraw from the redirector");
                return;
            }
        };
        let url = format!("{}{ANNOUNCE_PATH}/{}", s.redirector, s.announcement.id);
        match self
            .client
            .delete(url)
            .bearer_auth(token)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                tracing::info!(redirector = %s.redirector, "withdrawn from the redirector")
            }
            Ok(r) => tracing::warn!(status = %r.status(), "the redirector refused the withdrawal"),
            Err(e) => tracing::warn!(error = %e, "cannot withdraw from the redirector"),
        }
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Coords;

    fn cfg(dir: &std::path::Path) -> EdgeConfig {
        let token = dir.join("token");
        std::fs::write(&token, "t0k\n").unwrap();
        EdgeConfig {
            id: "e1".into(),
            announce: Some("http://127.0.0.1:9/".into()),
            coords: Some(Coords { lat: 1.0, lon: 2.0 }),
            region: Some("eu".into()),
            announce_token_file: Some(token),
            ..EdgeConfig::default()
        }
    }

    #[test]
    fn settings_check_everything() {
        let dir = tempfile::tempdir().unwrap();
        let bound: SocketAddr = "127.0.0.5:8081".parse().unwrap();
        let s = settings(&cfg(dir.path()), bound).unwrap().unwrap();
        assert_eq!(s.redirector, "http://127.0.0.1:9");
        assert_eq!(s.announcement.url, "http://127.0.0.5:8081");
        assert_eq!(
            s.announcement.addresses,
            vec!["127.0.0.5".parse::<std::net::IpAddr>().unwrap()]
        );
        assert_eq!(s.token.read().unwrap(), "t0k");
        assert!(settings(&EdgeConfig::default(), bound).unwrap().is_none());
        let err = |f: fn(&mut EdgeConfig), bound: &str| {
            let mut c = cfg(dir.path());
            f(&mut c);
            settings(&c, bound.parse().unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(err(|c| c.coords = None, "127.0.0.1:1").contains("--coords"));
        assert!(
            err(|c| c.announce = Some("ftp://x".into()), "127.0.0.1:1").contains("redirector URL")
        );
        assert!(err(|_| {}, "0.0.0.0:1").contains("--public-url"));
        assert!(err(
            |c| c.announce_token_file = Some("/nonexistent/t".into()),
            "127.0.0.1:1"
        )
        .contains("cannot read the token file"));
        let mut c = cfg(dir.path());
        c.public_url = Some("http://edge-3.example:8081/".into());
        let s = settings(&c, "0.0.0.0:8081".parse().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(s.announcement.url, "http://edge-3.example:8081");
        assert!(s.announcement.addresses.is_empty());
    }
}
