//! edge (being written)
