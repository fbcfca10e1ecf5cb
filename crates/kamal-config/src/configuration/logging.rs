//! `logging:` (root and per role): the docker log driver and its options.

use super::error::Result;
use super::ruby::{argumentize, optionize};
use super::schema::{Shape, LOGGING};
use super::validator::Validator;
use crate::yaml::{Mapping, Node, Value};

pub fn validate(node: &Node, context: &str) -> Result<()> {
    let mut validator = Validator::new(&[context]);
    validator.validate_against(&node.value, &Shape::Hash(LOGGING))
}

/// The `docker run` arguments for a logging config: the driver and its options, or
/// Kamal's default `--log-opt max-size="10m"` when neither is set.
pub fn args(logging: Option<&Mapping>) -> Vec<String> {
    let driver = logging
        .and_then(|mapping| mapping.get("driver"))
        .filter(|node| super::raw::present(Some(&node.value)));
    let options = logging
        .and_then(|mapping| mapping.get("options"))
        .filter(|node| super::raw::present(Some(&node.value)));
    if driver.is_none() && options.is_none() {
        let mut default = Mapping::new();
        default.insert(
            Node::synthetic(Value::String("max-size".into())),
            Node::synthetic(Value::String("10m".into())),
        );
        return argumentize("--log-opt", &Value::Mapping(default));
    }
    let mut arguments = Vec::new();
    if let Some(driver) = driver {
        let mut pairs = Mapping::new();
        pairs.insert(
            Node::synthetic(Value::String("log-driver".into())),
            driver.clone(),
        );
        arguments.extend(optionize(&pairs));
    }
    if let Some(options) = options {
        arguments.extend(argumentize("--log-opt", &options.value));
    }
    arguments
}
