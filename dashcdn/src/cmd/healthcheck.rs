//! `dashcdn healthcheck`: one `GET` of a health URL, for container `HEALTHCHECK`s and
//! scripts (the runtime image has no curl). Exit 0 on a 2xx answer within the timeout,
//! non-zero with one line on stderr otherwise.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

/// Flags of `dashcdn healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// URL to fetch, e.g. `http://127.0.0.1:8081/healthz`.
    #[arg(
        value_name = "URL",
        env = "DASHCDN_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:8080/healthz"
    )]
    url: String,
    /// Give up after this many milliseconds (connect and answer).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    timeout_ms: u64,
}

/// Fetches the URL once; `Ok` only for a 2xx status.
pub fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(args.timeout_ms))
            .build()
            .context("cannot build the HTTP client")?;
        let status = client
            .get(&args.url)
            .send()
            .await
            .with_context(|| format!("unhealthy: GET {}", args.url))?
            .status();
        if !status.is_success() {
            bail!("unhealthy: GET {} answered {status}", args.url);
        }
        println!("healthy: GET {} answered {status}", args.url);
        Ok(())
    })
}
