//! What the packager tells its caller while it works.
//!
//! Packaging is a sequence of stages (`encoding test pattern`, `transcoding`, `packaging
//! default`), each a count of units (frames, milliseconds of input, segments), and within
//! them finished steps worth one line each (a rung encoded, a representation written). The
//! packager reports through [`Progress`]; the caller decides how to show it: a progress bar
//! on a terminal ([`indicatif::ProgressBar`] implements the trait), one line per stage and
//! step in logs and pipes (the `dashcdn` binary's line printer), or nothing ([`Silent`]).
//!
//! Implementations must be cheap and thread-safe: the rungs of the test pattern are
//! encoded on several threads at once and each calls [`Progress::advance`] per frame.

/// Receives the packager's progress. See the module docs.
pub trait Progress: Sync {
    /// A stage begins: its name and its size in units (0 when unknown).
    fn stage(&self, name: &str, total: u64);
    /// `n` more units of the current stage are done.
    fn advance(&self, n: u64);
    /// The current stage has reached `position` units (for work reported as a position,
    /// such as ffmpeg's output time).
    fn set_position(&self, position: u64);
    /// One step finished, described in one line (e.g. `encoded v720 1280x720 3000 kbps:
    /// 1800 frames in 12.3 s`).
    fn step_done(&self, line: &str);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn stage(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn set_position(&self, _: u64) {}
    fn step_done(&self, _: &str) {}
}

/// A terminal progress bar: stages set the message and length, steps are printed above
/// the bar (indicatif prints nothing when the bar is hidden).
impl Progress for indicatif::ProgressBar {
    fn stage(&self, name: &str, total: u64) {
        self.set_message(name.to_string());
        self.set_length(total);
        indicatif::ProgressBar::set_position(self, 0);
    }

    fn advance(&self, n: u64) {
        self.inc(n);
    }

    fn set_position(&self, position: u64) {
        indicatif::ProgressBar::set_position(self, position);
    }

    fn step_done(&self, line: &str) {
        self.println(line);
    }
}
