//! Each command's flags, defaults, checks and request (§1.2–1.4), and the help text cobra would print.

use std::io::Write;

use super::flags::{self, FlagKind, FlagSpec, ParsedFlags};
use super::list;
use crate::control::client;
use crate::control::protocol::{DeployArgs, PauseArgs, Request, RolloutDeployArgs, RolloutSetArgs, StopArgs};
use crate::paths::{self, Environment};
use crate::server::{self, RunSettings, Server};
use crate::service::options::{
    DeploymentOptions, HealthCheckConfig, ServiceOptions, TargetOptions, ACME_STAGING_DIRECTORY,
};

struct Command {
    name: &'static str,
    aliases: &'static [&'static str],
    short: &'static str,
    usage: &'static str,
    /// Exact positional count; `None` for commands with subcommands.
    args: Option<usize>,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "deploy",
        aliases: &[],
        short: "Deploy a target host",
        usage: "deploy <service>",
        args: Some(1),
    },
    Command {
        name: "list",
        aliases: &["ls"],
        short: "List the services currently running",
        usage: "list",
        args: Some(0),
    },
    Command {
        name: "pause",
        aliases: &[],
        short: "Pause a service",
        usage: "pause <service>",
        args: Some(1),
    },
    Command {
        name: "remove",
        aliases: &["rm"],
        short: "Remove the service",
        usage: "remove <service>",
        args: Some(1),
    },
    Command {
        name: "resume",
        aliases: &[],
        short: "Resume a service",
        usage: "resume <service>",
        args: Some(1),
    },
    Command {
        name: "rollout",
        aliases: &[],
        short: "Set up and manage rollouts",
        usage: "rollout",
        args: None,
    },
    Command {
        name: "run",
        aliases: &[],
        short: "Run the server",
        usage: "run",
        args: Some(0),
    },
    Command {
        name: "stop",
        aliases: &[],
        short: "Stop a service",
        usage: "stop <service>",
        args: Some(1),
    },
];

const ROLLOUT_COMMANDS: &[Command] = &[
    Command {
        name: "deploy",
        aliases: &[],
        short: "Deploy the rollout target",
        usage: "rollout deploy <service>",
        args: Some(1),
    },
    Command {
        name: "set",
        aliases: &[],
        short: "Set the rollout split",
        usage: "rollout set <service>",
        args: Some(1),
    },
    Command {
        name: "stop",
        aliases: &[],
        short: "Stop the rollout",
        usage: "rollout stop <service>",
        args: Some(1),
    },
];

fn specs_for(path: &str, environment: &dyn Environment) -> Vec<FlagSpec> {
    use FlagKind::*;
    let drain = FlagSpec::new(
        "drain-timeout",
        Duration,
        "30s",
        "Maximum time to allow existing connections to drain before removing old target",
    );
    match path {
        "run" => run_specs(environment),
        "deploy" => {
            let cache = paths::data_directory(environment)
                .join("certs")
                .display()
                .to_string();
            vec![
                FlagSpec::new("target", StringSlice, "", "Target host(s) to deploy"),
                FlagSpec::new(
                    "read-target",
                    StringSlice,
                    "",
                    "Read-only target host(s) to deploy",
                ),
                FlagSpec::new(
                    "host",
                    StringSlice,
                    "",
                    "Host(s) to serve this target on (empty for wildcard)",
                ),
                FlagSpec::new(
                    "path-prefix",
                    StringSlice,
                    "",
                    "Deploy the service below the specified path(s)",
                ),
                FlagSpec::new(
                    "strip-path-prefix",
                    Bool,
                    "true",
                    "With --path-prefix, strip prefix from request before forwarding",
                ),
                FlagSpec::new(
                    "tls",
                    Bool,
                    "false",
                    "Configure TLS for this target (requires a non-empty host)",
                ),
                FlagSpec::new(
                    "tls-on-demand-url",
                    String,
                    "",
                    "Path or URL that approves on-demand certificates",
                ),
                FlagSpec::new(
                    "tls-staging",
                    Bool,
                    "false",
                    "Use Let's Encrypt staging environment for certificate provisioning",
                ),
                FlagSpec::new(
                    "tls-certificate-path",
                    String,
                    "",
                    "Configure custom TLS certificate path (PEM format)",
                ),
                FlagSpec::new(
                    "tls-private-key-path",
                    String,
                    "",
                    "Configure custom TLS private key path (PEM format)",
                ),
                FlagSpec::new(
                    "tls-acme-cache-path",
                    String,
                    &cache,
                    "Root directory of the ACME certificate cache",
                ),
                FlagSpec::new("tls-redirect", Bool, "true", "Redirect HTTP traffic to HTTPS"),
                FlagSpec::new(
                    "canonical-host",
                    String,
                    "",
                    "Redirect every other host to this one",
                ),
                FlagSpec::new(
                    "deploy-timeout",
                    Duration,
                    "30s",
                    "Maximum time to wait for the new target to become healthy",
                ),
                drain,
                FlagSpec::new(
                    "force",
                    Bool,
                    "false",
                    "Skip waiting for the new targets to become healthy",
                ),
                FlagSpec::new(
                    "health-check-interval",
                    Duration,
                    "1s",
                    "Interval between health checks",
                ),
                FlagSpec::new(
                    "health-check-timeout",
                    Duration,
                    "5s",
                    "Time each health check must complete in",
                ),
                FlagSpec::new("health-check-path", String, "/up", "Path to check for health"),
                FlagSpec::new(
                    "health-check-port",
                    Int,
                    "0",
                    "Port to check for health (0 for the target's port)",
                ),
                FlagSpec::new(
                    "health-check-host",
                    String,
                    "",
                    "Host header to send with health checks",
                ),
                FlagSpec::new(
                    "writer-affinity-timeout",
                    Duration,
                    "1s",
                    "Time after a write before read requests go to readers",
                ),
                FlagSpec::new(
                    "read-target-websockets",
                    Bool,
                    "false",
                    "Route WebSocket traffic to read targets",
                ),
                FlagSpec::new(
                    "target-timeout",
                    Duration,
                    "30s",
                    "Maximum time to wait for the target to respond",
                ),
                FlagSpec::new("buffer-requests", Bool, "false", "Enable request buffering"),
                FlagSpec::new("buffer-responses", Bool, "false", "Enable response buffering"),
                FlagSpec::new("buffer-memory", Int, "1048576", "Max size of memory buffer"),
                FlagSpec::new(
                    "max-request-body",
                    Int,
                    "0",
                    "Max size of request body when buffering (default of 0 means unlimited)",
                ),
                FlagSpec::new(
                    "max-response-body",
                    Int,
                    "0",
                    "Max size of response body when buffering (default of 0 means unlimited)",
                ),
                FlagSpec::new("error-pages", String, "", "Path to custom error pages"),
                FlagSpec::new(
                    "log-request-header",
                    StringSlice,
                    "",
                    "Additional request header to log (may be specified multiple times)",
                ),
                FlagSpec::new(
                    "log-response-header",
                    StringSlice,
                    "",
                    "Additional response header to log (may be specified multiple times)",
                ),
                FlagSpec::new(
                    "exclude-metrics-path",
                    StringSlice,
                    "",
                    "Upstream path to leave out of metrics",
                ),
                FlagSpec::new(
                    "forward-headers",
                    Bool,
                    "false",
                    "Forward X-Forwarded headers to target (default false if TLS enabled; otherwise true)",
                ),
                FlagSpec::new(
                    "client-ip-header",
                    String,
                    "",
                    "Header whose value replaces X-Forwarded-For",
                ),
                FlagSpec::new(
                    "scope-cookie-paths",
                    Bool,
                    "false",
                    "Scope Set-Cookie paths to the path prefix",
                ),
            ]
        }
        "pause" => vec![
            drain,
            FlagSpec::new("max-pause", Duration, "30s", "Maximum time to pause for"),
        ],
        "stop" => vec![
            drain,
            FlagSpec::new(
                "message",
                String,
                "",
                "Message to display to clients while stopped",
            ),
        ],
        "rollout deploy" => vec![
            FlagSpec::new("target", StringSlice, "", "Target host(s) to deploy"),
            FlagSpec::new(
                "read-target",
                StringSlice,
                "",
                "Read-only target host(s) to deploy",
            ),
            FlagSpec::new(
                "deploy-timeout",
                Duration,
                "30s",
                "Maximum time to wait for the new target to become healthy",
            ),
            drain,
        ],
        "rollout set" => vec![
            FlagSpec::new(
                "percent",
                Int,
                "0",
                "Percentage of traffic to send to the rollout target",
            ),
            FlagSpec::new(
                "list",
                StringSlice,
                "",
                "Comma-separated list of values to send to the rollout target",
            ),
        ],
        _ => Vec::new(),
    }
}

/// `run` flag defaults come from `KAMAL_PROXY_<KEY>`, then `<KEY>`; values that do not parse are ignored.
fn run_specs(environment: &dyn Environment) -> Vec<FlagSpec> {
    let from_environment = |key: &str, kind: FlagKind, default: &str| -> String {
        for name in [format!("KAMAL_PROXY_{key}"), key.to_string()] {
            if let Some(value) = environment.get(&name) {
                let valid = match kind {
                    FlagKind::Bool => flags::parse_bool(&value).is_ok(),
                    _ => value.parse::<i64>().is_ok(),
                };
                if valid {
                    return value;
                }
            }
        }
        default.to_string()
    };
    vec![
        FlagSpec::new(
            "debug",
            FlagKind::Bool,
            &from_environment("DEBUG", FlagKind::Bool, "false"),
            "Include debugging logs",
        ),
        FlagSpec::new(
            "http-port",
            FlagKind::Int,
            &from_environment("HTTP_PORT", FlagKind::Int, "80"),
            "Port to serve HTTP traffic on",
        ),
        FlagSpec::new(
            "https-port",
            FlagKind::Int,
            &from_environment("HTTPS_PORT", FlagKind::Int, "443"),
            "Port to serve HTTPS traffic on",
        ),
        FlagSpec::new(
            "metrics-port",
            FlagKind::Int,
            &from_environment("METRICS_PORT", FlagKind::Int, "0"),
            "Publish metrics on the specified port (default zero to disable)",
        ),
        FlagSpec::new("http3", FlagKind::Bool, "false", "Enable HTTP/3"),
    ]
}

fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn root_help() -> String {
    let mut text = String::from(
        "kamal-proxy: a minimal HTTP proxy for zero-downtime deployments\n\nUsage:\n  kamal-proxy [command]\n\nAvailable Commands:\n",
    );
    let mut entries: Vec<(&str, &str)> = COMMANDS.iter().map(|c| (c.name, c.short)).collect();
    entries.push(("help", "Help about any command"));
    entries.sort();
    for (name, short) in entries {
        text.push_str(&format!("  {name:<11} {short}\n"));
    }
    text.push_str("\nFlags:\n  -h, --help   help for kamal-proxy\n\nUse \"kamal-proxy [command] --help\" for more information about a command.\n");
    text
}

fn command_help(command: &Command, path: &str, specs: &[FlagSpec]) -> String {
    let mut text = format!("{}\n\nUsage:\n  kamal-proxy {}", command.short, command.usage);
    if command.args.is_some() {
        text.push_str(" [flags]");
    }
    text.push('\n');
    if !command.aliases.is_empty() {
        text.push_str(&format!(
            "\nAliases:\n  {}, {}\n",
            command.name,
            command.aliases.join(", ")
        ));
    }
    if path == "rollout" {
        text.push_str("\nAvailable Commands:\n");
        for sub in ROLLOUT_COMMANDS {
            text.push_str(&format!("  {:<11} {}\n", sub.name, sub.short));
        }
    }
    text.push_str("\nFlags:\n");
    let mut rows: Vec<(String, String)> = specs
        .iter()
        .map(|spec| {
            let kind = match spec.kind {
                FlagKind::Bool => "",
                FlagKind::Duration => " duration",
                FlagKind::Int => " int",
                FlagKind::String => " string",
                FlagKind::StringSlice => " strings",
            };
            let shown_default = match spec.kind {
                FlagKind::Bool if spec.default == "true" => " (default true)".to_string(),
                FlagKind::Duration | FlagKind::Int if spec.default != "0" => {
                    format!(" (default {})", spec.default)
                }
                FlagKind::String if !spec.default.is_empty() => format!(" (default \"{}\")", spec.default),
                _ => String::new(),
            };
            (
                format!("      --{}{kind}", spec.name),
                format!("{}{shown_default}", spec.usage),
            )
        })
        .collect();
    rows.push(("  -h, --help".to_string(), format!("help for {}", command.name)));
    let width = rows.iter().map(|(flag, _)| flag.len()).max().unwrap_or(0);
    for (flag, usage) in rows {
        text.push_str(&format!("{flag:<width$}   {usage}\n"));
    }
    text
}

pub async fn execute(args: Vec<String>, environment: &dyn Environment) -> Result<(), String> {
    let Some(first) = args.first() else {
        out(&root_help());
        return Ok(());
    };
    if first == "-h" || first == "--help" || first == "help" {
        let target = args.get(1).and_then(|name| find(COMMANDS, name));
        match target {
            Some(command) => out(&command_help(
                command,
                command.name,
                &specs_for(command.name, environment),
            )),
            None => out(&root_help()),
        }
        return Ok(());
    }
    if first.starts_with('-') {
        return Err(format!("unknown flag: {first}"));
    }
    let Some(mut command) = find(COMMANDS, first) else {
        return Err(format!(
            "unknown command \"{first}\" for \"kamal-proxy\"\nRun 'kamal-proxy --help' for usage."
        ));
    };
    let mut path = command.name.to_string();
    let mut rest = &args[1..];
    if command.name == "rollout" {
        match rest.first().and_then(|name| find(ROLLOUT_COMMANDS, name)) {
            Some(sub) => {
                command = sub;
                path = format!("rollout {}", sub.name);
                rest = &rest[1..];
            }
            None => {
                if let Some(name) = rest.first().filter(|name| !name.starts_with('-')) {
                    return Err(format!("unknown command \"{name}\" for \"kamal-proxy rollout\""));
                }
                out(&command_help(command, "rollout", &[]));
                return Ok(());
            }
        }
    }
    let specs = specs_for(&path, environment);
    let parsed = flags::parse(&specs, rest)?;
    if parsed.help {
        out(&command_help(command, &path, &specs));
        return Ok(());
    }
    if let Some(expected) = command.args {
        if parsed.positionals.len() != expected {
            return Err(format!(
                "accepts {expected} arg(s), received {}",
                parsed.positionals.len()
            ));
        }
    }
    let service = parsed.positionals.first().cloned().unwrap_or_default();
    let socket = paths::socket_path(environment);
    let request = match path.as_str() {
        "run" => return run(&parsed, environment).await,
        "deploy" => Request::Deploy(Box::new(deploy_args(service, &parsed)?)),
        "remove" => Request::Remove { service },
        "list" => {
            let response = client::call(&socket, &Request::List).await?;
            let services = response.services.unwrap_or_default();
            out(&list::render(&services));
            for note in list::inactive_notes(&services) {
                let _ = writeln!(std::io::stderr(), "{note}");
            }
            return Ok(());
        }
        "pause" => Request::Pause(PauseArgs {
            service,
            drain_timeout: parsed.duration("drain-timeout"),
            pause_timeout: parsed.duration("max-pause"),
        }),
        "stop" => Request::Stop(StopArgs {
            service,
            drain_timeout: parsed.duration("drain-timeout"),
            message: parsed.string("message"),
        }),
        "resume" => Request::Resume { service },
        "rollout deploy" => {
            require(&parsed, &["target"])?;
            Request::RolloutDeploy(RolloutDeployArgs {
                service,
                target_urls: parsed.strings("target"),
                reader_urls: parsed.strings("read-target"),
                deployment_options: DeploymentOptions {
                    deploy_timeout: parsed.duration("deploy-timeout"),
                    drain_timeout: parsed.duration("drain-timeout"),
                    force: false,
                },
            })
        }
        "rollout set" => {
            if !parsed.changed("percent") && !parsed.changed("list") {
                return Err("at least one of the flags in the group [percent list] is required".to_string());
            }
            Request::RolloutSet(RolloutSetArgs {
                service,
                percentage: parsed.int("percent"),
                allowlist: parsed.strings("list"),
            })
        }
        "rollout stop" => Request::RolloutStop { service },
        other => return Err(format!("unknown command \"{other}\" for \"kamal-proxy\"")),
    };
    client::call(&socket, &request).await.map(|_| ())
}

fn find<'a>(commands: &'a [Command], name: &str) -> Option<&'a Command> {
    commands
        .iter()
        .find(|command| command.name == name || command.aliases.contains(&name))
}

fn require(parsed: &ParsedFlags, names: &[&str]) -> Result<(), String> {
    let missing: Vec<String> = names
        .iter()
        .filter(|name| !parsed.changed(name))
        .map(|name| format!("\"{name}\""))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("required flag(s) {} not set", missing.join(", ")))
    }
}

fn port(parsed: &ParsedFlags, name: &str) -> Result<u16, String> {
    let value = parsed.int(name);
    u16::try_from(value)
        .map_err(|_| format!("invalid argument \"{value}\" for \"--{name}\" flag: port out of range"))
}

async fn run(parsed: &ParsedFlags, environment: &dyn Environment) -> Result<(), String> {
    let settings = RunSettings {
        debug: parsed.bool("debug"),
        http_port: port(parsed, "http-port")?,
        https_port: port(parsed, "https-port")?,
        metrics_port: port(parsed, "metrics-port")?,
        http3: parsed.bool("http3"),
        socket_path: paths::socket_path(environment),
        state_path: paths::state_file(environment),
        header_read_timeout: server::DEFAULT_HEADER_READ_TIMEOUT,
        acme_roots: Vec::new(),
        fast_path: server::fast_path_from_environment(),
    };
    let server = Server::bind(settings).await?;
    server.serve(server::termination_signal()).await;
    Ok(())
}

/// Builds the deploy request with the client-side checks of §1.3, in Go's order.
pub fn deploy_args(service: String, parsed: &ParsedFlags) -> Result<DeployArgs, String> {
    require(parsed, &["target"])?;
    let paired = ["tls-certificate-path", "tls-private-key-path"];
    let given: Vec<&str> = paired
        .iter()
        .copied()
        .filter(|name| parsed.changed(name))
        .collect();
    if !given.is_empty() && given.len() != paired.len() {
        let missing: Vec<&str> = paired
            .iter()
            .copied()
            .filter(|name| !parsed.changed(name))
            .collect();
        return Err(format!(
            "if any flags in the group [{}] are set they must all be set; missing [{}]",
            paired.join(" "),
            missing.join(" ")
        ));
    }
    if parsed.changed("max-request-body") && !parsed.changed("buffer-requests") {
        return Err("max-request-body can only be set when request buffering is enabled".to_string());
    }
    if parsed.changed("max-response-body") && !parsed.changed("buffer-responses") {
        return Err("max-response-body can only be set when response buffering is enabled".to_string());
    }
    let tls = parsed.bool("tls");
    // Worked out on the client, as in Go: the server uses whatever it receives.
    let forward_headers = if parsed.changed("forward-headers") {
        parsed.bool("forward-headers")
    } else {
        !tls
    };
    let none_if_empty = |values: Vec<String>| if values.is_empty() { None } else { Some(values) };
    let health_check_port = parsed.int("health-check-port");
    let service_options = ServiceOptions {
        hosts: parsed.strings("host"),
        path_prefixes: parsed.strings("path-prefix"),
        tls_enabled: tls,
        tls_certificate_path: parsed.string("tls-certificate-path"),
        tls_private_key_path: parsed.string("tls-private-key-path"),
        tls_on_demand_url: parsed.string("tls-on-demand-url"),
        tls_redirect: parsed.bool("tls-redirect"),
        canonical_host: parsed.string("canonical-host"),
        acme_directory: if parsed.bool("tls-staging") {
            ACME_STAGING_DIRECTORY.to_string()
        } else {
            String::new()
        },
        acme_cache_path: parsed.string("tls-acme-cache-path"),
        error_page_path: parsed.string("error-pages"),
        strip_prefix: parsed.bool("strip-path-prefix"),
        writer_affinity_timeout: parsed.duration("writer-affinity-timeout"),
        read_targets_accept_websockets: parsed.bool("read-target-websockets"),
        exclude_metrics_paths: none_if_empty(parsed.strings("exclude-metrics-path")),
        client_ip_header: parsed.string("client-ip-header"),
    };
    service_options.validate().map_err(|error| error.to_string())?;
    let target_options = TargetOptions {
        health_check_config: HealthCheckConfig {
            path: parsed.string("health-check-path"),
            port: u16::try_from(health_check_port).map_err(|_| {
                format!("invalid argument \"{health_check_port}\" for \"--health-check-port\" flag: port out of range")
            })?,
            interval: parsed.duration("health-check-interval"),
            timeout: parsed.duration("health-check-timeout"),
            host: parsed.string("health-check-host"),
        },
        response_timeout: parsed.duration("target-timeout"),
        buffer_requests: parsed.bool("buffer-requests"),
        buffer_responses: parsed.bool("buffer-responses"),
        max_memory_buffer_size: parsed.int("buffer-memory"),
        max_request_body_size: parsed.int("max-request-body"),
        max_response_body_size: parsed.int("max-response-body"),
        log_request_headers: none_if_empty(parsed.strings("log-request-header")),
        log_response_headers: none_if_empty(parsed.strings("log-response-header")),
        forward_headers,
        scope_cookie_paths: parsed.bool("scope-cookie-paths"),
    };
    Ok(DeployArgs {
        service,
        target_urls: parsed.strings("target"),
        reader_urls: parsed.strings("read-target"),
        deployment_options: DeploymentOptions {
            deploy_timeout: parsed.duration("deploy-timeout"),
            drain_timeout: parsed.duration("drain-timeout"),
            force: parsed.bool("force"),
        },
        service_options,
        target_options,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse_deploy(arguments: &[&str]) -> Result<DeployArgs, String> {
        let environment: HashMap<String, String> = HashMap::new();
        let arguments: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
        let parsed = flags::parse(&specs_for("deploy", &environment), &arguments)?;
        deploy_args(parsed.positionals.first().cloned().unwrap_or_default(), &parsed)
    }

    #[test]
    fn kamal_deploy_line_parses() {
        let args = parse_deploy(&[
            "app-web",
            "--target=\"app-web-123:80\"".trim_matches('"'),
            "--host=a.example.com",
            "--host=b.example.com",
            "--deploy-timeout=30s",
            "--drain-timeout=30s",
            "--buffer-requests=true",
            "--buffer-responses=true",
            "--log-request-header=Cache-Control",
            "--log-request-header=Last-Modified",
            "--log-request-header=User-Agent",
        ])
        .expect("parses");
        assert_eq!(args.target_urls, vec!["app-web-123:80"]);
        assert_eq!(args.service_options.hosts, vec!["a.example.com", "b.example.com"]);
        assert!(
            args.target_options.forward_headers,
            "forward headers defaults to !tls"
        );
        assert!(args.service_options.strip_prefix);
        assert!(args.service_options.tls_redirect);
        assert_eq!(args.target_options.log_request_headers.map(|h| h.len()), Some(3));
    }

    #[test]
    fn client_side_checks() {
        assert_eq!(
            parse_deploy(&["web"]).err().as_deref(),
            Some("required flag(s) \"target\" not set")
        );
        assert_eq!(
            parse_deploy(&["web", "--target=a:80", "--max-request-body=10"])
                .err()
                .as_deref(),
            Some("max-request-body can only be set when request buffering is enabled")
        );
        assert!(parse_deploy(&[
            "web",
            "--target=a:80",
            "--buffer-requests=false",
            "--max-request-body=10"
        ])
        .is_ok());
        assert_eq!(
            parse_deploy(&["web", "--target=a:80", "--tls"]).err().as_deref(),
            Some("service options invalid: host must be set when using TLS")
        );
        assert_eq!(
            parse_deploy(&["web", "--target=a:80", "--tls-certificate-path=/c"]).err().as_deref(),
            Some("if any flags in the group [tls-certificate-path tls-private-key-path] are set they must all be set; missing [tls-private-key-path]")
        );
        let tls = parse_deploy(&["web", "--target=a:80", "--tls", "--host=a.com"]).expect("parses");
        assert!(!tls.target_options.forward_headers);
    }

    #[test]
    fn run_flags_read_the_environment() {
        let environment: HashMap<String, String> = [
            ("KAMAL_PROXY_HTTP_PORT", "8080"),
            ("HTTP_PORT", "9090"),
            ("HTTPS_PORT", "not-a-number"),
            ("DEBUG", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let parsed = flags::parse(&specs_for("run", &environment), &[]).expect("parses");
        assert_eq!(parsed.int("http-port"), 8080);
        assert_eq!(parsed.int("https-port"), 443);
        assert!(parsed.bool("debug"));
        let parsed =
            flags::parse(&specs_for("run", &environment), &["--http-port=81".to_string()]).expect("parses");
        assert_eq!(parsed.int("http-port"), 81);
    }
}
