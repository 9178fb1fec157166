//! The order in which a study plays the traces of a directory: sorted file names by default, or
//! exactly the order of a list file (`--trace-order FILE`, one file name a line).
//!
//! # Why the order matters
//!
//! Under the Pensieve model robustMPC carries its error history (`past_errors`,
//! `past_bandwidth_ests`) from one video to the next, as Pensieve's `test/mpc.py` does
//! (MODELS.md B7.6, [`crate::study::StudyConfig::carry_state`]), so its decisions for the first
//! chunks of each trace, and the study's mean, depend on the order the traces are played in.
//! `mpc.py` lists the trace folder with an unsorted `os.listdir` (MODELS.md B2.1): on ext4 that
//! is htree-hash order, which depends on the filesystem's hash seed, so the published reference
//! score holds only on the machine that produced it. Its order for `hsdpa_test/` is recorded in
//! `../shared/abr-traces/pensieve/hsdpa_reference_order.txt`: in that order robustMPC's mean
//! QoE_lin (chunks 2..48) is 40.706, in sorted-name order 41.193 (with the state reset per
//! trace, 39.591, whatever the order). We play sorted names unless given an order file, and
//! `summary.json` records the order used, so every score can be rerun.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::input::{self, InputError, Trace, TraceFormat};

/// Where a play order came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderSource {
    /// The directory's file names, sorted (byte order).
    SortedNames,
    /// An order file (`--trace-order`).
    File(PathBuf),
}

impl std::fmt::Display for OrderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderSource::SortedNames => f.write_str("sorted names"),
            OrderSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The play order actually used: trace file names, first played first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOrder {
    /// Where it came from.
    pub source: OrderSource,
    /// File names in play order.
    pub names: Vec<String>,
}

/// Parses an order file's text: one trace file name a line (surrounding whitespace trimmed);
/// blank lines and lines starting with `#` are ignored. Returns `(1-based line, name)` pairs.
/// A name given twice is an error at its second line.
pub fn parse_order(path: &Path, text: &str) -> Result<Vec<(usize, String)>, InputError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let name = raw.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if let Some(first) = seen.insert(name, i + 1) {
            return Err(InputError::At {
                path: path.to_path_buf(),
                line: i + 1,
                msg: format!("{name} is listed twice (first at line {first})"),
            });
        }
        out.push((i + 1, name.to_string()));
    }
    if out.is_empty() {
        return Err(InputError::File {
            path: path.to_path_buf(),
            msg: "no trace names".into(),
        });
    }
    Ok(out)
}

/// Orders `available` (the file names of `dir`) as the order file `path` with contents `text`
/// says. Every listed name must be in `available` (else an error at its line), none twice, and
/// every name of `available` must be listed (else an error naming the unlisted ones): a partial
/// list would silently play a different set than the reference it is meant to reproduce.
pub fn apply_order(
    path: &Path,
    text: &str,
    dir: &Path,
    available: &[String],
) -> Result<Vec<String>, InputError> {
    let listed = parse_order(path, text)?;
    let have: HashSet<&str> = available.iter().map(String::as_str).collect();
    if let Some((line, name)) = listed.iter().find(|(_, n)| !have.contains(n.as_str())) {
        return Err(InputError::At {
            path: path.to_path_buf(),
            line: *line,
            msg: format!("{name} is not a trace file in {}", dir.display()),
        });
    }
    let named: HashSet<&str> = listed.iter().map(|(_, n)| n.as_str()).collect();
    let missing: Vec<&str> = available
        .iter()
        .map(String::as_str)
        .filter(|n| !named.contains(n))
        .collect();
    if !missing.is_empty() {
        let shown = missing
            .iter()
            .take(5)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if missing.len() > 5 { ", ..." } else { "" };
        return Err(InputError::File {
            path: path.to_path_buf(),
            msg: format!(
                "{} trace file(s) of {} not listed: {shown}{more} (list every trace once)",
                missing.len(),
                dir.display()
            ),
        });
    }
    Ok(listed.into_iter().map(|(_, n)| n).collect())
}

/// Reads every trace of `dir` (see [`input::list_trace_dir`]) in sorted-name order, or in the
/// order of `order_file` when given ([`apply_order`]), and says which order was used.
pub fn read_trace_dir_ordered(
    dir: &Path,
    format: Option<TraceFormat>,
    order_file: Option<&Path>,
) -> Result<(Vec<Trace>, TraceOrder), InputError> {
    let paths = input::list_trace_dir(dir)?;
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            p.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
        .collect();
    let order = match order_file {
        None => TraceOrder {
            source: OrderSource::SortedNames,
            names,
        },
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|source| InputError::Io {
                path: f.to_path_buf(),
                source,
            })?;
            TraceOrder {
                names: apply_order(f, &text, dir, &names)?,
                source: OrderSource::File(f.to_path_buf()),
            }
        }
    };
    let traces = order
        .names
        .iter()
        .map(|n| input::read_trace(&dir.join(n), format))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((traces, order))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn apply(text: &str, have: &[&str]) -> Result<Vec<String>, String> {
        apply_order(
            Path::new("order.txt"),
            text,
            Path::new("traces"),
            &names(have),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn plays_in_the_file_order_ignoring_blanks_and_comments() {
        let text = "# reference order\n\n  c \nb\r\n# a comment\na\n";
        assert_eq!(
            apply(text, &["a", "b", "c"]).unwrap(),
            names(&["c", "b", "a"])
        );
    }

    #[test]
    fn a_name_missing_from_the_directory_is_an_error_at_its_line() {
        let e = apply("a\n\nzz\nb\n", &["a", "b"]).unwrap_err();
        assert_eq!(e, "order.txt:3: zz is not a trace file in traces");
    }

    #[test]
    fn a_duplicate_is_an_error_at_its_second_line() {
        let e = apply("a\nb\n# x\na\n", &["a", "b"]).unwrap_err();
        assert_eq!(e, "order.txt:4: a is listed twice (first at line 1)");
    }

    #[test]
    fn a_directory_trace_missing_from_the_file_is_an_error() {
        let e = apply("b\n", &["a", "b", "c"]).unwrap_err();
        assert_eq!(
            e,
            "order.txt: 2 trace file(s) of traces not listed: a, c (list every trace once)"
        );
        let many: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
        let have: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = apply("t0\n", &have).unwrap_err();
        assert!(e.contains("7 trace file(s)") && e.ends_with("t5, ... (list every trace once)"));
    }

    #[test]
    fn an_empty_list_is_an_error() {
        assert_eq!(
            apply("# nothing\n\n", &["a"]).unwrap_err(),
            "order.txt: no trace names"
        );
    }

    #[test]
    fn reads_a_directory_in_sorted_or_listed_order() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b", "a", "c"] {
            std::fs::write(d.path().join(n), "0.0\t1.0\n1.0\t2.0\n").unwrap();
        }
        std::fs::write(d.path().join(".hidden"), "x").unwrap();
        let (t, o) = read_trace_dir_ordered(d.path(), None, None).unwrap();
        assert_eq!(o.source, OrderSource::SortedNames);
        assert_eq!(o.names, names(&["a", "b", "c"]));
        assert_eq!(
            t.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let list = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(list.path(), "c\na\nb\n").unwrap();
        let (t, o) = read_trace_dir_ordered(d.path(), None, Some(list.path())).unwrap();
        assert_eq!(o.source, OrderSource::File(list.path().to_path_buf()));
        assert_eq!(
            t.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["c", "a", "b"]
        );
        assert_eq!(o.source.to_string(), list.path().display().to_string());
        assert_eq!(OrderSource::SortedNames.to_string(), "sorted names");
    }
}
