//! YAML as Ruby's Psych reads and writes it (YAML 1.1 typing, anchors, merge keys).

pub mod value;

pub use value::{Mapping, Mark, Node, Value};
