//! The player-live crate's integration tests, one test binary with a module per topic.

mod hostile_mpd;
mod live;
mod steering;
