//! Text shipped inside the binary: the pages printed by `kamal docs [SECTION]`
//! and the files `kamal init` writes (the starter `config/deploy.yml`,
//! `.kamal/secrets` and the sample hooks). The texts live under
//! `crates/kamal/assets/` so they can be read and reviewed as the files users
//! see; this module only embeds them and looks them up. Writing them to disk
//! belongs to the `init` command.
//!
//! Each docs page is a commented example whose keys and value types mirror
//! the real configuration, like Kamal's own pages, so the configuration
//! validator can use the pages as its schema. Where a page shows a named
//! entry, the names match the ones Kamal's validator looks up:
//! `servers/workers` (role.yml), `accessories/mysql` (accessory.yml) and
//! `aliases/uname` (alias.yml). A value of `...` marks a section documented
//! on its own page.

/// Sections accepted by `kamal docs SECTION`, in the order Kamal lists them.
/// `configuration` is deliberately absent: Kamal prints that page only for a
/// bare `kamal docs` and answers "No documentation found for configuration"
/// otherwise. `output` joins the list with Kamal 2.12.
pub const DOC_SECTIONS: &[&str] = &[
    "accessory",
    "alias",
    "boot",
    "builder",
    "env",
    "logging",
    "proxy",
    "registry",
    "role",
    "servers",
    "ssh",
    "sshkit",
];

/// The overview printed by a bare `kamal docs`.
const CONFIGURATION_DOCUMENTATION: &str = include_str!("../assets/docs/configuration.yml");

/// One page per entry of [`DOC_SECTIONS`], same order.
const SECTION_DOCUMENTATION: &[(&str, &str)] = &[
    ("accessory", include_str!("../assets/docs/accessory.yml")),
    ("alias", include_str!("../assets/docs/alias.yml")),
    ("boot", include_str!("../assets/docs/boot.yml")),
    ("builder", include_str!("../assets/docs/builder.yml")),
    ("env", include_str!("../assets/docs/env.yml")),
    ("logging", include_str!("../assets/docs/logging.yml")),
    ("proxy", include_str!("../assets/docs/proxy.yml")),
    ("registry", include_str!("../assets/docs/registry.yml")),
    ("role", include_str!("../assets/docs/role.yml")),
    ("servers", include_str!("../assets/docs/servers.yml")),
    ("ssh", include_str!("../assets/docs/ssh.yml")),
    ("sshkit", include_str!("../assets/docs/sshkit.yml")),
];

/// The page `kamal docs [SECTION]` prints verbatim: the overview without a
/// section, the section's page otherwise, and `None` for anything else
/// (including `configuration`, as in Kamal), which the caller reports as
/// `No documentation found for <section>`.
pub fn documentation(section: Option<&str>) -> Option<&'static str> {
    let Some(section) = section else {
        return Some(CONFIGURATION_DOCUMENTATION);
    };
    SECTION_DOCUMENTATION
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(_, text)| *text)
}

/// `config/deploy.yml` as written by `kamal init`.
pub const DEPLOY_TEMPLATE: &str = include_str!("../assets/init/deploy.yml");

/// `.kamal/secrets` as written by `kamal init`.
pub const SECRETS_TEMPLATE: &str = include_str!("../assets/init/secrets");

/// The sample hooks `kamal init` copies into `.kamal/hooks`, as
/// (file name, contents). They must be written executable (0755), as Kamal
/// does, so that renaming one is all it takes to enable it.
pub const SAMPLE_HOOKS: &[(&str, &str)] = &[
    (
        "docker-setup.sample",
        include_str!("../assets/init/hooks/docker-setup.sample"),
    ),
    (
        "post-app-boot.sample",
        include_str!("../assets/init/hooks/post-app-boot.sample"),
    ),
    (
        "post-deploy.sample",
        include_str!("../assets/init/hooks/post-deploy.sample"),
    ),
    (
        "post-proxy-reboot.sample",
        include_str!("../assets/init/hooks/post-proxy-reboot.sample"),
    ),
    (
        "pre-app-boot.sample",
        include_str!("../assets/init/hooks/pre-app-boot.sample"),
    ),
    (
        "pre-build.sample",
        include_str!("../assets/init/hooks/pre-build.sample"),
    ),
    (
        "pre-connect.sample",
        include_str!("../assets/init/hooks/pre-connect.sample"),
    ),
    (
        "pre-deploy.sample",
        include_str!("../assets/init/hooks/pre-deploy.sample"),
    ),
    (
        "pre-proxy-reboot.sample",
        include_str!("../assets/init/hooks/pre-proxy-reboot.sample"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Kamal 2.12's `output` page: written ahead of time, not served yet
    /// because 2.11 rejects the `output` key.
    const OUTPUT_DOCUMENTATION: &str = include_str!("../assets/docs/output.yml");

    /// Root keys Kamal 2.11 accepts (spec §2.2), in the order the overview
    /// documents them.
    const ROOT_KEYS: &[&str] = &[
        "service",
        "image",
        "labels",
        "volumes",
        "registry",
        "servers",
        "env",
        "asset_path",
        "hooks_path",
        "hooks_output",
        "secrets_path",
        "error_pages_path",
        "require_destination",
        "primary_role",
        "allow_empty_roles",
        "retain_containers",
        "minimum_version",
        "readiness_delay",
        "deploy_timeout",
        "drain_timeout",
        "run_directory",
        "ssh",
        "builder",
        "accessories",
        "proxy",
        "sshkit",
        "boot",
        "logging",
        "aliases",
    ];

    /// Checks the small block-style subset of YAML the assets are written in
    /// and returns every mapping key as a `/`-joined path (`-` stands for a
    /// sequence item). This file compiles without dependencies, so this is
    /// a shape check, not a parser: no tabs, two-space indentation, every
    /// content line is `key:`, `key: value` or `- item`, no duplicate keys,
    /// no block key left empty, quotes and flow brackets closed.
    fn key_paths(text: &str) -> Result<Vec<String>, String> {
        #[derive(PartialEq)]
        enum Kind {
            Unknown,
            Mapping,
            Sequence,
        }
        struct Scope {
            indent: usize,
            path: String,
            kind: Kind,
            keys: Vec<String>,
        }
        fn join(path: &str, key: &str) -> String {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}/{key}")
            }
        }
        // Splits `key: value` / `key:`; None when the text is a plain value.
        fn split_key(text: &str) -> Option<(&str, &str)> {
            if let Some(key) = text.strip_suffix(':') {
                if !key.contains(": ") {
                    return Some((key, ""));
                }
            }
            let (key, value) = text.split_once(": ")?;
            Some((key, value.trim_start()))
        }
        fn check_key(key: &str) -> Result<(), String> {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "_-./<>".contains(c);
            if key.is_empty() || key.starts_with('-') || !key.chars().all(allowed) {
                return Err(format!("invalid key {key:?}"));
            }
            Ok(())
        }
        fn check_value(value: &str) -> Result<(), String> {
            let value = match value.find(" #") {
                Some(comment) if !value.starts_with(['"', '\'']) => value[..comment].trim_end(),
                _ => value,
            };
            let closed = |open: char, close: char| {
                !value.starts_with(open) || (value.len() > 1 && value.ends_with(close))
            };
            if !closed('"', '"') || !closed('\'', '\'') || !closed('[', ']') || !closed('{', '}') {
                return Err(format!("unclosed value {value:?}"));
            }
            if value.starts_with(['&', '*', '!', '|', '>', '%', '@', '`']) {
                return Err(format!("unsupported value {value:?}"));
            }
            let quoted = value.starts_with(['"', '\'', '[', '{']);
            if !quoted && value.contains(": ") {
                return Err(format!("plain value with \": \" {value:?}"));
            }
            Ok(())
        }

        let mut stack = vec![Scope {
            indent: 0,
            path: String::new(),
            kind: Kind::Unknown,
            keys: vec![],
        }];
        let mut paths = Vec::new();
        // Set by `key:` with nothing after it: the next line must open its block.
        let mut open_block: Option<(usize, String)> = None;

        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let at = |message: String| format!("line {number}: {message}");
            if line.contains('\t') {
                return Err(at("tab character".into()));
            }
            let rest = line.trim_start_matches(' ');
            if rest.is_empty() || rest.starts_with('#') {
                continue;
            }
            let indent = line.len() - rest.len();
            if indent % 2 != 0 {
                return Err(at("odd indentation".into()));
            }
            if let Some((parent_indent, path)) = open_block.take() {
                if indent <= parent_indent {
                    return Err(at(format!("empty block for {path}")));
                }
                stack.push(Scope {
                    indent,
                    path,
                    kind: Kind::Unknown,
                    keys: vec![],
                });
            }
            while stack.last().is_some_and(|scope| scope.indent > indent) {
                stack.pop();
            }
            let Some(scope) = stack.last_mut() else {
                return Err(at("indentation below the root".into()));
            };
            if scope.indent != indent {
                return Err(at("indentation does not match any block".into()));
            }

            let (kind, entry) = match rest.strip_prefix("- ") {
                Some(item) => (Kind::Sequence, item),
                None if rest == "-" => return Err(at("empty sequence item".into())),
                None => (Kind::Mapping, rest),
            };
            if scope.kind == Kind::Unknown {
                scope.kind = kind;
            } else if scope.kind != kind {
                return Err(at("keys and sequence items mixed in one block".into()));
            }
            let scope_path = scope.path.clone();

            let Some((key, value)) = split_key(entry) else {
                if scope.kind == Kind::Mapping {
                    return Err(at(format!("expected `key:` or `key: value`, found {entry:?}")));
                }
                check_value(entry).map_err(at)?;
                continue;
            };
            check_key(key).map_err(at)?;
            // A `- key: value` item starts a mapping whose other keys sit two
            // columns further in, aligned with the first one.
            let (mapping_indent, mapping_path) = if scope.kind == Kind::Sequence {
                let item_path = join(&scope_path, "-");
                stack.push(Scope {
                    indent: indent + 2,
                    path: item_path.clone(),
                    kind: Kind::Mapping,
                    keys: vec![],
                });
                (indent + 2, item_path)
            } else {
                (indent, scope_path)
            };
            let Some(mapping) = stack.last_mut() else {
                return Err(at("lost the current block".into()));
            };
            if mapping.keys.iter().any(|seen| seen == key) {
                return Err(at(format!("duplicate key {key}")));
            }
            mapping.keys.push(key.to_string());
            let path = join(&mapping_path, key);
            if value.is_empty() {
                open_block = Some((mapping_indent, path.clone()));
            } else {
                check_value(value).map_err(at)?;
            }
            paths.push(path);
        }
        if let Some((_, path)) = open_block {
            return Err(format!("end of file: empty block for {path}"));
        }
        Ok(paths)
    }

    fn root_keys(text: &str) -> Vec<String> {
        let paths = key_paths(text).expect("key paths");
        paths.into_iter().filter(|path| !path.contains('/')).collect()
    }

    #[test]
    fn every_section_has_a_page() {
        let names: Vec<&str> = SECTION_DOCUMENTATION.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, DOC_SECTIONS);
        for section in DOC_SECTIONS {
            let text = documentation(Some(section)).expect("page");
            assert!(text.trim().len() > 200, "{section} page is too short");
        }
    }

    #[test]
    fn bare_docs_prints_the_overview_and_only_known_sections_resolve() {
        assert_eq!(documentation(None), Some(CONFIGURATION_DOCUMENTATION));
        assert_eq!(documentation(Some("configuration")), None);
        assert_eq!(documentation(Some("output")), None);
        assert_eq!(documentation(Some("Proxy")), None);
        assert_eq!(documentation(Some("")), None);
    }

    #[test]
    fn every_page_has_the_expected_shape() {
        let pages = SECTION_DOCUMENTATION.iter().copied().chain([
            ("configuration", CONFIGURATION_DOCUMENTATION),
            ("output", OUTPUT_DOCUMENTATION),
        ]);
        for (name, text) in pages {
            if let Err(error) = key_paths(text) {
                panic!("docs/{name}.yml: {error}");
            }
        }
    }

    #[test]
    fn each_page_documents_its_own_section() {
        fn expected_root(section: &str) -> &str {
            match section {
                "accessory" => "accessories",
                "alias" => "aliases",
                "role" => "servers",
                other => other,
            }
        }
        for (section, text) in SECTION_DOCUMENTATION {
            assert_eq!(root_keys(text), [expected_root(section)], "docs/{section}.yml");
        }
        assert_eq!(root_keys(OUTPUT_DOCUMENTATION), ["output"]);
    }

    #[test]
    fn overview_documents_every_root_key() {
        assert_eq!(root_keys(CONFIGURATION_DOCUMENTATION), ROOT_KEYS);
    }

    #[test]
    fn schema_entries_use_the_names_the_validator_looks_up() {
        let all: Vec<String> = SECTION_DOCUMENTATION
            .iter()
            .flat_map(|(_, text)| key_paths(text).expect("key paths"))
            .collect();
        for path in [
            "servers/workers/hosts",
            "accessories/mysql/image",
            "aliases/uname",
        ] {
            assert!(all.iter().any(|seen| seen == path), "missing {path}");
        }
    }

    #[test]
    fn keys_added_in_kamal_2_12_appear_only_in_comments() {
        for (section, text) in SECTION_DOCUMENTATION
            .iter()
            .chain([&("configuration", CONFIGURATION_DOCUMENTATION)])
        {
            for path in key_paths(text).expect("key paths") {
                let key = path.rsplit('/').next().unwrap_or(&path);
                assert!(
                    !matches!(key, "stop_timeout" | "forward_agent" | "output"),
                    "docs/{section}.yml has the 2.12 key {path}"
                );
            }
        }
    }

    #[test]
    fn all_nine_sample_hooks_are_posix_shell_scripts() {
        let names: Vec<&str> = SAMPLE_HOOKS.iter().map(|(name, _)| *name).collect();
        let mut expected = [
            "pre-connect",
            "pre-build",
            "pre-deploy",
            "post-deploy",
            "pre-app-boot",
            "post-app-boot",
            "pre-proxy-reboot",
            "post-proxy-reboot",
            "docker-setup",
        ]
        .map(|hook| format!("{hook}.sample"));
        expected.sort();
        assert_eq!(names, expected);
        for (name, text) in SAMPLE_HOOKS {
            assert!(
                text.starts_with("#!/usr/bin/env sh\n"),
                "{name} has the wrong shebang"
            );
            assert!(
                text.contains("KAMAL_HOSTS"),
                "{name} does not document KAMAL_HOSTS"
            );
        }
    }

    #[test]
    fn only_hooks_given_secrets_say_so() {
        for (name, text) in SAMPLE_HOOKS {
            let with_secrets = matches!(
                *name,
                "pre-connect.sample" | "pre-deploy.sample" | "post-deploy.sample"
            );
            assert_eq!(text.contains("every secret"), with_secrets, "{name}");
            assert_eq!(
                text.contains("KAMAL_RUNTIME"),
                *name == "post-deploy.sample",
                "{name}"
            );
        }
    }

    #[test]
    fn deploy_template_is_a_valid_starting_point() {
        let paths = key_paths(DEPLOY_TEMPLATE).expect("key paths");
        for path in [
            "service",
            "image",
            "servers/web",
            "proxy/host",
            "registry/password",
            "builder/arch",
        ] {
            assert!(paths.iter().any(|seen| seen == path), "missing {path}");
        }
        assert!(DEPLOY_TEMPLATE.contains("password:\n    - KAMAL_REGISTRY_PASSWORD\n"));
        assert!(SECRETS_TEMPLATE.contains("\nKAMAL_REGISTRY_PASSWORD=$KAMAL_REGISTRY_PASSWORD\n"));
        assert!(SECRETS_TEMPLATE.contains("$(kamal secrets fetch "));
        assert!(SECRETS_TEMPLATE.contains("$(cat config/master.key)"));
    }

    #[test]
    fn shape_check_rejects_what_a_yaml_loader_would() {
        assert!(key_paths("a:\n  b: 1\n  b: 2\n").is_err());
        assert!(key_paths("a:\n\tb: 1\n").is_err());
        assert!(key_paths("a:\nb: 1\n").is_err());
        assert!(key_paths("a: [1, 2\n").is_err());
        assert!(key_paths("a:\n  - x\n  b: 1\n").is_err());
        assert!(key_paths("a: b: c\n").is_err());
        assert_eq!(
            key_paths("a:\n  - k: 1\n    m: 2\n  - k: 3\nb: x  # note\n").expect("key paths"),
            ["a", "a/-/k", "a/-/m", "a/-/k", "b"]
        );
    }
}
