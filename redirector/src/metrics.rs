//! Prometheus metrics (`/metrics`): answers per edge, zone and protocol, DNS response
//! codes, health state and flips, topology reloads, edge announcements
//! (`redirector_announce_total{result}`, `redirector_announced_edges`), and the reasons of
//! routing decisions (`redirector_decisions_total{reason}`: every HTTP and steering answer,
//! and DNS answers in closed-loop mode).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    edge: String,
    zone: String,
    proto: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlipLabels {
    edge: String,
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EdgeLabels {
    edge: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RcodeLabels {
    rcode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// All redirector metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    answers: Family<AnswerLabels, Counter>,
    flips: Family<FlipLabels, Counter>,
    edge_up: Family<EdgeLabels, Gauge>,
    dns_responses: Family<RcodeLabels, Counter>,
    reloads: Family<ResultLabels, Counter>,
    degraded: Counter,
    noerror: Counter,
    announces: Family<ResultLabels, Counter>,
    announced: Gauge,
    reasons: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(serve::wire::metric_names::redirector::PREFIX);
        let answers = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "answers",
            "Routing answers by chosen edge, client zone and protocol (dns, http, steering)",
            answers.clone(),
        );
        let flips = Family::<FlipLabels, Counter>::default();
        registry.register("health_flips", "Edge health state changes", flips.clone());
        let edge_up = Family::<EdgeLabels, Gauge>::default();
        registry.register(
            "edge_up",
            "1 if health considers the edge up",
            edge_up.clone(),
        );
        let dns_responses = Family::<RcodeLabels, Counter>::default();
        registry.register(
            "dns_responses",
            "DNS responses by RCODE",
            dns_responses.clone(),
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "topology_reloads",
            "Topology reloads by result",
            reloads.clone(),
        );
        let degraded = Counter::default();
        registry.register(
            "degraded_answers",
            "Answers given while no candidate edge was healthy (least-bad edge)",
            degraded.clone(),
        );
        let announces = Family::<ResultLabels, Counter>::default();
        registry.register(
            "announce",
            "Edge announcements by result (ok, unauthorized, disabled, conflict, invalid) and removals (expired, withdrawn)",
            announces.clone(),
        );
        let announced = Gauge::default();
        registry.register(
            "announced_edges",
            "Edges currently announced (not from the topology file)",
            announced.clone(),
        );
        let reasons = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "decisions",
            "Routing decisions by reason (nearest, avoided_down, avoided_starving, avoided_slow, avoided_overloaded, kept_for_hysteresis, ...)",
            reasons.clone(),
        );
        let noerror = dns_responses
            .get_or_create(&RcodeLabels { rcode: "NOERROR" })
            .clone();
        Metrics {
            noerror,
            registry,
            answers,
            flips,
            edge_up,
            dns_responses,
            reloads,
            degraded,
            announces,
            announced,
            reasons,
        }
    }

    /// Counts a routing decision by its reason (a `closed_loop::Reason` as its label).
    pub fn reason(&self, reason: &'static str) {
        self.reasons.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Counts an announce outcome: `ok`, `unauthorized`, `disabled`, `conflict`,
    /// `invalid`, `expired` or `withdrawn`.
    pub fn announce(&self, result: &'static str) {
        self.announces.get_or_create(&ResultLabels { result }).inc();
    }

    /// Sets the gauge of announced edges.
    pub fn set_announced(&self, n: usize) {
        self.announced.set(n as i64);
    }

    /// Counts one routing answer.
    pub fn answer(&self, edge: &str, zone: &str, proto: &'static str, degraded: bool) {
        self.answers
            .get_or_create(&AnswerLabels {
                edge: edge.to_string(),
                zone: zone.to_string(),
                proto,
            })
            .inc();
        if degraded {
            self.degraded.inc();
        }
    }

    /// Counts one DNS answer (counter handles cached in the snapshot).
    pub fn answer_dns(&self, snap: &crate::Snapshot, edge: usize, location: usize, degraded: bool) {
        let t = &snap.topology;
        let slot = location * t.edges.len() + edge;
        match snap.dns_counters.get(slot) {
            Some(c) => {
                c.get_or_init(|| {
                    self.answers
                        .get_or_create(&AnswerLabels {
                            edge: t.edges[edge].id.clone(),
                            zone: t.locations[location].name.clone(),
                            proto: "dns",
                        })
                        .clone()
                })
                .inc();
                if degraded {
                    self.degraded.inc();
                }
            }
            None => self.answer(
                &t.edges[edge].id,
                &t.locations[location].name,
                "dns",
                degraded,
            ),
        }
    }

    /// Counts a health flip of `edge` to the state `to` (`up`, `down`, `unknown`).
    pub fn health_flip(&self, edge: &str, to: &'static str) {
        self.flips
            .get_or_create(&FlipLabels {
                edge: edge.to_string(),
                to,
            })
            .inc();
    }

    /// Sets the `edge_up` gauge.
    pub fn set_edge_up(&self, edge: &str, up: bool) {
        self.edge_up
            .get_or_create(&EdgeLabels {
                edge: edge.to_string(),
            })
            .set(up as i64);
    }

    /// Counts a DNS response by RCODE name.
    pub fn dns_response(&self, rcode: &'static str) {
        if rcode == "NOERROR" {
            self.noerror.inc();
            return;
        }
        self.dns_responses
            .get_or_create(&RcodeLabels { rcode })
            .inc();
    }

    /// Counts a topology reload (`ok` or `error`).
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads.get_or_create(&ResultLabels { result }).inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        serve::metrics::encode(&self.registry)
    }
}
