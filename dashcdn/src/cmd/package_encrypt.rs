//! The encryption flags of `dashcdn package` (Common Encryption with raw keys, the way Shaka
//! Packager's `--enable_raw_key_encryption` works), turned into [`media::encrypt::Encryption`].
//! Keys are never printed: errors name the flag, not the value.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use media::encrypt::{parse_hex, ContentKey, Encryption, KeyFile, Scheme};

/// `--encrypt` and its keys.
#[derive(Args)]
pub struct EncryptArgs {
    /// Encrypt every track (ISO/IEC 23001-7 Common Encryption with a raw key, playable with
    /// EME ClearKey or any CENC player given the key). Needs --key-id and --key, or --key-file.
    #[arg(long)]
    encrypt: bool,
    /// Key id (KID): 32 hex digits (UUID dashes allowed). One key for every track.
    #[arg(long, value_name = "HEX", requires = "encrypt", requires = "key")]
    key_id: Option<String>,
    /// Content key: 32 hex digits. Visible in the process list: prefer --key-file.
    #[arg(long, value_name = "HEX", requires = "encrypt", requires = "key_id")]
    key: Option<String>,
    /// TOML key file: `[keys.all]` or `[keys.video]` + `[keys.audio]`, each with `key_id`
    /// and `key`; optional `protection_scheme` and `iv` (see examples/clearkey-test-keys.toml).
    #[arg(long, value_name = "FILE", requires = "encrypt", conflicts_with_all = ["key_id", "key"])]
    key_file: Option<PathBuf>,
    /// Initialization vector: 16 hex digits (8 bytes) or 32 (16 bytes; the only size for
    /// cbcs), the same for every track, as Shaka's --iv. Default: random per track, which
    /// cenc should keep (one key and one IV over several renditions reuse CTR key stream).
    /// Given, it makes the output reproducible.
    #[arg(long, value_name = "HEX", requires = "encrypt")]
    iv: Option<String>,
    /// `cenc` (AES-CTR, the default) or `cbcs` (AES-CBC, 1:9 pattern on video).
    #[arg(long, value_name = "SCHEME", requires = "encrypt")]
    protection_scheme: Option<Scheme>,
}

impl std::fmt::Debug for EncryptArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptArgs")
            .field("encrypt", &self.encrypt)
            .field("key_id", &self.key_id)
            .field("key_file", &self.key_file)
            .field("protection_scheme", &self.protection_scheme)
            .finish_non_exhaustive()
    }
}

impl EncryptArgs {
    /// The encryption asked for, if any.
    pub fn resolve(&self) -> anyhow::Result<Option<Encryption>> {
        if !self.encrypt {
            return Ok(None);
        }
        let iv = self
            .iv
            .as_deref()
            .map(|s| parse_hex("--iv", s))
            .transpose()?;
        let enc = match (&self.key_file, &self.key_id, &self.key) {
            (Some(file), _, _) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read the key file {}", file.display()))?;
                KeyFile::parse(&text, self.protection_scheme, iv)
                    .with_context(|| format!("invalid key file {}", file.display()))?
            }
            (None, Some(kid), Some(key)) => Encryption::single(
                self.protection_scheme.unwrap_or_default(),
                ContentKey::from_hex(kid, key).context("--key-id / --key")?,
                iv,
            )?,
            _ => bail!("--encrypt needs --key-id and --key, or --key-file"),
        };
        Ok(Some(enc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        e: EncryptArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<Option<Encryption>> {
        let cli = Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))?;
        cli.e.resolve()
    }

    #[test]
    fn flags() {
        let kid = "0123456789abcdef0123456789abcdef";
        let key = "00112233445566778899aabbccddeeff";
        assert!(parse(&[]).unwrap().is_none());
        let e = parse(&["--encrypt", "--key-id", kid, "--key", key])
            .unwrap()
            .unwrap();
        assert_eq!(e.scheme, Scheme::Cenc);
        assert_eq!(e.iv, None);
        let e = parse(&[
            "--encrypt",
            "--key-id",
            kid,
            "--key",
            key,
            "--protection-scheme",
            "cbcs",
            "--iv",
            &"0f".repeat(16),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(e.scheme, Scheme::Cbcs);
        // Missing key, short key, bad IV for cbcs, key without --encrypt.
        assert!(parse(&["--encrypt"]).is_err());
        assert!(parse(&["--encrypt", "--key-id", kid]).is_err());
        let err = format!(
            "{:#}",
            parse(&["--encrypt", "--key-id", kid, "--key", "00112233"]).unwrap_err()
        );
        assert!(
            err.contains("16 bytes") && !err.contains("00112233"),
            "{err}"
        );
        assert!(parse(&[
            "--encrypt",
            "--key-id",
            kid,
            "--key",
            key,
            "--protection-scheme",
            "cbcs",
            "--iv",
            "0011223344556677"
        ])
        .is_err());
        assert!(parse(&["--key-id", kid, "--key", key]).is_err());
        assert!(parse(&[
            "--encrypt",
            "--key-id",
            kid,
            "--key",
            key,
            "--protection-scheme",
            "cens"
        ])
        .is_err());
    }
}
