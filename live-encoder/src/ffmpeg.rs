//! The ffmpeg command line of the live encoder: inputs, the filter graph that burns the
//! capture time into every frame, the x264/AAC ladder and the dash muxer's low-latency
//! options. Pure: [`encode_args`] and [`bench_args`] only build argument lists.
//!
//! ## The burned-in clock
//! Each frame's timestamp is replaced by the wall clock when it passes the filter graph
//! (`settb=1/1000,setpts=floor(RTCTIME/1000)`: ms since the Unix epoch; with `-re` the
//! frames of the lavfi source leave at their real-time pace, so this is the capture time),
//! then drawn twice before the timestamps are set back to `N / fps`:
//! - as text, `HH:MM:SS.mmm` UTC (`drawtext`: `%{pts:gmtime:0:%H\:%M\:%S}` for the
//!   seconds — Debian's ffmpeg 5.1 `strftime` has no milliseconds — and
//!   `%{eif:mod(t*1000,1000):d:3}` for the milliseconds), for people;
//! - as a strip of [`CLOCK_BITS`] + 1 black/white blocks along the top edge (`geq` over a
//!   crop of the frame, overlaid back at the same timestamp): block 0 always white (a
//!   marker), blocks 1..=27 the milliseconds since midnight UTC, most significant bit
//!   first (white = 1), for machines ([`decode_clock`]: the browser test reads it from a
//!   canvas). The blocks scale with the picture, so every rung carries it.
//!
//! The first frame's capture time is also logged (`showinfo` on frame 0: its `pts` is
//! that time in ms, [`capture_time_ms`]): ffmpeg's dash muxer stamps
//! `availabilityStartTime` when its first packet reaches the muxer, after the encoders'
//! and the interleaver's delay (measured 8–49 ms from one start to the next), so the
//! publisher sets it to the capture time of presentation time 0 instead
//! ([`crate::publish::patch_start`]): a player's live latency is then glass to glass.

use std::path::Path;

/// Bits of the clock strip: ms since midnight UTC (86 400 000 < 2^27).
pub const CLOCK_BITS: u32 = 27;

/// One rung of the ladder: picture size and video bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Video bitrate, kbit/s.
    pub kbps: u32,
}

impl std::str::FromStr for Rung {
    type Err = String;
    /// `WIDTHxHEIGHT@KBPS`, e.g. `640x360@800`.
    fn from_str(s: &str) -> Result<Rung, String> {
        let bad = || format!("rung {s:?} is not WIDTHxHEIGHT@KBPS (e.g. 640x360@800)");
        let (size, kbps) = s.split_once('@').ok_or_else(bad)?;
        let (w, h) = size.split_once('x').ok_or_else(bad)?;
        let n = |v: &str| v.trim().parse::<u32>().map_err(|_| bad());
        let rung = Rung {
            width: n(w)?,
            height: n(h)?,
            kbps: n(kbps)?,
        };
        if rung.width < 64 || rung.height < 64 || rung.width % 2 == 1 || rung.height % 2 == 1 {
            return Err(format!(
                "rung {s:?}: width and height must be even and >= 64"
            ));
        }
        if rung.kbps == 0 {
            return Err(format!("rung {s:?}: bitrate must be > 0"));
        }
        Ok(rung)
    }
}

/// What the encoder produces (see [`crate::EncoderConfig`] for the defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// Rungs, the first one the source size (largest first).
    pub ladder: Vec<Rung>,
    /// Frames per second.
    pub fps: u32,
    /// Segment duration, s (a key frame starts every segment).
    pub segment_secs: f64,
    /// CMAF chunk (fragment) duration, s.
    pub chunk_secs: f64,
    /// Audio bitrate, kbit/s.
    pub audio_kbps: u32,
    /// x264 preset.
    pub preset: String,
}

/// Where and how the dash muxer writes (the low-latency MPD fields).
#[derive(Debug, Clone, PartialEq)]
pub struct DashOutput {
    /// The MPD's URL (the publisher's local address; segments go beside it).
    pub mpd_url: String,
    /// `UTCTiming` URL written into the MPD.
    pub utc_timing_url: String,
    /// `ServiceDescription/Latency@target`, ms.
    pub target_latency_ms: u64,
    /// `ServiceDescription/PlaybackRate@min` and `@max`.
    pub playback_rate: (f64, f64),
    /// Segments kept in the MPD (older ones are deleted on the origin).
    pub window_segments: u32,
}

fn rate(r: f64) -> String {
    format!("{r}")
}

/// The filter graph: `[0:v]` the test pattern at the top rung's size → `[v0]`, `[v1]` …
/// one output per rung, every one with the clock burned in (module docs).
pub fn filter_graph(enc: &Encoding, font: Option<&Path>) -> String {
    let top = enc.ladder[0];
    // The strip: CLOCK_BITS + 1 blocks over the full width, 1/18 of the height (20 px at 360p).
    let strip_h = (top.height / 18).max(8) & !1;
    let blocks = CLOCK_BITS + 1;
    let ms_of_day = "mod(floor(T*1000+0.5)\\,86400000)";
    let bit = format!("floor(X*{blocks}/W)");
    let lum = format!(
        "if(eq({bit}\\,0)\\,235\\,if(mod(floor({ms_of_day}/pow(2\\,{top_bit}-{bit}))\\,2)\\,235\\,16))",
        top_bit = CLOCK_BITS
    );
    let font = match font {
        Some(f) => format!("fontfile={}:", f.display()),
        None => String::new(),
    };
    let size = top.height / 9;
    let text = "%{pts\\:gmtime\\:0\\:%H\\\\\\:%M\\\\\\:%S}.%{eif\\:mod(t*1000\\,1000)\\:d\\:3}";
    let mut g = format!(
        "[0:v]settb=1/1000,setpts='floor(RTCTIME/1000)',split=3[main][raw][first];\
         [first]select='eq(n\\,0)',showinfo,nullsink;\
         [raw]crop={w}:{strip_h}:0:0,geq=lum='{lum}':cb=128:cr=128[bits];\
         [main][bits]overlay=0:0,\
         drawtext={font}fontsize={size}:fontcolor=white:box=1:boxcolor=black@0.6:\
         x=(w-tw)/2:y=h-th-{margin}:text='{text}',\
         setpts='N/(FRAME_RATE*TB)'",
        w = top.width,
        margin = size / 2,
    );
    let n = enc.ladder.len();
    if n == 1 {
        g.push_str("[v0]");
        return g;
    }
    g.push_str(&format!(",split={n}"));
    for i in 0..n {
        g.push_str(&format!("[s{i}]"));
    }
    for (i, r) in enc.ladder.iter().enumerate() {
        if i == 0 {
            g.push_str(";[s0]null[v0]");
        } else {
            g.push_str(&format!(";[s{i}]scale={}:{}[v{i}]", r.width, r.height));
        }
    }
    g
}

/// Inputs, filter graph and codecs shared by [`encode_args`] and [`bench_args`].
fn common_args(enc: &Encoding, font: Option<&Path>, realtime: bool) -> Vec<String> {
    let top = enc.ladder[0];
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-loglevel", "warning"]
        .map(String::from)
        .to_vec();
    let re = |a: &mut Vec<String>| {
        if realtime {
            a.push("-re".into());
        }
    };
    re(&mut a);
    a.extend([
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("testsrc2=s={}x{}:r={}", top.width, top.height, enc.fps),
    ]);
    re(&mut a);
    a.extend(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:beep_factor=4:sample_rate=48000",
        ]
        .map(String::from),
    );
    a.extend(["-filter_complex".into(), filter_graph(enc, font)]);
    let gop = ((enc.segment_secs * enc.fps as f64).round() as u32).max(1);
    for i in 0..enc.ladder.len() {
        a.extend(["-map".into(), format!("[v{i}]")]);
    }
    a.extend(["-map", "1:a"].map(String::from));
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            &enc.preset,
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-sc_threshold",
            "0",
        ]
        .map(String::from),
    );
    a.extend([
        "-g".into(),
        gop.to_string(),
        "-keyint_min".into(),
        gop.to_string(),
    ]);
    for (i, r) in enc.ladder.iter().enumerate() {
        a.extend([
            format!("-b:v:{i}"),
            format!("{}k", r.kbps),
            format!("-maxrate:v:{i}"),
            format!("{}k", r.kbps * 3 / 2),
            format!("-bufsize:v:{i}"),
            format!("{}k", r.kbps),
        ]);
    }
    a.extend([
        "-c:a".into(),
        "aac".into(),
        "-b:a".into(),
        format!("{}k", enc.audio_kbps),
    ]);
    a
}

/// The capture time (ms since the Unix epoch) of the first frame, from the `showinfo`
/// line ffmpeg logs for it (`… n:   0 pts:1765008435906 pts_time:…`); `None` for any
/// other line.
pub fn capture_time_ms(line: &str) -> Option<u64> {
    if !line.contains("showinfo") {
        return None;
    }
    let rest = line.split(" n:").nth(1)?.trim_start();
    let (n, rest) = rest.split_once(' ')?;
    if n != "0" {
        return None;
    }
    let pts = rest.trim_start().strip_prefix("pts:")?;
    pts.split_whitespace().next()?.parse().ok()
}

/// The live encoder: real time (`-re`), low-latency chunked CMAF DASH pushed with `PUT`
/// to `out.mpd_url` (ffmpeg's dash muxer: `-streaming 1 -ldash 1` chunks of
/// `chunk_secs`, `availabilityTimeOffset` and `availabilityTimeComplete="false"` in the
/// MPD, a `ServiceDescription` with the target latency and playback rates). `-progress
/// pipe:1` reports `speed=` on stdout.
pub fn encode_args(enc: &Encoding, out: &DashOutput, font: Option<&Path>) -> Vec<String> {
    let mut a = common_args(enc, font, true);
    // `level+info`: every line says its level; info for the first frame's showinfo line.
    a[3] = "level+info".into();
    a.extend(["-nostats", "-progress", "pipe:1", "-stats_period", "2"].map(String::from));
    a.extend(
        [
            "-f",
            "dash",
            "-streaming",
            "1",
            "-ldash",
            "1",
            "-frag_type",
            "duration",
            "-use_template",
            "1",
            "-use_timeline",
            "0",
            "-method",
            "PUT",
            "-http_persistent",
            "1",
            "-remove_at_exit",
            "0",
            "-adaptation_sets",
            "id=0,streams=v id=1,streams=a",
            "-init_seg_name",
            "stream$RepresentationID$/init.$ext$",
            "-media_seg_name",
            "stream$RepresentationID$/$Number%05d$.$ext$",
        ]
        .map(String::from),
    );
    a.extend([
        "-frag_duration".into(),
        format!("{}", enc.chunk_secs),
        "-seg_duration".into(),
        format!("{}", enc.segment_secs),
        "-window_size".into(),
        out.window_segments.to_string(),
        "-extra_window_size".into(),
        "5".into(),
        "-target_latency".into(),
        format!("{:.3}", out.target_latency_ms as f64 / 1000.0),
        "-min_playback_rate".into(),
        rate(out.playback_rate.0),
        "-max_playback_rate".into(),
        rate(out.playback_rate.1),
        "-utc_timing_url".into(),
        out.utc_timing_url.clone(),
        out.mpd_url.clone(),
    ]);
    a
}

/// The same encode as fast as the machine goes (no `-re`) for `secs` of media into
/// `-f null`: ffmpeg's final `speed=` is the real-time headroom of the ladder.
pub fn bench_args(enc: &Encoding, secs: u32, font: Option<&Path>) -> Vec<String> {
    let mut a = common_args(enc, font, false);
    a.extend([
        "-progress".into(),
        "pipe:1".into(),
        "-t".into(),
        secs.to_string(),
    ]);
    a.extend(["-f", "null", "-"].map(String::from));
    a
}

/// Decodes the clock strip from the luma of its blocks' centres (block 0 first): the ms
/// since midnight UTC, `None` when block 0 is not white (no strip there).
pub fn decode_clock(block_luma: &[u8]) -> Option<u32> {
    if block_luma.len() != CLOCK_BITS as usize + 1 || block_luma[0] < 128 {
        return None;
    }
    Some(
        block_luma[1..]
            .iter()
            .fold(0u32, |v, &l| (v << 1) | u32::from(l >= 128)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc() -> Encoding {
        Encoding {
            ladder: vec![
                "640x360@800".parse().unwrap(),
                "320x180@250".parse().unwrap(),
            ],
            fps: 25,
            segment_secs: 2.0,
            chunk_secs: 0.5,
            audio_kbps: 64,
            preset: "veryfast".into(),
        }
    }

    #[test]
    fn rungs_parse() {
        assert_eq!(
            "640x360@800".parse::<Rung>(),
            Ok(Rung {
                width: 640,
                height: 360,
                kbps: 800
            })
        );
        assert!("640x361@800".parse::<Rung>().is_err());
        assert!("640x360".parse::<Rung>().is_err());
        assert!("640x360@0".parse::<Rung>().is_err());
    }

    #[test]
    fn graph_has_one_output_per_rung() {
        let g = filter_graph(&enc(), None);
        assert!(
            g.contains("[s0]null[v0]") && g.contains("[s1]scale=320:180[v1]"),
            "{g}"
        );
        assert!(g.contains("split=2[s0][s1]"), "{g}");
        let one = Encoding {
            ladder: vec![enc().ladder[0]],
            ..enc()
        };
        assert!(filter_graph(&one, None).ends_with("[v0]"));
    }

    #[test]
    fn low_latency_dash_options() {
        let out = DashOutput {
            mpd_url: "http://127.0.0.1:9/manifest.mpd".into(),
            utc_timing_url: "http://o/live/time".into(),
            target_latency_ms: 1500,
            playback_rate: (0.96, 1.04),
            window_segments: 10,
        };
        let a = encode_args(&enc(), &out, None).join(" ");
        for want in [
            "-re -f lavfi",
            "-streaming 1 -ldash 1 -frag_type duration",
            "-frag_duration 0.5 -seg_duration 2",
            "-g 50 -keyint_min 50",
            "-target_latency 1.500 -min_playback_rate 0.96 -max_playback_rate 1.04",
            "-method PUT",
            "-b:v:1 250k",
        ] {
            assert!(a.contains(want), "{want:?} missing in {a}");
        }
        assert!(a.ends_with("http://127.0.0.1:9/manifest.mpd"));
        let b = bench_args(&enc(), 20, None).join(" ");
        assert!(!b.contains("-re ") && b.ends_with("-t 20 -f null -"), "{b}");
    }

    #[test]
    fn first_frame_capture_time() {
        let l = "[info] [Parsed_showinfo_3 @ 0x55d] n:   0 pts:1765008435906 pts_time:1765008435.906 duration:40";
        assert_eq!(capture_time_ms(l), Some(1_765_008_435_906));
        assert_eq!(capture_time_ms(&l.replace("n:   0", "n:   1")), None);
        assert_eq!(capture_time_ms("[info] n: 0 pts:5"), None);
        let g = filter_graph(&enc(), None);
        assert!(
            g.contains("[first]select='eq(n\\,0)',showinfo,nullsink;"),
            "{g}"
        );
    }

    #[test]
    fn clock_strip_decodes() {
        let ms: u32 = (7 * 3600 + 59 * 60 + 52) * 1000 + 723;
        let mut l = vec![235u8];
        l.extend(
            (0..CLOCK_BITS)
                .rev()
                .map(|b| if ms >> b & 1 == 1 { 230 } else { 20 }),
        );
        assert_eq!(decode_clock(&l), Some(ms));
        l[0] = 16;
        assert_eq!(decode_clock(&l), None);
        assert_eq!(decode_clock(&l[1..]), None);
    }
}
