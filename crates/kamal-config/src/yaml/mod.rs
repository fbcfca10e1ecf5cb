//! YAML as Ruby's Psych reads and writes it (YAML 1.1 typing, anchors, merge keys).

pub mod error;
pub mod load;
pub mod resolve;
pub mod value;

pub use error::YamlError;
pub use load::load;
pub use value::{Mapping, Mark, Node, Value};
