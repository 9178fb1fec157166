//! Reusable HTTP building blocks shared by the origin, the edge and the redirector.
//!
//! - [`range`]: `Range: bytes=...` parsing against a representation length.
//! - [`conditional`]: `If-None-Match` / `If-Modified-Since` / `If-Match` /
//!   `If-Unmodified-Since` / `If-Range` evaluation against an ETag and Last-Modified.
//! - [`cors`]: CORS headers for every response and the preflight answer, as a tower layer.

pub mod conditional;
pub mod cors;
pub mod range;
