//! The edges' rate limit, set over HTTP: `POST <edge>/_dashcdn/limit-rate` with a JSON
//! [`LimitRate`] and the admin token `up` gave the edges in their environment
//! ([`serve::wire::EDGE_LIMIT_RATE_PATH`]).

use serve::wire::{LimitRate, EDGE_LIMIT_RATE_PATH};

/// Sets the send-rate cap of the edge at `base_url` (0 = unlimited). The error is one line.
pub async fn set(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    bits_per_sec: u64,
) -> Result<(), String> {
    let url = format!("{}{EDGE_LIMIT_RATE_PATH}", base_url.trim_end_matches('/'));
    let res = client
        .post(&url)
        .bearer_auth(token)
        .json(&LimitRate { bits_per_sec })
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("POST {url}: {}", res.status()))
    }
}
