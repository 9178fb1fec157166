//! A small reader of the Prometheus text exposition format (and the OpenMetrics text format
//! that `prometheus-client` writes), enough to scrape counters from our servers' `/metrics`:
//! `name{label="value",...} value [timestamp]` sample lines, `#` comment/HELP/TYPE/EOF lines,
//! label values with `\\`, `\"` and `\n` escapes, `NaN`/`+Inf`/`-Inf` values, and an
//! OpenMetrics exemplar (` # {...} v`) after the value, which is ignored.
//!
//! Hand-written rather than a crate: the workspace has the *writer* (`prometheus-client`) but
//! no parser, the few parsers on crates.io pull in regex/chrono for features we do not need,
//! and the grammar we read is ten lines of our own servers' output.

use std::fmt;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name as exposed (counters end in `_total`).
    pub name: String,
    /// Labels in the order written, values unescaped.
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A parse error: 1-based line number, what was wrong, and the offending line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}: `{text}`")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
    /// The line as read.
    pub text: String,
}

/// A parsed exposition: every sample, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// The samples.
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// Parses `text`. Comment lines (`# ...`) and blank lines are skipped; anything else must
    /// be a well-formed sample line.
    pub fn parse(text: &str) -> Result<Exposition, ParseError> {
        let mut samples = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_line(line).map_err(|message| ParseError {
                line: i + 1,
                message,
                text: line.to_string(),
            })?);
        }
        Ok(Exposition { samples })
    }

    /// Samples named `name` whose labels include every `(key, value)` of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
    }

    /// The sum of the matching samples' values (0 when none match: a counter that was never
    /// incremented may be absent).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// The value of the first matching sample.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, labels).next().map(|s| s.value)
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let mut chars = line.char_indices().peekable();
    // Metric name.
    match chars.peek() {
        Some(&(_, c)) if is_name_start(c) => {}
        _ => return Err("expected a metric name".into()),
    }
    let mut end = line.len();
    while let Some(&(i, c)) = chars.peek() {
        if !is_name_char(c) {
            end = i;
            break;
        }
        chars.next();
    }
    let name = line[..end].to_string();
    let mut labels = Vec::new();
    let mut rest = &line[end..];
    if let Some(after) = rest.strip_prefix('{') {
        let (l, r) = parse_labels(after)?;
        labels = l;
        rest = r;
    }
    if !rest.starts_with([' ', '\t']) {
        return Err("expected whitespace before the value".into());
    }
    // Value, optional timestamp, optional OpenMetrics exemplar.
    let rest = rest.split(" # ").next().unwrap_or(rest);
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or("missing value")?;
    let value = parse_value(value_text).ok_or_else(|| format!("bad value {value_text:?}"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<f64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the value"));
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// Label pairs in the order written.
type Labels = Vec<(String, String)>;

/// Parses `k="v",...}` (after the `{`); returns the labels and the text after the `}`.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let mut rest = s.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let key_end = rest
            .find(|c: char| !is_name_char(c))
            .ok_or("unterminated label set")?;
        let key = &rest[..key_end];
        if key.is_empty() || !key.starts_with(is_name_start) {
            return Err("expected a label name".into());
        }
        rest = rest[key_end..].trim_start();
        rest = rest
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after label {key}"))?
            .trim_start();
        rest = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("expected '\"' to open the value of label {key}"))?;
        let mut value = String::new();
        let mut it = rest.char_indices();
        let close = loop {
            match it.next() {
                None => return Err(format!("unterminated value of label {key}")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match it.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => return Err(format!("bad escape \\{c} in label {key}")),
                    None => return Err(format!("unterminated value of label {key}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((key.to_string(), value));
        rest = rest[close + 1..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label {key}"));
        }
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                write!(f, "{k}=\"{v}\"")?;
            }
            f.write_str("}")?;
        }
        write!(f, " {}", self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP dashcdn_edge_hits Responses served fresh from the cache.
# TYPE dashcdn_edge_hits counter
dashcdn_edge_hits_total 42
dashcdn_edge_requests_total{method="GET",code="200"} 40
dashcdn_edge_requests_total{method="GET",code="404"} 2
dashcdn_edge_requests_total{method="HEAD",code="200"} 1
weird_total{path="a \"quoted\" \\ back\nslash", x = "y" ,} 3.5 1700000000000
dashcdn_edge_cache_bytes{tier="memory"} 1.5e6
nan_metric NaN
inf_metric{le="+Inf"} +Inf
with_exemplar_total 7 # {trace_id="abc"} 1.0
# EOF
"#;

    #[test]
    fn parses_names_labels_escapes_and_values() {
        let e = Exposition::parse(TEXT).unwrap();
        assert_eq!(e.samples.len(), 9);
        assert_eq!(e.value("dashcdn_edge_hits_total", &[]), Some(42.0));
        assert_eq!(e.sum("dashcdn_edge_requests_total", &[]), 43.0);
        assert_eq!(
            e.sum("dashcdn_edge_requests_total", &[("method", "GET")]),
            42.0
        );
        assert_eq!(
            e.value(
                "dashcdn_edge_requests_total",
                &[("method", "GET"), ("code", "404")]
            ),
            Some(2.0)
        );
        let w = e.matching("weird_total", &[]).next().unwrap();
        assert_eq!(w.label("path"), Some("a \"quoted\" \\ back\nslash"));
        assert_eq!(w.label("x"), Some("y"));
        assert_eq!(w.value, 3.5);
        assert_eq!(
            e.value("dashcdn_edge_cache_bytes", &[("tier", "memory")]),
            Some(1.5e6)
        );
        assert!(e.value("nan_metric", &[]).unwrap().is_nan());
        assert_eq!(e.value("inf_metric", &[]), Some(f64::INFINITY));
        assert_eq!(e.value("with_exemplar_total", &[]), Some(7.0));
        assert_eq!(e.sum("absent_total", &[]), 0.0);
        assert_eq!(e.value("absent_total", &[]), None);
        // Display writes the escapes back.
        assert_eq!(
            w.to_string(),
            r#"weird_total{path="a \"quoted\" \\ back\nslash",x="y"} 3.5"#
        );
        assert_eq!(Exposition::parse(&w.to_string()).unwrap().samples[0], *w);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for (text, want) in [
            (
                "ok 1\nbad{code=\"200\" 5\n",
                "expected ',' or '}' after label code",
            ),
            ("ok 1\n\nnovalue\n", "expected whitespace before the value"),
            ("x{a=\"1\"} twelve\n", "bad value \"twelve\""),
            ("x{a=1} 2\n", "expected '\"' to open the value of label a"),
            ("x{a=\"\\t\"} 2\n", "bad escape \\t in label a"),
            ("x{a=\"open} 2\n", "unterminated value of label a"),
            ("9x 2\n", "expected a metric name"),
            ("x 1 2 3\n", "unexpected \"3\" after the value"),
        ] {
            let err = Exposition::parse(text).unwrap_err();
            assert_eq!(err.message, want, "{text:?}");
            let lines = text.lines().count();
            assert_eq!(err.line, lines, "{text:?}");
            assert!(err.to_string().starts_with(&format!("line {lines}: ")));
        }
    }

    #[test]
    fn reads_what_prometheus_client_writes() {
        // The edge's own registry, encoded by prometheus-client, parses and reads back.
        let text = "# HELP dashcdn_edge_sent_bytes Response body bytes sent.\n\
                    # TYPE dashcdn_edge_sent_bytes counter\n\
                    dashcdn_edge_sent_bytes_total 123456789\n\
                    # TYPE dashcdn_edge_request_duration_seconds histogram\n\
                    dashcdn_edge_request_duration_seconds_sum 0.5\n\
                    dashcdn_edge_request_duration_seconds_count 3\n\
                    dashcdn_edge_request_duration_seconds_bucket{le=\"0.0001\"} 0\n\
                    dashcdn_edge_request_duration_seconds_bucket{le=\"+Inf\"} 3\n\
                    # EOF\n";
        let e = Exposition::parse(text).unwrap();
        assert_eq!(
            e.value("dashcdn_edge_sent_bytes_total", &[]),
            Some(123456789.0)
        );
        assert_eq!(
            e.value(
                "dashcdn_edge_request_duration_seconds_bucket",
                &[("le", "+Inf")]
            ),
            Some(3.0)
        );
    }
}
