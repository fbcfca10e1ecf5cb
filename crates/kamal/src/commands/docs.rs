//! `kamal docs [SECTION]`: our documentation of each configuration section.

use crate::assets;
use crate::output::Printer;

pub fn run(printer: &Printer, section: Option<&str>) {
    match assets::documentation(section) {
        Some(text) if text.ends_with('\n') => printer.data(text),
        Some(text) => printer.line(text),
        None => {
            printer.line(&format!(
                "No documentation found for {}",
                section.unwrap_or_default()
            ));
            printer.hint(&format!("sections: {}", assets::DOC_SECTIONS.join(", ")));
        }
    }
}
