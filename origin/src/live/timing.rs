//! The live timing policy of looped VoD: which loop iteration and which VoD segment a live
//! segment is, where it sits on the wall clock, and whether it is available — pure
//! functions over integers, tested here.
//!
//! ## The model (as DASH-IF livesim2)
//! `availabilityStartTime` is the Unix epoch and the single Period starts at 0, so the
//! presentation time of a live segment is its media time / timescale and the wall clock
//! maps to media time directly. The asset loops every `loop_ticks` (the loop duration, the
//! reference track's total duration expressed in each track's timescale): live segment
//! `index` is VoD segment `k = index mod N` of loop `L = index div N`, and its media time is
//! `L × loop_ticks + starts[k]` (so the `tfdt` shift of a segment is `L × loop_ticks`).
//!
//! Two addressings (ISO/IEC 23009-1 §5.3.9.4.4):
//! - [`Addressing::Number`]: `$Number$` = `index`, `@startNumber` 0, `@duration`
//!   `loop_ticks / N` (nominal; must divide exactly). A segment's availability follows its
//!   nominal times, `[index × d, (index + 1) × d)`.
//! - [`Addressing::Time`]: `$Time$` = the media start time, a SegmentTimeline whose
//!   durations are the VoD's, except that the last segment of each loop is **shown** ending
//!   exactly at the loop boundary (`loop_ticks − starts[N−1]`), so the timeline is gap-free
//!   and every loop starts at `L × loop_ticks` in every track. A track slightly longer than
//!   the loop (AAC audio: whole 1024-sample frames) then overlaps the next loop by less
//!   than one frame, which the player's buffer replaces (MSE coded-frame removal); one
//!   slightly shorter leaves a gap of the same size. Audio and video therefore never drift
//!   apart: every loop restarts both at the same presentation time. (The packager's default
//!   asset: AAC 60.0107 s against 60 s of video, 512 samples = 10.7 ms of overlap per loop.)
//!   In [`Addressing::Number`] the audio segments keep their VoD durations under the nominal
//!   `@duration`, restarting at the loop the same way.
//!
//! livesim2 goes further for audio (its `audiosegmentation.go`): it re-cuts the AAC frames
//! so that each output segment starts at the first frame at or after the video segment's
//! start and the frame sequence runs on across the wrap (repeating the last frame when the
//! audio is short), so its audio has neither overlap nor gap at the loop. That needs
//! sample-level re-muxing of every audio segment; here segments are only re-timed, and the
//! sub-frame overlap is left to the player (dash.js plays across the boundary without a
//! stall: `web/tests/live_loop.test.mjs`).
//!
//! ## Availability (ISO/IEC 23009-1 §5.3.9.5.3; DASH-IF timing-model guidelines, "time shift
//! window")
//! A segment is available from the wall-clock time of its **end** (no
//! `availabilityTimeOffset`) while it still overlaps the time-shift window
//! `[now − timeShiftBufferDepth, now]`, i.e. while `now < end + timeShiftBufferDepth`.
//! Before: [`Availability::TooEarly`] (with how long until it is available); after:
//! [`Availability::Gone`].

/// How live segments are addressed in the MPD and in segment URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `SegmentTemplate@duration` + `$Number$`.
    Number,
    /// `SegmentTimeline` + `$Time$`.
    Time,
}

/// One track's loop: segment start offsets within the loop and the loop length, in the
/// track's timescale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackTimeline {
    /// Units per second.
    pub timescale: u64,
    /// The loop duration in this timescale.
    pub loop_ticks: u64,
    /// Start of VoD segment k relative to the first one (`starts[0] == 0`, increasing,
    /// all below `loop_ticks`).
    pub starts: Vec<u64>,
}

/// A live segment: where it comes from and where it sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSegment {
    /// Live index since the epoch (`$Number$` in [`Addressing::Number`]).
    pub index: u64,
    /// Loop iteration L.
    pub loop_index: u64,
    /// VoD segment position k (0-based).
    pub k: usize,
    /// Start on the live timeline (ticks; `$Time$` in [`Addressing::Time`]).
    pub start: u64,
    /// Duration on the live timeline (ticks).
    pub duration: u64,
}

impl LiveSegment {
    /// End on the live timeline (ticks).
    pub fn end(&self) -> u64 {
        self.start + self.duration
    }
}

/// Where a segment stands against the wall clock (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Not yet: available in this many milliseconds.
    TooEarly {
        /// Milliseconds until the segment's availability start.
        in_ms: u64,
    },
    /// Available now.
    Available,
    /// Left the time-shift window.
    Gone,
}

/// Why a track cannot be looped.
pub type TimelineError = String;

impl TrackTimeline {
    /// Validates and builds a track's loop.
    pub fn new(timescale: u64, loop_ticks: u64, starts: Vec<u64>) -> Result<Self, TimelineError> {
        if timescale == 0 || loop_ticks == 0 || starts.is_empty() {
            return Err("empty track or zero timescale".into());
        }
        if starts[0] != 0 || starts.windows(2).any(|w| w[0] >= w[1]) {
            return Err("segment starts are not increasing from 0".into());
        }
        if *starts.last().unwrap() >= loop_ticks {
            return Err("a segment starts after the loop end".into());
        }
        Ok(TrackTimeline {
            timescale,
            loop_ticks,
            starts,
        })
    }

    /// Segments per loop (N).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Always false (a timeline has at least one segment).
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The `@duration` of [`Addressing::Number`]: `loop_ticks / N` when exact.
    pub fn nominal_duration(&self) -> Option<u64> {
        let n = self.len() as u64;
        self.loop_ticks
            .is_multiple_of(n)
            .then(|| self.loop_ticks / n)
    }

    /// The shown (timeline) duration of VoD segment k: up to the next start, the last one
    /// up to the loop end.
    pub fn shown_duration(&self, k: usize) -> u64 {
        self.starts.get(k + 1).copied().unwrap_or(self.loop_ticks) - self.starts[k]
    }

    /// Live segment `index` in `mode` (`None` if the times overflow).
    pub fn segment(&self, index: u64, mode: Addressing) -> Option<LiveSegment> {
        let n = self.len() as u64;
        let (loop_index, k) = (index / n, (index % n) as usize);
        let (start, duration) = match mode {
            Addressing::Number => {
                let d = self.nominal_duration()?;
                (index.checked_mul(d)?, d)
            }
            Addressing::Time => (
                loop_index
                    .checked_mul(self.loop_ticks)?
                    .checked_add(self.starts[k])?,
                self.shown_duration(k),
            ),
        };
        Some(LiveSegment {
            index,
            loop_index,
            k,
            start,
            duration,
        })
    }

    /// The live segment starting exactly at media time `t` ([`Addressing::Time`]).
    pub fn by_time(&self, t: u64) -> Option<LiveSegment> {
        let (loop_index, offset) = (t / self.loop_ticks, t % self.loop_ticks);
        let k = self.starts.binary_search(&offset).ok()?;
        self.segment(
            loop_index
                .checked_mul(self.len() as u64)?
                .checked_add(k as u64)?,
            Addressing::Time,
        )
    }

    /// The wall clock `now_ms` (since the epoch) in this track's ticks, rounded down.
    pub fn ticks_at(&self, now_ms: u64) -> u64 {
        (u128::from(now_ms) * u128::from(self.timescale) / 1000) as u64
    }

    /// Index of the newest segment that has ended by `now_ms` (`None` before the first).
    pub fn last_available(&self, now_ms: u64, mode: Addressing) -> Option<u64> {
        let now = self.ticks_at(now_ms);
        let n = self.len() as u64;
        match mode {
            Addressing::Number => (now / self.nominal_duration()?).checked_sub(1),
            Addressing::Time => {
                let (l, off) = (now / self.loop_ticks, now % self.loop_ticks);
                // segments of loop l that have ended: those whose shown end ≤ off
                let ended = (0..self.len())
                    .take_while(|&k| self.starts[k] + self.shown_duration(k) <= off)
                    .count() as u64;
                (l * n + ended).checked_sub(1)
            }
        }
    }

    /// Availability of `seg` at `now_ms` with a time-shift buffer of `tsbd_ms`.
    pub fn availability(&self, seg: &LiveSegment, now_ms: u64, tsbd_ms: u64) -> Availability {
        let end_ms = ticks_to_ms_ceil(seg.end(), self.timescale);
        if u128::from(now_ms) < end_ms {
            return Availability::TooEarly {
                in_ms: (end_ms - u128::from(now_ms)).min(u64::MAX as u128) as u64,
            };
        }
        if u128::from(now_ms) >= end_ms + u128::from(tsbd_ms) {
            Availability::Gone
        } else {
            Availability::Available
        }
    }

    /// The live segments in the time-shift window at `now_ms` (oldest first), at most
    /// `limit` (newest kept).
    pub fn window(
        &self,
        now_ms: u64,
        tsbd_ms: u64,
        mode: Addressing,
        limit: u64,
    ) -> Vec<LiveSegment> {
        let Some(last) = self.last_available(now_ms, mode) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut i = last;
        while let Some(seg) = self.segment(i, mode) {
            if self.availability(&seg, now_ms, tsbd_ms) != Availability::Available {
                break;
            }
            out.push(seg);
            if i == 0 || out.len() as u64 >= limit {
                break;
            }
            i -= 1;
        }
        out.reverse();
        out
    }
}

/// `ticks / timescale` seconds in milliseconds, rounded up (a segment ending at 1.0005 s is
/// available at 1001 ms, never at 1000 ms).
pub fn ticks_to_ms_ceil(ticks: u64, timescale: u64) -> u128 {
    (u128::from(ticks) * 1000).div_ceil(u128::from(timescale))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packager's default asset: 30 video segments of 2 s at 90 kHz (60 s), and AAC
    /// audio at 48 kHz whose segments are 96256 or 95232 samples (60.0107 s in all).
    fn video() -> TrackTimeline {
        TrackTimeline::new(90_000, 5_400_000, (0..30).map(|k| k * 180_000).collect()).unwrap()
    }

    fn audio() -> TrackTimeline {
        let mut durs = vec![96_256u64, 96_256, 95_232];
        for _ in 0..6 {
            durs.extend([96_256, 96_256, 96_256, 95_232]);
        }
        durs.extend([96_256, 96_256, 96_256]);
        assert_eq!(durs.len(), 30);
        assert_eq!(durs.iter().sum::<u64>(), 2_880_512);
        let starts = durs
            .iter()
            .scan(0, |t, d| {
                let s = *t;
                *t += d;
                Some(s)
            })
            .collect();
        TrackTimeline::new(48_000, 2_880_000, starts).unwrap()
    }

    #[test]
    fn number_math_across_a_loop_boundary() {
        let v = video();
        assert_eq!(v.nominal_duration(), Some(180_000));
        let last_of_loop_7 = v.segment(7 * 30 + 29, Addressing::Number).unwrap();
        assert_eq!((last_of_loop_7.loop_index, last_of_loop_7.k), (7, 29));
        assert_eq!(last_of_loop_7.start, 7 * 5_400_000 + 29 * 180_000);
        let first_of_loop_8 = v.segment(8 * 30, Addressing::Number).unwrap();
        assert_eq!((first_of_loop_8.loop_index, first_of_loop_8.k), (8, 0));
        assert_eq!(first_of_loop_8.start, last_of_loop_7.end());
        // audio in Number mode: nominal 2 s (96000 samples) per segment
        assert_eq!(audio().nominal_duration(), Some(96_000));
    }

    #[test]
    fn time_math_across_a_loop_boundary() {
        let a = audio();
        // the last audio segment of a loop is shown ending at the loop boundary
        assert_eq!(a.shown_duration(29), 2_880_000 - (2_880_512 - 96_256));
        assert_eq!(a.shown_duration(29), 95_744);
        let last = a.by_time(3 * 2_880_000 + 2_784_256).unwrap();
        assert_eq!((last.loop_index, last.k, last.index), (3, 29, 3 * 30 + 29));
        assert_eq!(last.end(), 4 * 2_880_000);
        let next = a.by_time(last.end()).unwrap();
        assert_eq!((next.loop_index, next.k), (4, 0));
        assert_eq!(a.by_time(last.end() + 1), None);
        // video and audio loops start at the same wall-clock instant
        let v = video();
        let vloop = v.segment(4 * 30, Addressing::Time).unwrap();
        assert_eq!(
            ticks_to_ms_ceil(vloop.start, 90_000),
            ticks_to_ms_ceil(next.start, 48_000)
        );
    }

    #[test]
    fn availability_window() {
        let v = video();
        let seg = v.segment(100, Addressing::Number).unwrap(); // [200 s, 202 s)
        assert_eq!(
            v.availability(&seg, 201_500, 30_000),
            Availability::TooEarly { in_ms: 500 }
        );
        assert_eq!(
            v.availability(&seg, 202_000, 30_000),
            Availability::Available
        );
        assert_eq!(
            v.availability(&seg, 231_999, 30_000),
            Availability::Available
        );
        assert_eq!(v.availability(&seg, 232_000, 30_000), Availability::Gone);
        assert_eq!(v.last_available(201_999, Addressing::Number), Some(99));
        assert_eq!(v.last_available(202_000, Addressing::Number), Some(100));
        assert_eq!(v.last_available(1_999, Addressing::Number), None);
        let w = v.window(202_000, 10_000, Addressing::Number, 1000);
        assert_eq!(
            w.iter().map(|s| s.index).collect::<Vec<_>>(),
            vec![96, 97, 98, 99, 100]
        );
        // timeline window across a loop boundary (120 s = loop 2 start) in audio
        let a = audio();
        let w = a.window(121_000, 8_000, Addressing::Time, 1000);
        let ks: Vec<_> = w.iter().map(|s| (s.loop_index, s.k)).collect();
        assert_eq!(ks, vec![(1, 26), (1, 27), (1, 28), (1, 29)]);
        assert!(w.windows(2).all(|p| p[0].end() == p[1].start));
        let w = a.window(122_100, 8_000, Addressing::Time, 1000);
        assert_eq!(w.last().map(|s| (s.loop_index, s.k)), Some((2, 0)));
        assert_eq!(a.window(122_100, 8_000, Addressing::Time, 2).len(), 2);
    }

    #[test]
    fn refusals() {
        assert!(TrackTimeline::new(1, 10, vec![]).is_err());
        assert!(TrackTimeline::new(1, 10, vec![1, 2]).is_err());
        assert!(TrackTimeline::new(1, 10, vec![0, 10]).is_err());
        let t = TrackTimeline::new(1000, 10_001, vec![0, 5000]).unwrap();
        assert_eq!(t.nominal_duration(), None);
        assert_eq!(t.segment(3, Addressing::Number), None);
    }
}
