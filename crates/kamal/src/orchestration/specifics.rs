//! Which hosts and roles a command acts on (`Kamal::Commander::Specifics`): the `--hosts`,
//! `--roles` and `--primary` filters (with `File.fnmatch` wildcards) applied to the
//! configuration, with Kamal's primary-first ordering.

use kamal_config::configuration::{Configuration, Role};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("No --hosts match for {0}")]
    NoHosts(String),
    #[error("No --roles match for {0}")]
    NoRoles(String),
}

/// The selection a command works with.
#[derive(Debug, Clone)]
pub struct Specifics {
    pub hosts: Vec<String>,
    /// Role names, primary role first.
    pub roles: Vec<String>,
    pub primary_host: Option<String>,
    pub primary_role: Option<String>,
}

/// `Kamal::Utils.filter_specific_items`: every item matching any filter, in filter order.
pub fn filter_items(filters: &[String], items: &[String]) -> Vec<String> {
    let mut matches: Vec<String> = Vec::new();
    for filter in filters {
        for item in items {
            if fnmatch(filter, item) && !matches.contains(item) {
                matches.push(item.clone());
            }
        }
    }
    matches
}

impl Specifics {
    /// `hosts`/`roles` are the comma-split `--hosts`/`--roles` values; `primary` is `-p`.
    pub fn new(
        config: &Configuration,
        hosts: Option<&[String]>,
        roles: Option<&[String]>,
        primary: bool,
    ) -> Result<Specifics, FilterError> {
        let all_hosts = config.all_hosts();
        let specific_roles: Option<Vec<&Role>> = match roles {
            Some(filters) => {
                let names: Vec<String> = config.roles.iter().map(|role| role.name.clone()).collect();
                let matched = filter_items(filters, &names);
                if matched.is_empty() {
                    return Err(FilterError::NoRoles(filters.join(",")));
                }
                Some(matched.iter().filter_map(|name| config.role(name)).collect())
            }
            None => None,
        };
        let mut specific_hosts: Option<Vec<String>> = match hosts {
            Some(filters) => {
                let matched = filter_items(filters, &all_hosts);
                if matched.is_empty() {
                    return Err(FilterError::NoHosts(filters.join(",")));
                }
                Some(matched)
            }
            None => None,
        };

        // `-p`: only the primary host (first host of the first selected role, else the config's).
        if primary {
            let primary_host = match (&specific_roles, &specific_hosts) {
                (_, Some(hosts)) => hosts.first().cloned(),
                (Some(roles), None) => roles.first().and_then(|role| role.primary_host()),
                (None, None) => config.primary_host(),
            };
            specific_hosts = primary_host.map(|host| vec![host]);
        }

        let host_pool = specific_hosts.clone().unwrap_or_else(|| all_hosts.clone());
        let role_pool: Vec<&Role> = specific_roles
            .clone()
            .unwrap_or_else(|| config.roles.iter().collect());
        let mut selected_roles: Vec<&Role> = role_pool
            .into_iter()
            .filter(|role| role.hosts().iter().any(|host| host_pool.contains(host)))
            .collect();

        let mut selected_hosts = host_pool.clone();
        if let Some(roles) = &specific_roles {
            let role_hosts: Vec<String> = roles.iter().flat_map(|role| role.hosts()).collect();
            if !role_hosts.is_empty() {
                selected_hosts.retain(|host| role_hosts.contains(host));
            }
        }

        let primary_or_first = |roles: &[&Role]| -> Option<String> {
            roles
                .iter()
                .find(|role| role.name == config.primary_role_name())
                .or_else(|| roles.first())
                .map(|role| role.name.clone())
        };
        let primary_specific_role = if selected_roles.is_empty() {
            None
        } else {
            primary_or_first(&selected_roles)
        };
        let primary_host = specific_hosts
            .as_ref()
            .and_then(|hosts| hosts.first().cloned())
            .or_else(|| {
                primary_specific_role
                    .as_ref()
                    .and_then(|name| config.role(name)?.primary_host())
            })
            .or_else(|| config.primary_host());
        let roles_on_primary: Vec<&Role> = selected_roles
            .iter()
            .copied()
            .filter(|role| {
                primary_host
                    .as_ref()
                    .is_some_and(|host| role.hosts().contains(host))
            })
            .collect();
        let primary_role = primary_or_first(&roles_on_primary);

        // Stable sorts: the primary role first; the primary role's hosts first.
        selected_roles.sort_by_key(|role| Some(&role.name) != primary_role.as_ref());
        if let Some(role) = primary_role.as_ref().and_then(|name| config.role(name)) {
            let primary_hosts = role.hosts();
            selected_hosts.sort_by_key(|host| !primary_hosts.contains(host));
        }
        Ok(Specifics {
            hosts: selected_hosts,
            roles: selected_roles.iter().map(|role| role.name.clone()).collect(),
            primary_host,
            primary_role,
        })
    }
}

/// Ruby's `File.fnmatch(pattern, text, File::FNM_EXTGLOB)`: `*`, `?`, `[set]`, `{a,b}`.
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    expand_braces(pattern)
        .iter()
        .any(|alternative| glob(alternative.as_bytes(), text.as_bytes()))
}

fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else {
        return vec![pattern.to_string()];
    };
    let Some(close_offset) = pattern[open..].find('}') else {
        return vec![pattern.to_string()];
    };
    let close = open + close_offset;
    let (head, body, tail) = (&pattern[..open], &pattern[open + 1..close], &pattern[close + 1..]);
    body.split(',')
        .flat_map(|choice| expand_braces(&format!("{head}{choice}{tail}")))
        .collect()
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some(b'*') => (0..=text.len()).any(|skip| glob(&pattern[1..], &text[skip..])),
        Some(b'?') => !text.is_empty() && glob(&pattern[1..], &text[1..]),
        Some(b'[') => {
            let Some(end) = pattern.iter().position(|&byte| byte == b']') else {
                return text.first() == Some(&b'[') && glob(&pattern[1..], &text[1..]);
            };
            let Some(&character) = text.first() else {
                return false;
            };
            let set = &pattern[1..end];
            let (negated, set) = match set.first() {
                Some(b'!') | Some(b'^') => (true, &set[1..]),
                _ => (false, set),
            };
            let mut found = false;
            let mut index = 0;
            while index < set.len() {
                if index + 2 < set.len() && set[index + 1] == b'-' {
                    found |= set[index] <= character && character <= set[index + 2];
                    index += 3;
                } else {
                    found |= set[index] == character;
                    index += 1;
                }
            }
            found != negated && glob(&pattern[end + 1..], &text[1..])
        }
        Some(&byte) => text.first() == Some(&byte) && glob(&pattern[1..], &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_supports_kamals_wildcards() {
        assert!(fnmatch("1.1.1.*", "1.1.1.2"));
        assert!(!fnmatch("1.1.1.*", "1.1.2.1"));
        assert!(fnmatch("web-?", "web-1"));
        assert!(fnmatch("{a,b}.example.com", "b.example.com"));
        assert!(fnmatch("host[12]", "host2"));
        assert!(!fnmatch("host[!12]", "host2"));
    }

    #[test]
    fn filter_keeps_filter_order_and_uniqueness() {
        let items: Vec<String> = ["1.1.1.1", "1.1.1.2", "2.2.2.2"].map(String::from).to_vec();
        let filters: Vec<String> = ["2.2.2.2", "1.1.1.*", "1.1.1.1"].map(String::from).to_vec();
        assert_eq!(
            filter_items(&filters, &items),
            vec!["2.2.2.2", "1.1.1.1", "1.1.1.2"]
        );
    }
}
