//! Attribute value types of the MPD schema: `xs:duration`, `xs:dateTime`, `FrameRateType`,
//! `RatioType`, `PresentationType`, and the text conversions of the plain XSD types.

use std::fmt;
use std::str::FromStr;

use crate::ManifestError;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// An `xs:duration` (e.g. `PT1H2M3.5S`, `P1DT2H`, `PT0S`), kept exactly to the nanosecond.
///
/// Parsing accepts every `xs:duration` form; years and months, which have no fixed length,
/// count as 365 and 30 days. Digits beyond nanoseconds are truncated. [`Display`](fmt::Display)
/// writes the canonical shortest form: `PT2S`, `PT1M0.5S`, `P1DT12H`, `PT0S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct IsoDuration {
    negative: bool,
    nanos: u128,
}

impl IsoDuration {
    /// Zero length (`PT0S`).
    pub const ZERO: IsoDuration = IsoDuration {
        negative: false,
        nanos: 0,
    };

    /// A duration of whole seconds.
    pub fn from_secs(secs: u64) -> Self {
        Self::from_nanos(secs as u128 * NANOS_PER_SEC)
    }

    /// A duration of milliseconds.
    pub fn from_millis(millis: u64) -> Self {
        Self::from_nanos(millis as u128 * 1_000_000)
    }

    /// A duration of nanoseconds.
    pub fn from_nanos(nanos: u128) -> Self {
        IsoDuration {
            negative: false,
            nanos,
        }
    }

    /// `ticks / timescale` seconds (e.g. a segment duration in timescale units), rounded down
    /// to the nanosecond. `timescale` 0 is treated as 1.
    pub fn from_ticks(ticks: u64, timescale: u64) -> Self {
        Self::from_nanos(ticks as u128 * NANOS_PER_SEC / timescale.max(1) as u128)
    }

    /// Seconds as a float, rounded to the nearest nanosecond. Negative values are negative.
    pub fn from_secs_f64(secs: f64) -> Self {
        let nanos = (secs.abs() * 1e9).round() as u128;
        IsoDuration {
            negative: secs < 0.0 && nanos != 0,
            nanos,
        }
    }

    /// Total length in nanoseconds (the sign is given by [`is_negative`](Self::is_negative)).
    pub fn nanos(&self) -> u128 {
        self.nanos
    }

    /// True for a negative duration such as `-PT5S`.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// Seconds as `f64` (negative for negative durations).
    pub fn as_secs_f64(&self) -> f64 {
        let s = self.nanos as f64 / 1e9;
        if self.negative {
            -s
        } else {
            s
        }
    }

    /// As a [`std::time::Duration`]; `None` for negative durations or overflow.
    pub fn as_std(&self) -> Option<std::time::Duration> {
        if self.negative {
            return None;
        }
        let secs = u64::try_from(self.nanos / NANOS_PER_SEC).ok()?;
        Some(std::time::Duration::new(
            secs,
            (self.nanos % NANOS_PER_SEC) as u32,
        ))
    }

    /// Length in `timescale` units, rounded down (0 for negative durations).
    pub fn to_ticks(&self, timescale: u64) -> u64 {
        if self.negative {
            return 0;
        }
        u64::try_from(self.nanos.saturating_mul(timescale as u128) / NANOS_PER_SEC)
            .unwrap_or(u64::MAX)
    }
}

impl From<std::time::Duration> for IsoDuration {
    fn from(d: std::time::Duration) -> Self {
        Self::from_nanos(d.as_nanos())
    }
}

fn invalid(what: &'static str, value: &str, reason: impl Into<String>) -> ManifestError {
    ManifestError::InvalidValue {
        what,
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl FromStr for IsoDuration {
    type Err = ManifestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| invalid("xs:duration", text, reason);
        let s = text.trim();
        let (negative, s) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let s = s
            .strip_prefix('P')
            .ok_or_else(|| err("must start with 'P' (e.g. PT2S)"))?;
        let (date, time) = match s.split_once('T') {
            Some((d, t)) => {
                if t.is_empty() {
                    return Err(err("'T' must be followed by hours, minutes or seconds"));
                }
                (d, Some(t))
            }
            None => (s, None),
        };
        if date.is_empty() && time.is_none() {
            return Err(err("no components after 'P'"));
        }
        let mut nanos: u128 = 0;
        // Each component: digits (with a fraction only for seconds) then a designator,
        // designators in their fixed order.
        let mut parse_part = |part: &str, units: &[(char, u128)]| -> Result<(), ManifestError> {
            let mut rest = part;
            let mut next_unit = 0;
            while !rest.is_empty() {
                let end = rest
                    .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .ok_or_else(|| err("number without a designator (Y, M, D, H, M or S)"))?;
                let (num, tail) = rest.split_at(end);
                let designator = tail.chars().next().unwrap_or_default();
                let pos = units[next_unit..]
                    .iter()
                    .position(|(c, _)| *c == designator)
                    .ok_or_else(|| err("unexpected or out-of-order designator"))?;
                let (unit_char, unit_nanos) = units[next_unit + pos];
                next_unit += pos + 1;
                if num.is_empty() || num == "." {
                    return Err(err("designator without a number"));
                }
                let (int, frac) = match num.split_once('.') {
                    Some((i, f)) => (i, f),
                    None => (num, ""),
                };
                if num.contains('.') && unit_char != 'S' {
                    return Err(err("only seconds may have a fraction"));
                }
                if frac.contains('.') {
                    return Err(err("more than one decimal point"));
                }
                let int: u128 = if int.is_empty() {
                    0
                } else {
                    int.parse().map_err(|_| err("number too large"))?
                };
                let mut frac_nanos: u128 = 0;
                for (i, c) in frac.chars().take(9).enumerate() {
                    frac_nanos += (c as u128 - '0' as u128) * 10u128.pow(8 - i as u32);
                }
                nanos = int
                    .checked_mul(unit_nanos)
                    .and_then(|v| v.checked_add(nanos))
                    .and_then(|v| v.checked_add(frac_nanos))
                    .ok_or_else(|| err("duration too long"))?;
                rest = &tail[1..];
            }
            Ok(())
        };
        const DAY: u128 = 86_400 * NANOS_PER_SEC;
        parse_part(
            date,
            &[
                ('Y', 365 * DAY),
                ('M', 30 * DAY),
                ('W', 7 * DAY),
                ('D', DAY),
            ],
        )?;
        if let Some(time) = time {
            parse_part(
                time,
                &[
                    ('H', 3600 * NANOS_PER_SEC),
                    ('M', 60 * NANOS_PER_SEC),
                    ('S', NANOS_PER_SEC),
                ],
            )?;
        }
        Ok(IsoDuration {
            negative: negative && nanos != 0,
            nanos,
        })
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        f.write_str("P")?;
        let secs_total = self.nanos / NANOS_PER_SEC;
        let frac = self.nanos % NANOS_PER_SEC;
        let days = secs_total / 86_400;
        let hours = secs_total / 3600 % 24;
        let minutes = secs_total / 60 % 60;
        let secs = secs_total % 60;
        if days > 0 {
            write!(f, "{days}D")?;
        }
        if hours > 0 || minutes > 0 || secs > 0 || frac > 0 || days == 0 {
            f.write_str("T")?;
            if hours > 0 {
                write!(f, "{hours}H")?;
            }
            if minutes > 0 {
                write!(f, "{minutes}M")?;
            }
            if secs > 0 || frac > 0 || (hours == 0 && minutes == 0) {
                write!(f, "{secs}")?;
                if frac > 0 {
                    let digits = format!("{frac:09}");
                    write!(f, ".{}", digits.trim_end_matches('0'))?;
                }
                f.write_str("S")?;
            }
        }
        Ok(())
    }
}

/// An `xs:dateTime` such as `2024-01-02T03:04:05.5Z`, kept as written (so it round-trips
/// exactly) and checked on parse. [`unix_millis`](Self::unix_millis) gives the instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateTime(String);

impl DateTime {
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UTC date-time of a Unix time in milliseconds, written as
    /// `YYYY-MM-DDThh:mm:ssZ` (with `.mmm` when not a whole second).
    pub fn from_unix_millis(millis: i64) -> Self {
        let secs = millis.div_euclid(1000);
        let ms = millis.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut s = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        );
        if ms != 0 {
            s.push_str(&format!(".{ms:03}"));
        }
        s.push('Z');
        DateTime(s)
    }

    /// Milliseconds since the Unix epoch. A value without a time zone is taken as UTC
    /// (what DASH clients do).
    pub fn unix_millis(&self) -> i64 {
        parse_date_time(&self.0).expect("DateTime holds a checked value")
    }
}

impl FromStr for DateTime {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        parse_date_time(s).map_err(|reason| invalid("xs:dateTime", s, reason))?;
        Ok(DateTime(s.to_string()))
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Parses `YYYY-MM-DDThh:mm:ss[.f][Z|(+|-)hh:mm]` into Unix milliseconds.
fn parse_date_time(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = s
            .get(from..from + len)
            .ok_or_else(|| "too short (expected YYYY-MM-DDThh:mm:ss)".to_string())?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("expected digits at position {from}"));
        }
        part.parse::<i64>().map_err(|e| e.to_string())
    };
    let sep = |at: usize, c: u8| -> Result<(), String> {
        if b.get(at) == Some(&c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at position {at}", c as char))
        }
    };
    let (year, m, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    sep(4, b'-')?;
    sep(7, b'-')?;
    sep(10, b'T')?;
    let (hh, mm, ss) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    sep(13, b':')?;
    sep(16, b':')?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 24 || mm > 59 || ss > 60 {
        return Err("field out of range".into());
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis += (b[i] - b'0') as i64 * 10i64.pow(2 - (i - start) as u32);
            }
            i += 1;
        }
        if i == start {
            return Err("'.' without fraction digits".into());
        }
    }
    let offset_min = match &s[i..] {
        "" | "Z" => 0,
        tz if (tz.starts_with('+') || tz.starts_with('-')) && tz.len() == 6 => {
            sep(i + 3, b':')?;
            let v = num(i + 1, 2)? * 60 + num(i + 4, 2)?;
            if tz.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return Err("bad time zone (expected Z or +hh:mm)".into()),
    };
    let days = days_from_civil(year, m, d);
    Ok(((days * 86_400 + hh * 3600 + mm * 60 + ss) - offset_min * 60) * 1000 + millis)
}

/// A `FrameRateType`: `30`, `25`, `30000/1001`. Decimal values written by some tools
/// (`29.97`) are accepted on input and kept as a fraction (`2997/100`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FrameRate {
    /// Numerator (frames).
    pub num: u32,
    /// Denominator (seconds); `None` when written as a plain integer.
    pub den: Option<u32>,
}

impl FrameRate {
    /// An integer frame rate such as 30.
    pub fn integer(fps: u32) -> Self {
        FrameRate {
            num: fps,
            den: None,
        }
    }

    /// A fractional frame rate such as 30000/1001.
    pub fn fraction(num: u32, den: u32) -> Self {
        FrameRate {
            num,
            den: Some(den),
        }
    }

    /// Frames per second.
    pub fn as_f64(&self) -> f64 {
        self.num as f64 / self.den.unwrap_or(1).max(1) as f64
    }
}

impl FromStr for FrameRate {
    type Err = ManifestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |r: &str| invalid("frame rate", text, r);
        let s = text.trim();
        if let Some((n, d)) = s.split_once('/') {
            let num = n
                .parse()
                .map_err(|_| err("numerator is not an unsigned integer"))?;
            let den: u32 = d
                .parse()
                .map_err(|_| err("denominator is not an unsigned integer"))?;
            if den == 0 {
                return Err(err("denominator is 0"));
            }
            return Ok(FrameRate::fraction(num, den));
        }
        if let Some((i, f)) = s.split_once('.') {
            if f.is_empty() || f.len() > 6 || !f.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err("expected N, N/D or a decimal"));
            }
            let f = f.trim_end_matches('0');
            let den = 10u32.pow(f.len() as u32);
            let num = format!("{i}{f}")
                .parse()
                .map_err(|_| err("expected N, N/D or a decimal"))?;
            return Ok(if den == 1 {
                FrameRate::integer(num)
            } else {
                FrameRate::fraction(num, den)
            });
        }
        Ok(FrameRate::integer(
            s.parse().map_err(|_| err("expected N or N/D"))?,
        ))
    }
}

impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.den {
            Some(d) => write!(f, "{}/{d}", self.num),
            None => write!(f, "{}", self.num),
        }
    }
}

/// A `RatioType` such as `16:9` (for `@par`) or `1:1` (for `@sar`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ratio {
    /// Horizontal part.
    pub h: u32,
    /// Vertical part.
    pub v: u32,
}

impl Ratio {
    /// `h:v`.
    pub fn new(h: u32, v: u32) -> Self {
        Ratio { h, v }
    }
}

impl FromStr for Ratio {
    type Err = ManifestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || invalid("ratio", text, "expected two unsigned integers as H:V");
        let (h, v) = text.trim().split_once(':').ok_or_else(err)?;
        Ok(Ratio {
            h: h.parse().map_err(|_| err())?,
            v: v.parse().map_err(|_| err())?,
        })
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.h, self.v)
    }
}

/// `MPD@type`: on-demand (`static`, the default) or live (`dynamic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PresentationType {
    /// `static`: all segments available, fixed duration.
    #[default]
    Static,
    /// `dynamic`: segments become available over time; the MPD may be updated.
    Dynamic,
}

impl FromStr for PresentationType {
    type Err = ManifestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "static" => Ok(PresentationType::Static),
            "dynamic" => Ok(PresentationType::Dynamic),
            _ => Err(invalid("MPD@type", s, "expected static or dynamic")),
        }
    }
}

impl fmt::Display for PresentationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PresentationType::Static => "static",
            PresentationType::Dynamic => "dynamic",
        })
    }
}

/// Conversion of an attribute value to and from its text (crate-internal).
pub(crate) trait AttrValue: Sized {
    fn parse_value(s: &str) -> Result<Self, String>;
    fn format_value(&self) -> String;
}

macro_rules! attr_via_fromstr {
    ($($t:ty),*) => {$(
        impl AttrValue for $t {
            fn parse_value(s: &str) -> Result<Self, String> {
                s.parse::<$t>().map_err(|e| match e {
                    ManifestError::InvalidValue { reason, .. } => reason,
                    other => other.to_string(),
                })
            }
            fn format_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
attr_via_fromstr!(IsoDuration, DateTime, FrameRate, Ratio, PresentationType);

macro_rules! attr_int {
    ($($t:ty => $what:literal),*) => {$(
        impl AttrValue for $t {
            fn parse_value(s: &str) -> Result<Self, String> {
                let t = s.trim();
                t.strip_prefix('+').unwrap_or(t).parse::<$t>().map_err(|_| format!("not {}", $what))
            }
            fn format_value(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
attr_int!(u32 => "an xs:unsignedInt", u64 => "an xs:unsignedLong", i64 => "an xs:integer");

impl AttrValue for String {
    fn parse_value(s: &str) -> Result<Self, String> {
        Ok(s.to_string())
    }
    fn format_value(&self) -> String {
        self.clone()
    }
}

impl AttrValue for bool {
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err("not an xs:boolean (true, false, 1, 0)".into()),
        }
    }
    fn format_value(&self) -> String {
        self.to_string()
    }
}

impl AttrValue for f64 {
    fn parse_value(s: &str) -> Result<Self, String> {
        match s.trim() {
            "INF" => Ok(f64::INFINITY),
            "-INF" => Ok(f64::NEG_INFINITY),
            t => t.parse().map_err(|_| "not an xs:double".to_string()),
        }
    }
    fn format_value(&self) -> String {
        if self.is_infinite() {
            if *self > 0.0 { "INF" } else { "-INF" }.to_string()
        } else {
            self.to_string()
        }
    }
}

/// `UIntVectorType`: whitespace-separated unsigned integers (e.g. `@audioSamplingRate`).
impl AttrValue for Vec<u32> {
    fn parse_value(s: &str) -> Result<Self, String> {
        s.split_whitespace()
            .map(|p| {
                p.parse()
                    .map_err(|_| format!("'{p}' is not an unsigned integer"))
            })
            .collect()
    }
    fn format_value(&self) -> String {
        self.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> IsoDuration {
        s.parse().unwrap()
    }

    #[test]
    fn durations() {
        assert_eq!(d("PT2S"), IsoDuration::from_secs(2));
        assert_eq!(d("PT1H2M3.5S").nanos(), 3_723_500_000_000);
        assert_eq!(d("P1DT1S"), IsoDuration::from_secs(86_401));
        assert_eq!(d("PT0S"), IsoDuration::ZERO);
        assert_eq!(d("PT50.0S"), IsoDuration::from_secs(50));
        assert_eq!(d("PT.5S"), IsoDuration::from_millis(500));
        assert_eq!(d("P0Y0M0DT0H3M30.000S"), IsoDuration::from_secs(210));
        assert_eq!(d("-PT5S").as_secs_f64(), -5.0);
        assert_eq!(d("PT0.000000001S").nanos(), 1);
        for bad in [
            "", "P", "PT", "2S", "PT2", "PTS", "PT1S2M", "P1.5D", "PT1H2H", "PT1..5S", "PT1.2.3S",
        ] {
            assert!(
                bad.parse::<IsoDuration>().is_err(),
                "{bad} should not parse"
            );
        }
        let fmt = |s: &str| d(s).to_string();
        assert_eq!(fmt("PT2S"), "PT2S");
        assert_eq!(fmt("PT60.5S"), "PT1M0.5S");
        assert_eq!(fmt("PT3600S"), "PT1H");
        assert_eq!(fmt("PT36H"), "P1DT12H");
        assert_eq!(fmt("P1D"), "P1D");
        assert_eq!(fmt("PT0S"), "PT0S");
        assert_eq!(fmt("PT0.0S"), "PT0S");
        assert_eq!(fmt("PT1.9200S"), "PT1.92S");
        assert_eq!(fmt("-PT1M"), "-PT1M");
        assert_eq!(IsoDuration::from_ticks(3, 2).to_string(), "PT1.5S");
        assert_eq!(d("PT1.5S").to_ticks(90_000), 135_000);
    }

    #[test]
    fn date_times() {
        let t: DateTime = "1970-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(t.unix_millis(), 0);
        let t: DateTime = "2013-08-10T22:03:20.5+02:00".parse().unwrap();
        let utc: DateTime = "2013-08-10T20:03:20.500Z".parse().unwrap();
        assert_eq!(t.unix_millis(), utc.unix_millis());
        assert_eq!(DateTime::from_unix_millis(utc.unix_millis()), utc);
        assert_eq!(
            DateTime::from_unix_millis(86_400_000).as_str(),
            "1970-01-02T00:00:00Z"
        );
        assert_eq!(
            DateTime::from_unix_millis(951_782_400_000).as_str(),
            "2000-02-29T00:00:00Z"
        );
        assert!("2013-08-10".parse::<DateTime>().is_err());
        assert!("2013-13-10T00:00:00Z".parse::<DateTime>().is_err());
    }

    #[test]
    fn frame_rates_and_ratios() {
        assert_eq!("30".parse::<FrameRate>().unwrap(), FrameRate::integer(30));
        let ntsc: FrameRate = "30000/1001".parse().unwrap();
        assert_eq!(ntsc.to_string(), "30000/1001");
        assert!((ntsc.as_f64() - 29.97).abs() < 0.01);
        assert_eq!(
            "29.97".parse::<FrameRate>().unwrap().to_string(),
            "2997/100"
        );
        assert!("30/0".parse::<FrameRate>().is_err());
        assert_eq!("16:9".parse::<Ratio>().unwrap(), Ratio::new(16, 9));
        assert!("16/9".parse::<Ratio>().is_err());
    }
}
