//! The edge crate's integration tests, one test binary with a module per area: the edge in
//! front of a real origin (`test_support::origin`, so `edge` never depends on `origin`):
//! pull-through and cache behaviour, parent tiers, freshness and failures. The `dashcdn
//! edge` process itself is tested in the dashcdn crate (`edge_cli`).

mod common;
mod edge_cache;
mod edge_cmcd;
mod edge_limit_rate;
mod edge_parent;
mod edge_resilience;
mod rfc9111_fill;
mod rfc9111_proxy;
