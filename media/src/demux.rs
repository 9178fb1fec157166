//! demux (being written)
