//! package (being written)
