//! YAML as Ruby's Psych reads and writes it (YAML 1.1 typing, anchors, merge keys).

mod emit;
mod emitter;
pub mod error;
pub mod load;
pub mod resolve;
mod timestamp;
pub mod value;

pub use emit::to_yaml;
pub use error::YamlError;
pub use load::load;
pub use value::{Mapping, Mark, Node, Value};

#[cfg(test)]
mod emit_tests;
