//! serve (being assembled)
