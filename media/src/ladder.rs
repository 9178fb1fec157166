//! ladder (being written)
