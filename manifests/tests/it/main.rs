//! The manifests crate's integration tests, one test binary (one link on two cores) with a
//! module per former test file.

mod common;
mod fuzz_seeds;
mod roundtrip;
mod samples;
mod schema;
mod xmllint_missing;
