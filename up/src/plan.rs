//! What runs where: the [`Plan`] of one `dashcdn up` (the built-in three-region CDN, or a
//! user's `cdn.toml`), the redirector topology written for it, and the child commands
//! ([`ComponentSpec`]) in dependency order. Pure: nothing here starts a process.
//!
//! A `cdn.toml` is the redirector's topology (see `redirector/README.md`) plus `up`'s own
//! tables, which are stripped before the topology is written to the run directory:
//!
//! ```toml
//! [origin]                 # required
//! content = "content"      # packaged content (relative to the file)
//! listen = "127.0.0.1:8080"
//! [shield]                 # optional mid-tier parent of every edge
//! id = "shield"
//! listen = "127.0.0.20:8081"
//! [redirector]             # optional; defaults shown
//! http = "127.0.0.1:8053"
//! dns = "127.0.0.1:8054"
//! [page]                   # optional; default shown
//! listen = "127.0.0.1:8000"
//! ```
//!
//! Each `[[edges]]` entry's listen address is the host and port of its `url` (an IP literal).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::error::UpError;

/// The tables of a `cdn.toml` that belong to `up`, not to the redirector's topology.
pub const UP_TABLES: [&str; 4] = ["origin", "shield", "redirector", "page"];

/// Environment variable through which `up` hands each edge its admin token (never on a
/// command line, where `ps` would show it).
pub const EDGE_ADMIN_TOKEN_ENV: &str = "DASHCDN_EDGE_ADMIN_TOKEN";

/// What a component is in the CDN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `dashcdn origin`: serves the packaged content.
    Origin,
    /// `dashcdn edge` as the mid-tier parent of every edge.
    Shield,
    /// `dashcdn edge` facing players.
    Edge,
    /// `dashcdn redirector`: DNS, HTTP 302 and content steering.
    Redirector,
    /// `dashcdn live` (`up --live`): the real-time encoder publishing to the origin's ingest.
    Encoder,
}

impl Role {
    /// `origin`, `shield`, `edge`, `redirector` or `encoder`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Origin => "origin",
            Role::Shield => "shield",
            Role::Edge => "edge",
            Role::Redirector => "redirector",
            Role::Encoder => "encoder",
        }
    }
}

/// One player-facing edge of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgePlan {
    /// Edge id (`X-Served-By`, steering pathway).
    pub id: String,
    /// Where it listens.
    pub listen: SocketAddr,
    /// Its base URL as the redirector hands it out.
    pub url: String,
    /// Region name (shown in the table and on the page).
    pub region: String,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
}

/// Everything `up` starts, and where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Content root served by the origin.
    pub content: PathBuf,
    /// Origin listen address.
    pub origin: SocketAddr,
    /// Mid-tier parent of every edge: id and listen address.
    pub shield: Option<(String, SocketAddr)>,
    /// Player-facing edges.
    pub edges: Vec<EdgePlan>,
    /// Redirector HTTP address.
    pub redirector_http: SocketAddr,
    /// Redirector DNS address (UDP and TCP).
    pub redirector_dns: SocketAddr,
    /// Where `up` serves the page and its API.
    pub page: SocketAddr,
    /// The redirector's topology, `up`'s tables stripped.
    pub topology: toml::Table,
    /// The asset the page plays.
    pub asset: String,
    /// `up --live`: the origin takes push ingest (token in [`INGEST_TOKEN_FILE`]) and a
    /// `dashcdn live` encoder publishes [`LIVE_STREAM`] to it.
    pub live: bool,
}

/// File in the run directory holding the per-run ingest token (`up --live`, mode 0600); the
/// origin gets it as `--ingest-token-file`, the encoder as `--token-file` (never the token
/// itself on a command line).
pub const INGEST_TOKEN_FILE: &str = "ingest.token";

/// The low-latency stream `up --live` publishes: `/ingest/<LIVE_STREAM>/manifest.mpd`.
pub const LIVE_STREAM: &str = "live";

/// How the built-in plan is shifted so that tests and a second instance never collide
/// with a user's default instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// Added to every port.
    pub port_offset: u16,
    /// The first three octets of every address (`127.0.0` by default): hosts `.1` (origin,
    /// redirector, page), `.20` (shield), `.21`–`.23` (edges).
    pub ip_base: [u8; 3],
}

impl Default for Shift {
    fn default() -> Self {
        Shift {
            port_offset: 0,
            ip_base: [127, 0, 0],
        }
    }
}

/// Parses an `--ip-base` value: three octets of a loopback address, `127.0.0` or `127.1.2`
/// (a trailing `.0` or `.x` is accepted too).
pub fn parse_ip_base(s: &str) -> Result<[u8; 3], String> {
    let parts: Vec<&str> = s.trim().split('.').collect();
    let octets = match parts.len() {
        3 => &parts[..],
        4 => &parts[..3],
        _ => return Err(format!("{s:?}: expected three octets such as 127.0.0")),
    };
    let mut out = [0u8; 3];
    for (o, p) in out.iter_mut().zip(octets) {
        *o = p
            .parse()
            .map_err(|_| format!("{s:?}: {p:?} is not an octet"))?;
    }
    if out[0] != 127 {
        return Err(format!("{s:?}: not a loopback address (127.x.y)"));
    }
    Ok(out)
}

/// The three built-in regions: edge id, region, city coordinates, last octet.
const REGIONS: [(&str, &str, f64, f64, u8, &str); 3] = [
    ("edge-eu", "eu", 50.11, 8.68, 21, "192.0.2.0/24"),
    ("edge-us", "us", 39.04, -77.49, 22, "198.51.100.0/24"),
    ("edge-ap", "ap", 1.35, 103.82, 23, "203.0.113.0/24"),
];

impl Plan {
    /// The built-in CDN: origin `.1:8080`, shield `.20:8081`, edges `edge-eu` (Frankfurt,
    /// `.21:8081`), `edge-us` (Ashburn, `.22:8081`), `edge-ap` (Singapore, `.23:8081`),
    /// redirector HTTP `.1:8053` and DNS `.1:8054`, page `.1:8000`; a coverage zone per
    /// region (the RFC 5737 documentation networks) and `default_location = "eu"`, so a
    /// browser on loopback is sent to `edge-eu`. Health every 500 ms (fall 2, rise 2),
    /// steering TTL 2 s.
    pub fn builtin(content: PathBuf, shift: Shift) -> Plan {
        let addr = |host: u8, port: u16| {
            let [a, b, c] = shift.ip_base;
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(a, b, c, host)),
                port.saturating_add(shift.port_offset),
            )
        };
        let edges: Vec<EdgePlan> = REGIONS
            .iter()
            .map(|&(id, region, lat, lon, host, _)| {
                let listen = addr(host, 8081);
                EdgePlan {
                    id: id.into(),
                    url: format!("http://{listen}"),
                    listen,
                    region: region.into(),
                    lat,
                    lon,
                }
            })
            .collect();
        let mut topo = String::from(
            "default_location = \"eu\"\n\n[health]\ninterval_ms = 500\ntimeout_ms = 400\nfall = 2\nrise = 2\n\n[steering]\nttl = 2\n",
        );
        for e in &edges {
            topo.push_str(&format!(
                "\n[[edges]]\nid = \"{}\"\nurl = \"{}\"\naddress = \"{}\"\nlat = {}\nlon = {}\nregion = \"{}\"\n",
                e.id,
                e.url,
                e.listen.ip(),
                e.lat,
                e.lon,
                e.region
            ));
        }
        for &(_, region, lat, lon, _, net) in &REGIONS {
            topo.push_str(&format!(
                "\n[[locations]]\nname = \"{region}\"\nlat = {lat}\nlon = {lon}\nnetworks = [\"{net}\"]\n"
            ));
        }
        Plan {
            content,
            origin: addr(1, 8080),
            shield: Some(("shield".into(), addr(20, 8081))),
            edges,
            redirector_http: addr(1, 8053),
            redirector_dns: addr(1, 8054),
            page: addr(1, 8000),
            topology: topo.parse().expect("the built-in topology is valid TOML"),
            asset: "default".into(),
            live: false,
        }
    }

    /// A user topology: `text` is the content of `path` (a `cdn.toml`, see the module docs).
    /// Relative paths in it (`[origin] content`, `czf`) are relative to the file.
    pub fn from_toml(path: &Path, text: &str) -> Result<Plan, UpError> {
        let bad = |message: String| UpError::Config {
            path: path.to_owned(),
            message,
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.message().to_owned() + &line_of(text, e.span())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut up = toml::Table::new();
        for name in UP_TABLES {
            if let Some(v) = table.remove(name) {
                match v {
                    toml::Value::Table(t) => {
                        up.insert(name.into(), t.into());
                    }
                    _ => return Err(bad(format!("`{name}` must be a table ([{name}])"))),
                }
            }
        }
        let get = |table: &str, key: &str| -> Option<&toml::Value> {
            up.get(table).and_then(|t| t.get(key))
        };
        let addr_of =
            |table: &str, key: &str, default: Option<&str>| -> Result<SocketAddr, UpError> {
                let raw = match get(table, key) {
                    Some(toml::Value::String(s)) => s.as_str(),
                    Some(_) => {
                        return Err(bad(format!("[{table}] {key} must be a string \"IP:PORT\"")))
                    }
                    None => default.ok_or_else(|| bad(format!("[{table}] {key} is required")))?,
                };
                raw.parse()
                    .map_err(|_| bad(format!("[{table}] {key} = {raw:?} is not IP:PORT")))
            };
        if !up.contains_key("origin") {
            return Err(bad(
                "[origin] is required (content = \"DIR\", listen = \"IP:PORT\")".into(),
            ));
        }
        let content = match get("origin", "content") {
            Some(toml::Value::String(s)) => base.join(s),
            _ => return Err(bad("[origin] content = \"DIR\" is required".into())),
        };
        if let Some(toml::Value::String(s)) = table.get_mut("czf") {
            *s = base.join(&*s).display().to_string();
        }
        let origin = addr_of("origin", "listen", Some("127.0.0.1:8080"))?;
        let shield = if up.contains_key("shield") {
            let id = match get("shield", "id") {
                Some(toml::Value::String(s)) => s.clone(),
                Some(_) => return Err(bad("[shield] id must be a string".into())),
                None => "shield".into(),
            };
            Some((id, addr_of("shield", "listen", None)?))
        } else {
            None
        };
        let redirector_http = addr_of("redirector", "http", Some("127.0.0.1:8053"))?;
        let redirector_dns = addr_of("redirector", "dns", Some("127.0.0.1:8054"))?;
        let page = addr_of("page", "listen", Some("127.0.0.1:8000"))?;
        let locations = locations(&table);
        let mut edges = Vec::new();
        let raw_edges = match table.get("edges") {
            Some(toml::Value::Array(a)) => a.clone(),
            Some(_) => return Err(bad("`edges` must be an array of tables ([[edges]])".into())),
            None => Vec::new(),
        };
        for (i, e) in raw_edges.iter().enumerate() {
            let field = |k: &str| e.get(k);
            let id = match field("id") {
                Some(toml::Value::String(s)) => s.clone(),
                _ => return Err(bad(format!("edges[{i}]: id = \"NAME\" is required"))),
            };
            let url = match field("url") {
                Some(toml::Value::String(s)) => s.trim_end_matches('/').to_owned(),
                _ => return Err(bad(format!("edges[{i}] ({id}): url is required"))),
            };
            let listen = listen_of_url(&url).ok_or_else(|| {
                bad(format!(
                    "edges[{i}] ({id}): url {url:?} must be http://IP:PORT (up listens there)"
                ))
            })?;
            let num = |k: &str| match field(k) {
                Some(toml::Value::Float(f)) => Some(*f),
                Some(toml::Value::Integer(n)) => Some(*n as f64),
                _ => None,
            };
            let (Some(lat), Some(lon)) = (num("lat"), num("lon")) else {
                return Err(bad(format!("edges[{i}] ({id}): lat and lon are required")));
            };
            let region = match field("region") {
                Some(toml::Value::String(s)) => s.clone(),
                _ => nearest(&locations, lat, lon).unwrap_or_else(|| "-".into()),
            };
            edges.push(EdgePlan {
                id,
                listen,
                url,
                region,
                lat,
                lon,
            });
        }
        if edges.is_empty() {
            return Err(bad(
                "no [[edges]]: up needs at least one edge to start".into()
            ));
        }
        Ok(Plan {
            content,
            origin,
            shield,
            edges,
            redirector_http,
            redirector_dns,
            page,
            topology: table,
            asset: "default".into(),
            live: false,
        })
    }

    /// The topology file the redirector reads (TOML text).
    pub fn topology_text(&self) -> String {
        format!(
            "# Written by `dashcdn up`; the redirector reloads it when it changes.\n{}",
            toml::to_string(&self.topology).expect("a toml::Table always serialises")
        )
    }

    /// Every listen address, named by the component that will bind it, in start order.
    pub fn addresses(&self) -> Vec<(String, SocketAddr)> {
        let mut out = vec![("origin".to_owned(), self.origin)];
        if let Some((id, a)) = &self.shield {
            out.push((id.clone(), *a));
        }
        out.extend(self.edges.iter().map(|e| (e.id.clone(), e.listen)));
        out.push(("redirector".into(), self.redirector_http));
        out.push(("redirector (dns)".into(), self.redirector_dns));
        out.push(("page".into(), self.page));
        out
    }

    /// The child processes, in start order (origin, shield, edges, redirector, and with
    /// [`Plan::live`] the encoder); stop them in reverse.
    pub fn components(&self, bin: &Path, run_dir: &Path, admin_token: &str) -> Vec<ComponentSpec> {
        let origin_url = format!("http://{}", self.origin);
        let log = |id: &str| run_dir.join(format!("{id}.log"));
        let mut out = vec![ComponentSpec {
            role: Role::Origin,
            id: "origin".into(),
            addr: self.origin,
            url: origin_url.clone(),
            region: None,
            program: bin.to_owned(),
            args: vec![
                "origin".into(),
                "--content".into(),
                self.content.display().to_string(),
                "--listen".into(),
                self.origin.to_string(),
            ],
            env: Vec::new(),
            log: log("origin"),
        }];
        let token_file = run_dir.join(INGEST_TOKEN_FILE).display().to_string();
        if self.live {
            out[0].args.extend([
                "--ingest".into(),
                "--ingest-token-file".into(),
                token_file.clone(),
            ]);
        }
        let edge_env = vec![(EDGE_ADMIN_TOKEN_ENV.to_owned(), admin_token.to_owned())];
        let mut parent = None;
        if let Some((id, addr)) = &self.shield {
            let url = format!("http://{addr}");
            out.push(ComponentSpec {
                role: Role::Shield,
                id: id.clone(),
                addr: *addr,
                url: url.clone(),
                region: None,
                program: bin.to_owned(),
                args: edge_args(id, *addr, &origin_url, None),
                env: edge_env.clone(),
                log: log(id),
            });
            parent = Some(url);
        }
        for e in &self.edges {
            out.push(ComponentSpec {
                role: Role::Edge,
                id: e.id.clone(),
                addr: e.listen,
                url: e.url.clone(),
                region: Some(e.region.clone()),
                program: bin.to_owned(),
                args: edge_args(&e.id, e.listen, &origin_url, parent.as_deref()),
                env: edge_env.clone(),
                log: log(&e.id),
            });
        }
        out.push(ComponentSpec {
            role: Role::Redirector,
            id: "redirector".into(),
            addr: self.redirector_http,
            url: format!("http://{}", self.redirector_http),
            region: None,
            program: bin.to_owned(),
            args: vec![
                "redirector".into(),
                "--topology".into(),
                run_dir.join(TOPOLOGY_FILE).display().to_string(),
                "--dns".into(),
                self.redirector_dns.to_string(),
                "--http".into(),
                self.redirector_http.to_string(),
            ],
            env: Vec::new(),
            log: log("redirector"),
        });
        if self.live {
            out.push(ComponentSpec {
                role: Role::Encoder,
                id: "encoder".into(),
                addr: self.origin,
                url: format!("{origin_url}/ingest/{LIVE_STREAM}/manifest.mpd"),
                region: None,
                program: bin.to_owned(),
                args: vec![
                    "live".into(),
                    "--origin".into(),
                    origin_url.clone(),
                    "--stream".into(),
                    LIVE_STREAM.into(),
                    "--token-file".into(),
                    token_file,
                ],
                env: Vec::new(),
                log: log("encoder"),
            });
        }
        out
    }
}

/// Name of the topology file `up` writes into the run directory.
pub const TOPOLOGY_FILE: &str = "topology.toml";

fn edge_args(id: &str, listen: SocketAddr, origin: &str, parent: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "edge".into(),
        "--id".into(),
        id.into(),
        "--listen".into(),
        listen.to_string(),
        "--upstream".into(),
        origin.into(),
        "--mem".into(),
        "256MiB".into(),
    ];
    if let Some(p) = parent {
        args.extend(["--parent".into(), p.into()]);
    }
    args
}

/// One child process: what it is, where it listens, how to start it.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// What it is.
    pub role: Role,
    /// Unique id (the edge id for edges).
    pub id: String,
    /// Its HTTP listen address.
    pub addr: SocketAddr,
    /// Its base URL.
    pub url: String,
    /// Region (edges only).
    pub region: Option<String>,
    /// The `dashcdn` binary.
    pub program: PathBuf,
    /// Arguments (the subcommand first).
    pub args: Vec<String>,
    /// Extra environment (the edges' admin token).
    pub env: Vec<(String, String)>,
    /// Log file (stdout and stderr, appended across restarts).
    pub log: PathBuf,
}

/// `http://IP:PORT[/]` → the socket address (host names are refused: `up` must bind it).
pub fn listen_of_url(url: &str) -> Option<SocketAddr> {
    let rest = url.strip_prefix("http://")?;
    let hostport = rest.split('/').next()?;
    hostport.parse().ok()
}

fn locations(table: &toml::Table) -> Vec<(String, f64, f64)> {
    let Some(toml::Value::Array(locs)) = table.get("locations") else {
        return Vec::new();
    };
    locs.iter()
        .filter_map(|l| {
            let name = l.get("name")?.as_str()?.to_owned();
            let num = |k: &str| {
                l.get(k)
                    .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|n| n as f64)))
            };
            Some((name, num("lat")?, num("lon")?))
        })
        .collect()
}

/// Name of the location nearest to (`lat`, `lon`) (squared degrees: only for a label).
fn nearest(locs: &[(String, f64, f64)], lat: f64, lon: f64) -> Option<String> {
    locs.iter()
        .min_by(|a, b| {
            let d = |l: &(String, f64, f64)| (l.1 - lat).powi(2) + (l.2 - lon).powi(2);
            d(a).total_cmp(&d(b))
        })
        .map(|l| l.0.clone())
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(s) => format!(
            " (line {})",
            text[..s.start.min(text.len())].matches('\n').count() + 1
        ),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_plan_has_three_regions_and_a_shield_on_distinct_addresses() {
        let p = Plan::builtin("content".into(), Shift::default());
        assert_eq!(p.origin.to_string(), "127.0.0.1:8080");
        assert_eq!(p.edges.len(), 3);
        assert_eq!(p.edges[0].listen.to_string(), "127.0.0.21:8081");
        let mut addrs: Vec<_> = p.addresses().into_iter().map(|(_, a)| a).collect();
        let n = addrs.len();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), n, "every component has its own address");
        assert_eq!(p.topology["default_location"].as_str(), Some("eu"));
        assert_eq!(p.topology["edges"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn shift_moves_every_address() {
        let shift = Shift {
            port_offset: 100,
            ip_base: parse_ip_base("127.0.37").unwrap(),
        };
        let p = Plan::builtin("c".into(), shift);
        for (name, a) in p.addresses() {
            assert!(a.to_string().starts_with("127.0.37."), "{name} {a}");
            assert!(a.port() > 8000, "{name} {a}");
        }
        assert_eq!(p.edges[2].url, "http://127.0.37.23:8181");
        assert!(p.topology_text().contains("http://127.0.37.22:8181"));
    }

    #[test]
    fn ip_base_must_be_loopback() {
        assert_eq!(parse_ip_base("127.1.2.0"), Ok([127, 1, 2]));
        assert!(parse_ip_base("10.0.0").is_err());
        assert!(parse_ip_base("127.0").is_err());
        assert!(parse_ip_base("127.0.300").is_err());
    }

    #[test]
    fn components_start_in_dependency_order_and_keep_the_token_off_the_command_line() {
        let p = Plan::builtin("c".into(), Shift::default());
        let c = p.components(Path::new("/bin/dashcdn"), Path::new("/run"), "s3cret");
        let roles: Vec<_> = c.iter().map(|c| c.role).collect();
        assert_eq!(
            roles,
            [
                Role::Origin,
                Role::Shield,
                Role::Edge,
                Role::Edge,
                Role::Edge,
                Role::Redirector
            ]
        );
        for c in &c {
            assert!(!c.args.iter().any(|a| a.contains("s3cret")), "{c:?}");
        }
        assert!(c[2]
            .args
            .windows(2)
            .any(|w| w == ["--parent", "http://127.0.0.20:8081"]));
        assert_eq!(c[2].env, [(EDGE_ADMIN_TOKEN_ENV.into(), "s3cret".into())]);
        assert_eq!(c[5].log, Path::new("/run/redirector.log"));
    }

    #[test]
    fn the_encoder_is_planned_only_with_live_and_gets_the_token_as_a_file() {
        let mut p = Plan::builtin("c".into(), Shift::default());
        let c = p.components(Path::new("/bin/dashcdn"), Path::new("/run"), "t");
        assert!(c.iter().all(|c| c.role != Role::Encoder));
        assert!(
            !c[0].args.iter().any(|a| a.contains("ingest")),
            "{:?}",
            c[0]
        );
        p.live = true;
        let c = p.components(Path::new("/bin/dashcdn"), Path::new("/run"), "t");
        let last = c.last().unwrap();
        assert_eq!(last.role, Role::Encoder, "started last, stopped first");
        assert_eq!(last.args[0], "live");
        assert!(last
            .args
            .windows(2)
            .any(|w| w == ["--token-file", "/run/ingest.token"]));
        assert!(c[0]
            .args
            .windows(2)
            .any(|w| w == ["--ingest-token-file", "/run/ingest.token"]));
        assert!(c[0].args.iter().any(|a| a == "--ingest"));
        assert_eq!(last.url, "http://127.0.0.1:8080/ingest/live/manifest.mpd");
    }

    #[test]
    fn a_user_topology_loses_up_tables_and_keeps_the_rest() {
        let text = r#"
default_location = "here"
[origin]
content = "media"
listen = "127.0.0.1:9080"
[page]
listen = "127.0.0.1:9000"
[[edges]]
id = "a"
url = "http://127.0.0.5:9081"
lat = 1
lon = 2.5
[[locations]]
name = "here"
lat = 1.0
lon = 2.0
"#;
        let p = Plan::from_toml(Path::new("/etc/cdn/cdn.toml"), text).unwrap();
        assert_eq!(p.content, Path::new("/etc/cdn/media"));
        assert_eq!(p.origin.port(), 9080);
        assert_eq!(p.page.port(), 9000);
        assert!(p.shield.is_none());
        assert_eq!(p.edges[0].listen.to_string(), "127.0.0.5:9081");
        assert_eq!(p.edges[0].region, "here");
        for t in UP_TABLES {
            assert!(!p.topology.contains_key(t), "{t} stripped");
        }
        assert!(p.topology_text().contains("default_location = \"here\""));
    }

    #[test]
    fn bad_user_topologies_name_the_file_and_the_field() {
        let path = Path::new("cdn.toml");
        let err = |t: &str| Plan::from_toml(path, t).unwrap_err().to_string();
        assert!(err("[[edges]]\nid = 1").contains("[origin] is required"));
        let e = err("[origin]\ncontent = \"c\"\n[[edges]]\nid = \"x\"\nurl = \"http://edge.example:80\"\nlat = 1\nlon = 1\n");
        assert!(e.contains("cdn.toml") && e.contains("edges[0] (x)"), "{e}");
        let e = err("[origin]\ncontent = \"c\"\nlisten = \"nope\"\n");
        assert!(e.contains("[origin] listen"), "{e}");
        let e = err("[origin\n");
        assert!(e.contains("line 1"), "{e}");
    }
}
