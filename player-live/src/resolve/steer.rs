//! The player side of DASH-IF Content Steering ("Content Steering for DASH", DASH-IF
//! IOP v1.0, the `ContentSteering` element of ISO/IEC 23009-1 6th ed. §5.3.1.2 and its
//! steering manifest): an MPD with a `<ContentSteering>` element and MPD-level
//! `<BaseURL serviceLocation=...>` alternatives is played from the pathway the steering
//! server ranks first, and the steering manifest is fetched again every `TTL` seconds
//! (of the player's clock) during playback, so that a redirector that changes its mind
//! (an edge went down, or its players starve: closed-loop steering) moves the player.
//!
//! - Start: the first `defaultServiceLocation` that names a BaseURL, else the first BaseURL.
//! - Request: the steering URL (or the last `RELOAD-URI`) with `_DASH_pathway="<current>"`
//!   and `_DASH_throughput=<bits/s>` (the last video download's rate), as the guidelines
//!   name them.
//! - Answer: JSON `{"VERSION":1,"TTL":s,"RELOAD-URI":?,"PATHWAY-PRIORITY":[...]}`; the
//!   first pathway that names a BaseURL wins. A failed or malformed answer keeps the
//!   current pathway and is retried after the last TTL (a dead steering server never
//!   stops playback).
//!
//! Hand-written: it is a dozen lines of JSON and URL handling on top of serde and url,
//! and the timing must follow the player's (possibly accelerated) clock.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

/// Where the MPD's `<ContentSteering>` points.
#[derive(Debug, Clone, PartialEq)]
pub struct SteeringRef {
    /// The steering server URL (resolved against the MPD URL).
    pub url: Url,
    /// `defaultServiceLocation`, split on spaces.
    pub default: Vec<String>,
    /// `queryBeforeStart`.
    pub query_before_start: bool,
}

/// A steering manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SteeringAnswer {
    /// Must be 1.
    #[serde(rename = "VERSION")]
    pub version: u32,
    /// Seconds until the next request.
    #[serde(rename = "TTL", default = "default_ttl")]
    pub ttl: f64,
    /// Where to ask next time (relative to the URL asked).
    #[serde(rename = "RELOAD-URI", default)]
    pub reload_uri: Option<String>,
    /// Pathways (`serviceLocation`s), best first.
    #[serde(rename = "PATHWAY-PRIORITY", default)]
    pub pathway_priority: Vec<String>,
}

fn default_ttl() -> f64 {
    300.0
}

/// The index of the first pathway of `priority` that one of `pathways` (the BaseURLs'
/// `serviceLocation`s) names.
pub fn pick(priority: &[String], pathways: &[Option<String>]) -> Option<usize> {
    priority.iter().find_map(|p| {
        pathways
            .iter()
            .position(|s| s.as_deref() == Some(p.as_str()))
    })
}

/// The steering request URL: `base` plus `_DASH_pathway` and `_DASH_throughput`.
pub fn request_url(base: &Url, pathway: Option<&str>, throughput_bps: Option<f64>) -> Url {
    let mut u = base.clone();
    {
        let mut q = u.query_pairs_mut();
        if let Some(p) = pathway {
            q.append_pair("_DASH_pathway", &format!("\"{p}\""));
        }
        if let Some(t) = throughput_bps.filter(|t| t.is_finite() && *t > 0.0) {
            q.append_pair("_DASH_throughput", &format!("{}", t.round() as u64));
        }
    }
    u
}

/// Steering state of one playback: when to ask next (player-clock ms) and where.
#[derive(Debug, Clone)]
pub struct Steering {
    next_url: Url,
    next_ms: f64,
    /// Answers received.
    pub answers: u32,
    /// Times an answer moved the playback to another pathway.
    pub switches: u32,
}

impl Steering {
    /// Starts asking at player time 0 (before the first segment).
    pub fn new(r: &SteeringRef) -> Steering {
        Steering {
            next_url: r.url.clone(),
            next_ms: 0.0,
            answers: 0,
            switches: 0,
        }
    }

    /// Whether a request is due at player time `now_ms`.
    pub fn due(&self, now_ms: f64) -> bool {
        now_ms >= self.next_ms
    }

    /// Asks the steering server (at most `timeout` wall time); returns the answer. The next
    /// request is due `TTL` player-seconds after `now_ms` (after a failure: 5 s).
    pub async fn ask(
        &mut self,
        client: &reqwest::Client,
        now_ms: f64,
        pathway: Option<&str>,
        throughput_bps: Option<f64>,
        timeout: Duration,
    ) -> Result<SteeringAnswer, String> {
        let url = request_url(&self.next_url, pathway, throughput_bps);
        let got = tokio::time::timeout(timeout, async {
            let r = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("HTTP {}", r.status().as_u16()));
            }
            let body = r.bytes().await.map_err(|e| e.to_string())?;
            serde_json::from_slice::<SteeringAnswer>(&body).map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("timeout".into()));
        match got {
            Ok(a) if a.version == 1 => {
                self.answers += 1;
                self.next_ms = now_ms + a.ttl.max(0.1) * 1000.0;
                if let Some(next) = a.reload_uri.as_deref().and_then(|r| url.join(r).ok()) {
                    self.next_url = next;
                }
                Ok(a)
            }
            Ok(a) => {
                self.next_ms = now_ms + 5000.0;
                Err(format!("steering manifest VERSION {}", a.version))
            }
            Err(e) => {
                self.next_ms = now_ms + 5000.0;
                Err(format!("GET {url}: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_urls_and_picks() {
        let a: SteeringAnswer =
            serde_json::from_str(r#"{"VERSION":1,"TTL":5,"PATHWAY-PRIORITY":["edge-b","edge-a"]}"#)
                .unwrap();
        assert_eq!((a.ttl, a.reload_uri.as_deref()), (5.0, None));
        let paths = [Some("edge-a".to_string()), Some("edge-b".to_string()), None];
        assert_eq!(pick(&a.pathway_priority, &paths), Some(1));
        assert_eq!(pick(&["x".into()], &paths), None);
        let base = Url::parse("http://r:1/steer?asset=t1").unwrap();
        let u = request_url(&base, Some("edge-a"), Some(1234567.4));
        assert_eq!(
            u.as_str(),
            "http://r:1/steer?asset=t1&_DASH_pathway=%22edge-a%22&_DASH_throughput=1234567"
        );
        assert_eq!(request_url(&base, None, Some(f64::NAN)), base);
        assert!(serde_json::from_str::<SteeringAnswer>(r#"{"TTL":5}"#).is_err());
    }
}
