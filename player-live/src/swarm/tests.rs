//! The report and its table, from hand-made player outcomes and scrapes.

use std::collections::BTreeMap;

use super::fixtures::cfg;
use super::*;
use crate::{CacheStatus, FetchKind, SegmentFetch};
use serve::prom::Exposition;

fn fetch(edge: &str, cache: CacheStatus, bytes: u64, kind: FetchKind, at_ms: f64) -> SegmentFetch {
    SegmentFetch {
        index: 0,
        quality: 0,
        url: format!("http://{edge}/a/v144/1.m4s"),
        requested: String::new(),
        edge: Some(edge.to_string()),
        cache,
        status: 200,
        bytes,
        ms: 1000.0,
        ttfb_ms: 1.0,
        abandoned: false,
        kind,
        at_ms,
        cmsd: None,
        error: None,
    }
}

/// The run of a report test: `players` players of `c`'s titles, all at once.
fn run_info(c: &SwarmConfig, players: usize) -> RunInfo {
    RunInfo {
        entry: c.entry.to_string(),
        titles: c.titles.clone(),
        zipf_s: c.zipf_s,
        players,
        arrival: c.arrival,
        traces: vec![],
        shared_bottleneck_kbps: None,
        clock_scale: 1.0,
        segments: None,
        audio: true,
        abr: "bba".into(),
        cmcd: crate::cmcd_out::CmcdMode::Query,
        seed: 1,
        max_concurrent: 10,
        wall_s: 1.0,
        peak_concurrent: players,
    }
}

fn scrape_of(served_by: &str, text: &str) -> Scrape {
    Scrape {
        url: format!("http://{served_by}/metrics"),
        served_by: Some(served_by.to_string()),
        body_bytes: 100,
        exposition: Exposition::parse(text).unwrap(),
    }
}

#[test]
fn report_compares_edge_deltas_with_player_counts() {
    let c = cfg(1, vec![]);
    let planned = plan(&c).unwrap();
    let mut players: Vec<PlayerOutcome> = planned
        .iter()
        .take(2)
        .map(|p| PlayerOutcome {
            planned: p.clone(),
            trace_name: None,
            started_wall_s: 10.0 * p.id as f64,
            slot_wait_s: 0.0,
            wall_s: 1.0,
            error: None,
            metrics: None,
            mpd_url: None,
            main_edge: None,
            cmsd_changes: BTreeMap::new(),
            live: None,
            fetches: vec![],
        })
        .collect();
    use CacheStatus::{Hit, Miss, Revalidated, Stale};
    players[0].fetches = vec![
        fetch("e1", Miss, 1000, FetchKind::Mpd, 0.0),
        fetch("e1", Miss, 5000, FetchKind::Media, 0.0),
        fetch("e1", Hit, 5000, FetchKind::Media, 2000.0),
    ];
    players[1].fetches = vec![
        fetch("e1", Hit, 1000, FetchKind::Mpd, 0.0),
        fetch("e1", Revalidated, 5000, FetchKind::Media, 0.0),
        fetch("e2", Stale, 3000, FetchKind::Audio, 500.0),
    ];
    let e1 = (
        scrape_of("e1", "dashcdn_edge_hits_total 10\ndashcdn_edge_misses_total 5\ndashcdn_edge_sent_bytes_total 1000\n"),
        Some(scrape_of("e1", "dashcdn_edge_hits_total 12\ndashcdn_edge_misses_total 7\ndashcdn_edge_revalidated_total 1\ndashcdn_edge_sent_bytes_total 18100\n")),
    );
    let e2 = (
        scrape_of(
            "e2",
            "dashcdn_edge_stale_total 0\ndashcdn_edge_sent_bytes_total 0\n",
        ),
        Some(scrape_of(
            "e2",
            "dashcdn_edge_stale_total 1\ndashcdn_edge_sent_bytes_total 3100\n",
        )),
    );
    let origin = (
        scrape_of("o", "dashcdn_origin_sent_bytes_total 50\ndashcdn_origin_requests_total{method=\"GET\",code=\"200\"} 4\n"),
        Some(scrape_of("o", "dashcdn_origin_sent_bytes_total 6150\ndashcdn_origin_requests_total{method=\"GET\",code=\"200\"} 7\ndashcdn_origin_requests_total{method=\"GET\",code=\"304\"} 1\n")),
    );
    let info = run_info(&c, 2);
    let r = report(info, &c, players, &[e1, e2], Some(&origin));
    assert_eq!(r.edges.len(), 2);
    let (a, b) = (&r.edges[0], &r.edges[1]);
    assert_eq!(a.edge, "e1");
    let ea = a.edge_counts.unwrap();
    assert_eq!(
        (ea.requests, ea.hits, ea.misses, ea.revalidated),
        (5, 2, 2, 1)
    );
    let pa = a.player_counts;
    assert_eq!(
        (pa.requests, pa.hits, pa.misses, pa.revalidated),
        (5, 2, 2, 1)
    );
    assert_eq!(ea.hit_ratio, 0.4);
    assert_eq!(a.player_bytes, 17000);
    // Sent-bytes delta less the 100-byte before-scrape body.
    assert_eq!(a.edge_sent_bytes, Some(17000));
    assert_eq!(
        (b.player_counts.stale, b.edge_counts.unwrap().stale),
        (1, 1)
    );
    assert_eq!(b.edge_sent_bytes, Some(3000));
    let t = &r.totals;
    assert_eq!(
        (t.bytes_delivered, t.bytes_delivered_source.as_str()),
        (20000, "edges")
    );
    assert_eq!(t.origin_bytes, Some(6000));
    // 4 new GETs, less our own before-scrape.
    assert_eq!(t.origin_requests, Some(3));
    assert_eq!(t.origin_fraction, Some(0.3));
    assert!((t.origin_offload.unwrap() - 0.7).abs() < 1e-12);
    assert_eq!(t.byte_hit_ratio_players, 6000.0 / 20000.0);
    // Timeline: player 1 started 10 s in; its MPD took 1 s, so its e2 fetch is at 11.5 s.
    assert_eq!(r.timeline_bucket_s, 1.0);
    let at = |e: &str, t: f64| {
        r.timeline
            .iter()
            .find(|p| p.edge == e && p.t_s == t)
            .cloned()
    };
    assert_eq!(at("e2", 11.0).map(|p| (p.requests, p.hits)), Some((1, 0)));
    assert_eq!(at("e1", 3.0).map(|p| (p.requests, p.hits)), Some((1, 1)));
    assert_eq!(at("all", 0.0).map(|p| p.requests), Some(1));
    assert_eq!(at("all", 10.0).map(|p| (p.requests, p.hits)), Some((1, 1)));
    assert_eq!(
        t.requests_by_kind,
        BTreeMap::from([
            ("audio".to_string(), 1),
            ("media".to_string(), 3),
            ("mpd".to_string(), 2)
        ])
    );
    let text = table(&r);
    assert!(text.contains("origin offload 70.0%"), "{text}");
    assert!(text.contains("audio 1, media 3, mpd 2"), "{text}");
}

#[test]
fn failed_players_requests_count_and_errors_are_grouped() {
    let c = cfg(1, vec![]);
    let planned = plan(&c).unwrap();
    let outcome = |p: &PlannedPlayer, error: Option<String>, fetches| PlayerOutcome {
        planned: p.clone(),
        trace_name: None,
        started_wall_s: 0.0,
        slot_wait_s: 0.0,
        wall_s: 1.0,
        error,
        metrics: None,
        mpd_url: None,
        main_edge: None,
        cmsd_changes: BTreeMap::new(),
        live: None,
        fetches,
    };
    let mut f404 = fetch("e1", CacheStatus::Miss, 0, FetchKind::Mpd, 0.0);
    f404.status = 404;
    let msg = |p: &PlannedPlayer| {
        format!(
            "player p{}-{}: fetching http://e1/bad/manifest.mpd: HTTP 404",
            p.id, p.title
        )
    };
    let players = vec![
        outcome(
            &planned[0],
            None,
            vec![fetch("e1", CacheStatus::Hit, 10, FetchKind::Mpd, 0.0)],
        ),
        outcome(&planned[1], Some(msg(&planned[1])), vec![f404.clone()]),
        outcome(&planned[2], Some(msg(&planned[2])), vec![f404]),
        outcome(&planned[3], Some("player panicked".into()), vec![]),
    ];
    let e1 = (
        scrape_of(
            "e1",
            "dashcdn_edge_hits_total 0\ndashcdn_edge_misses_total 0\n",
        ),
        Some(scrape_of(
            "e1",
            "dashcdn_edge_hits_total 1\ndashcdn_edge_misses_total 2\n",
        )),
    );
    let info = run_info(&c, 4);
    let r = report(info, &c, players, &[e1], None);
    assert_eq!((r.players_ok, r.players_failed), (1, 3));
    // The failed players' 404 MPD requests are on the players' side too: exact agreement.
    let row = &r.edges[0];
    assert_eq!(row.edge_counts.unwrap(), row.player_counts);
    assert_eq!(
        (row.player_counts.requests, row.player_counts.misses),
        (3, 2)
    );
    assert_eq!(
        r.failures,
        vec![
            FailureRow {
                error: "fetching http://e1/bad/manifest.mpd: HTTP 404".into(),
                players: 2
            },
            FailureRow {
                error: "player panicked".into(),
                players: 1
            },
        ]
    );
    let text = table(&r);
    assert!(text.contains("3 players failed"), "{text}");
    // No player has metrics here: the index is undefined and printed as `-`.
    assert_eq!(
        (r.fairness.overall.players, r.fairness.overall.jain),
        (0, None)
    );
    assert!(
        text.contains("Jain's fairness of mean bitrate per player (kbps) (no common bottleneck): - over 0 players"),
        "{text}"
    );
    assert!(
        text.contains("2 x fetching http://e1/bad/manifest.mpd: HTTP 404"),
        "{text}"
    );
}

#[test]
fn the_main_edge_sends_most_video_bytes() {
    use crate::swarm::report::main_edge;
    let fs = vec![
        fetch("e1", CacheStatus::Miss, 9000, FetchKind::Mpd, 0.0),
        fetch("e1", CacheStatus::Miss, 3000, FetchKind::Media, 0.0),
        fetch("e2", CacheStatus::Hit, 2000, FetchKind::Media, 10.0),
        fetch("e2", CacheStatus::Hit, 2000, FetchKind::Media, 20.0),
        fetch("e1", CacheStatus::Hit, 9000, FetchKind::Audio, 20.0),
    ];
    assert_eq!(main_edge(&fs).as_deref(), Some("e2"));
    assert_eq!(main_edge(&fs[..2]).as_deref(), Some("e1"));
    assert_eq!(main_edge(&fs[..1]), None);
}
