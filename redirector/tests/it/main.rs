//! The redirector's integration tests, one test binary with a module per former test
//! file.

mod announce;
mod closed_loop;
mod dns_corpus;
mod routing;
