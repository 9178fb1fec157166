//! CMSD in and the ABR variant that uses it; and what the ABR tells the network for CMCD.
//!
//! [`Signals`] is shared between a playback's ABR and its network ([`crate::http_net`]):
//! the ABR side ([`Observed`], wrapped around every live ABR) writes the buffer level and
//! throughput estimate it was shown and whether the buffer ran empty (for CMCD `bl`, `mtp`,
//! `bs`, `su`); the network side writes the `CMSD-Static`/`CMSD-Dynamic` of every response
//! (CTA-5006), the latest per server ([`ServerCmsd`]), and which server answered last.
//!
//! An ABR named `cmsd-<base>` (e.g. `cmsd-throughput`, `cmsd-bola-e`) is `<base>` steered by
//! the CMSD of the server it is fetching from ([`cmsd_rule`], a pure function):
//!
//! 1. **`etp` caps the throughput estimate** the base ABR sees (and is the estimate before
//!    the first sample). `etp` is the throughput the server estimates it can deliver to this
//!    client (CTA-5006 §4.3); on a shared link the server sees every flow, the client only
//!    its own, so a client's sample taken while others idle overstates what it will get.
//!    dash.js blends `etp` into each throughput sample (`streaming.cmsd.abr.etpWeightRatio`,
//!    `value·(1−w) + etp·w`); the minimum is the conservative end of that, with no weight to
//!    tune. The rung is also capped at the highest `@bandwidth` ≤ `etp`, so that buffer-based
//!    bases (BOLA), which do not read the estimate, obey it too.
//! 2. **`mb` caps the rung** at the highest `@bandwidth` ≤ `mb` (dash.js:
//!    `streaming.cmsd.abr.applyMb`).
//! 3. **`du` steps down one rung** from the last quality (never up while it lasts). Duress
//!    says the server is overloaded and clients should back off (CTA-5006); one rung per
//!    request, not the lowest at once, because every client of that server gets the same
//!    signal: N clients each stepping one rung shed load fast enough, and a collapse of all
//!    of them to the bottom would empty the server, clear the duress and swing them all back
//!    up together (the oscillation the base ABRs' own rules avoid).
//!
//! Without CMSD from the current server the base decides alone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use player_sim::abr::{
    self, Abr, AbrError, AbrKind, AbrOptions, Ctx, Decision, Download, Progress,
};
use player_sim::input::Ladder;

/// Prefix of a CMSD-steered ABR name (`cmsd-throughput`).
pub const CMSD_PREFIX: &str = "cmsd-";

/// The latest CMSD one server sent.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ServerCmsd {
    /// `etp`, kbit/s (closest hop's `CMSD-Dynamic` entry).
    pub etp_kbps: Option<u64>,
    /// `du`.
    pub du: bool,
    /// `mb`, kbit/s.
    pub mb_kbps: Option<u64>,
    /// `rd`, ms.
    pub rd_ms: Option<u64>,
    /// The entry's server name.
    pub server: Option<String>,
}

impl ServerCmsd {
    /// From a response's `CMSD-Dynamic` value; `None` when absent or malformed (a bad header
    /// is ignored, as a player must).
    pub fn from_dynamic(value: Option<&str>) -> Option<ServerCmsd> {
        let d = cmcd::CmsdDynamic::parse(value?).ok()?;
        let e = d.closest()?;
        Some(ServerCmsd {
            etp_kbps: e.etp,
            du: e.du,
            mb_kbps: e.mb,
            rd_ms: e.rd,
            server: Some(e.server.clone()),
        })
    }
}

/// What the ABR and the network of one playback share.
#[derive(Debug, Default)]
pub struct Signals(Mutex<SignalState>);

/// The content of [`Signals`].
#[derive(Debug, Clone, Default)]
pub struct SignalState {
    /// Buffer level at the ABR's last call, ms.
    pub buffer_ms: Option<f64>,
    /// Throughput estimate at the ABR's last call (before any CMSD cap), kbit/s.
    pub throughput_kbps: Option<f64>,
    /// A video segment has arrived (startup is over).
    pub started: bool,
    /// The buffer ran empty since the last video request (sent once as CMCD `bs`).
    pub starved: bool,
    /// The latest CMSD per server (`X-Served-By`, else `host:port`).
    pub cmsd: BTreeMap<String, ServerCmsd>,
    /// The server of the last response with CMSD.
    pub last_server: Option<String>,
    /// Responses that carried a valid `CMSD-Dynamic`.
    pub cmsd_responses: u64,
    /// Decisions the CMSD rules touched, by what they did: `etp_estimate` (the estimate the
    /// base saw was lowered to `etp`), and the rung caps of [`cmsd_rule`] (`etp`, `mb`,
    /// `duress`, as [`CmsdOutcome::as_str`]).
    pub cmsd_changes: BTreeMap<&'static str, u64>,
}

impl Signals {
    /// The state (a poisoned lock is still read: the data are plain values).
    pub fn lock(&self) -> MutexGuard<'_, SignalState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the CMSD of a response from `server`.
    pub fn record_cmsd(&self, server: &str, c: ServerCmsd) {
        let mut s = self.lock();
        s.cmsd.insert(server.to_string(), c);
        s.last_server = Some(server.to_string());
        s.cmsd_responses += 1;
    }

    /// The CMSD of the server the player is fetching from.
    pub fn current(&self) -> Option<ServerCmsd> {
        let s = self.lock();
        s.cmsd.get(s.last_server.as_ref()?).cloned()
    }
}

/// What [`cmsd_rule`] did to a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmsdOutcome {
    /// No CMSD from the current server: the base decided alone.
    NoCmsd,
    /// CMSD present, the base's rung stands.
    Unchanged,
    /// Lowered to the highest rung within `etp`.
    CappedByEtp,
    /// Lowered to the highest rung within `mb`.
    CappedByMb,
    /// `du`: one rung below the last quality.
    Duress,
}

impl CmsdOutcome {
    /// `no_cmsd`, `unchanged`, `etp`, `mb`, `duress`.
    pub fn as_str(self) -> &'static str {
        match self {
            CmsdOutcome::NoCmsd => "no_cmsd",
            CmsdOutcome::Unchanged => "unchanged",
            CmsdOutcome::CappedByEtp => "etp",
            CmsdOutcome::CappedByMb => "mb",
            CmsdOutcome::Duress => "duress",
        }
    }
}

/// The throughput estimate a CMSD-steered base sees: `min(estimate, etp)`, `etp` alone
/// before the first sample (rule 1 of the [module docs](self)).
pub fn capped_estimate(estimate_kbps: Option<f64>, c: Option<&ServerCmsd>) -> Option<f64> {
    let etp = c.and_then(|c| c.etp_kbps).map(|e| e as f64);
    match (estimate_kbps, etp) {
        (Some(x), Some(e)) => Some(x.min(e)),
        (x, e) => x.or(e),
    }
}

/// The rung after the CMSD rules (see the [module docs](self)): `base_quality` capped at the
/// highest rung within `etp` and within `mb`, then under `du` at one below `last_quality`.
/// The strongest cap names the outcome.
pub fn cmsd_rule(
    bitrates_kbps: &[f64],
    base_quality: usize,
    last_quality: usize,
    c: Option<&ServerCmsd>,
) -> (usize, CmsdOutcome) {
    let Some(c) = c else {
        return (base_quality, CmsdOutcome::NoCmsd);
    };
    let within = |k: u64| {
        bitrates_kbps
            .iter()
            .rposition(|&b| b <= k as f64)
            .unwrap_or(0)
    };
    let mut q = base_quality;
    let mut why = CmsdOutcome::Unchanged;
    if let Some(e) = c.etp_kbps {
        if within(e) < q {
            q = within(e);
            why = CmsdOutcome::CappedByEtp;
        }
    }
    if let Some(m) = c.mb_kbps {
        if within(m) < q {
            q = within(m);
            why = CmsdOutcome::CappedByMb;
        }
    }
    if c.du {
        let down = last_quality.saturating_sub(1);
        if down < q {
            q = down;
            why = CmsdOutcome::Duress;
        }
    }
    (q, why)
}

/// Whether the buffer ran empty during a download, from the level the player loop reports
/// after it (`level_ms`: the Sabre loop drains the buffer by the download time, then adds the
/// segment unless it was abandoned). A buffer that ran dry holds exactly the new segment
/// (`seg_ms`), or nothing after an abandonment; one that did not holds more. (Startup is not
/// starvation: the loop does not drain the buffer before playback starts.)
pub fn ran_dry(level_ms: f64, seg_ms: f64, abandoned: bool) -> bool {
    let eps = 1e-6 * seg_ms.max(1.0);
    if abandoned {
        level_ms <= eps
    } else {
        level_ms <= seg_ms + eps
    }
}

/// Every live ABR: the base, reporting what it is shown to [`Signals`] (for CMCD) and, for a
/// `cmsd-` name, steered by [`cmsd_rule`].
pub struct Observed {
    base: Box<dyn Abr>,
    signals: Arc<Signals>,
    cmsd: bool,
    bitrates: Vec<f64>,
}

impl Observed {
    /// Wraps `base`; `cmsd` turns the CMSD rules on.
    pub fn new(base: Box<dyn Abr>, ladder: &Ladder, signals: Arc<Signals>, cmsd: bool) -> Self {
        Observed {
            base,
            signals,
            cmsd,
            bitrates: ladder.bitrates_kbps.clone(),
        }
    }

    fn observe(&self, ctx: &Ctx) {
        let mut s = self.signals.lock();
        s.buffer_ms = Some(ctx.buffer_ms);
        s.throughput_kbps = ctx.throughput_kbps;
    }

    fn steer(&self, base_q: usize, last: usize) -> usize {
        if !self.cmsd {
            return base_q;
        }
        let c = self.signals.current();
        let (q, why) = cmsd_rule(&self.bitrates, base_q, last, c.as_ref());
        if q != base_q {
            *self
                .signals
                .lock()
                .cmsd_changes
                .entry(why.as_str())
                .or_default() += 1;
            tracing::debug!(from = base_q, to = q, why = why.as_str(), "CMSD rule");
        }
        q
    }

    fn capped<'a>(&self, ctx: &Ctx<'a>) -> Ctx<'a> {
        if !self.cmsd {
            return *ctx;
        }
        Ctx {
            throughput_kbps: capped_estimate(ctx.throughput_kbps, self.signals.current().as_ref()),
            ..*ctx
        }
    }
}

impl Abr for Observed {
    fn first_quality(&mut self, ctx: &Ctx) -> usize {
        self.observe(ctx);
        let q = self.base.first_quality(&self.capped(ctx));
        self.steer(q, q)
    }

    fn decide(&mut self, ctx: &Ctx) -> Decision {
        self.observe(ctx);
        let capped = self.capped(ctx);
        if capped.throughput_kbps != ctx.throughput_kbps {
            *self
                .signals
                .lock()
                .cmsd_changes
                .entry("etp_estimate")
                .or_default() += 1;
        }
        let d = self.base.decide(&capped);
        Decision {
            quality: self.steer(d.quality, ctx.last_quality),
            ..d
        }
    }

    fn report_delay(&mut self, ms: f64) {
        self.base.report_delay(ms);
    }

    fn report_download(&mut self, ctx: &Ctx, d: &Download) {
        {
            let mut s = self.signals.lock();
            s.started = true;
            if ran_dry(ctx.buffer_ms, ctx.seg_ms(), d.abandon_to.is_some()) {
                s.starved = true;
            }
        }
        self.observe(ctx);
        self.base.report_download(&self.capped(ctx), d);
    }

    fn check_abandon(&mut self, ctx: &Ctx, p: &Progress, level_ms: f64) -> Option<usize> {
        self.base.check_abandon(&self.capped(ctx), p, level_ms)
    }

    fn new_video(&mut self) {
        self.base.new_video();
    }

    fn carries_state(&self) -> bool {
        self.base.carries_state()
    }

    fn failure(&self) -> Option<String> {
        self.base.failure()
    }
}

/// Splits `cmsd-<base>` into (`<base>`, true); any other name into (name, false).
pub fn split_name(name: &str) -> (&str, bool) {
    match name.strip_prefix(CMSD_PREFIX) {
        Some(b) => (b, true),
        None => (name, false),
    }
}

/// Checks a live ABR name: a `simulate --abr` name other than `optimal`, optionally with the
/// `cmsd-` prefix.
pub fn check_name(name: &str) -> Result<AbrKind, AbrError> {
    split_name(name).0.parse::<AbrKind>()
}

/// Builds the ABR named `name` for `ladder`, wrapped in [`Observed`].
pub fn build(
    name: &str,
    ladder: &Ladder,
    buffer_max_ms: f64,
    o: &AbrOptions,
    signals: Arc<Signals>,
) -> Result<Box<dyn Abr>, AbrError> {
    let (base, cmsd) = split_name(name);
    let kind = base.parse::<AbrKind>()?;
    let a = abr::build(&kind, ladder, buffer_max_ms, o)?;
    Ok(Box::new(Observed::new(a, ladder, signals, cmsd)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LADDER: [f64; 4] = [300.0, 750.0, 1500.0, 3000.0];

    fn c(etp: Option<u64>, mb: Option<u64>, du: bool) -> ServerCmsd {
        ServerCmsd {
            etp_kbps: etp,
            mb_kbps: mb,
            du,
            ..ServerCmsd::default()
        }
    }

    #[test]
    fn without_cmsd_the_base_decides() {
        assert_eq!(cmsd_rule(&LADDER, 3, 1, None), (3, CmsdOutcome::NoCmsd));
        assert_eq!(capped_estimate(Some(900.0), None), Some(900.0));
    }

    #[test]
    fn etp_caps_the_estimate_and_the_rung() {
        let x = c(Some(1600), None, false);
        assert_eq!(capped_estimate(Some(5000.0), Some(&x)), Some(1600.0));
        assert_eq!(capped_estimate(Some(900.0), Some(&x)), Some(900.0));
        assert_eq!(capped_estimate(None, Some(&x)), Some(1600.0));
        assert_eq!(
            cmsd_rule(&LADDER, 3, 3, Some(&x)),
            (2, CmsdOutcome::CappedByEtp)
        );
        assert_eq!(
            cmsd_rule(&LADDER, 1, 1, Some(&x)),
            (1, CmsdOutcome::Unchanged)
        );
        // Below the lowest rung: the lowest.
        let low = c(Some(100), None, false);
        assert_eq!(
            cmsd_rule(&LADDER, 2, 2, Some(&low)),
            (0, CmsdOutcome::CappedByEtp)
        );
    }

    #[test]
    fn mb_caps_the_rung() {
        let x = c(Some(10_000), Some(750), false);
        assert_eq!(
            cmsd_rule(&LADDER, 3, 3, Some(&x)),
            (1, CmsdOutcome::CappedByMb)
        );
        // The stronger cap names the outcome.
        let y = c(Some(400), Some(750), false);
        assert_eq!(
            cmsd_rule(&LADDER, 3, 3, Some(&y)),
            (0, CmsdOutcome::CappedByEtp)
        );
    }

    #[test]
    fn duress_steps_down_one_rung_from_the_last() {
        let x = c(None, None, true);
        assert_eq!(cmsd_rule(&LADDER, 3, 3, Some(&x)), (2, CmsdOutcome::Duress));
        assert_eq!(cmsd_rule(&LADDER, 3, 2, Some(&x)), (1, CmsdOutcome::Duress));
        // The base already lower: it stands.
        assert_eq!(
            cmsd_rule(&LADDER, 0, 2, Some(&x)),
            (0, CmsdOutcome::Unchanged)
        );
        assert_eq!(
            cmsd_rule(&LADDER, 1, 2, Some(&x)),
            (1, CmsdOutcome::Unchanged)
        );
        // At the bottom it stays there.
        assert_eq!(
            cmsd_rule(&LADDER, 0, 0, Some(&x)),
            (0, CmsdOutcome::Unchanged)
        );
        // Under duress and within etp: one below the last.
        let y = c(Some(4000), None, true);
        assert_eq!(cmsd_rule(&LADDER, 3, 3, Some(&y)), (2, CmsdOutcome::Duress));
        // When etp already took it there, etp is the reason.
        let z = c(Some(2000), None, true);
        assert_eq!(
            cmsd_rule(&LADDER, 3, 3, Some(&z)),
            (2, CmsdOutcome::CappedByEtp)
        );
    }

    #[test]
    fn cmsd_dynamic_headers_parse_to_the_closest_hop() {
        let v = "\"origin\";etp=90000, \"e1\";du;etp=1200;mb=1500;rd=12";
        let s = ServerCmsd::from_dynamic(Some(v)).unwrap();
        assert_eq!(
            s,
            ServerCmsd {
                etp_kbps: Some(1200),
                du: true,
                mb_kbps: Some(1500),
                rd_ms: Some(12),
                server: Some("e1".into()),
            }
        );
        assert_eq!(ServerCmsd::from_dynamic(Some("etp=,,")), None);
        assert_eq!(ServerCmsd::from_dynamic(None), None);
    }

    #[test]
    fn a_buffer_that_ran_dry_holds_only_the_new_segment() {
        assert!(ran_dry(2000.0, 2000.0, false));
        assert!(!ran_dry(2000.5, 2000.0, false));
        assert!(!ran_dry(9000.0, 2000.0, false));
        // Abandoned: nothing added, so only an empty buffer ran dry.
        assert!(ran_dry(0.0, 2000.0, true));
        assert!(!ran_dry(1500.0, 2000.0, true));
    }

    #[test]
    fn names() {
        assert_eq!(split_name("cmsd-throughput"), ("throughput", true));
        assert_eq!(split_name("bola-e"), ("bola-e", false));
        assert!(check_name("cmsd-bola-e").is_ok());
        assert!(check_name("cmsd-nope").is_err());
    }

    #[test]
    fn the_wrapper_steers_and_reports() {
        let ladder = Ladder {
            name: "t".into(),
            bitrates_kbps: LADDER.to_vec(),
            segment_duration_ms: 2000.0,
            sizes_bits: vec![LADDER.iter().map(|b| b * 2000.0).collect(); 10],
        };
        let sig = Arc::new(Signals::default());
        let mut a = build(
            "cmsd-throughput",
            &ladder,
            25_000.0,
            &AbrOptions::default(),
            sig.clone(),
        )
        .unwrap();
        let ctx = Ctx {
            ladder: &ladder,
            quirks: player_sim::ModelKind::Generic.quirks(),
            index: 3,
            segments: 10,
            buffer_ms: 20_000.0,
            buffer_max_ms: 25_000.0,
            last_quality: 3,
            throughput_kbps: Some(50_000.0),
            latency_ms: Some(0.0),
        };
        // No CMSD yet: the throughput rule picks the top.
        assert_eq!(a.decide(&ctx).quality, 3);
        assert_eq!(sig.lock().buffer_ms, Some(20_000.0));
        sig.record_cmsd("e1", c(Some(1000), None, false));
        assert_eq!(a.decide(&ctx).quality, 1);
        assert_eq!(sig.lock().cmsd_changes.get("etp_estimate"), Some(&1));
        sig.record_cmsd("e1", c(None, None, true));
        assert_eq!(a.decide(&ctx).quality, 2);
        assert_eq!(sig.lock().cmsd_changes.get("duress"), Some(&1));
        // After a download the loop reports the level with the new segment in: more than one
        // segment, the buffer did not run dry.
        let d = Download {
            index: 3,
            quality: 2,
            size_bits: 1.0,
            downloaded_bits: 1.0,
            time_ms: 30_000.0,
            ttfb_ms: 0.0,
            abandon_to: None,
        };
        a.report_download(&ctx, &d);
        assert!(!sig.lock().starved && sig.lock().started);
        // Exactly the new segment: it had run dry (sent once as `bs`).
        let dry = Ctx {
            buffer_ms: 2000.0,
            ..ctx
        };
        a.report_download(&dry, &d);
        assert!(sig.lock().starved);
        // Without the prefix the same CMSD changes nothing.
        let mut b = build(
            "throughput",
            &ladder,
            25_000.0,
            &AbrOptions::default(),
            sig.clone(),
        )
        .unwrap();
        assert_eq!(b.decide(&ctx).quality, 3);
    }
}
