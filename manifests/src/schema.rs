//! Validation of MPD files against the official DASH schema with `xmllint`.
//!
//! The schema folder (`DASH-MPD.xsd`, `xlink.xsd`, `xml.xsd`, `catalog.xml`) is found from
//! the `DASH_SCHEMA_DIR` environment variable, else at `../shared/dash-schema` next to the
//! workspace root. `xmllint` (or `$XMLLINT`) comes from `libxml2-utils`; if it is missing, validation
//! fails with an error saying so (it never passes silently).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ManifestError;

/// Environment variable naming the schema folder.
pub const SCHEMA_DIR_ENV: &str = "DASH_SCHEMA_DIR";
/// Environment variable naming the xmllint program (default `xmllint` on the `PATH`).
pub const XMLLINT_ENV: &str = "XMLLINT";

/// The schema folder: `$DASH_SCHEMA_DIR`, else `<workspace root>/../shared/dash-schema`.
pub fn schema_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(SCHEMA_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    // This crate sits at <workspace root>/manifests.
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/dash-schema");
    default.canonicalize().unwrap_or(default)
}

/// Validates the MPD file at `path` against `DASH-MPD.xsd`. On failure the error carries
/// xmllint's messages.
pub fn validate_with_xmllint(path: impl AsRef<Path>) -> Result<(), ManifestError> {
    let path = path.as_ref();
    run_xmllint(&path.to_string_lossy(), path.as_os_str(), None)
}

/// Validates an MPD held in memory (passed to xmllint on stdin).
pub fn validate_xml_with_xmllint(xml: &str) -> Result<(), ManifestError> {
    run_xmllint("<string>", "-".as_ref(), Some(xml))
}

fn run_xmllint(
    label: &str,
    target: &std::ffi::OsStr,
    stdin: Option<&str>,
) -> Result<(), ManifestError> {
    let dir = schema_dir();
    let xsd = dir.join("DASH-MPD.xsd");
    let catalog = dir.join("catalog.xml");
    if !xsd.is_file() || !catalog.is_file() {
        return Err(ManifestError::SchemaMissing(dir));
    }
    let program = std::env::var_os(XMLLINT_ENV)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "xmllint".into());
    let mut cmd = Command::new(&program);
    cmd.env("XML_CATALOG_FILES", &catalog)
        .arg("--nonet")
        .arg("--noout")
        .arg("--schema")
        .arg(&xsd)
        .arg(target)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ManifestError::XmllintMissing(format!("{}: {e}", program.to_string_lossy()))
        } else {
            ManifestError::Io {
                path: "xmllint".into(),
                source: e,
            }
        }
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| ManifestError::Io {
                path: "xmllint stdin".into(),
                source: e,
            })?;
    }
    let out = child.wait_with_output().map_err(|e| ManifestError::Io {
        path: "xmllint".into(),
        source: e,
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stderr).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    Err(ManifestError::SchemaInvalid {
        file: label.to_string(),
        output: output.trim().to_string(),
    })
}
