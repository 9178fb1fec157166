//! XML plumbing: a small namespace-aware tree read with quick-xml, the generic
//! [`XmlElement`] tree that keeps foreign content, the pretty writer, and the
//! `dash_element!` macro that gives every MPD element its typed reading and writing.
//!
//! Reading is two-step: quick-xml events → a raw tree with resolved namespaces → typed
//! structs (through a `Cursor` that hands out attributes and children by name and keeps
//! whatever is left over as [`Extensions`]). Writing goes typed struct → [`XmlElement`] →
//! quick-xml `Writer` with indentation, children in the order the struct declares them,
//! which follows the schema's `xs:sequence`.

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::values::AttrValue;
use crate::ManifestError;

/// Namespace of MPD elements.
pub const DASH_NS: &str = "urn:mpeg:dash:schema:mpd:2011";
/// XLink namespace (`xlink:href`, `xlink:actuate`).
pub const XLINK_NS: &str = "http://www.w3.org/1999/xlink";
/// Common Encryption namespace (`cenc:default_KID`, `cenc:pssh`).
pub const CENC_NS: &str = "urn:mpeg:cenc:2013";
/// XML Schema instance namespace (`xsi:schemaLocation`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Prefixes this crate declares by itself on `<MPD>` when the output uses them.
pub(crate) const KNOWN_PREFIXES: [(&str, &str); 3] =
    [("xlink", XLINK_NS), ("cenc", CENC_NS), ("xsi", XSI_NS)];

/// A generic XML element: foreign (non-DASH) content kept from the input, or the
/// intermediate form the writer serializes. Names are qualified names as written
/// (`cenc:pssh`); namespace declarations are ordinary `xmlns:*` attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlElement {
    /// Qualified name, e.g. `cenc:pssh`.
    pub name: String,
    /// Attributes `(qualified name, unescaped value)` in document order.
    pub attrs: Vec<(String, String)>,
    /// Child nodes in document order.
    pub children: Vec<XmlNode>,
}

impl XmlElement {
    /// An element with no attributes and no children.
    pub fn new(name: impl Into<String>) -> Self {
        XmlElement {
            name: name.into(),
            ..Default::default()
        }
    }

    /// The local part of the name (`pssh` for `cenc:pssh`).
    pub fn local_name(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// The value of an attribute by qualified name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The concatenated text of the direct text children.
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|c| match c {
                XmlNode::Text(t) => Some(t.as_str()),
                XmlNode::Element(_) => None,
            })
            .collect()
    }
}

/// A node of foreign content: an element or a (trimmed, non-empty) text run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlNode {
    /// A child element.
    Element(XmlElement),
    /// Text content, whitespace-trimmed.
    Text(String),
}

/// Attributes and child nodes of an element that the model does not know (other
/// namespaces, newer schema editions, tool-specific additions). They are written back
/// after the known ones, which is where the schema's `xs:any` / `xs:anyAttribute` sit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extensions {
    /// Unknown attributes `(qualified name, value)`, including `xmlns:*` declarations.
    pub attrs: Vec<(String, String)>,
    /// Unknown child elements and stray text.
    pub children: Vec<XmlNode>,
}

impl Extensions {
    /// True when nothing unknown was kept.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty() && self.children.is_empty()
    }

    /// Kept child elements whose local name is `local` (whatever their prefix).
    pub fn elements<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a XmlElement> + 'a {
        self.children.iter().filter_map(move |c| match c {
            XmlNode::Element(e) if e.local_name() == local => Some(e),
            _ => None,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Raw tree with resolved namespaces.

#[derive(Debug)]
pub(crate) struct RawAttr {
    qname: String,
    ns: Option<String>,
    local: String,
    value: String,
}

#[derive(Debug)]
pub(crate) struct RawEl {
    qname: String,
    ns: Option<String>,
    local: String,
    attrs: Vec<RawAttr>,
    children: Vec<RawNode>,
    line: usize,
}

#[derive(Debug)]
enum RawNode {
    El(RawEl),
    Text(String),
}

impl RawEl {
    pub(crate) fn local(&self) -> &str {
        &self.local
    }

    pub(crate) fn qname(&self) -> &str {
        &self.qname
    }

    /// Whether this element is in the DASH namespace (or in no namespace at all, which
    /// hand-written MPDs sometimes are).
    pub(crate) fn is_dash(&self) -> bool {
        self.ns
            .as_deref()
            .is_none_or(|ns| ns.eq_ignore_ascii_case(DASH_NS))
    }

    fn to_generic(&self) -> XmlElement {
        // DASH-namespace elements are written unprefixed (the output's default namespace).
        let name = if self.ns.is_some() && self.is_dash() {
            self.local.clone()
        } else {
            self.qname.clone()
        };
        XmlElement {
            name,
            attrs: self
                .attrs
                .iter()
                .map(|a| (a.qname.clone(), a.value.clone()))
                .collect(),
            children: self
                .children
                .iter()
                .filter_map(|c| match c {
                    RawNode::El(e) => Some(XmlNode::Element(e.to_generic())),
                    RawNode::Text(t) => {
                        let t = t.trim();
                        (!t.is_empty()).then(|| XmlNode::Text(t.to_string()))
                    }
                })
                .collect(),
        }
    }
}

fn split_qname(q: &str) -> (Option<&str>, &str) {
    match q.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, q),
    }
}

/// Parses a document into a raw tree, resolving namespace prefixes.
/// Deepest element nesting [`Mpd::parse`](crate::Mpd::parse) accepts. Real MPDs nest about
/// ten levels (extensions included); the tree is built, converted, written and dropped
/// recursively, so hostile nesting must stop here rather than overflow the stack.
pub const MAX_DEPTH: usize = 64;

pub(crate) fn parse_document(input: &str) -> Result<RawEl, ManifestError> {
    let mut reader = Reader::from_str(input);
    reader.config_mut().check_end_names = true;
    let line_at = |pos: u64| {
        input.as_bytes()[..(pos as usize).min(input.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    };
    let xml_err = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| ManifestError::Xml {
        line: line_at(reader.error_position()),
        message: e.to_string(),
    };
    // Namespace scopes: (prefix or "" for default, uri); one frame per open element.
    let mut scopes: Vec<Vec<(String, String)>> = Vec::new();
    let mut stack: Vec<RawEl> = Vec::new();
    let mut root: Option<RawEl> = None;
    // Line counting done incrementally.
    let mut counted_to = 0usize;
    let mut line = 1usize;
    loop {
        let pos = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| xml_err(&reader, &e))?;
        line += input.as_bytes()[counted_to..pos.min(input.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted_to = pos.min(input.len());
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let qname = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                let mut frame = Vec::new();
                let mut attrs = Vec::new();
                for a in e.attributes().with_checks(true) {
                    let a = a.map_err(|err| xml_err(&reader, &err))?;
                    let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                    let value = a
                        .decode_and_unescape_value(reader.decoder())
                        .map_err(|err| xml_err(&reader, &err))?
                        .into_owned();
                    if key == "xmlns" {
                        frame.push((String::new(), value.clone()));
                    } else if let Some(p) = key.strip_prefix("xmlns:") {
                        frame.push((p.to_string(), value.clone()));
                    }
                    attrs.push((key, value));
                }
                scopes.push(frame);
                let resolve = |prefix: &str| -> Option<String> {
                    if prefix == "xml" {
                        return Some(XML_NS.to_string());
                    }
                    scopes
                        .iter()
                        .rev()
                        .flat_map(|f| f.iter().rev())
                        .find(|(p, _)| p == prefix)
                        .map(|(_, uri)| uri.clone())
                        .filter(|uri| !uri.is_empty())
                };
                let (prefix, local) = split_qname(&qname);
                let ns = match prefix {
                    Some(p) => Some(resolve(p).ok_or_else(|| ManifestError::Xml {
                        line,
                        message: format!("undeclared namespace prefix '{p}' on <{qname}>"),
                    })?),
                    None => resolve(""),
                };
                let attrs = attrs
                    .into_iter()
                    .map(|(k, value)| {
                        let (p, l) = split_qname(&k);
                        let ns = match p {
                            Some("xmlns") => Some("http://www.w3.org/2000/xmlns/".to_string()),
                            Some(p) => resolve(p),
                            None => None,
                        };
                        RawAttr {
                            local: l.to_string(),
                            ns,
                            qname: k,
                            value,
                        }
                    })
                    .collect();
                let el = RawEl {
                    local: local.to_string(),
                    ns,
                    qname: qname.clone(),
                    attrs,
                    children: Vec::new(),
                    line,
                };
                if matches!(event, Event::Start(_)) {
                    if stack.len() >= MAX_DEPTH {
                        return Err(ManifestError::TooDeep {
                            line,
                            limit: MAX_DEPTH,
                        });
                    }
                    stack.push(el);
                } else {
                    scopes.pop();
                    attach(&mut stack, &mut root, el, line)?;
                }
            }
            Event::End(_) => {
                scopes.pop();
                let el = stack.pop().ok_or_else(|| ManifestError::Xml {
                    line,
                    message: "unmatched end tag".into(),
                })?;
                attach(&mut stack, &mut root, el, line)?;
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| xml_err(&reader, &e))?;
                push_text(&mut stack, &text);
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|e| xml_err(&reader, &e))?;
                push_text(&mut stack, &text);
            }
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(|e| xml_err(&reader, &e))? {
                    Some(c) => c,
                    None => {
                        let name = r.decode().map_err(|e| xml_err(&reader, &e))?;
                        match name.as_ref() {
                            "amp" => '&',
                            "lt" => '<',
                            "gt" => '>',
                            "quot" => '"',
                            "apos" => '\'',
                            other => {
                                return Err(ManifestError::Xml {
                                    line,
                                    message: format!("unknown entity &{other};"),
                                })
                            }
                        }
                    }
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4]));
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(ManifestError::Xml {
            line,
            message: format!("document ends inside <{}>", open.qname),
        });
    }
    root.ok_or_else(|| ManifestError::Xml {
        line,
        message: "no root element".into(),
    })
}

fn push_text(stack: &mut [RawEl], text: &str) {
    // Text outside the root element is whitespace (quick-xml rejects anything else).
    if let Some(cur) = stack.last_mut() {
        if let Some(RawNode::Text(t)) = cur.children.last_mut() {
            t.push_str(text);
        } else {
            cur.children.push(RawNode::Text(text.to_string()));
        }
    }
}

fn attach(
    stack: &mut [RawEl],
    root: &mut Option<RawEl>,
    el: RawEl,
    line: usize,
) -> Result<(), ManifestError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(RawNode::El(el)),
        None if root.is_none() => *root = Some(el),
        None => {
            return Err(ManifestError::Xml {
                line,
                message: "more than one root element".into(),
            })
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Typed reading.

/// Hands out an element's attributes and children by name to the typed readers, and keeps
/// track of what was not claimed.
pub(crate) struct Cursor<'a> {
    el: &'a RawEl,
    path: String,
    used_attrs: Vec<bool>,
    used_children: Vec<bool>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(el: &'a RawEl, path: String) -> Self {
        Cursor {
            used_attrs: vec![false; el.attrs.len()],
            used_children: vec![false; el.children.len()],
            el,
            path,
        }
    }

    /// Marks attributes as consumed without reading them (root namespace declarations).
    pub(crate) fn skip_attrs(&mut self, mut pred: impl FnMut(&str, &str) -> bool) {
        for (i, a) in self.el.attrs.iter().enumerate() {
            if pred(&a.qname, &a.value) {
                self.used_attrs[i] = true;
            }
        }
    }

    /// Reads the attribute `name` (`local` or `xlink:local` / `cenc:local`).
    pub(crate) fn attr<T: AttrField>(&mut self, name: &str) -> Result<T, ManifestError> {
        let (ns, local) = match split_qname(name) {
            (Some(p), l) => (
                KNOWN_PREFIXES
                    .iter()
                    .find(|(kp, _)| *kp == p)
                    .map(|(_, uri)| *uri),
                l,
            ),
            (None, l) => (None, l),
        };
        let found = self
            .el
            .attrs
            .iter()
            .position(|a| a.local == local && a.ns.as_deref() == ns);
        let value = found.map(|i| {
            self.used_attrs[i] = true;
            self.el.attrs[i].value.as_str()
        });
        T::read_attr(value).map_err(|e| match e {
            AttrError::Missing => ManifestError::MissingAttribute {
                line: self.el.line,
                path: self.path.clone(),
                attribute: name.to_string(),
            },
            AttrError::Invalid(reason) => ManifestError::InvalidAttribute {
                line: self.el.line,
                path: self.path.clone(),
                attribute: name.to_string(),
                value: value.unwrap_or_default().to_string(),
                reason,
            },
        })
    }

    /// Reads the DASH child elements called `name`.
    pub(crate) fn child<T: ChildField>(&mut self, name: &str) -> Result<T, ManifestError> {
        let mut found = Vec::new();
        for (i, c) in self.el.children.iter().enumerate() {
            if let RawNode::El(e) = c {
                if !self.used_children[i] && e.local == name && e.is_dash() {
                    self.used_children[i] = true;
                    let id = e
                        .attrs
                        .iter()
                        .find(|a| a.qname == "id" && a.ns.is_none())
                        .map(|a| format!("(id={})", a.value))
                        .unwrap_or_default();
                    found.push((e, format!("{}/{}[{}]{}", self.path, name, found.len(), id)));
                }
            }
        }
        T::read_children(&found, &self.path, name)
    }

    /// The element's text (all text runs, trimmed).
    pub(crate) fn text(&mut self) -> String {
        let mut s = String::new();
        for (i, c) in self.el.children.iter().enumerate() {
            if let RawNode::Text(t) = c {
                self.used_children[i] = true;
                s.push_str(t);
            }
        }
        s.trim().to_string()
    }

    /// Everything not claimed so far.
    pub(crate) fn take_extensions(&mut self) -> Extensions {
        let mut ext = Extensions::default();
        for (i, a) in self.el.attrs.iter().enumerate() {
            if !std::mem::replace(&mut self.used_attrs[i], true) {
                ext.attrs.push((a.qname.clone(), a.value.clone()));
            }
        }
        for (i, c) in self.el.children.iter().enumerate() {
            if !std::mem::replace(&mut self.used_children[i], true) {
                match c {
                    RawNode::El(e) => ext.children.push(XmlNode::Element(e.to_generic())),
                    RawNode::Text(t) if !t.trim().is_empty() => {
                        ext.children.push(XmlNode::Text(t.trim().to_string()))
                    }
                    RawNode::Text(_) => {}
                }
            }
        }
        ext
    }
}

/// Why an attribute could not be read.
pub(crate) enum AttrError {
    Missing,
    Invalid(String),
}

/// A struct field holding an attribute: `Option<T>` (optional) or `T` (required).
pub(crate) trait AttrField: Sized {
    fn read_attr(value: Option<&str>) -> Result<Self, AttrError>;
    fn write_attr(&self) -> Option<String>;
}

impl<T: AttrValue> AttrField for Option<T> {
    fn read_attr(value: Option<&str>) -> Result<Self, AttrError> {
        value
            .map(|v| T::parse_value(v).map_err(AttrError::Invalid))
            .transpose()
    }
    fn write_attr(&self) -> Option<String> {
        self.as_ref().map(T::format_value)
    }
}

macro_rules! required_attr {
    ($($t:ty),*) => {$(
        impl AttrField for $t {
            fn read_attr(value: Option<&str>) -> Result<Self, AttrError> {
                <$t as AttrValue>::parse_value(value.ok_or(AttrError::Missing)?).map_err(AttrError::Invalid)
            }
            fn write_attr(&self) -> Option<String> {
                Some(self.format_value())
            }
        }
    )*};
}
required_attr!(String, u32, u64, i64, crate::values::IsoDuration, Vec<u32>);

/// An element type that can be read from the raw tree.
pub(crate) trait FromXml: Sized {
    fn from_raw(el: &RawEl, path: String) -> Result<Self, ManifestError>;
}

/// An element type that can be turned into a generic element named `name`.
pub(crate) trait ToXml {
    fn to_xml_element(&self, name: &str) -> XmlElement;
}

/// Text-only elements (`<Title>`, `<Location>`) are plain strings.
impl FromXml for String {
    fn from_raw(el: &RawEl, path: String) -> Result<Self, ManifestError> {
        Ok(Cursor::new(el, path).text())
    }
}

impl ToXml for String {
    fn to_xml_element(&self, name: &str) -> XmlElement {
        let mut e = XmlElement::new(name);
        if !self.is_empty() {
            e.children.push(XmlNode::Text(self.clone()));
        }
        e
    }
}

/// A struct field holding child elements: `Option<T>` (at most one) or `Vec<T>`.
pub(crate) trait ChildField: Sized {
    fn read_children(
        found: &[(&RawEl, String)],
        parent_path: &str,
        name: &str,
    ) -> Result<Self, ManifestError>;
    fn write_children(&self, name: &str, out: &mut Vec<XmlNode>);
}

impl<T: FromXml + ToXml> ChildField for Option<T> {
    fn read_children(
        found: &[(&RawEl, String)],
        parent_path: &str,
        name: &str,
    ) -> Result<Self, ManifestError> {
        if let Some((second, _)) = found.get(1) {
            return Err(ManifestError::DuplicateElement {
                line: second.line,
                path: parent_path.to_string(),
                element: name.to_string(),
            });
        }
        found
            .first()
            .map(|(el, path)| T::from_raw(el, path.clone()))
            .transpose()
    }
    fn write_children(&self, name: &str, out: &mut Vec<XmlNode>) {
        if let Some(v) = self {
            out.push(XmlNode::Element(v.to_xml_element(name)));
        }
    }
}

impl<T: FromXml + ToXml> ChildField for Vec<T> {
    fn read_children(
        found: &[(&RawEl, String)],
        _parent_path: &str,
        _name: &str,
    ) -> Result<Self, ManifestError> {
        found
            .iter()
            .map(|(el, path)| T::from_raw(el, path.clone()))
            .collect()
    }
    fn write_children(&self, name: &str, out: &mut Vec<XmlNode>) {
        out.extend(
            self.iter()
                .map(|v| XmlNode::Element(v.to_xml_element(name))),
        );
    }
}

/// Pushes an attribute if it has a value.
pub(crate) fn push_attr<T: AttrField>(el: &mut XmlElement, name: &str, v: &T) {
    if let Some(s) = v.write_attr() {
        el.attrs.push((name.to_string(), s));
    }
}

/// Defines an MPD element type: a struct with public fields (attributes, child elements in
/// schema order, optional text) plus its reading and writing. `element` types keep unknown
/// content in an `extra` field; `part` types are schema base types embedded in elements.
macro_rules! dash_element {
    (@struct [$($extra:tt)*] $(#[$meta:meta])* $name:ident {
        $( base $(#[$bm:meta])* $bfield:ident : $bty:ty; )?
        $( attr $(#[$am:meta])* $afield:ident : $aty:ty = $aname:literal; )*
        $( child $(#[$cm:meta])* $cfield:ident : $cty:ty = $cname:literal; )*
        $( text $(#[$tm:meta])* $tfield:ident; )?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$bm])* pub $bfield: $bty, )?
            $(
                #[doc = concat!("`@", $aname, "`.")]
                $(#[$am])*
                pub $afield: $aty,
            )*
            $(
                #[doc = concat!("`<", $cname, ">` child element(s).")]
                $(#[$cm])*
                pub $cfield: $cty,
            )*
            $( $(#[$tm])* pub $tfield: String, )?
            $($extra)*
        }

        impl $name {
            #[allow(unused_variables)]
            pub(crate) fn read_part(c: &mut $crate::xml::Cursor<'_>) -> Result<Self, $crate::ManifestError> {
                #[allow(unused_mut)]
                let mut v = Self::default();
                $( v.$bfield = <$bty>::read_part(c)?; )?
                $( v.$afield = c.attr($aname)?; )*
                $( v.$cfield = c.child($cname)?; )*
                $( v.$tfield = c.text(); )?
                Ok(v)
            }

            /// Writes own attributes first (`id`, `bandwidth`, ...), then the base type's.
            #[allow(unused_variables)]
            pub(crate) fn write_attrs(&self, el: &mut $crate::xml::XmlElement) {
                $( $crate::xml::push_attr(el, $aname, &self.$afield); )*
                $( self.$bfield.write_attrs(el); )?
            }

            /// Writes the base type's children, then own children in schema order, then text.
            #[allow(unused_variables)]
            pub(crate) fn write_children(&self, el: &mut $crate::xml::XmlElement) {
                $( self.$bfield.write_children(el); )?
                $( $crate::xml::ChildField::write_children(&self.$cfield, $cname, &mut el.children); )*
                $(
                    if !self.$tfield.is_empty() {
                        el.children.push($crate::xml::XmlNode::Text(self.$tfield.clone()));
                    }
                )?
            }
        }
    };
    ($(#[$meta:meta])* element $name:ident { $($body:tt)* }) => {
        dash_element!(@struct [
            /// Unknown attributes and child elements, kept and written back.
            pub extra: $crate::xml::Extensions,
        ] $(#[$meta])* $name { $($body)* });

        impl $crate::xml::FromXml for $name {
            fn from_raw(el: &$crate::xml::RawEl, path: String) -> Result<Self, $crate::ManifestError> {
                let mut c = $crate::xml::Cursor::new(el, path);
                let mut v = Self::read_part(&mut c)?;
                v.extra = c.take_extensions();
                Ok(v)
            }
        }

        impl $crate::xml::ToXml for $name {
            fn to_xml_element(&self, name: &str) -> $crate::xml::XmlElement {
                let mut el = $crate::xml::XmlElement::new(name);
                self.write_attrs(&mut el);
                self.write_children(&mut el);
                el.attrs.extend(self.extra.attrs.iter().cloned());
                el.children.extend(self.extra.children.iter().cloned());
                el
            }
        }
    };
    ($(#[$meta:meta])* part $name:ident { $($body:tt)* }) => {
        dash_element!(@struct [] $(#[$meta])* $name { $($body)* });
    };
}
pub(crate) use dash_element;

// ---------------------------------------------------------------------------------------
// Writing.

/// Serializes a generic element tree, pretty-printed with two-space indentation, after an
/// `<?xml version="1.0" encoding="UTF-8"?>` declaration.
pub(crate) fn write_document(root: &XmlElement) -> Result<String, ManifestError> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let err = |e: std::io::Error| ManifestError::Write(e.to_string());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(err)?;
    write_element(&mut w, root).map_err(err)?;
    let mut out =
        String::from_utf8(w.into_inner()).map_err(|e| ManifestError::Write(e.to_string()))?;
    out.push('\n');
    Ok(out)
}

fn write_element(w: &mut Writer<Vec<u8>>, el: &XmlElement) -> std::io::Result<()> {
    let mut start = BytesStart::new(el.name.as_str());
    for (k, v) in &el.attrs {
        start.push_attribute((k.as_str(), v.as_str()));
    }
    if el.children.is_empty() {
        return w.write_event(Event::Empty(start));
    }
    w.write_event(Event::Start(start))?;
    for c in &el.children {
        match c {
            XmlNode::Element(e) => write_element(w, e)?,
            XmlNode::Text(t) => w.write_event(Event::Text(BytesText::new(t)))?,
        }
    }
    w.write_event(Event::End(BytesEnd::new(el.name.as_str())))
}
