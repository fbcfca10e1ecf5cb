//! `kamal config`: the merged, validated configuration as Kamal prints it.

use kamal_config::configuration::{self, ConfigError, LoadOptions};
use kamal_config::Environment;

use crate::output::Printer;

pub fn run(
    printer: &Printer,
    options: &LoadOptions,
    environment: &mut dyn Environment,
) -> Result<(), ConfigError> {
    let configuration = configuration::load(options, environment)?;
    let output = configuration.to_output(environment)?;
    printer.data(&kamal_config::yaml::to_yaml(&output));
    Ok(())
}
