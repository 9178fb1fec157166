//! Segment addressing for readers (players, edges): template expansion, SegmentTemplate
//! inheritance Period → AdaptationSet → Representation, and listing the segments of a
//! Representation from `SegmentTemplate@duration` or a `SegmentTimeline`.

use crate::mpd::{AdaptationSet, Period, Representation, SegmentTemplate};
use crate::values::IsoDuration;
use crate::ManifestError;

/// Expands a `SegmentTemplate` URL template (ISO/IEC 23009-1 5.3.9.4.4):
/// `$RepresentationID$`, `$Number$`, `$Time$`, `$Bandwidth$`, each numeric one with an
/// optional width tag (`$Number%05d$`, at most 64 wide), and `$$` for a literal `$`. Unknown
/// identifiers and wider tags are left as written.
///
/// ```
/// use manifests::segments::expand_template;
/// assert_eq!(expand_template("$RepresentationID$/$Number%05d$.m4s", "v720", 7, 0, 0), "v720/00007.m4s");
/// ```
pub fn expand_template(
    template: &str,
    rep_id: &str,
    number: u64,
    time: u64,
    bandwidth: u64,
) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let Some(j) = rest.find('$') else {
            // Unterminated identifier: keep the text as is.
            out.push('$');
            break;
        };
        let ident = &rest[..j];
        rest = &rest[j + 1..];
        if ident.is_empty() {
            out.push('$');
            continue;
        }
        let (name, format) = match ident.split_once('%') {
            Some((n, f)) => (n, Some(f)),
            None => (ident, None),
        };
        let value = match name {
            "RepresentationID" if format.is_none() => {
                out.push_str(rep_id);
                continue;
            }
            "Number" => Some(number),
            "Time" => Some(time),
            "Bandwidth" => Some(bandwidth),
            _ => None,
        };
        match (value, format.map(parse_width)) {
            (Some(v), None) => out.push_str(&v.to_string()),
            (Some(v), Some(Some((width, zero)))) => {
                if zero {
                    out.push_str(&format!("{v:0width$}"));
                } else {
                    out.push_str(&format!("{v:width$}"));
                }
            }
            _ => {
                out.push('$');
                out.push_str(ident);
                out.push('$');
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses a format tag body `0Nd` / `Nd` / `d` into (width, zero padding).
fn parse_width(f: &str) -> Option<(usize, bool)> {
    let body = f.strip_suffix('d')?;
    if body.is_empty() {
        return Some((0, false));
    }
    if !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let width: usize = body.parse().ok()?;
    // Wider is no real template, and `$Number%0999999999999d$` must not allocate a terabyte.
    (width <= 64).then_some((width, body.starts_with('0')))
}

/// One media segment: its number, media time and duration in `timescale` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRef {
    /// Segment number (`$Number$`).
    pub number: u64,
    /// Media time of the segment start (`$Time$`), timescale units, including
    /// `presentationTimeOffset`.
    pub time: u64,
    /// Duration in timescale units.
    pub duration: u64,
    /// Units per second.
    pub timescale: u32,
}

impl SegmentRef {
    /// Start in seconds on the period's timeline (`(time - pto) / timescale`).
    pub fn start_in_period(&self, presentation_time_offset: u64) -> IsoDuration {
        IsoDuration::from_ticks(
            self.time.saturating_sub(presentation_time_offset),
            self.timescale as u64,
        )
    }

    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.duration as f64 / self.timescale.max(1) as f64
    }
}

fn or<T: Clone>(child: &Option<T>, parent: &Option<T>) -> Option<T> {
    child.clone().or_else(|| parent.clone())
}

impl SegmentTemplate {
    /// This template (the parent level) overridden by `child`: every attribute or element
    /// present in `child` wins, the rest is inherited.
    pub fn merged_with(&self, child: &SegmentTemplate) -> SegmentTemplate {
        let mut extra = self.extra.clone();
        extra.attrs.extend(child.extra.attrs.iter().cloned());
        extra.children.extend(child.extra.children.iter().cloned());
        SegmentTemplate {
            timescale: or(&child.timescale, &self.timescale),
            ept_delta: or(&child.ept_delta, &self.ept_delta),
            pd_delta: or(&child.pd_delta, &self.pd_delta),
            presentation_time_offset: or(
                &child.presentation_time_offset,
                &self.presentation_time_offset,
            ),
            presentation_duration: or(&child.presentation_duration, &self.presentation_duration),
            time_shift_buffer_depth: or(
                &child.time_shift_buffer_depth,
                &self.time_shift_buffer_depth,
            ),
            index_range: or(&child.index_range, &self.index_range),
            index_range_exact: or(&child.index_range_exact, &self.index_range_exact),
            availability_time_offset: or(
                &child.availability_time_offset,
                &self.availability_time_offset,
            ),
            availability_time_complete: or(
                &child.availability_time_complete,
                &self.availability_time_complete,
            ),
            duration: or(&child.duration, &self.duration),
            start_number: or(&child.start_number, &self.start_number),
            end_number: or(&child.end_number, &self.end_number),
            media: or(&child.media, &self.media),
            index: or(&child.index, &self.index),
            initialization: or(&child.initialization, &self.initialization),
            bitstream_switching: or(&child.bitstream_switching, &self.bitstream_switching),
            initialization_element: or(&child.initialization_element, &self.initialization_element),
            representation_index: or(&child.representation_index, &self.representation_index),
            failover_content: or(&child.failover_content, &self.failover_content),
            segment_timeline: or(&child.segment_timeline, &self.segment_timeline),
            bitstream_switching_element: or(
                &child.bitstream_switching_element,
                &self.bitstream_switching_element,
            ),
            extra,
        }
    }

    /// `@timescale` or 1.
    pub fn effective_timescale(&self) -> u32 {
        self.timescale.unwrap_or(1).max(1)
    }

    /// `@startNumber` or 1.
    pub fn effective_start_number(&self) -> u64 {
        self.start_number.unwrap_or(1) as u64
    }

    /// Lists the segments this template addresses, at most [`MAX_SEGMENTS`] (see
    /// [`segments_within`](Self::segments_within)).
    pub fn segments(
        &self,
        period_duration: Option<IsoDuration>,
    ) -> Result<Vec<SegmentRef>, ManifestError> {
        self.segments_within(period_duration, MAX_SEGMENTS)
    }

    /// Lists the segments this template addresses; more than `limit` is an error (nothing
    /// beyond the limit is allocated or walked).
    ///
    /// With a `SegmentTimeline` the timeline decides (ISO/IEC 23009-1 §5.3.9.6): each `S` is
    /// `@r + 1` segments of `@d`; `@r = -1` repeats until the next `S@t` or the period end (so
    /// it needs `period_duration`). Segments belong to their Period only up to its end, so
    /// when the period duration is known, **repeats are clamped at the period end** (a
    /// segment starting at or after it is not listed): `<S d="1" r="2000000000"/>` in a 60 s
    /// period at timescale 1 is 60 segments, not two billion. Refused as invalid: `@d = 0`,
    /// `@r < -1`, an `S@t` before the end of the previous segment (the timeline going
    /// backwards), `@timescale = 0`.
    ///
    /// With `@duration` the period is cut into segments of that duration, the last one
    /// shortened to the period end (needs `period_duration`). `@endNumber` caps both.
    pub fn segments_within(
        &self,
        period_duration: Option<IsoDuration>,
        limit: u64,
    ) -> Result<Vec<SegmentRef>, ManifestError> {
        if self.timescale == Some(0) {
            return Err(ManifestError::Segments(
                "SegmentTemplate@timescale is 0".into(),
            ));
        }
        let timescale = self.effective_timescale();
        let pto = self.presentation_time_offset.unwrap_or(0);
        let period_end = period_duration.map(|d| pto.saturating_add(d.to_ticks(timescale as u64)));
        let end_number = self.end_number.map(u64::from);
        let mut out = Vec::new();
        let mut number = self.effective_start_number();
        let capped = |n: u64| end_number.is_some_and(|e| n > e);
        if let Some(timeline) = &self.segment_timeline {
            let mut t = 0u64;
            for (i, s) in timeline.entries.iter().enumerate() {
                if let Some(st) = s.t {
                    if i > 0 && st < t {
                        return Err(ManifestError::Segments(format!(
                            "S[{i}]@t={st} goes back before the end of the previous segment ({t})"
                        )));
                    }
                    t = st;
                }
                if let Some(n) = s.n {
                    number = n;
                }
                if s.d == 0 {
                    return Err(ManifestError::Segments(format!("S[{i}] has d=0")));
                }
                let mut count = match s.r.unwrap_or(0) {
                    r if r >= 0 => r as u64 + 1,
                    -1 => {
                        let until = match timeline.entries.get(i + 1).and_then(|n| n.t) {
                            Some(next_t) => next_t,
                            None => period_end.ok_or_else(|| {
                                ManifestError::Segments(format!(
                                    "S[{i}] repeats until the period end (r=-1) but the period duration is unknown"
                                ))
                            })?,
                        };
                        until.saturating_sub(t).div_ceil(s.d)
                    }
                    r => {
                        return Err(ManifestError::Segments(format!(
                            "S[{i}] has r={r}: the only negative repeat count is -1"
                        )))
                    }
                };
                if let Some(end) = period_end {
                    // §5.3.9.6: no segment of this Period starts at or after its end.
                    count = count.min(end.saturating_sub(t).div_ceil(s.d));
                }
                if let Some(e) = end_number {
                    count = count.min((e + 1).saturating_sub(number));
                }
                if count > limit.saturating_sub(out.len() as u64) {
                    return Err(too_many(limit));
                }
                for _ in 0..count {
                    out.push(SegmentRef {
                        number,
                        time: t,
                        duration: s.d,
                        timescale,
                    });
                    t = t.saturating_add(s.d);
                    number = number.saturating_add(1);
                }
                if capped(number) || period_end.is_some_and(|end| t >= end) {
                    break;
                }
            }
            return Ok(out);
        }
        let d = match self.duration {
            Some(d) if d > 0 => d as u64,
            _ => {
                return Err(ManifestError::Segments(
                    "SegmentTemplate has neither a SegmentTimeline nor a positive @duration".into(),
                ))
            }
        };
        let end = period_end.ok_or_else(|| {
            ManifestError::Segments(
                "SegmentTemplate@duration addressing needs the period duration".into(),
            )
        })?;
        let mut t = pto;
        let mut count = end.saturating_sub(t).div_ceil(d);
        if let Some(e) = end_number {
            count = count.min((e + 1).saturating_sub(number));
        }
        if count > limit {
            return Err(too_many(limit));
        }
        out.reserve_exact(count as usize);
        while t < end && !capped(number) {
            out.push(SegmentRef {
                number,
                time: t,
                duration: d.min(end - t),
                timescale,
            });
            t = t.saturating_add(d);
            number = number.saturating_add(1);
        }
        Ok(out)
    }
}

/// Most segments [`SegmentTemplate::segments`] lists for one representation: twelve days of
/// 1-second segments, 32 MB of [`SegmentRef`]s. A hostile `S@r` or `@duration` asking for
/// more is an error, not an allocation of gigabytes.
pub const MAX_SEGMENTS: u64 = 1 << 20;

fn too_many(limit: u64) -> ManifestError {
    ManifestError::TooManySegments { limit }
}

/// The SegmentTemplate that applies to `rep`: Period's, overridden by the AdaptationSet's,
/// overridden by the Representation's. `None` if no level has one.
pub fn effective_segment_template(
    period: &Period,
    set: &AdaptationSet,
    rep: &Representation,
) -> Option<SegmentTemplate> {
    let levels = [
        period.segment_template.as_ref(),
        set.segment_template.as_ref(),
        rep.segment_template.as_ref(),
    ];
    levels
        .into_iter()
        .flatten()
        .fold(None, |acc: Option<SegmentTemplate>, t| {
            Some(match acc {
                Some(parent) => parent.merged_with(t),
                None => t.clone(),
            })
        })
}

/// A media segment of a Representation with its URL (relative to the BaseURL in force).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSegment {
    /// Number, time and duration.
    pub segment: SegmentRef,
    /// `SegmentTemplate@media` expanded.
    pub url: String,
}

impl Representation {
    /// This Representation's effective SegmentTemplate (see [`effective_segment_template`]).
    pub fn effective_segment_template(
        &self,
        period: &Period,
        set: &AdaptationSet,
    ) -> Option<SegmentTemplate> {
        effective_segment_template(period, set, self)
    }

    /// The init segment URL from the effective `SegmentTemplate@initialization`.
    pub fn init_url(&self, period: &Period, set: &AdaptationSet) -> Option<String> {
        let t = self.effective_segment_template(period, set)?;
        Some(expand_template(
            t.initialization.as_deref()?,
            &self.id,
            0,
            0,
            self.bandwidth as u64,
        ))
    }

    /// All media segments with expanded URLs, from the effective SegmentTemplate, at most
    /// [`MAX_SEGMENTS`]. `period_duration` is needed for `@duration` templates and open-ended
    /// timelines (see [`Mpd::period_duration`](crate::Mpd::period_duration)).
    pub fn media_segments(
        &self,
        period: &Period,
        set: &AdaptationSet,
        period_duration: Option<IsoDuration>,
    ) -> Result<Vec<MediaSegment>, ManifestError> {
        self.media_segments_within(period, set, period_duration, MAX_SEGMENTS)
    }

    /// [`media_segments`](Self::media_segments) with a smaller `limit` (a reader listing
    /// several Representations keeps one budget for all; see
    /// [`SegmentTemplate::segments_within`]).
    pub fn media_segments_within(
        &self,
        period: &Period,
        set: &AdaptationSet,
        period_duration: Option<IsoDuration>,
        limit: u64,
    ) -> Result<Vec<MediaSegment>, ManifestError> {
        let t = self
            .effective_segment_template(period, set)
            .ok_or_else(|| {
                ManifestError::Segments(format!(
                    "Representation {} has no SegmentTemplate",
                    self.id
                ))
            })?;
        let media = t.media.clone().ok_or_else(|| {
            ManifestError::Segments(format!(
                "SegmentTemplate of Representation {} has no @media",
                self.id
            ))
        })?;
        Ok(t.segments_within(period_duration, limit)?
            .into_iter()
            .map(|s| MediaSegment {
                url: expand_template(&media, &self.id, s.number, s.time, self.bandwidth as u64),
                segment: s,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mpd::{SegmentTimeline, S};

    #[test]
    fn template_expansion() {
        let e = |t: &str| expand_template(t, "v720", 42, 90000, 3_000_000);
        assert_eq!(e("$RepresentationID$/$Number$.m4s"), "v720/42.m4s");
        assert_eq!(e("$Number%05d$"), "00042");
        assert_eq!(e("$Number%1d$"), "42");
        assert_eq!(e("t$Time$-$Bandwidth$bps"), "t90000-3000000bps");
        assert_eq!(e("$Time%012d$"), "000000090000");
        assert_eq!(e("a$$b"), "a$b");
        assert_eq!(e("$$$Number$$$"), "$42$");
        assert_eq!(e("$Unknown$/$Number$"), "$Unknown$/42");
        assert_eq!(e("$RepresentationID%05d$"), "$RepresentationID%05d$");
        assert_eq!(e("tail$Number"), "tail$Number");
        assert_eq!(e("no vars"), "no vars");
    }

    #[test]
    fn duration_addressing() {
        let t = SegmentTemplate {
            timescale: Some(1000),
            duration: Some(2000),
            start_number: Some(1),
            ..Default::default()
        };
        let segs = t.segments(Some(IsoDuration::from_millis(7000))).unwrap();
        assert_eq!(segs.len(), 4);
        assert_eq!(
            (segs[0].number, segs[0].time, segs[0].duration),
            (1, 0, 2000)
        );
        assert_eq!(
            (segs[3].number, segs[3].time, segs[3].duration),
            (4, 6000, 1000)
        );
        assert!(t.segments(None).is_err());
        let capped = SegmentTemplate {
            end_number: Some(2),
            ..t.clone()
        };
        assert_eq!(
            capped
                .segments(Some(IsoDuration::from_secs(10)))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn timeline_addressing() {
        let t = SegmentTemplate {
            timescale: Some(48000),
            start_number: Some(16),
            segment_timeline: Some(SegmentTimeline {
                entries: vec![
                    S::new(Some(1000), 96000, 2),
                    S::new(None, 95000, 0),
                    S::new(None, 96000, -1),
                ],
                ..Default::default()
            }),
            presentation_time_offset: Some(1000),
            ..Default::default()
        };
        let segs = t.segments(Some(IsoDuration::from_secs(10))).unwrap();
        // 3 x 2s, 1 x 95000, then 96000-tick segments until 1000 + 480000.
        let end = 1000 + 480_000;
        assert_eq!(
            segs[0],
            SegmentRef {
                number: 16,
                time: 1000,
                duration: 96000,
                timescale: 48000
            }
        );
        assert_eq!(segs[3].duration, 95000);
        let last = segs.last().unwrap();
        assert!(last.time < end && last.time + last.duration >= end);
        assert_eq!(segs[1].start_in_period(1000), IsoDuration::from_secs(2));
        assert!(t.segments(None).is_err());
    }

    fn timeline(entries: Vec<S>) -> SegmentTemplate {
        SegmentTemplate {
            timescale: Some(1),
            segment_timeline: Some(SegmentTimeline {
                entries,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn err(r: Result<Vec<SegmentRef>, ManifestError>) -> String {
        r.expect_err("must be refused").to_string()
    }

    #[test]
    fn repeats_past_the_period_end_are_clamped_to_it() {
        // Issue 12: <S d="1" r="2000000000"/> in a 60 s period.
        let t = timeline(vec![S::new(Some(0), 1, 2_000_000_000)]);
        let start = std::time::Instant::now();
        let segs = t.segments(Some(IsoDuration::from_secs(60))).unwrap();
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(segs.len(), 60);
        assert_eq!((segs[59].number, segs[59].time), (60, 59));
        // Entries after the period end add nothing; an S that straddles it keeps its last
        // segment (it starts before the end).
        let t = timeline(vec![S::new(Some(0), 7, 1_000_000), S::new(None, 1, 5)]);
        let segs = t.segments(Some(IsoDuration::from_secs(60))).unwrap();
        assert_eq!(segs.len(), 9);
        assert_eq!(segs[8].time, 56);
        // Unknown period end: the repeat count is taken as written, within the limit.
        let t = timeline(vec![S::new(Some(0), 1, 2_000_000_000)]);
        assert!(err(t.segments(None)).contains("more than 1048576 segments"));
        assert!(err(t.segments_within(Some(IsoDuration::from_secs(60)), 59))
            .contains("more than 59 segments"));
        // r = -1 with the end many years away at timescale 1 000 000: over the limit, refused
        // without being walked.
        let mut t = timeline(vec![S::new(Some(0), 1, -1)]);
        t.timescale = Some(1_000_000);
        let start = std::time::Instant::now();
        assert!(err(t.segments(Some(IsoDuration::from_secs(86_400 * 365)))).contains("more than"));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn invalid_timelines_are_refused() {
        let p = Some(IsoDuration::from_secs(60));
        let e = err(timeline(vec![S::new(Some(0), 1, -2)]).segments(p));
        assert!(
            e.contains("r=-2") && e.contains("only negative repeat count is -1"),
            "{e}"
        );
        let e = err(timeline(vec![S::new(Some(0), 1, i64::MIN)]).segments(p));
        assert!(e.contains("r=-9223372036854775808"), "{e}");
        let e = err(timeline(vec![S::new(Some(10), 5, 1), S::new(Some(14), 5, 0)]).segments(p));
        assert!(
            e.contains("S[1]@t=14 goes back") && e.contains("(20)"),
            "{e}"
        );
        let e = err(timeline(vec![S::new(Some(0), 0, 0)]).segments(p));
        assert!(e.contains("d=0"), "{e}");
        let mut t = timeline(vec![S::new(Some(0), 1, 0)]);
        t.timescale = Some(0);
        assert!(err(t.segments(p)).contains("@timescale is 0"));
        // A gap (t jumping forward) is allowed.
        let segs = timeline(vec![S::new(Some(0), 5, 0), S::new(Some(20), 5, 0)])
            .segments(p)
            .unwrap();
        assert_eq!(segs[1].time, 20);
    }

    #[test]
    fn huge_numbers_times_and_durations_saturate() {
        // @startNumber at u32::MAX, S@n and S@t near u64::MAX, @d near u64::MAX.
        let mut t = timeline(vec![S::new(Some(0), 1, 2)]);
        t.start_number = Some(u32::MAX);
        let segs = t.segments(Some(IsoDuration::from_secs(60))).unwrap();
        assert_eq!(segs[2].number, u32::MAX as u64 + 2);
        let mut big = S::new(Some(u64::MAX - 1), u64::MAX, 3);
        big.n = Some(u64::MAX);
        let segs = timeline(vec![big]).segments(None).unwrap();
        assert_eq!(segs.len(), 4);
        assert_eq!((segs[3].number, segs[3].time), (u64::MAX, u64::MAX));
        // A huge period with @duration 1: refused before anything is allocated.
        let d = SegmentTemplate {
            timescale: Some(u32::MAX),
            duration: Some(1),
            ..Default::default()
        };
        let start = std::time::Instant::now();
        assert!(
            err(d.segments(Some(IsoDuration::from_secs(u32::MAX as u64)))).contains("more than")
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        // ...unless @endNumber caps it.
        let capped = SegmentTemplate {
            end_number: Some(3),
            ..d
        };
        assert_eq!(
            capped
                .segments(Some(IsoDuration::from_secs(u32::MAX as u64)))
                .unwrap()
                .len(),
            3
        );
        // @duration 0 and @timescale 0.
        let zero = SegmentTemplate {
            duration: Some(0),
            ..Default::default()
        };
        assert!(err(zero.segments(Some(IsoDuration::from_secs(1)))).contains("positive @duration"));
    }

    #[test]
    fn wide_number_formats_are_left_as_written() {
        let e = |t: &str| expand_template(t, "v", 7, 0, 0);
        assert_eq!(e("$Number%0999999d$.m4s"), "$Number%0999999d$.m4s");
        assert_eq!(
            e("$Number%99999999999999999999999d$"),
            "$Number%99999999999999999999999d$"
        );
        assert_eq!(e("$Number%064d$").len(), 64);
        assert_eq!(e("$Number%065d$"), "$Number%065d$");
    }
}
