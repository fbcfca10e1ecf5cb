//! The `list` table (§1.4): sorted by service name, every cell wrapped in SGR codes and padded to its
//! column's widest cell plus two spaces.

use std::collections::BTreeMap;

use crate::control::protocol::ServiceDescription;

const HEADER: [&str; 7] = ["Service", "Host", "Path", "Target", "State", "TLS", "Health"];

pub fn render(services: &BTreeMap<String, ServiceDescription>) -> String {
    let rows: Vec<[String; 7]> = services
        .iter()
        .map(|(name, description)| {
            [
                name.clone(),
                description.host.clone(),
                description.path.clone(),
                description.target.clone(),
                description.state.clone(),
                if description.tls { "yes" } else { "no" }.to_string(),
                description.health.clone(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut output = String::new();
    let mut line = |cells: &[String; 7], first_style: &str, other_style: &str| {
        for (index, cell) in cells.iter().enumerate() {
            let style = if index == 0 { first_style } else { other_style };
            output.push_str(&format!(
                "{style}{cell:<width$}\x1b[0m",
                width = widths[index] + 2
            ));
        }
        output.push('\n');
    };
    line(&HEADER.map(str::to_string), "\x1b[3;94m", "\x1b[3;94m");
    for row in &rows {
        line(row, "\x1b[1;34m", "\x1b[m");
    }
    output
}

/// One line per service with settings accepted but not active yet, for stderr.
pub fn inactive_notes(services: &BTreeMap<String, ServiceDescription>) -> Vec<String> {
    services
        .iter()
        .filter(|(_, description)| !description.inactive.is_empty())
        .map(|(name, description)| {
            format!(
                "note: {name}: accepted but not active in this version: {}",
                description.inactive.join(", ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_padded_styled_rows() {
        let mut services = BTreeMap::new();
        services.insert(
            "web".to_string(),
            ServiceDescription {
                host: "*".into(),
                path: "/".into(),
                tls: false,
                target: "web-1:3000".into(),
                state: "running".into(),
                health: "healthy".into(),
                inactive: vec![],
            },
        );
        let table = render(&services);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "\x1b[3;94mService  \x1b[0m\x1b[3;94mHost  \x1b[0m\x1b[3;94mPath  \x1b[0m\x1b[3;94mTarget      \x1b[0m\x1b[3;94mState    \x1b[0m\x1b[3;94mTLS  \x1b[0m\x1b[3;94mHealth   \x1b[0m"
        );
        assert_eq!(
            lines[1],
            "\x1b[1;34mweb      \x1b[0m\x1b[m*     \x1b[0m\x1b[m/     \x1b[0m\x1b[mweb-1:3000  \x1b[0m\x1b[mrunning  \x1b[0m\x1b[mno   \x1b[0m\x1b[mhealthy  \x1b[0m"
        );
    }
}
