//! player-sim (being written)
