//! Looped live (`origin::live`) end to end: a real origin over two VoD assets that a real
//! `ffmpeg` writes at test time (6 s of testsrc2 + sine, 1 s segments): `num` with
//! `SegmentTemplate@duration` + `$Number$` (its MPD `@timescale` is 1 MHz, not the media
//! timescales) and `tl` with SegmentTimelines (audio ends with a 256-sample segment). The
//! clock is fixed with `nowMS_<ms>` so every figure is exact. MPDs are validated with
//! xmllint against `../shared/dash-schema`; segments are parsed (`tfdt`, `mfhd`) and decoded
//! (every frame) with ffprobe.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use manifests::{Mpd, PresentationType};
use origin::live::boxes::fragment_times;
use origin::{OriginConfig, RunningOrigin};
use reqwest::{Client, StatusCode};

const TSBD_MS: u64 = 8_000;

/// Writes the two ffmpeg assets once per test binary.
fn assets() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        for (name, timeline) in [("num", "0"), ("tl", "1")] {
            let out = dir.join(name);
            std::fs::create_dir_all(&out).unwrap();
            let st = std::process::Command::new("ffmpeg")
                .current_dir(&out)
                .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
                .arg("testsrc2=size=160x90:rate=25")
                .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
                .args(["-t", "6", "-map", "0:v", "-map", "1:a", "-c:v", "libx264"])
                .args(["-preset", "ultrafast", "-g", "25", "-keyint_min", "25"])
                .args([
                    "-sc_threshold",
                    "0",
                    "-c:a",
                    "aac",
                    "-b:a",
                    "48k",
                    "-f",
                    "dash",
                ])
                .args([
                    "-seg_duration",
                    "1",
                    "-use_template",
                    "1",
                    "-use_timeline",
                    timeline,
                ])
                .args(["-init_seg_name", "init-$RepresentationID$.m4s"])
                .args([
                    "-media_seg_name",
                    "chunk-$RepresentationID$-$Number%05d$.m4s",
                ])
                .arg("manifest.mpd")
                .status()
                .expect("ffmpeg");
            assert!(st.success(), "ffmpeg failed");
        }
        dir
    })
}

async fn start(clock_override: bool) -> RunningOrigin {
    let mut config = OriginConfig::new(assets(), "127.0.0.1:0".parse().unwrap());
    config.live.clock_override = clock_override;
    config.live.time_shift_buffer_depth_ms = TSBD_MS;
    origin::bind(config).await.expect("origin")
}

async fn get(origin: &RunningOrigin, path: &str) -> reqwest::Response {
    Client::new()
        .get(format!("http://{}{path}", origin.local_addr()))
        .send()
        .await
        .expect("request")
}

async fn body(origin: &RunningOrigin, path: &str) -> (StatusCode, String, Vec<u8>) {
    let r = get(origin, path).await;
    let status = r.status();
    let cc = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, cc, r.bytes().await.unwrap().to_vec())
}

/// Presentation times of the frames ffprobe decodes from `files` concatenated.
fn ffprobe_pts(files: &[Vec<u8>]) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cat.mp4");
    std::fs::write(&path, files.concat()).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "frame=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe");
    // frames are decoded: a wrong sample offset shows up as decoder errors
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

#[tokio::test]
async fn live_mpd_fields_validate_in_both_addressings() {
    let origin = start(true).await;
    let now_ms = 1_000_000_500u64; // 1000000.5 s after the epoch
    for (asset, params, timeline) in [("num", "", false), ("tl", "segtimeline_1/", true)] {
        let path = format!("/live/{params}nowMS_{now_ms}/{asset}/manifest.mpd");
        let r = get(&origin, &path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "application/dash+xml");
        // min(minimumUpdatePeriod / 2, 1 s)
        assert_eq!(r.headers()["cache-control"], "public, max-age=1");
        let xml = r.text().await.unwrap();
        manifests::schema::validate_xml_with_xmllint(&xml)
            .unwrap_or_else(|e| panic!("{path} does not validate: {e}\n{xml}"));
        let mpd = Mpd::parse(&xml).unwrap();
        assert_eq!(mpd.mpd_type, Some(PresentationType::Dynamic));
        assert_eq!(
            mpd.availability_start_time.as_ref().unwrap().unix_millis(),
            0
        );
        assert_eq!(mpd.media_presentation_duration, None);
        assert_eq!(mpd.minimum_update_period.unwrap().nanos(), 2_000_000_000);
        assert_eq!(
            mpd.time_shift_buffer_depth.unwrap().nanos(),
            u128::from(TSBD_MS) * 1_000_000
        );
        assert_eq!(
            mpd.suggested_presentation_delay.unwrap().nanos(),
            6_000_000_000
        );
        // published when the newest 1 s video segment became available: at 1000000 s
        assert_eq!(
            mpd.publish_time.as_ref().unwrap().unix_millis(),
            1_000_000_000
        );
        let utc = &mpd.utc_timings[0];
        assert_eq!(utc.scheme_id_uri, "urn:mpeg:dash:utc:http-iso:2014");
        let url = utc.value.as_deref().unwrap();
        let time = reqwest::get(url).await.unwrap().text().await.unwrap();
        assert_eq!(time, "1970-01-12T13:46:40.500Z", "time endpoint at {url}");
        let period = &mpd.periods[0];
        assert_eq!(period.start.unwrap().nanos(), 0);
        for set in &period.adaptation_sets {
            let t = set.segment_template.as_ref().unwrap();
            assert_eq!(t.segment_timeline.is_some(), timeline);
            if !timeline {
                assert_eq!((t.start_number, t.duration), (Some(0), Some(1_000_000)));
                continue;
            }
            // the SegmentTimeline lists exactly the time-shift window, gap-free
            let rep = &set.representations[0];
            let segs = rep.media_segments(period, set, None).unwrap();
            let ts = f64::from(segs[0].segment.timescale);
            let end = |s: &manifests::segments::MediaSegment| {
                (s.segment.time + s.segment.duration) as f64 / ts
            };
            assert!(segs
                .windows(2)
                .all(|w| w[0].segment.time + w[0].segment.duration == w[1].segment.time));
            let now = now_ms as f64 / 1000.0;
            assert!(end(segs.last().unwrap()) <= now);
            assert!(end(&segs[0]) > now - TSBD_MS as f64 / 1000.0);
            assert!(
                end(&segs[0]) - segs[0].segment.duration as f64 / ts
                    <= now - TSBD_MS as f64 / 1000.0 + 1.0
            );
            // every listed segment is served: VoD segment k of loop L with its tfdt moved
            // by L loops (ffmpeg's own MPD and tfdt disagree by its AAC priming; kept as is)
            let vod_mpd = Mpd::parse(
                &std::fs::read_to_string(assets().join(asset).join("manifest.mpd")).unwrap(),
            )
            .unwrap();
            let vod_period = &vod_mpd.periods[0];
            let vod_set = vod_period
                .adaptation_sets
                .iter()
                .find(|a| a.representations[0].id == rep.id)
                .unwrap();
            let vod_segs = vod_set.representations[0]
                .media_segments(vod_period, vod_set, vod_mpd.period_duration(0))
                .unwrap();
            let loop_ticks = 6 * segs[0].segment.timescale as u64;
            for s in [&segs[0], segs.last().unwrap()] {
                let (st, _, bytes) = body(
                    &origin,
                    &format!("/live/{params}nowMS_{now_ms}/{asset}/{}", s.url),
                )
                .await;
                assert_eq!(st, 200, "{}", s.url);
                let (l, off) = (s.segment.time / loop_ticks, s.segment.time % loop_ticks);
                let k = vod_segs
                    .iter()
                    .position(|v| v.segment.time == off)
                    .expect("on the VoD grid");
                let vod = std::fs::read(assets().join(asset).join(&vod_segs[k].url)).unwrap();
                let vod_tfdt = fragment_times(&vod).unwrap().1[0].1;
                let (_, times) = fragment_times(&bytes).unwrap();
                assert_eq!(times[0].1, vod_tfdt + l * loop_ticks, "{}", s.url);
            }
        }
    }
    // The timeline asset's audio has 7 segments for 6 s: no exact @duration, so $Number$
    // is refused with the reason; its SegmentTimeline form works (above).
    let (st, _, b) = body(&origin, &format!("/live/nowMS_{now_ms}/tl/manifest.mpd")).await;
    assert_eq!(st, 404);
    assert!(String::from_utf8_lossy(&b).contains("SegmentTimeline"));
    origin
        .stop(std::time::Duration::from_secs(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn segments_across_a_loop_boundary_are_rewritten() {
    let origin = start(true).await;
    let root = assets().join("num");
    // 6 s loop, 1 s segments: live 5999 is loop 999's last, 6000 loop 1000's first
    let now_ms = 6_003_000u64;
    for (rep, media_ts) in [("0", 12_800u64), ("1", 48_000)] {
        let init = std::fs::read(root.join(format!("init-{rep}.m4s"))).unwrap();
        let (st, cc, live_init) =
            body(&origin, &format!("/live/nowMS_{now_ms}/num/{rep}/init.mp4")).await;
        assert_eq!((st, live_init == init), (StatusCode::OK, true));
        assert!(cc.contains("immutable"), "{cc}");
        let mut decoded = vec![init];
        for (index, loop_index, vod_number) in [(5999u64, 999u64, 6), (6000, 1000, 1)] {
            let vod = std::fs::read(root.join(format!("chunk-{rep}-{vod_number:05}.m4s"))).unwrap();
            let (st, cc, live) = body(
                &origin,
                &format!("/live/nowMS_{now_ms}/num/{rep}/{index}.m4s"),
            )
            .await;
            assert_eq!(st, 200);
            assert_eq!(cc, "public, max-age=31536000, immutable");
            let (_, vod_times) = fragment_times(&vod).unwrap();
            let (seq, times) = fragment_times(&live).unwrap();
            assert_eq!(seq, index as u32 + 1);
            assert_eq!(times.len(), vod_times.len());
            for ((_, v), (_, l)) in vod_times.iter().zip(&times) {
                assert_eq!(*l, v + loop_index * 6 * media_ts, "rep {rep} index {index}");
            }
            // everything but the rewritten fields is the VoD segment's (same length: v1 tfdt)
            assert_eq!(live.len(), vod.len());
            let differing = live.iter().zip(&vod).filter(|(a, b)| a != b).count();
            assert!(differing <= 12, "{differing} bytes differ");
            decoded.push(live);
        }
        // decoded by ffprobe: loop 999's last second runs into loop 1000's first
        let pts = ffprobe_pts(&decoded);
        let first = pts[0];
        let last = *pts.last().unwrap();
        if rep == "0" {
            assert!((first - 5999.0).abs() < 1e-6, "first pts {first}");
            assert!((last - 6000.96).abs() < 1e-6, "last pts {last}");
            assert_eq!(pts.len(), 50);
        } else {
            // audio: within one AAC frame (21.3 ms) of the video's seconds
            assert!((first - 5999.0).abs() < 0.0214, "first pts {first}");
            assert!(last > 6000.9 && last < 6001.0, "last pts {last}");
        }
    }
    origin
        .stop(std::time::Duration::from_secs(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn not_yet_and_gone_statuses_and_cache_headers() {
    let origin = start(true).await;
    let now = 100_500u64; // 100.5 s
    let cases = [
        // (path, status, cache-control)
        ("num/0/99.m4s", 200, "public, max-age=31536000, immutable"),
        // ends at 101 s: available in 0.5 s, nothing may keep the answer
        ("num/0/100.m4s", 425, "no-store"),
        // ends at 103 s: at most 2 whole seconds, never stale
        ("num/0/102.m4s", 425, "public, max-age=2, must-revalidate"),
        // ended at 93 s: in the window until 101 s
        ("num/0/92.m4s", 200, "public, max-age=31536000, immutable"),
        // ended at 92 s: left the 8 s window at 100 s
        ("num/0/91.m4s", 410, "public, max-age=60"),
        ("num/1/91.m4s", 410, "public, max-age=60"),
        // timeline addressing, video at 12800 Hz
        (
            "segtimeline_1/tl/0/t1267200.m4s",
            200,
            "public, max-age=31536000, immutable",
        ),
        ("segtimeline_1/tl/0/t1280000.m4s", 425, "no-store"),
        ("segtimeline_1/tl/0/t1164800.m4s", 410, "public, max-age=60"),
        // not on the segment grid, unknown Representation / asset
        ("segtimeline_1/tl/0/t1267201.m4s", 404, "public, max-age=5"),
        ("num/9/99.m4s", 404, "public, max-age=5"),
        ("nope/manifest.mpd", 404, "public, max-age=5"),
    ];
    for (path, status, cc) in cases {
        let (st, got_cc, _) = body(&origin, &format!("/live/nowMS_{now}/{path}")).await;
        assert_eq!((st.as_u16(), got_cc.as_str()), (status, cc), "{path}");
    }
    // the same segment once its time has come
    let (st, _, _) = body(&origin, "/live/nowMS_101000/num/0/100.m4s").await;
    assert_eq!(st, 200);
    // the query form of the clock override
    let (st, _, _) = body(&origin, "/live/num/0/100.m4s?nowMS=100999").await;
    assert_eq!(st, 425);
    origin
        .stop(std::time::Duration::from_secs(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn clock_override_is_refused_unless_enabled_and_the_wall_clock_drives_live() {
    let origin = start(false).await;
    for path in [
        "/live/nowMS_5000/num/manifest.mpd",
        "/live/num/manifest.mpd?nowMS=5000",
    ] {
        assert_eq!(get(&origin, path).await.status(), 403, "{path}");
    }
    let xml = get(&origin, "/live/num/manifest.mpd")
        .await
        .text()
        .await
        .unwrap();
    let mpd = Mpd::parse(&xml).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let published = mpd.publish_time.unwrap().unix_millis();
    assert!(
        published <= now_ms && published > now_ms - 2_500,
        "{published} vs {now_ms}"
    );
    // the time endpoint has millisecond precision and follows the wall clock
    let t = get(&origin, "/live/time").await.text().await.unwrap();
    assert_eq!(t.len(), "2026-01-01T00:00:00.000Z".len(), "{t}");
    let ms = t.parse::<manifests::DateTime>().unwrap().unix_millis();
    assert!((ms - now_ms).abs() < 2_000, "{t}");
    origin
        .stop(std::time::Duration::from_secs(1))
        .await
        .unwrap();
}

/// `segment` with its (first) version-1 `tfdt` written as version 0, the enclosing sizes and
/// the `trun` data offsets 4 bytes smaller: what a packager writing 32-bit decode times
/// produces (ffmpeg always writes version 1).
fn downgrade_tfdt(segment: &[u8]) -> Vec<u8> {
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let moof = segment.windows(4).position(|w| w == b"moof").unwrap() - 4;
    let traf = segment.windows(4).position(|w| w == b"traf").unwrap() - 4;
    let tfdt = segment.windows(4).position(|w| w == b"tfdt").unwrap() - 4;
    let trun = segment.windows(4).position(|w| w == b"trun").unwrap() - 4;
    assert_eq!(segment[tfdt + 8], 1, "expected a version-1 tfdt");
    let time = u64::from_be_bytes(segment[tfdt + 12..tfdt + 20].try_into().unwrap());
    let mut out = segment.to_vec();
    for at in [moof, traf] {
        let size = be32(&out, at) - 4;
        out[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }
    assert_eq!(be32(&out, trun + 8) & 1, 1, "trun has a data offset");
    let off = be32(&out, trun + 16) - 4;
    out[trun + 16..trun + 20].copy_from_slice(&off.to_be_bytes());
    let mut v0 = 16u32.to_be_bytes().to_vec();
    v0.extend_from_slice(b"tfdt");
    v0.push(0);
    v0.extend_from_slice(&segment[tfdt + 9..tfdt + 12]);
    v0.extend_from_slice(&u32::try_from(time).unwrap().to_be_bytes());
    out.splice(tfdt..tfdt + 20, v0);
    out
}

#[tokio::test]
async fn version_0_tfdt_is_upgraded_and_still_decodes() {
    // a copy of the `num` asset whose segments carry 32-bit decode times
    let root = tempfile::tempdir().unwrap();
    let src = assets().join("num");
    let dst = root.path().join("v0");
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let bytes = if name.starts_with("chunk-") {
            downgrade_tfdt(&bytes)
        } else {
            bytes
        };
        std::fs::write(dst.join(name), bytes).unwrap();
    }
    let mut config = OriginConfig::new(root.path(), "127.0.0.1:0".parse().unwrap());
    config.live.clock_override = true;
    let origin = origin::bind(config).await.unwrap();
    // loop 166666667 starts at 1000000002 s: 12800 × that no longer fits 32 bits
    let index = 166_666_667u64 * 6;
    let now_ms = (index + 2) * 1000;
    let init = std::fs::read(dst.join("init-0.m4s")).unwrap();
    let vod = std::fs::read(dst.join("chunk-0-00001.m4s")).unwrap();
    assert_eq!(fragment_times(&vod).unwrap().1, vec![(0, 0)]);
    let (st, _, live) = body(&origin, &format!("/live/nowMS_{now_ms}/v0/0/{index}.m4s")).await;
    assert_eq!(st, 200);
    assert_eq!(live.len(), vod.len() + 4);
    assert_eq!(
        fragment_times(&live).unwrap(),
        (index as u32 + 1, vec![(1, index * 12_800)])
    );
    let pts = ffprobe_pts(&[init, live]);
    assert_eq!(pts.len(), 25, "one second of 25 fps video");
    assert!((pts[0] - index as f64).abs() < 1e-6, "first pts {}", pts[0]);
    assert!(
        (pts[24] - (index as f64 + 0.96)).abs() < 1e-6,
        "last pts {}",
        pts[24]
    );
    origin
        .stop(std::time::Duration::from_secs(1))
        .await
        .unwrap();
}
