//! One module per subcommand.

pub mod edge;
pub mod healthcheck;
pub mod live;
pub mod origin;
pub mod package;
pub mod package_encrypt;
pub mod player;
pub mod player_train;
pub mod redirector;
pub mod up;

use std::future::Future;
use std::path::Path;

use anyhow::Context;

/// The `--config FILE` of a server role: the TOML file parsed into `T`, or `T::default()`
/// without one. Errors name the file and the `role` (`origin`, `edge`).
pub fn load_toml_config<T>(path: Option<&Path>, role: &str) -> anyhow::Result<T>
where
    T: serde::de::DeserializeOwned + Default,
{
    let Some(path) = path else {
        return Ok(T::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid {role} config {}", path.display()))
}

/// A running server role as the binary drives it: tell scripts where it listens, then stop.
pub trait Role {
    /// Prints the bound addresses. Scripts and tests wait for the exact line
    /// `listening on http://ADDR` to learn the HTTP address.
    fn announce(&self);
    /// Stops serving: drains in-flight requests for a short grace, then closes.
    fn stop(self) -> impl Future<Output = anyhow::Result<()>>;
}

/// Runs one server role until Ctrl-C or SIGTERM: a multi-threaded runtime, `bind`, the
/// announcement, the shutdown signal, then [`Role::stop`].
pub fn run_until_signal<R, F>(bind: F) -> anyhow::Result<()>
where
    R: Role,
    F: Future<Output = anyhow::Result<R>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let running = bind.await?;
        running.announce();
        serve::shutdown_signal().await;
        tracing::info!("shutting down");
        running.stop().await
    })
}
