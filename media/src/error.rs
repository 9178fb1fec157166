//! [`PackageError`]: the error of the packaging entry points ([`package`](crate::package),
//! [`ladder`](crate::ladder), [`synth::generate`](crate::synth::generate)).
//!
//! Messages are what the packager has always printed: a variant's `Display` is the step that
//! failed ("cannot package in.mp4", "writing the MPD"), and the lower error it wraps is its
//! [`source`](std::error::Error::source), so a caller printing the chain (`anyhow`'s `{:#}`
//! or `Caused by:`) shows `cannot package in.mp4: not an MP4 file: ...` as before.
//!
//! Inside the crate, [`Context`] adds the step to a lower error (`.context("writing the
//! MPD")`), and `ensure!`/`bail!` make an [`PackageError::Invalid`] from a formatted message.

use std::num::TryFromIntError;

use crate::codec::MediaError;

/// Why packaging (or generating, or transcoding) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackageError {
    /// The options, names or tracks cannot be packaged as given (segment duration out of
    /// range, a bad asset or representation id, a track without samples or sync samples...).
    /// The message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// A bitstream or container parser rejected the input.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// A parser rejected part of the input; `context` says which part.
    #[error("{context}")]
    Input {
        /// The input or track being read.
        context: String,
        /// What the parser found.
        #[source]
        source: MediaError,
    },
    /// A file-system operation failed without further context.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A file-system operation or a child process failed; `context` says which.
    #[error("{context}")]
    IoStep {
        /// The operation (`cannot create /x/content`, `running ffprobe`).
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The H.264 encoder (openh264) failed.
    #[error("{context}")]
    H264Encoder {
        /// The rung and step (`rung v720: encoding frame 12`).
        context: String,
        /// openh264's error.
        #[source]
        source: Box<openh264::Error>,
    },
    /// An encoder (fdk-aac, or openh264 without an error value) failed or did not produce
    /// what was asked for (a skipped frame, a missing IDR, no AudioSpecificConfig).
    #[error("{0}")]
    Encoder(String),
    /// An external tool (ffmpeg, ffprobe) is missing, failed, or produced nothing usable.
    #[error("{0}")]
    Tool(String),
    /// JSON (`package.json`) could not be written.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// JSON from elsewhere (ffprobe's output) could not be read; `context` says which.
    #[error("{context}")]
    JsonStep {
        /// What was being parsed.
        context: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// The MPD could not be serialised.
    #[error("{context}")]
    Manifest {
        /// The step (`serializing the MPD`).
        context: String,
        /// The manifests crate's error.
        #[source]
        source: Box<manifests::ManifestError>,
    },
    /// A value does not fit the field it is written to (a bandwidth above 4 Gbit/s...).
    #[error("{context}")]
    Range {
        /// The value and the field.
        context: String,
        /// The failed conversion.
        #[source]
        source: TryFromIntError,
    },
    /// Encrypting a track failed or its settings were refused; `context` says which track.
    #[error("{context}")]
    Encrypt {
        /// The track and step (`track v720: encrypting segment 3`).
        context: String,
        /// Why.
        #[source]
        source: crate::encrypt::EncryptError,
    },
    /// A step failed because an inner step did (`generating the test pattern`, then why).
    #[error("{context}")]
    Step {
        /// The outer step.
        context: String,
        /// The inner failure.
        #[source]
        source: Box<PackageError>,
    },
}

/// Results of this crate's packaging functions.
pub(crate) type Result<T, E = PackageError> = std::result::Result<T, E>;

/// A lower-level error that can be wrapped in a [`PackageError`] naming the failed step.
pub(crate) trait WithContext {
    /// The error wrapped, `context` being the step that failed.
    fn within(self, context: String) -> PackageError;
}

impl WithContext for MediaError {
    fn within(self, context: String) -> PackageError {
        PackageError::Input {
            context,
            source: self,
        }
    }
}

impl WithContext for std::io::Error {
    fn within(self, context: String) -> PackageError {
        PackageError::IoStep {
            context,
            source: self,
        }
    }
}

impl WithContext for openh264::Error {
    fn within(self, context: String) -> PackageError {
        PackageError::H264Encoder {
            context,
            source: Box::new(self),
        }
    }
}

impl WithContext for serde_json::Error {
    fn within(self, context: String) -> PackageError {
        PackageError::JsonStep {
            context,
            source: self,
        }
    }
}

impl WithContext for manifests::ManifestError {
    fn within(self, context: String) -> PackageError {
        PackageError::Manifest {
            context,
            source: Box::new(self),
        }
    }
}

impl WithContext for TryFromIntError {
    fn within(self, context: String) -> PackageError {
        PackageError::Range {
            context,
            source: self,
        }
    }
}

impl WithContext for crate::encrypt::EncryptError {
    fn within(self, context: String) -> PackageError {
        PackageError::Encrypt {
            context,
            source: self,
        }
    }
}

impl WithContext for PackageError {
    fn within(self, context: String) -> PackageError {
        PackageError::Step {
            context,
            source: Box::new(self),
        }
    }
}

/// `.context(..)` / `.with_context(|| ..)` on results and options, as `anyhow` spells them:
/// an error gets the step that failed, a `None` becomes [`PackageError::Invalid`] with the
/// message.
pub(crate) trait Context<T> {
    /// Adds a fixed step description.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// Adds a step description built only on failure.
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: WithContext> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.within(context.into()))
    }
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| e.within(f().into()))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| PackageError::Invalid(context.into()))
    }
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.ok_or_else(|| PackageError::Invalid(f().into()))
    }
}

/// Returns [`PackageError::Invalid`] with a formatted message.
macro_rules! bail {
    ($($arg:tt)+) => {
        return Err($crate::error::PackageError::Invalid(format!($($arg)+)))
    };
}

/// Returns [`PackageError::Invalid`] with a formatted message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::error::bail!($($arg)+);
        }
    };
}

pub(crate) use {bail, ensure};

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            s += &format!(": {c}");
            cur = c.source();
        }
        s
    }

    #[test]
    fn context_keeps_the_chain() {
        let r: Result<()> =
            Err(MediaError::NotMp4("x is only 3 bytes".into())).context("cannot package x");
        let e = r.context("outer").unwrap_err();
        assert_eq!(
            chain(&e),
            "outer: cannot package x: not an MP4 file: x is only 3 bytes"
        );
        let none: Option<u8> = None;
        assert_eq!(none.context("missing").unwrap_err().to_string(), "missing");
        fn f(ok: bool) -> Result<()> {
            ensure!(ok, "not ok: {}", 1);
            Ok(())
        }
        assert!(f(true).is_ok());
        assert_eq!(f(false).unwrap_err().to_string(), "not ok: 1");
    }
}
