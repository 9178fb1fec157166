//! The cache crate's integration tests, one test binary (one link on two cores) with a
//! module per former test file.

mod budget;
mod disk;
mod fill;
mod scan;
