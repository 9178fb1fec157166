//! Reading a server's Prometheus `/metrics` before and after a run ([`scrape`]): the swarm's
//! edge-side counts are the deltas of two scrapes.

use std::time::Duration;

use reqwest::StatusCode;
use serve::prom::{Exposition, ParseError};
use serve::wire::X_SERVED_BY;

/// A scraped `/metrics`.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The URL scraped.
    pub url: String,
    /// `X-Served-By` of the response (the edge's id).
    pub served_by: Option<String>,
    /// Body length (our scrape's own bytes, counted by the server's sent-bytes counter).
    pub body_bytes: u64,
    /// Parsed samples.
    pub exposition: Exposition,
}

/// `url` with `/metrics` appended when it has no path.
pub fn metrics_url(url: &str) -> String {
    let u = url.trim_end_matches('/');
    let after_scheme = u.split_once("://").map_or(u, |(_, r)| r);
    if after_scheme.contains('/') {
        u.to_string()
    } else {
        format!("{u}/metrics")
    }
}

/// Why a `/metrics` scrape failed (the message names the URL).
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// No (complete) response.
    #[error("scraping {url}")]
    Request {
        /// The URL scraped.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A non-2xx answer.
    #[error("scraping {url}: HTTP {status}")]
    Status {
        /// The URL scraped.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// The body is not a Prometheus text exposition.
    #[error("parsing {url}")]
    Parse {
        /// The URL scraped.
        url: String,
        /// The offending line.
        #[source]
        source: ParseError,
    },
}

/// GETs and parses one `/metrics`.
pub async fn scrape(client: &reqwest::Client, url: &str) -> Result<Scrape, ScrapeError> {
    let request = |source| ScrapeError::Request {
        url: url.to_string(),
        source,
    };
    let res = client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(request)?;
    if !res.status().is_success() {
        return Err(ScrapeError::Status {
            url: url.to_string(),
            status: res.status(),
        });
    }
    let served_by = res
        .headers()
        .get(X_SERVED_BY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = res.text().await.map_err(request)?;
    let exposition = Exposition::parse(&text).map_err(|source| ScrapeError::Parse {
        url: url.to_string(),
        source,
    })?;
    Ok(Scrape {
        url: url.to_string(),
        served_by,
        body_bytes: text.len() as u64,
        exposition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_urls() {
        assert_eq!(metrics_url("http://a:1"), "http://a:1/metrics");
        assert_eq!(metrics_url("http://a:1/"), "http://a:1/metrics");
        assert_eq!(metrics_url("http://a:1/metrics"), "http://a:1/metrics");
        assert_eq!(metrics_url("http://a:1/x/metrics"), "http://a:1/x/metrics");
    }
}
