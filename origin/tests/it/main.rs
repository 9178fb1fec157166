//! The origin crate's integration tests, one test binary with a module per area: a real
//! origin on `127.0.0.1:0` over a tempdir content root (files, ranges, conditional
//! requests, CORS, the hot cache, metrics, startup errors, graceful shutdown, push ingest,
//! looped live).

mod direct;
mod growing;
mod http;
mod ingest;
mod live;
