//! One module per subcommand.

pub mod edge;
pub mod origin;
pub mod package;
pub mod player;
pub mod player_train;
pub mod redirector;

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
