//! `kamal version`: the Kamal release we are a drop-in for.

use crate::output::Printer;

pub fn run(printer: &Printer) {
    printer.line(kamal_config::configuration::KAMAL_VERSION);
}
