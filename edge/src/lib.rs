//! # edge — a pull-through CDN cache for DASH content
//!
//! An edge sits in front of the origin (or of a parent edge: edge → mid-tier → origin),
//! serves what it holds from a byte-budgeted memory tier and an optional disk tier (the
//! [`cache`] crate), and fetches what it lacks exactly once, however many clients ask at
//! the same time, streaming the body to all of them while it arrives.
//!
//! ## How a request flows
//! 1. [`metrics::track`] times the request; [`origin::http::cors`] answers preflights;
//!    the `finalize` layer adds CORS, `Access-Control-Expose-Headers` and `X-Served-By`.
//! 2. [`handler::handle`]: URI/header size limits (`414`/`431`), `Via` loop check (`508`),
//!    method dispatch (`GET`/`HEAD`, `PURGE` → [`admin`], else `405`).
//! 3. The raw path goes through [`origin::path::sanitize`] (`400`/`404` before anything
//!    is fetched); the cache key is the normalized path (plus the query with `cache_query`).
//! 4. Lookup (memory, then disk on the blocking pool). [`freshness`] classifies the stored
//!    copy by its age: fresh → `HIT`; within stale-while-revalidate → `STALE` plus a
//!    background refresh; otherwise it is revalidated.
//! 5. Miss or revalidation: [`cache::FillLocks::acquire`]. The leader spawns a
//!    [`fill`] task that owns the upstream fetch ([`upstream`], configured base URL + path
//!    only) and pushes into the `FillWriter`; every client, the leader's included, is a
//!    `FillReader` that streams chunks as they arrive. The task stores the object at the
//!    end, or refreshes it on a `304`, or hands out the stale copy when the upstream is down
//!    (stale-if-error), or aborts with `502`/`504`.
//! 6. The response applies client conditionals (`304`/`412`) and `Range` (`206`/`416`),
//!    and carries `Age`, `X-Cache: HIT|MISS|STALE|REVALIDATED` and `Via`.
//! 7. With `prefetch = N`, a media-segment request also fills the next N segments
//!    ([`prefetch`]).
//!
//! ## Entry points
//! [`bind`] (background server, returns [`RunningEdge`]), [`router`], [`EdgeConfig`].

pub mod admin;
pub mod config;
pub mod fill;
pub mod freshness;
pub mod handler;
pub mod head;
pub mod metrics;
pub mod prefetch;
pub mod server;
pub mod upstream;

pub use config::{ByteSize, EdgeConfig, EdgeError, EvictionPolicy};
pub use server::{bind, router, EdgeState, RunningEdge};
