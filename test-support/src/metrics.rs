//! `/metrics` reads through the workspace's one Prometheus text reader
//! ([`serve::prom`]), with the metric names from [`serve::wire::metric_names`].

pub use serve::prom::{Exposition, Sample};
pub use serve::wire::metric_names;

/// Fetches and parses `{base}/metrics`; panics with the URL and the reason if the request
/// or the parse fails.
pub async fn scrape(c: &reqwest::Client, base: &str) -> Exposition {
    let url = format!("{base}/metrics");
    let text = async { c.get(&url).send().await?.error_for_status()?.text().await }
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    Exposition::parse(&text).unwrap_or_else(|e| panic!("{url}: {e}\n{text}"))
}

/// The value of the first sample of `name` whose labels include `labels`, read from
/// `{base}/metrics`; 0 when there is none (a counter never incremented may be absent).
pub async fn value(c: &reqwest::Client, base: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape(c, base).await.value(name, labels).unwrap_or(0.0)
}

/// [`scrape`] for blocking tests (its own current-thread runtime; not from inside one).
pub fn scrape_blocking(base: &str) -> Exposition {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(scrape(&crate::http::client(), base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_the_origins_request_counter() {
        let dir = tempfile::tempdir().unwrap();
        let root = crate::content::make_content(dir.path());
        let o = crate::origin::start(&root, |_| {}).await;
        let base = format!("http://{}", o.local_addr());
        let c = crate::http::client();
        crate::http::get(&c, &format!("{base}/default/manifest.mpd")).await;
        let name = metric_names::origin::REQUESTS_TOTAL_NAME;
        let got = value(&c, &base, name, &[("method", "GET"), ("code", "200")]).await;
        assert_eq!(got, 1.0);
        assert_eq!(value(&c, &base, "no_such_metric", &[]).await, 0.0);
    }
}
