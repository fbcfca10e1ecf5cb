//! End-to-end rendering tests: one per ERB construct found in real configs (the corpus under
//! /work/shared/corpus), plus the errors Kamal users meet.

use std::path::{Path, PathBuf};

use super::*;
use crate::environment::MapEnvironment;

fn render_with(template: &str, environment: &mut MapEnvironment) -> Result<String, ErbError> {
    render(template, Path::new("config/deploy.yml"), environment)
}

fn rendered(template: &str, environment: &mut MapEnvironment) -> String {
    render_with(template, environment).unwrap_or_else(|error| panic!("{template:?} failed: {error}"))
}

fn render_plain(template: &str) -> String {
    rendered(template, &mut MapEnvironment::new())
}

fn error_of(template: &str, environment: &mut MapEnvironment) -> ErbError {
    match render_with(template, environment) {
        Ok(output) => panic!("{template:?} rendered {output:?}"),
        Err(error) => error,
    }
}

// Tags and trimming.

#[test]
fn text_without_tags_is_unchanged() {
    assert_eq!(
        render_plain("service: app\n# <not erb>\n"),
        "service: app\n# <not erb>\n"
    );
}

#[test]
fn dash_tags_trim_like_ruby() {
    // Outputs checked against Ruby's ERB with trim_mode "-".
    assert_eq!(
        render_plain("a\n  <%- if true -%>\n  x\n  <%- end -%>\nb"),
        "a\n  x\nb"
    );
    assert_eq!(
        render_plain("a\n  <% if true -%>\n  x\n  <% end -%>\nb"),
        "a\n    x\n  b"
    );
    assert_eq!(
        render_plain("a\n  <%- if true %>\n  x\n  <%- end %>\nb"),
        "a\n\n  x\n\nb"
    );
    assert_eq!(render_plain("  x <%- 1 -%>   \nb"), "  x    \nb");
}

#[test]
fn percent_literal_and_comment_tags() {
    assert_eq!(render_plain("<%% x %%> <%= '%%>' %>"), "<% x %%> %>");
    assert_eq!(render_plain("a <%# comment %> b\n<%# c -%>\nz"), "a  b\nz");
}

#[test]
fn nil_renders_empty_and_numbers_render_with_to_s() {
    assert_eq!(
        render_plain("[<%= nil %>] <%= 365 * 24 * 60 * 60 %> <%= 7 / 2 %> <%= 1.5 %> <%= 2 - 3 + 1 %>"),
        "[] 31536000 3 1.5 0"
    );
}

// ENV.

#[test]
fn env_index_with_either_quote() {
    let mut environment = MapEnvironment::new().with_var("KAMAL_HOST", "1.2.3.4");
    assert_eq!(
        rendered(
            r#"<%= ENV["KAMAL_HOST"] %>/<%= ENV['KAMAL_HOST'] %>/<%= ENV["NOPE"] %>."#,
            &mut environment
        ),
        "1.2.3.4/1.2.3.4/."
    );
}

#[test]
fn env_fetch_defaults_blocks_and_nesting() {
    let mut environment = MapEnvironment::new()
        .with_var("AWS_REGION", "eu-west-1")
        .with_command("git rev-parse HEAD", "abc\n", 0);
    let template = concat!(
        r#"<%= ENV.fetch("SET", "x") %>|"#,
        r#"<%= ENV.fetch('AWS_DEFAULT_REGION', ENV.fetch('AWS_REGION', ENV.fetch('BACKUP_S3_REGION', 'us-east-2'))) %>|"#,
        r#"<%= ENV.fetch("SOLID_QUEUE_SHUTDOWN_TIMEOUT", 86400) %>|"#,
        r#"<%= ENV.fetch("MEDIA_PROXY_TTL", 365 * 24 * 60 * 60) %>|"#,
        r#"<%= ENV.fetch("SENTRY_RELEASE") { `git rev-parse HEAD`.strip } %>|"#,
        r#"<%= ENV.fetch('APP_REVISION') { ENV.fetch('KAMAL_VERSION') { |name| name } } %>"#,
    );
    assert_eq!(
        rendered(template, &mut environment),
        "x|eu-west-1|86400|31536000|abc|KAMAL_VERSION"
    );
}

#[test]
fn env_fetch_of_a_missing_variable_is_a_key_error() {
    let error = error_of(
        "a: 1\nb: <%= ENV.fetch(\"KAMAL_SERVER_IP\") %>\n",
        &mut MapEnvironment::new(),
    );
    assert_eq!(error.ruby_class(), Some("KeyError"));
    assert_eq!(error.to_string(), r#"key not found: "KAMAL_SERVER_IP""#);
    assert_eq!(
        (error.line, error.expression.as_str()),
        (2, r#"ENV.fetch("KAMAL_SERVER_IP")"#)
    );
    assert_eq!(error.file, PathBuf::from("config/deploy.yml"));
}

#[test]
fn env_or_chains_and_ruby_constants() {
    let template = r##"<%= ENV["RBENV_VERSION"] || ENV["rvm_ruby_string"] || "#{RUBY_ENGINE}-#{RUBY_ENGINE_VERSION}" %>"##;
    assert_eq!(render_plain(template), "ruby-3.3.7");
    let mut environment = MapEnvironment::new().with_var("RBENV_VERSION", "3.4.1");
    assert_eq!(rendered(template, &mut environment), "3.4.1");
    assert_eq!(
        render_plain(r#"<%= ENV['VPS_IP'] || 'CONFIGURE_VPS_IP' %>"#),
        "CONFIGURE_VPS_IP"
    );
}

#[test]
fn env_key_and_assignment() {
    let mut environment = MapEnvironment::new().with_var("A", "\"quoted\"");
    let template = r#"<% ENV["B"] = "set"; ENV["A"] = ENV["A"][1...-1] %><%= ENV.key?("B") %> <%= ENV["A"] %> <%= ENV.key?("C") %>"#;
    assert_eq!(rendered(template, &mut environment), "true quoted false");
    assert_eq!(environment.variables.get("B").map(String::as_str), Some("set"));
}

#[test]
fn env_each_normalizes_quoted_values_like_geobtaa() {
    let mut environment = MapEnvironment::new()
        .with_var("Q", "'x'")
        .with_var("P", "plain")
        .with_var("S", "\"");
    let template = r#"<%
# Makefile includes keep shell-style wrapper quotes as literal characters.
ENV.each do |key, value|
  next unless value.is_a?(String) && value.length >= 2

  if (value.start_with?('"') && value.end_with?('"')) ||
     (value.start_with?("'") && value.end_with?("'"))
    ENV[key] = value[1...-1]
  end
end
%>
q: <%= ENV["Q"] %> p: <%= ENV["P"] %> s: <%= ENV["S"] %>"#;
    assert_eq!(rendered(template, &mut environment), "\nq: x p: plain s: \"");
}

// Strings and methods.

#[test]
fn string_literals_escapes_and_interpolation() {
    let mut environment = MapEnvironment::new()
        .with_var("USER_ID", "1000")
        .with_var("GROUP_ID", "1001");
    assert_eq!(
        rendered(
            r##"<%= "#{ENV["USER_ID"]}:#{ENV["GROUP_ID"]}" %>"##,
            &mut environment
        ),
        "1000:1001"
    );
    assert_eq!(
        render_plain(r#"<%= "a\tb" %>|<%= 'a\tb' %>|<%= "q\"" %>"#),
        "a\tb|a\\tb|q\""
    );
}

#[test]
fn string_methods_from_configs() {
    let mut environment = MapEnvironment::new()
        .with_var("HOSTS", "a.example.com,b.example.com")
        .with_var("PAD", "  x  \n");
    let template = concat!(
        r#"<%= ENV["PAD"].strip %>|<%= ENV["PAD"].chomp %>|<%= ENV["HOSTS"].split(",").first %>|"#,
        r#"<%= ENV["HOSTS"].split(",").last.upcase %>|<%= "A b".downcase %>|<%= "a b  c".split.length %>|"#,
        r#"<%= "abc".include?("b") %>|<%= "v1.2".sub("v", "") %>|<%= "a-b-c".gsub("-", "_") %>|"#,
        r#"<%= "42".to_i + 1 %>|<%= "".empty? %>|<%= ENV["NOPE"].nil? %>|<%= "x".size %>"#,
    );
    assert_eq!(
        rendered(template, &mut environment),
        "x|  x  |a.example.com|B.EXAMPLE.COM|a b|3|true|1.2|a_b_c|43|true|true|1"
    );
}

#[test]
fn indexing_strings_and_arrays() {
    assert_eq!(
        render_plain(
            r#"<%= "hello"[1..] %>|<%= "hello"[-3, 2] %>|<%= [1, 2, 3][-1] %>|<%= [1, 2, 3][5] %>|<%= "hello"[1...-1] %>"#
        ),
        "ello|ll|3||ell"
    );
}

#[test]
fn active_support_presence_helpers() {
    let mut environment = MapEnvironment::new()
        .with_var("BLANK", "  ")
        .with_var("SENTRY_DSN", "https://x");
    let template = concat!(
        r#"<%= ENV["RAILS_LOG_LEVEL"].presence || "warn" %>|<%= ENV["BLANK"].blank? %>|"#,
        r#"<%- if ENV["SENTRY_DSN"].to_s.strip.present? -%>sentry<%- end -%>|"#,
        r#"<%- if ENV["KAMAL_SSH_CONFIG_PATH"].to_s.strip.present? -%>ssh<%- end -%>"#,
    );
    assert_eq!(rendered(template, &mut environment), "warn|true|sentry|");
}

#[test]
fn split_renders_as_a_ruby_array_for_yaml() {
    let mut environment = MapEnvironment::new().with_var("RPC_HOSTS", "1.1.1.1,2.2.2.2");
    assert_eq!(
        rendered(
            r#"hosts: <%= ENV.fetch("RPC_HOSTS").split(",") %>"#,
            &mut environment
        ),
        r#"hosts: ["1.1.1.1", "2.2.2.2"]"#
    );
    assert_eq!(
        render_plain("<%= [1, nil, :a, {a: 1}].inspect %>"),
        "[1, nil, :a, {:a=>1}]"
    );
}

#[test]
fn comparisons_and_ternaries() {
    let mut environment = MapEnvironment::new().with_var("SMTP_USERNAME", " u ");
    let template = concat!(
        r#"<%= ENV.fetch("APP_SSL", "true") == "true" %>|"#,
        r#"<% if ENV.fetch('SMTP_USERNAME', '').strip != '' %>user<% end %>|"#,
        r#"<% if ENV.fetch('SMTP_PASSWORD', '').strip != '' %>password<% end %>|"#,
        r#"<%= ENV["X"] ? "set" : "unset" %>|<%= !ENV["X"] && 1 < 2 %>"#,
    );
    assert_eq!(rendered(template, &mut environment), "true|user||unset|true");
}

// Control flow.

#[test]
fn if_elsif_else_across_tags() {
    let template = "<% if ENV['A'] %>a<% elsif ENV.key?('B') %>b<% else %>c<% end %>";
    assert_eq!(render_plain(template), "c");
    assert_eq!(
        rendered(template, &mut MapEnvironment::new().with_var("B", "")),
        "b"
    );
    let template = "<% if ENV[\"KAMAL_SSH_KEY_PATH\"] -%>\n  keys: [<%= ENV[\"KAMAL_SSH_KEY_PATH\"] %>]\n<% end -%>\nnext";
    assert_eq!(render_plain(template), "next");
    assert_eq!(
        rendered(
            template,
            &mut MapEnvironment::new().with_var("KAMAL_SSH_KEY_PATH", "k")
        ),
        "  keys: [k]\nnext"
    );
    assert_eq!(render_plain("<% unless ENV['A'] %>no a<% end %>"), "no a");
}

#[test]
fn each_with_blocks_across_tags() {
    let mut environment = MapEnvironment::new().with_var("HOSTS", "a b");
    let template = "hosts:\n<% ENV['HOSTS'].split.each do |host| -%>\n  - <%= host %>\n<% end -%>\n";
    assert_eq!(rendered(template, &mut environment), "hosts:\n  - a\n  - b\n");
    let template = "<% %w[x y].each_with_index do |name, index| %><%= index %>=<%= name %> <% end %>";
    assert_eq!(render_plain(template), "0=x 1=y ");
    assert_eq!(render_plain("<%= [1, 2].map { |n| n * 2 }.join(',') %>"), "2,4");
    assert_eq!(render_plain("<%= %w[a b].map(&:upcase) %>"), r#"["A", "B"]"#);
}

#[test]
fn raise_unless_with_word_lists_like_bidi2pdf() {
    let template = r#"<%
    %w[SERVER_IP USER_ID].each do |key|
      raise "Missing ENV variable #{key}" unless ENV[key]
    end
%>ok"#;
    let mut environment = MapEnvironment::new().with_var("SERVER_IP", "1");
    let error = error_of(template, &mut environment);
    assert_eq!(
        (error.ruby_class(), error.to_string().as_str()),
        (Some("RuntimeError"), "Missing ENV variable USER_ID")
    );
    assert_eq!(error.line, 3);
    environment.variables.insert("USER_ID".into(), "2".into());
    assert_eq!(rendered(template, &mut environment), "ok");
}

#[test]
fn local_variables_and_uri_parse() {
    let mut environment = MapEnvironment::new().with_var("APP_BASE_URL", "https://app.example.com:8443/x");
    let template = "<%\nrequire \"uri\"\napp_base_url = ENV.fetch(\"APP_BASE_URL\")\napp_uri = URI.parse(app_base_url)\n%>\nhost: <%= app_uri.host %>\nssl: <%= app_uri.scheme == \"https\" %> <%= app_uri.port %> <%= app_uri.path %>";
    assert_eq!(
        rendered(template, &mut environment),
        "\nhost: app.example.com\nssl: true 8443 /x"
    );
}

#[test]
fn begin_rescue_load_error() {
    let mut environment = MapEnvironment::new().with_file(".kamal/secrets.staging", "STAGE=1\n");
    let template = r#"<% begin; require "dotenv"; Dotenv.load(".kamal/secrets.staging"); rescue LoadError; end %><%= ENV["STAGE"] %>"#;
    assert_eq!(rendered(template, &mut environment), "1");
    assert_eq!(
        render_plain("<%= begin; ENV.fetch('X'); rescue KeyError => e; e.message; end %>"),
        r#"key not found: "X""#
    );
    assert_eq!(
        render_plain("<%= ENV.fetch('X') rescue 'fallback' %>"),
        "fallback"
    );
}

#[test]
fn case_when() {
    let template = "<% case ENV['ROLE'] when 'web' %>w<% when nil %>none<% else %>other<% end %>";
    assert_eq!(render_plain(template), "none");
}

// Commands.

#[test]
fn backticks_and_percent_x_run_through_the_environment() {
    let mut environment = MapEnvironment::new()
        .with_command("git rev-parse --short HEAD", "abc1234\n", 0)
        .with_command("git describe --tags --always 2>/dev/null || echo dev", "v1\n", 0)
        .with_command(
            "AWS_PROFILE=privr aws ecr get-login-password --region eu-west-1",
            "token",
            0,
        )
        .with_command("aws ecr get-login-password", "pw\n", 0);
    let template = concat!(
        "<%= `git rev-parse --short HEAD`.strip %>|<%= %x(git rev-parse --short HEAD).strip %>|",
        "<%= %x(git describe --tags --always 2>/dev/null || echo dev).strip %>|",
        "<%= %x[AWS_PROFILE=privr aws ecr get-login-password --region eu-west-1].strip %>|",
        "<%= %x{aws ecr #{'get-login-password'}} %>"
    );
    assert_eq!(
        rendered(template, &mut environment),
        "abc1234|abc1234|v1|token|pw\n"
    );
    assert_eq!(environment.commands_run.len(), 5);
}

#[test]
fn a_failing_shell_command_yields_its_output() {
    // Through /bin/sh a missing program only prints to stderr; Ruby does not raise.
    assert_eq!(
        render_plain("<%= ENV['GIT_COMMIT'] || `git rev-parse --short HEAD 2>&1`.strip %>|"),
        "|"
    );
}

#[test]
fn a_missing_program_run_directly_is_enoent() {
    let error = error_of(
        "password: <%= %x(aws ecr get-login-password) %>",
        &mut MapEnvironment::new(),
    );
    assert_eq!(error.ruby_class(), Some("Errno::ENOENT"));
    assert_eq!(error.to_string(), "No such file or directory - aws");
    let error = error_of(
        "ruby: <%=  `mise current ruby`.strip %>",
        &mut MapEnvironment::new(),
    );
    assert_eq!(error.to_string(), "No such file or directory - mise");
    assert_eq!(error.expression, "`mise current ruby`.strip");
}

#[test]
fn kamal_utils_docker_arch() {
    let mut environment =
        MapEnvironment::new().with_command("docker info --format '{{.Architecture}}'", "aarch64\n", 0);
    assert_eq!(
        rendered("arch: <%= Kamal::Utils.docker_arch %>", &mut environment),
        "arch: arm64"
    );
    let mut environment =
        MapEnvironment::new().with_command("docker info --format '{{.Architecture}}'", "x86_64\n", 0);
    assert_eq!(
        rendered("<%= Kamal::Utils.docker_arch %>", &mut environment),
        "amd64"
    );
    assert_eq!(render_plain("[<%= Kamal::Utils.docker_arch %>]"), "[]");
}

// Files.

#[test]
fn file_read_exist_join_and_expand_path() {
    let mut environment = MapEnvironment::new()
        .with_file(".ruby-version", "3.3.5\n")
        .with_var("HOME", "/home/dev");
    let template = concat!(
        "<%= File.read('.ruby-version').strip %>|<%= File.exist?('.ruby-version') %>|<%= File.exist?('nope') %>|",
        r#"<%= File.join("/gem", ".kamal", "hooks") %>|"#,
        r#"<%= ENV.fetch("KAMAL_SSH_KEY_PATH", File.expand_path("~/.ssh/key")) %>|<%= File.expand_path("a/../b") %>"#,
    );
    assert_eq!(
        rendered(template, &mut environment),
        "3.3.5|true|false|/gem/.kamal/hooks|/home/dev/.ssh/key|/project/b"
    );
}

#[test]
fn file_read_of_a_missing_file_is_enoent() {
    let error = error_of(
        "x\n<%= File.read('.ruby-version').strip %>",
        &mut MapEnvironment::new(),
    );
    assert_eq!(error.ruby_class(), Some("Errno::ENOENT"));
    assert_eq!(
        error.to_string(),
        "No such file or directory @ rb_sysopen - .ruby-version"
    );
    assert_eq!(error.line, 2);
}

#[test]
fn yaml_load_file_and_hash_iteration_like_csa_admin() {
    let tenant = "production: &production\n  one:\n    admin_host: admin.one.ch\n    members_host: members.one.ch\n  two:\n    admin_host: admin.two.ch\n";
    let mut environment = MapEnvironment::new().with_file("config/tenant.yml", tenant);
    let template = r##"    hosts:
    <%
      tenant = YAML.load_file("#{Dir.pwd}/config/tenant.yml", aliases: true)
      tenant["production"].flat_map { |name, config|
        [ config["admin_host"], config["members_host"] ]
      }.compact.each do |host|
    %>
    - <%= host %>
    <% end %>
"##;
    assert_eq!(
        rendered(template, &mut environment),
        "    hosts:\n    \n    - admin.one.ch\n    \n    - members.one.ch\n    \n    - admin.two.ch\n    \n"
    );
}

// Dotenv.

#[test]
fn dotenv_load_does_not_overwrite_and_ignores_missing_files() {
    let mut environment = MapEnvironment::new()
        .with_var("KEPT", "from-env")
        .with_file(".env", "KEPT=from-file\nNEW=\"new value\"\n")
        .with_file(".env.staging", "export STAGING=yes # comment\n");
    let template = concat!(
        r#"<% require "dotenv"; Dotenv.load(".env") %><% require 'dotenv'; Dotenv.load('.env.staging') %>"#,
        r#"<% Dotenv.load(".env.missing") %><% Dotenv.load %>"#,
        r#"<%= ENV["KEPT"] %> <%= ENV["NEW"] %> <%= ENV["STAGING"] %>"#,
    );
    assert_eq!(rendered(template, &mut environment), "from-env new value yes");
    assert_eq!(
        environment.variables.get("NEW").map(String::as_str),
        Some("new value")
    );
}

#[test]
fn dotenv_on_its_own_lines() {
    let mut environment = MapEnvironment::new().with_file(".env.production", "DB=db1\n");
    let template =
        "# Load\n<%\n  require \"dotenv\"\n  Dotenv.load(\".env.production\")\n%>\ndb: <%= ENV['DB'] %>";
    assert_eq!(rendered(template, &mut environment), "# Load\n\ndb: db1");
}

// Errors.

#[test]
fn nil_method_calls_are_no_method_errors() {
    let error = error_of("<%= ENV[\"X\"].strip %>", &mut MapEnvironment::new());
    assert_eq!(error.ruby_class(), Some("NoMethodError"));
    assert_eq!(error.to_string(), "undefined method `strip' for nil");
}

#[test]
fn type_errors_use_ruby_wording() {
    let error = error_of(r#"<%= "a" + 1 %>"#, &mut MapEnvironment::new());
    assert_eq!(
        (error.ruby_class(), error.to_string().as_str()),
        (Some("TypeError"), "no implicit conversion of Integer into String")
    );
    let error = error_of("<%= 1 + nil %>", &mut MapEnvironment::new());
    assert_eq!(error.to_string(), "nil can't be coerced into Integer");
    let error = error_of("<%= 1 / 0 %>", &mut MapEnvironment::new());
    assert_eq!(
        (error.ruby_class(), error.to_string().as_str()),
        (Some("ZeroDivisionError"), "divided by 0")
    );
}

#[test]
fn unknown_constants_are_unsupported_and_named() {
    let template = "servers:\n  web:\n    - <%= HetznerDeployConfig.web_host %>\n";
    let error = error_of(template, &mut MapEnvironment::new());
    assert_eq!(error.ruby_class(), None);
    assert!(matches!(error.kind, ErbErrorKind::Unsupported { .. }));
    assert_eq!(
        (error.line, error.expression.as_str()),
        (3, "HetznerDeployConfig.web_host")
    );
    let message = error.to_string();
    assert!(
        message.starts_with("config/deploy.yml:3: unsupported Ruby in ERB: `HetznerDeployConfig.web_host` ("),
        "{message}"
    );
    assert!(
        message.contains("kamal-rs evaluates a subset of Ruby"),
        "{message}"
    );
}

#[test]
fn unknown_methods_and_libraries_are_unsupported() {
    for template in [
        r#"<%= File.join(Gem::Specification.find_by_name("fizzy-saas").gem_dir, "Dockerfile") %>"#,
        "<%= \"a\".frobnicate %>",
        "<%= helper_method %>",
        "<% require \"active_record\" %>",
        "<% def x; end %>",
        "<%= \"x\" =~ /x/ %>",
    ] {
        let error = error_of(template, &mut MapEnvironment::new());
        assert!(
            matches!(error.kind, ErbErrorKind::Unsupported { .. }),
            "{template}: {error:?}"
        );
        assert_eq!(error.line, 1);
    }
}

#[test]
fn requiring_a_missing_ruby_file_is_a_load_error() {
    let template = "<%\nrequire File.expand_path(\"app/lib/hetzner_deploy_config.rb\", Dir.pwd)\n%>";
    let error = error_of(template, &mut MapEnvironment::new());
    assert!(matches!(&error.kind, ErbErrorKind::Raised(exception) if exception.class == "LoadError"));
    // Not a StandardError: Kamal's CLI does not print it as `ERROR (...)`.
    assert_eq!(error.ruby_class(), None);
    assert_eq!(error.line, 2);
    assert!(error
        .to_string()
        .contains("cannot load such file -- /project/app/lib/hetzner_deploy_config.rb"));
}

#[test]
fn unterminated_tags_and_strings_are_syntax_errors() {
    for (template, line) in [
        ("a\nb: <%= ENV['X']\n", 2),
        ("a\n<%= \"abc %>\n", 2),
        ("<% if true %>\nx\n", 3),
        ("<%= ENV[\"X\" %>", 1),
    ] {
        let error = error_of(template, &mut MapEnvironment::new());
        assert!(
            matches!(error.kind, ErbErrorKind::Syntax { .. }),
            "{template:?}: {error:?}"
        );
        assert_eq!(error.line, line, "{template:?}: {error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("config/deploy.yml:{line}: invalid ERB: ")),
            "{error}"
        );
    }
}

// The corpus of real configs.

#[test]
fn every_corpus_config_renders_or_fails_with_a_known_kind() {
    let corpus = Path::new("/work/shared/corpus");
    let Ok(cases) = std::fs::read_dir(corpus) else {
        return;
    };
    let mut cases: Vec<PathBuf> = cases
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    cases.sort();
    let mut summary = Vec::new();
    for case in cases.iter().filter(|case| case.is_dir()) {
        let environment = corpus_environment(case);
        let Ok(configs) = std::fs::read_dir(case.join("config")) else {
            continue;
        };
        let mut configs: Vec<PathBuf> = configs
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        configs.sort();
        for config in configs {
            let name = config
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.starts_with("deploy") || !name.ends_with(".yml") {
                continue;
            }
            let Ok(template) = std::fs::read_to_string(&config) else {
                continue;
            };
            let origin = Path::new("config").join(&name);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                render(&template, &origin, &mut environment.clone())
            }));
            let case_name = case
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            match result {
                Err(_) => panic!("{case_name}/{name}: panicked"),
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    check_against_oracle(case, &name, &error);
                    summary.push(format!("{case_name}/{name}: {:?} {error}", error.ruby_class()))
                }
            }
        }
    }
    // Listed with `cargo test -p kamal-config --lib erb -- --nocapture`.
    for line in &summary {
        println!("{line}");
    }
}

/// A Ruby exception must be the one the real Kamal printed for this file (`expected/config.err`
/// for `deploy.yml`, `expected/config.DEST.err` for `deploy.DEST.yml`).
fn check_against_oracle(case: &Path, name: &str, error: &ErbError) {
    let ErbErrorKind::Raised(exception) = &error.kind else {
        // Ours: Ruby we do not evaluate. Nothing to compare.
        assert!(
            matches!(error.kind, ErbErrorKind::Unsupported { .. }),
            "{name}: {error:?}"
        );
        return;
    };
    let destination = name
        .strip_prefix("deploy.")
        .and_then(|rest| rest.strip_suffix(".yml"));
    let expected_file = match destination {
        Some(destination) => format!("config.{destination}.err"),
        None => "config.err".to_string(),
    };
    let expected = std::fs::read_to_string(case.join("expected").join(&expected_file)).unwrap_or_default();
    let shown = match error.ruby_class() {
        Some(class) => format!("ERROR ({class}): {}", exception.message),
        None => format!("{} ({})", exception.message, exception.class),
    };
    assert!(
        expected.contains(&shown),
        "{}/{name}: we raise `{shown}`, Kamal printed:\n{expected}",
        case.display()
    );
}

/// The case's `env.list` and project files, in a sandbox like the oracle's: HOME, a `git`
/// that always fails, a few harmless tools, and nothing else on PATH.
fn corpus_environment(case: &Path) -> SandboxEnvironment {
    let mut environment = MapEnvironment::new()
        .with_var("HOME", "/home/corpus")
        .with_var("VERSION", "corpus-version");
    environment.directory =
        PathBuf::from("/tmp/kamal-corpus-oracle").join(case.file_name().unwrap_or_default());
    if let Ok(list) = std::fs::read_to_string(case.join("env.list")) {
        for line in list.lines().filter(|line| !line.starts_with('#')) {
            if let Some((name, value)) = line.split_once('=') {
                environment.variables.insert(name.to_string(), value.to_string());
            }
        }
    }
    for file in [".ruby-version", "config/tenant.yml", ".env"] {
        if let Ok(contents) = std::fs::read_to_string(case.join(file)) {
            environment = environment.with_file(file, &contents);
        }
    }
    SandboxEnvironment(environment)
}

/// The oracle's PATH: these programs exist (and print nothing useful); others are missing.
#[derive(Clone)]
struct SandboxEnvironment(MapEnvironment);

impl crate::environment::Environment for SandboxEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.0.var(name)
    }
    fn set_var(&mut self, name: &str, value: &str) {
        self.0.set_var(name, value)
    }
    fn remove_var(&mut self, name: &str) {
        self.0.remove_var(name)
    }
    fn vars(&self) -> std::collections::BTreeMap<String, String> {
        self.0.vars()
    }
    fn run_command(
        &mut self,
        plan: &crate::environment::SpawnPlan,
    ) -> Result<crate::environment::CommandOutput, crate::environment::CommandError> {
        use crate::environment::{CommandOutput, SpawnPlan};
        match plan {
            SpawnPlan::Direct(words)
                if matches!(
                    words.first().map(String::as_str),
                    Some("git" | "date" | "echo" | "cat")
                ) =>
            {
                Ok(CommandOutput {
                    stdout: String::new(),
                    status: 128,
                })
            }
            plan => self.0.run_command(plan),
        }
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        self.0.read_file(path)
    }
    fn file_exists(&self, path: &Path) -> bool {
        self.0.file_exists(path)
    }
    fn current_dir(&self) -> &Path {
        self.0.current_dir()
    }
}

#[test]
fn more_ruby_messages_match_kamals_ruby() {
    // Each message checked against the Kamal 2.11 binary (Ruby 3.3).
    for (template, class, message) in [
        (
            r#"<%= URI.parse("a b") %>"#,
            "URI::InvalidURIError",
            r#"bad URI (is not URI?): "a b""#,
        ),
        (
            "<%= ENV.fetch(:X) %>",
            "TypeError",
            "no implicit conversion of Symbol into String",
        ),
        (
            "<%= true.foo %>",
            "NoMethodError",
            "undefined method `foo' for true",
        ),
        (r#"<% raise ArgumentError, "bad" %>"#, "ArgumentError", "bad"),
        (
            r#"<%= Integer("x") %>"#,
            "ArgumentError",
            r#"invalid value for Integer(): "x""#,
        ),
        ("<%= {a: 1}.fetch(:b) %>", "KeyError", "key not found: :b"),
        ("<%= nil + 1 %>", "NoMethodError", "undefined method `+' for nil"),
    ] {
        let error = error_of(template, &mut MapEnvironment::new());
        assert_eq!(
            (error.ruby_class(), error.to_string().as_str()),
            (Some(class), message),
            "{template}"
        );
    }
}

#[test]
fn a_percent_literal_close_inside_a_tag_with_wide_characters_does_not_panic() {
    let error = error_of("<%= 'é%%>é' + %>", &mut MapEnvironment::new());
    assert!(matches!(error.kind, ErbErrorKind::Syntax { .. }), "{error:?}");
}
