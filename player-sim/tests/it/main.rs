//! The player-sim crate's integration tests, one test binary (one link on two cores) with a
//! module per former test file.

mod compat;
mod hostile_inputs;
mod learned;
mod mpc_search;
mod plots;
mod plugin;
mod sim;
mod trace_order;
