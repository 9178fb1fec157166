//! One module per subcommand.

pub mod edge;
pub mod origin;
pub mod package;
pub mod player;
pub mod redirector;
