//! redirector (being written)
