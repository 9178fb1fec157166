//! The dashcdn crate's integration tests, one test binary (one link on two cores) with a
//! module per former test file.

mod announce_e2e;
mod check_cli;
mod common;
mod default_content;
mod edge_cli;
mod faults;
mod live_edge;
mod live_lowlatency;
mod memory;
mod package_codecs;
mod package_ladder;
mod player_cmcd;
mod player_live;
mod player_play;
mod player_plugin;
mod player_study;
mod player_swarm;
mod redirector_cli;
mod slowloris;
mod steering_compare;
mod up;
