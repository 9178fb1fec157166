//! # edge — a pull-through CDN cache for DASH content, and an RFC 9111 shared cache
//!
//! An edge sits in front of the origin (or of a parent edge: edge → mid-tier → origin),
//! serves what it holds from a byte-budgeted memory tier and an optional disk tier (the
//! [`cache`] crate), and fetches what it lacks exactly once, however many clients ask at
//! the same time, streaming the body to all of them while it arrives. What it does not
//! cache it passes through to its upstream (a reverse proxy, never an open one).
//!
//! ## How a request flows
//! 1. [`server`] (on [`serve::Server`]; plain HTTP/1.1 `GET`/`HEAD` on its direct path
//!    [`serve::direct`], everything else on hyper): [`metrics::track`] times the request; [`serve::http::cors`] answers
//!    preflights; the `finalize` layer adds CORS, `Access-Control-Expose-Headers` and
//!    `X-Served-By`.
//!    [`cmsd::layer`] adds `CMSD-Dynamic` (the edge's `etp`, `du`, `rd`) to every response
//!    and `CMSD-Static` to media answers, and measures each body's send rate for `etp`.
//! 2. [`handler::handle`]: URI/header size limits (`414`/`431`), `Via` loop check (`508`),
//!    CMCD read, counted and stripped from the request ([`cmcd`]: never in the key, never
//!    upstream unless `cmcd_forward`), method dispatch: `GET`/`HEAD` to the cache unless [`proxy::bypass`] says nothing of
//!    the exchange may be stored (request `no-store`); `PURGE` →
//!    [`admin`]; every other method → [`proxy`] (to the configured upstream only, bodies
//!    streamed both ways, answers unchanged minus hop-by-hop; after an unsafe method's
//!    `2xx`/`3xx` the target and same-origin `Location`/`Content-Location` are
//!    invalidated, RFC 9111 §4.4).
//! 3. [`key`]: the raw path goes through [`serve::path::sanitize`] (`400`/`404` before
//!    anything is fetched); the [`CacheKey`] is the normalized path plus the query (for
//!    DASH segments and MPDs only with `cache_query`).
//! 4. Lookup in the [`EdgeState`] ([`state`]: memory, then disk on the blocking pool);
//!    [`vary`] picks the stored variant whose selecting headers match (RFC 9111 §4.1;
//!    objects without `Vary` cost one header lookup). [`freshness`] classifies it by its
//!    age on the edge's [`Clock`] ([`clock`]) and the request's `Cache-Control`
//!    ([`directives`]): fresh → `HIT`; within stale-while-revalidate (or the request's
//!    `max-stale`) → `STALE` plus a background refresh; otherwise it is revalidated.
//!    `only-if-cached` with nothing usable → `504`.
//! 5. Miss or revalidation: [`cache::FillLocks::acquire`]. The leader spawns a
//!    [`fill`] task that owns the upstream fetch ([`upstream`], configured base URL + path
//!    only, with the leader's end-to-end request headers chosen by [`forward`]) and pushes
//!    into the `FillWriter`; every client, the leader's included, is a `FillReader` that
//!    streams chunks as they arrive. What may be stored and for how long is
//!    [`freshness::Policy`] (RFC 9111 §3, §4.2; targeted fields of RFC 9213 first). The
//!    task stores the object (its [`head`] in the entry's meta) at the end, or refreshes it
//!    on a `304`, or hands out the stale copy when the upstream is down (stale-if-error),
//!    or aborts with `502`/`504`. A waiter whose `Vary` headers differ from the leader's,
//!    or whose fill turned out not storable, is passed through on its own instead. With a
//!    stale copy usable on error, a client waits at most `stale_wait_ms` for the upstream,
//!    then gets the copy. The [`breaker`] marks an upstream that keeps failing down for a
//!    while: misses fail fast, stale copies are served at once.
//! 6. [`response`]: client conditionals (`304`/`412`) and `Range` (`206`/`416`) are
//!    applied, and the answer carries `Age`, `X-Cache: HIT|MISS|STALE|REVALIDATED` (a
//!    [`serve::wire::CacheStatus`]) and `Via`.
//! 7. A request whose CMCD names the next object (`nor`) has that object filled in the
//!    background; without a hint, with `prefetch = N`, a media-segment request fills the
//!    next N segments ([`prefetch`]).
//! 8. With a rate limit set (`limit_rate`, or at run time on
//!    [`serve::wire::EDGE_LIMIT_RATE_PATH`]), the body is paced ([`ratelimit`]).
//!
//! With `announce`, the edge registers itself with a redirector right after binding,
//! heartbeats, and withdraws on clean shutdown ([`announce`]).
//!
//! The modules depend on each other in that order only, without cycles: `server` →
//! `handler` → `admin`/`prefetch`/`proxy` → `response` → `fill` → `state` → `upstream`
//! (→ `breaker`) → `config`/`head` → `freshness` → `directives`, plus the leaves `key`,
//! `vary`, `forward`, `clock`, `metrics` and `error`. CMCD/CMSD: `server` → `cmsd` →
//! `state`; `handler` → `prefetch` → `fill`; the leaves `cmcd` (the request side),
//! `cmsd_rates` and `prefetch_pending` (held by `state`).
//!
//! ## Entry points
//! [`bind`] (background server, returns [`RunningEdge`]), [`bind_with_clock`], [`router`],
//! [`EdgeConfig`], [`EdgeState`].

pub mod admin;
pub mod announce;
pub mod breaker;
pub mod clock;
pub mod cmcd;
pub mod cmsd;
pub mod cmsd_rates;
pub mod config;
pub mod directives;
pub mod error;
pub mod fill;
pub mod forward;
pub mod freshness;
pub mod handler;
pub mod head;
pub mod key;
pub mod metrics;
pub mod prefetch;
pub mod prefetch_pending;
pub mod proxy;
pub mod ratelimit;
pub mod response;
pub mod server;
pub mod state;
#[cfg(test)]
mod test_headers;
pub mod upstream;
pub mod vary;

pub use clock::Clock;
pub use config::{ByteSize, Coords, EdgeConfig, EvictionPolicy};
pub use error::EdgeError;
pub use key::CacheKey;
pub use server::{bind, bind_with_clock, check, router, RunningEdge};
pub use state::EdgeState;
