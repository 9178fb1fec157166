//! Raw TOML → the compiled [`Topology`] the resolver uses: every check, in file order
//! of concern (edges, locations and the CZF, the default location, zones, the RTT table,
//! services, health), each failure a [`TopologyError`] naming the file, the line of the
//! offending table when known, and the field.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::raw::{
    HealthConfig, OneOrMany, RawAnnounce, RawEdge, RawLocation, RawService, RawTopology,
};
use super::{
    canonical_ip, parse_czf, AnnounceConfig, AnnounceToken, Edge, Location, Service, Topology,
    TopologyError, ZoneTable,
};
use crate::geo;

/// Where errors point: the file's name and text (for byte span → line).
struct Source<'a> {
    file: String,
    text: &'a str,
}

impl Source<'_> {
    fn err(&self, span: Option<Range<usize>>, message: String) -> TopologyError {
        TopologyError {
            file: self.file.clone(),
            line: span.map(|s| line_of(self.text, s.start)),
            message,
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses, validates and compiles topology text; `path` names it in errors and anchors
/// a relative `czf`.
pub(super) fn compile(text: &str, path: &Path) -> Result<Topology, TopologyError> {
    let src = Source {
        file: path.display().to_string(),
        text,
    };
    let raw: RawTopology =
        toml::from_str(text).map_err(|e| src.err(e.span(), e.message().to_string()))?;
    let token = announce_token(&src, raw.announce.as_ref(), path)?;
    let announcing = token.is_some();
    let (edges, edge_ids) = compile_edges(&src, &raw.edges, announcing)?;
    let mut locations = Locations::from_raw(&src, &raw.locations)?;
    if let Some(czf) = &raw.czf {
        locations.merge_czf(&src, czf, path)?;
    }
    let default_location = locations.default_location(&src, raw.default_location.as_ref())?;
    let zones = locations.zone_table(&src)?;
    let rtt_ms = rtt_table(&src, &raw, &locations.ids, &edge_ids, edges.len())?;
    let services = compile_services(&src, &raw, edges.len(), &edge_ids, announcing)?;
    check_health(&src, &raw.health)?;
    raw.closed_loop.check().map_err(|m| src.err(None, m))?;
    let announce = match token {
        Some(token) => Some(compile_announce(
            &src,
            raw.announce.as_ref(),
            token,
            &services,
        )?),
        None => None,
    };
    let locations = locations.list;
    let distance_km = locations
        .iter()
        .map(|l| {
            edges
                .iter()
                .map(|e| geo::distance_km(l.lat, l.lon, e.lat, e.lon))
                .collect()
        })
        .collect();
    Ok(Topology {
        edges,
        locations,
        default_location,
        services,
        zones,
        distance_km,
        rtt_ms,
        trusted_proxies: raw.trusted_proxies,
        health: raw.health,
        dns: raw.dns,
        steering: raw.steering,
        closed_loop: raw.closed_loop,
        announce,
    })
}

/// The announce token: `[announce] token_file` (relative to the topology file; it must be
/// readable and non-empty), else [`serve::wire::ANNOUNCE_TOKEN_ENV`], else `None`
/// (announcing disabled).
fn announce_token(
    src: &Source<'_>,
    raw: Option<&Spanned<RawAnnounce>>,
    path: &Path,
) -> Result<Option<AnnounceToken>, TopologyError> {
    if let Some(file) = raw.and_then(|a| a.get_ref().token_file.as_ref()) {
        let span = raw.map(|a| a.span());
        let full = path.parent().unwrap_or(Path::new(".")).join(file);
        let text = std::fs::read_to_string(&full).map_err(|e| {
            src.err(
                span.clone(),
                format!("announce: token_file: cannot read {}: {e}", full.display()),
            )
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(src.err(
                span,
                format!("announce: token_file: {} is empty", full.display()),
            ));
        }
        return Ok(Some(AnnounceToken(token.to_string())));
    }
    Ok(std::env::var(serve::wire::ANNOUNCE_TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(AnnounceToken))
}

/// `[announce]` with a token: heartbeat > 0, expire_after > 0, known service names.
fn compile_announce(
    src: &Source<'_>,
    raw: Option<&Spanned<RawAnnounce>>,
    token: AnnounceToken,
    services: &[Service],
) -> Result<AnnounceConfig, TopologyError> {
    let span = raw.map(|a| a.span());
    let a = raw.map(|a| a.get_ref().clone()).unwrap_or_default();
    if a.heartbeat_ms == 0 || a.expire_after == 0 {
        return Err(src.err(
            span,
            "announce: heartbeat_ms and expire_after must be > 0".into(),
        ));
    }
    let services = match &a.services {
        None => vec![0],
        Some(names) => names
            .iter()
            .map(|n| {
                services.iter().position(|s| &s.name == n).ok_or_else(|| {
                    src.err(
                        span.clone(),
                        format!("announce: services: no service named {n:?}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(AnnounceConfig {
        token,
        heartbeat_ms: a.heartbeat_ms,
        expire_after: a.expire_after,
        services,
    })
}

/// `[[edges]]`: ids unique (no spaces or commas), http(s) URLs (trailing `/` dropped),
/// coordinates, capacity > 0, bias within ±99, at most one address per family. No edge
/// at all is only valid when edges may announce themselves.
fn compile_edges(
    src: &Source<'_>,
    raw: &[Spanned<RawEdge>],
    announcing: bool,
) -> Result<(Vec<Edge>, HashMap<String, usize>), TopologyError> {
    let mut edges = Vec::new();
    let mut edge_ids = HashMap::new();
    if raw.is_empty() && !announcing {
        return Err(src.err(
            None,
            "no [[edges]]: at least one edge is needed (or enable [announce] with a token)".into(),
        ));
    }
    for (i, se) in raw.iter().enumerate() {
        let span = Some(se.span());
        let e = se.get_ref();
        let at = format!("edges[{i}] (id {:?})", e.id);
        if e.id.is_empty() || e.id.contains(|c: char| c.is_whitespace() || c == ',') {
            return Err(src.err(
                span,
                format!("{at}: id must be non-empty, no spaces or commas"),
            ));
        }
        if edge_ids.insert(e.id.clone(), i).is_some() {
            return Err(src.err(span, format!("{at}: duplicate edge id")));
        }
        let url = e.url.trim_end_matches('/').to_string();
        if reqwest::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .is_none()
        {
            return Err(src.err(span, format!("{at}: url {:?} is not an http(s) URL", e.url)));
        }
        check_coords(e.lat, e.lon).map_err(|m| src.err(span.clone(), format!("{at}: {m}")))?;
        if !(e.capacity.is_finite() && e.capacity > 0.0) {
            return Err(src.err(span, format!("{at}: capacity must be > 0")));
        }
        if !(-99.0..=99.0).contains(&e.bias) {
            return Err(src.err(span, format!("{at}: bias must be within -99..=99")));
        }
        let addrs = match &e.address {
            None => Vec::new(),
            Some(OneOrMany::One(a)) => vec![*a],
            Some(OneOrMany::Many(v)) => v.clone(),
        };
        let mut ipv4 = None;
        let mut ipv6 = None;
        for a in addrs {
            match canonical_ip(a) {
                IpAddr::V4(v) if ipv4.is_none() => ipv4 = Some(v),
                IpAddr::V6(v) if ipv6.is_none() => ipv6 = Some(v),
                _ => {
                    return Err(
                        src.err(span, format!("{at}: at most one IPv4 and one IPv6 address"))
                    )
                }
            }
        }
        edges.push(Edge {
            id: e.id.clone(),
            url,
            ipv4,
            ipv6,
            lat: e.lat,
            lon: e.lon,
            capacity: e.capacity,
            bias: e.bias,
            region: e.region.clone(),
            announced: false,
        });
    }
    Ok((edges, edge_ids))
}

/// Locations being assembled: `[[locations]]`, then the CZF's zones merged by name.
struct Locations {
    list: Vec<Location>,
    ids: HashMap<String, usize>,
    /// Where each location was defined (for the duplicate-network error).
    spans: Vec<Option<Range<usize>>>,
}

impl Locations {
    fn from_raw(
        src: &Source<'_>,
        raw: &[Spanned<RawLocation>],
    ) -> Result<Locations, TopologyError> {
        let mut out = Locations {
            list: Vec::new(),
            ids: HashMap::new(),
            spans: Vec::new(),
        };
        for (i, sl) in raw.iter().enumerate() {
            let span = Some(sl.span());
            let l = sl.get_ref();
            let at = format!("locations[{i}] (name {:?})", l.name);
            let (Some(lat), Some(lon)) = (l.lat, l.lon) else {
                return Err(src.err(span, format!("{at}: lat and lon are required")));
            };
            check_coords(lat, lon).map_err(|m| src.err(span.clone(), format!("{at}: {m}")))?;
            if out.ids.insert(l.name.clone(), out.list.len()).is_some() {
                return Err(src.err(span, format!("{at}: duplicate location name")));
            }
            out.spans.push(span);
            out.list.push(Location {
                name: l.name.clone(),
                lat,
                lon,
                networks: l.networks.clone(),
            });
        }
        Ok(out)
    }

    /// Imports the CZF (relative to the topology file): a zone named like a location adds
    /// its networks to it; a new zone needs coordinates.
    fn merge_czf(
        &mut self,
        src: &Source<'_>,
        czf: &Spanned<std::path::PathBuf>,
        path: &Path,
    ) -> Result<(), TopologyError> {
        let czf_path = path.parent().unwrap_or(Path::new(".")).join(czf.get_ref());
        let span = Some(czf.span());
        let json = std::fs::read_to_string(&czf_path).map_err(|e| {
            src.err(
                span.clone(),
                format!("czf: cannot read {}: {e}", czf_path.display()),
            )
        })?;
        let imported = parse_czf(&json)
            .map_err(|m| src.err(span.clone(), format!("czf {}: {m}", czf_path.display())))?;
        for z in imported {
            match self.ids.get(&z.name) {
                Some(&i) => self.list[i].networks.extend(z.networks),
                None => {
                    let Some((lat, lon)) = z.coordinates else {
                        return Err(src.err(
                            span,
                            format!(
                                "czf {}: coverage zone {:?} has no coordinates and no [[locations]] entry",
                                czf_path.display(),
                                z.name
                            ),
                        ));
                    };
                    check_coords(lat, lon).map_err(|m| {
                        src.err(span.clone(), format!("czf zone {:?}: {m}", z.name))
                    })?;
                    self.ids.insert(z.name.clone(), self.list.len());
                    self.spans.push(span.clone());
                    self.list.push(Location {
                        name: z.name,
                        lat,
                        lon,
                        networks: z.networks,
                    });
                }
            }
        }
        Ok(())
    }

    /// `default_location` by name, else the first location.
    fn default_location(
        &self,
        src: &Source<'_>,
        name: Option<&Spanned<String>>,
    ) -> Result<usize, TopologyError> {
        match name {
            Some(d) => self.ids.get(d.get_ref()).copied().ok_or_else(|| {
                src.err(
                    Some(d.span()),
                    format!("default_location: no location named {:?}", d.get_ref()),
                )
            }),
            None if !self.list.is_empty() => Ok(0),
            None => Err(src.err(
                None,
                "default_location: no [[locations]] to fall back on".into(),
            )),
        }
    }

    /// Every network → its location; a network listed twice (anywhere) is an error.
    fn zone_table(&self, src: &Source<'_>) -> Result<ZoneTable, TopologyError> {
        let mut zones = ZoneTable::default();
        let mut seen = HashSet::new();
        for (i, l) in self.list.iter().enumerate() {
            for n in &l.networks {
                if !seen.insert(*n) {
                    return Err(src.err(
                        self.spans[i].clone(),
                        format!("location {:?}: network {n} is listed twice", l.name),
                    ));
                }
                zones.insert(*n, i);
            }
        }
        Ok(zones)
    }
}

/// `[rtt.<location>] <edge> = ms`: known names, finite non-negative values.
fn rtt_table(
    src: &Source<'_>,
    raw: &RawTopology,
    loc_ids: &HashMap<String, usize>,
    edge_ids: &HashMap<String, usize>,
    n_edges: usize,
) -> Result<Vec<Vec<Option<f64>>>, TopologyError> {
    let mut rtt_ms = vec![vec![None; n_edges]; loc_ids.len()];
    for (loc, row) in &raw.rtt {
        let li = *loc_ids
            .get(loc)
            .ok_or_else(|| src.err(None, format!("rtt.{loc}: no location named {loc:?}")))?;
        for (edge, ms) in row {
            let ei = *edge_ids.get(edge).ok_or_else(|| {
                src.err(None, format!("rtt.{loc}.{edge}: no edge named {edge:?}"))
            })?;
            if !(ms.is_finite() && *ms >= 0.0) {
                return Err(src.err(None, format!("rtt.{loc}.{edge}: must be >= 0 ms")));
            }
            rtt_ms[li][ei] = Some(*ms);
        }
    }
    Ok(rtt_ms)
}

/// `[[services]]` (or the implied `cdn` service): knobs defaulted from the top level,
/// known edges, valid and unique DNS names, `load_factor >= 1`, slack >= 0.
fn compile_services(
    src: &Source<'_>,
    raw: &RawTopology,
    n_edges: usize,
    edge_ids: &HashMap<String, usize>,
    announcing: bool,
) -> Result<Vec<Service>, TopologyError> {
    let defaults = |s: &RawService| Service {
        name: s.name.clone(),
        dns_name: s.dns_name.as_deref().map(fqdn),
        http_host: s.http_host.as_ref().map(|h| h.to_ascii_lowercase()),
        policy: s.policy,
        edges: Vec::new(),
        slack_km: s.slack_km.or(raw.slack_km).unwrap_or(300.0),
        slack_ms: s.slack_ms.or(raw.slack_ms).unwrap_or(10.0),
        load_factor: s.load_factor.or(raw.load_factor).unwrap_or(1.25),
        min_load: s.min_load.or(raw.min_load).unwrap_or(50),
    };
    let raw_services: Vec<(Option<Range<usize>>, RawService)> = if raw.services.is_empty() {
        vec![(None, RawService::implied(raw.cdn_name.as_deref()))]
    } else {
        raw.services
            .iter()
            .map(|s| (Some(s.span()), s.get_ref().clone()))
            .collect()
    };
    let mut services = Vec::new();
    let mut dns_names = HashSet::new();
    for (i, (span, s)) in raw_services.iter().enumerate() {
        let at = format!("services[{i}] (name {:?})", s.name);
        let mut svc = defaults(s);
        svc.edges = match &s.edges {
            None => (0..n_edges).collect(),
            Some(ids) => ids
                .iter()
                .map(|id| {
                    edge_ids.get(id).copied().ok_or_else(|| {
                        src.err(span.clone(), format!("{at}: edges: no edge named {id:?}"))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        if svc.edges.is_empty() && !announcing {
            return Err(src.err(span.clone(), format!("{at}: edges is empty")));
        }
        if let Some(n) = &svc.dns_name {
            if hickory_proto::rr::Name::from_ascii(n).is_err() || n == "." {
                return Err(src.err(
                    span.clone(),
                    format!("{at}: dns_name {n:?} is not a DNS name"),
                ));
            }
            if !dns_names.insert(n.clone()) {
                return Err(src.err(span.clone(), format!("{at}: dns_name {n:?} used twice")));
            }
        }
        if svc.load_factor.is_nan() || svc.load_factor < 1.0 {
            return Err(src.err(span.clone(), format!("{at}: load_factor must be >= 1")));
        }
        if !(svc.slack_km >= 0.0 && svc.slack_ms >= 0.0) {
            return Err(src.err(span.clone(), format!("{at}: slack must be >= 0")));
        }
        services.push(svc);
    }
    Ok(services)
}

fn check_health(src: &Source<'_>, h: &HealthConfig) -> Result<(), TopologyError> {
    if h.interval_ms == 0 || h.timeout_ms == 0 || h.fall == 0 || h.rise == 0 {
        return Err(src.err(
            None,
            "health: interval_ms, timeout_ms, fall and rise must be > 0".into(),
        ));
    }
    Ok(())
}

/// Lower-case, trimmed, with a trailing dot.
fn fqdn(name: &str) -> String {
    let mut n = name.trim().to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

/// Checks a latitude (-90..=90) and longitude (-180..=180).
pub(crate) fn check_coords(lat: f64, lon: f64) -> Result<(), String> {
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("lat {lat} is outside -90..=90"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!("lon {lon} is outside -180..=180"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_names() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
        assert_eq!(fqdn(" CDN.Example.test "), "cdn.example.test.");
        assert_eq!(fqdn("x."), "x.");
        assert!(check_coords(0.0, 181.0).unwrap_err().contains("lon 181"));
    }
}
