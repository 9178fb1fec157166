//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing or validating an MPD.
///
/// Parse errors say what was wrong and where: the line in the input and the element path
/// (e.g. `MPD/Period[0]/AdaptationSet[1]/Representation[2](id=v720)/@bandwidth`).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The input is not well-formed XML.
    #[error("malformed XML at line {line}: {message}")]
    Xml {
        /// 1-based line of the problem.
        line: usize,
        /// What the XML reader complained about.
        message: String,
    },
    /// The document's root element is not `<MPD>` (in the DASH namespace).
    #[error(
        "not an MPD: root element is <{0}>, expected <MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\">"
    )]
    NotAnMpd(String),
    /// A required attribute is absent.
    #[error("line {line}, {path}: missing required attribute @{attribute}")]
    MissingAttribute {
        /// 1-based line of the element.
        line: usize,
        /// Element path from the root.
        path: String,
        /// Attribute name.
        attribute: String,
    },
    /// An attribute value does not parse as its schema type.
    #[error("line {line}, {path}/@{attribute}: invalid value \"{value}\": {reason}")]
    InvalidAttribute {
        /// 1-based line of the element.
        line: usize,
        /// Element path from the root.
        path: String,
        /// Attribute name.
        attribute: String,
        /// The offending value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Elements are nested deeper than [`MAX_DEPTH`](crate::xml::MAX_DEPTH) levels (hostile
    /// input: real MPDs nest about ten deep; the tree is walked recursively).
    #[error("line {line}: elements nested deeper than {limit} levels")]
    TooDeep {
        /// 1-based line of the element one level too deep.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// An element that the schema allows at most once appears several times.
    #[error("line {line}, {path}: <{element}> may appear at most once here")]
    DuplicateElement {
        /// 1-based line of the second occurrence.
        line: usize,
        /// Path of the parent element.
        path: String,
        /// The repeated element's name.
        element: String,
    },
    /// A value (duration, date-time, frame rate, ...) given to a constructor does not parse.
    #[error("invalid {what} \"{value}\": {reason}")]
    InvalidValue {
        /// The kind of value, e.g. `xs:duration`.
        what: &'static str,
        /// The offending text.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Segment addressing cannot be computed (missing duration, open-ended timeline, ...).
    #[error("cannot list segments: {0}")]
    Segments(String),
    /// Listing the segments would pass the reader's limit (hostile `S@r`, `@duration` or
    /// period; see [`MAX_SEGMENTS`](crate::segments::MAX_SEGMENTS)). Nothing beyond the
    /// limit was allocated.
    #[error("cannot list segments: more than {limit} segments, the most this reader lists")]
    TooManySegments {
        /// The limit (for a reader with one budget over several Representations, that
        /// budget).
        limit: u64,
    },
    /// Serializing the model failed.
    #[error("could not write MPD XML: {0}")]
    Write(String),
    /// `xmllint` is not installed (schema validation needs it).
    #[error("xmllint not found ({0}); install it with `apt-get install libxml2-utils`")]
    XmllintMissing(String),
    /// The DASH schema directory does not hold `DASH-MPD.xsd` / `catalog.xml`.
    #[error("DASH schema not found in {0} (set DASH_SCHEMA_DIR to the folder holding DASH-MPD.xsd and catalog.xml)")]
    SchemaMissing(PathBuf),
    /// `xmllint --schema` rejected the document.
    #[error("{file} does not validate against DASH-MPD.xsd:\n{output}")]
    SchemaInvalid {
        /// File name (or `<string>` for in-memory input).
        file: String,
        /// xmllint's messages.
        output: String,
    },
    /// An I/O error while validating.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or program concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
