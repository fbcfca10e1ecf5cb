//! The routing table (§3.2–3.4): which service answers a host and path.
//!
//! Pure data: built from every service's normalised hosts and prefixes, rebuilt whenever a service changes, and
//! looked up once per request. Exact host beats a one-label wildcard beats the catch-all; once a host entry is
//! chosen there is no fall-through, so an unmatched path there is a 404.

use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    prefix: String,
    service: String,
}

/// A match: the service name and the prefix it matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'a> {
    pub service: &'a str,
    pub prefix: &'a str,
}

#[derive(Debug, Default, Clone)]
pub struct RoutingTable {
    bindings: HashMap<String, Vec<Binding>>,
    /// The wildcard entries again, keyed without the `*` (`.example.com`), so a lookup needs no new string.
    wildcards: HashMap<String, Vec<Binding>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host settings conflict with another service")]
pub struct HostConflict {
    pub other_service: String,
}

impl RoutingTable {
    /// Builds the table from `(service, hosts, prefixes)`, all normalised (§3.1).
    pub fn build<'a>(services: impl IntoIterator<Item = (&'a str, &'a [String], &'a [String])>) -> Self {
        let mut bindings: HashMap<String, Vec<Binding>> = HashMap::new();
        for (service, hosts, prefixes) in services {
            for host in hosts {
                for prefix in prefixes {
                    bindings.entry(host.clone()).or_default().push(Binding {
                        prefix: prefix.clone(),
                        service: service.to_string(),
                    });
                }
            }
        }
        for list in bindings.values_mut() {
            // Longest prefix first; ties broken by name so the table does not depend on map order.
            list.sort_by(|a, b| {
                b.prefix
                    .len()
                    .cmp(&a.prefix.len())
                    .then_with(|| a.service.cmp(&b.service))
            });
        }
        let wildcards = bindings
            .iter()
            .filter_map(|(host, list)| Some((host.strip_prefix('*')?.to_string(), list.clone())))
            .collect();
        Self { bindings, wildcards }
    }

    /// §3.4: the same exact host string and prefix bound to a different service name.
    pub fn check_conflicts(
        &self,
        service: &str,
        hosts: &[String],
        prefixes: &[String],
    ) -> Result<(), HostConflict> {
        for host in hosts {
            let Some(list) = self.bindings.get(host) else {
                continue;
            };
            for prefix in prefixes {
                if let Some(other) = list.iter().find(|b| &b.prefix == prefix && b.service != service) {
                    return Err(HostConflict {
                        other_service: other.service.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Looks up `host` (a port is removed) and the decoded request `path`.
    pub fn lookup(&self, host: &str, path: &str) -> Option<Route<'_>> {
        let host = strip_port(host);
        let list = self.bindings_for_host(host)?;
        list.iter()
            .find(|binding| prefix_matches(path, &binding.prefix))
            .map(|binding| Route {
                service: &binding.service,
                prefix: &binding.prefix,
            })
    }

    fn bindings_for_host(&self, host: &str) -> Option<&Vec<Binding>> {
        if let Some(list) = self.bindings.get(host) {
            return Some(list);
        }
        // One label only: `a.b.example.com` tries `*.b.example.com` and nothing else.
        if let Some(dot) = host.get(1..).and_then(|rest| rest.find('.')) {
            if let Some(list) = self.wildcards.get(&host[dot + 1..]) {
                return Some(list);
            }
        }
        self.bindings.get("")
    }
}

/// Removes `:port` the way Go does: only when a colon appears after the first character and the rest splits.
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) if host[end + 1..].starts_with(':') || end + 1 == host.len() => &host[1..end],
            _ => host,
        };
    }
    match host.rfind(':') {
        Some(index) if index > 0 && !host[..index].contains(':') => &host[..index],
        _ => host,
    }
}

/// Segment-boundary prefix match: `/app` matches `/app`, `/app/`, `/app/x`, never `/appointment`.
/// (Both sides compared as if they ended in `/`, without building those strings.)
pub fn prefix_matches(path: &str, prefix: &str) -> bool {
    let core = prefix.strip_suffix('/').unwrap_or(prefix);
    if !path.starts_with(core) {
        return false;
    }
    match path.as_bytes().get(core.len()) {
        Some(b'/') => true,
        None => !path.ends_with('/'),
        Some(_) => false,
    }
}

/// The upstream path once `prefix` is stripped (§3.3): `/app/show` → `/show`, `/app` → `/`.
pub fn strip_prefix<'a>(path: &'a str, prefix: &str) -> std::borrow::Cow<'a, str> {
    if prefix == "/" {
        return std::borrow::Cow::Borrowed(path);
    }
    match path.strip_prefix(prefix) {
        Some("") => std::borrow::Cow::Borrowed("/"),
        Some(rest) => std::borrow::Cow::Borrowed(rest),
        None => std::borrow::Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    fn table(services: &[(&str, &[&str], &[&str])]) -> RoutingTable {
        let owned: Vec<(String, Vec<String>, Vec<String>)> = services
            .iter()
            .map(|(name, hosts, prefixes)| (name.to_string(), strings(hosts), strings(prefixes)))
            .collect();
        RoutingTable::build(
            owned
                .iter()
                .map(|(n, h, p)| (n.as_str(), h.as_slice(), p.as_slice())),
        )
    }

    fn service<'a>(table: &'a RoutingTable, host: &str, path: &str) -> Option<&'a str> {
        table.lookup(host, path).map(|route| route.service)
    }

    #[test]
    fn empty_table_matches_nothing() {
        assert_eq!(service(&RoutingTable::default(), "example.com", "/"), None);
    }

    #[test]
    fn prefix_matches_compares_as_if_both_ended_in_a_slash() {
        let reference = |path: &str, prefix: &str| {
            let slashed = |text: &str| {
                if text.ends_with('/') {
                    text.to_string()
                } else {
                    format!("{text}/")
                }
            };
            slashed(path).starts_with(&slashed(prefix))
        };
        let samples = [
            "", "/", "//", "/app", "/app/", "/app/x", "/appx", "/ap", "app", "/app//", "/x/app",
        ];
        for path in samples {
            for prefix in samples {
                assert_eq!(
                    prefix_matches(path, prefix),
                    reference(path, prefix),
                    "{path:?} {prefix:?}"
                );
            }
        }
    }

    #[test]
    fn exact_beats_wildcard_beats_default() {
        let table = table(&[
            ("exact", &["app.example.com"], &["/"]),
            ("wild", &["*.example.com"], &["/"]),
            ("default", &[""], &["/"]),
        ]);
        assert_eq!(service(&table, "app.example.com", "/"), Some("exact"));
        assert_eq!(service(&table, "other.example.com", "/x"), Some("wild"));
        assert_eq!(service(&table, "example.com", "/"), Some("default"));
        // Wildcards cover one label only.
        assert_eq!(service(&table, "a.b.example.com", "/"), Some("default"));
        assert_eq!(service(&table, "app.example.com:8080", "/"), Some("exact"));
        // Host matching is case-sensitive and byte-exact.
        assert_eq!(service(&table, "APP.example.com", "/"), Some("wild"));
    }

    #[test]
    fn no_fall_through_from_an_exact_host() {
        let table = table(&[
            ("paths", &["example.com"], &["/first", "/second"]),
            ("default", &[""], &["/"]),
        ]);
        assert_eq!(service(&table, "example.com", "/first/x"), Some("paths"));
        assert_eq!(service(&table, "example.com", "/"), None);
        assert_eq!(service(&table, "example.com", "/third"), None);
    }

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let table = table(&[
            ("root", &["example.com"], &["/"]),
            ("api", &["example.com"], &["/api"]),
            ("special", &["example.com"], &["/api/special"]),
            ("app", &["example.com"], &["/app"]),
        ]);
        assert_eq!(service(&table, "example.com", "/apiary"), Some("root"));
        assert_eq!(service(&table, "example.com", "/api"), Some("api"));
        assert_eq!(service(&table, "example.com", "/api/x"), Some("api"));
        assert_eq!(service(&table, "example.com", "/api/special/y"), Some("special"));
        assert_eq!(service(&table, "example.com", "/appointment"), Some("root"));
        assert_eq!(service(&table, "example.com", "/app/"), Some("app"));
    }

    #[test]
    fn conflicts_need_same_host_and_prefix_on_another_service() {
        let table = table(&[("one", &["example.com"], &["/"]), ("all", &[""], &["/"])]);
        let check = |name: &str, hosts: &[&str], prefixes: &[&str]| {
            table.check_conflicts(name, &strings(hosts), &strings(prefixes))
        };
        assert_eq!(
            check("two", &["example.com"], &["/"]),
            Err(HostConflict {
                other_service: "one".into()
            })
        );
        assert_eq!(
            check("two", &[""], &["/"]),
            Err(HostConflict {
                other_service: "all".into()
            })
        );
        assert_eq!(check("one", &["example.com"], &["/"]), Ok(()));
        assert_eq!(check("two", &["example.com"], &["/api"]), Ok(()));
        assert_eq!(check("two", &["*.example.com"], &["/"]), Ok(()));
    }

    #[test]
    fn strips_prefixes() {
        assert_eq!(strip_prefix("/app/show", "/app"), "/show");
        assert_eq!(strip_prefix("/app", "/app"), "/");
        assert_eq!(
            strip_prefix("/api/internal/something", "/api/internal"),
            "/something"
        );
        assert_eq!(strip_prefix("/x", "/"), "/x");
    }

    #[test]
    fn strips_ports() {
        assert_eq!(strip_port("example.com:80"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port(":80"), ":80");
        assert_eq!(strip_port("[::1]:80"), "::1");
    }
}
