//! Integration tests of the serve crate (one test binary; one module per former file).

mod limits;
mod server;
