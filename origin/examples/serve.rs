//! Minimal standalone origin for benchmarks and manual testing (the real CLI is
//! `dashcdn origin`): `cargo run --release -p origin --example serve -- --content DIR
//! [--listen 127.0.0.1:8080] [--hot-cache-bytes N] [--hot-file-max-bytes N]`.

use origin::OriginConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = OriginConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--content" => config.content_root = value()?.into(),
            "--web" => config.web_root = Some(value()?.into()),
            "--listen" => config.listen = value()?.parse()?,
            "--hot-cache-bytes" => config.hot_cache_bytes = value()?.parse()?,
            "--hot-file-max-bytes" => config.hot_file_max_bytes = value()?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    origin::serve(config).await?;
    Ok(())
}
