//! One module per subcommand.

pub mod origin;
pub mod package;
