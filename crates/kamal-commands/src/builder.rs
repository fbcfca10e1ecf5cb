//! `Kamal::Commands::Builder` and its targets (local, remote, hybrid, cloud, pack): creating,
//! inspecting and removing the buildx builder, the build-and-push command (§5.9), the pull
//! and label check on hosts, the registry-mirror probe, and the `build dev` file check.
//!
//! Plus one path Kamal does not have: [`fallback_push`], for machines whose Docker has no
//! buildx plugin (Debian 12's `docker.io`). It builds with `docker build` under BuildKit
//! and pushes each tag with `docker push`.

pub mod clone;

pub use clone::{clone, clone_reset_steps, clone_revision, clone_status};

use kamal_config::configuration::ruby::{argumentize, escape_shell_value};
use kamal_config::configuration::{raw, Builder, BuilderKind, Configuration};
use kamal_config::secrets::Secret;
use kamal_config::yaml::Value;

use crate::base::{any, chain, combine, docker, grep, pack, pipe};
use crate::cmd::Cmd;

/// `kamal build push`'s and `kamal build dev`'s choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// `--output`: `registry` for push, `docker` for dev.
    pub output: String,
    /// `build dev`: tags end in `-dirty`.
    pub tag_as_dirty: bool,
    pub no_cache: bool,
}

impl Default for PushOptions {
    fn default() -> PushOptions {
        PushOptions {
            output: "registry".to_string(),
            tag_as_dirty: false,
            no_cache: false,
        }
    }
}

/// The build (and, for `registry` output, push) command of the configured builder.
/// `build_secrets` are `Builder::secrets` resolved by the caller (who also exports them
/// into the local environment for the build, as Kamal does); buildx only names them,
/// pack passes their values. The Dockerfile's existence is the caller's check (Kamal
/// raises `Missing <file>` before building).
pub fn push(
    builder: &Builder,
    version: &str,
    build_secrets: &[(String, Secret)],
    options: &PushOptions,
) -> Cmd {
    if builder.kind() == BuilderKind::Pack {
        return pack_push(builder, version, build_secrets, options);
    }
    let mut command = docker(["buildx", "build", &format!("--output=type={}", options.output)]);
    command.extend(platform_options(&builder.arches()));
    if !builder.docker_driver() {
        if let Some(name) = builder.builder_name() {
            command.extend(["--builder".to_string(), name]);
        }
    }
    command.extend(tag_options(
        builder.configuration(),
        version,
        options.tag_as_dirty,
    ));
    if let (Some(to), Some(from)) = (builder.cache_to(), builder.cache_from()) {
        command.extend(["--cache-to".to_string(), to, "--cache-from".to_string(), from]);
    }
    command.append(&build_options(builder, build_secrets));
    if let Some(provenance) = builder.provenance() {
        command.extend(["--provenance".to_string(), provenance]);
    }
    if let Some(sbom) = builder.sbom() {
        command.extend(["--sbom".to_string(), sbom]);
    }
    if options.no_cache {
        command.push("--no-cache");
    }
    command.extend([builder.build_context(), "2>&1".to_string()]);
    command
}

/// Environment for the push (`execute *push, env: push_env`): remote and hybrid builds
/// must not send the client's token to the remote BuildKit. Apply with [`Cmd::with_env`].
pub fn push_env(builder: &Builder) -> Vec<(&'static str, &'static str)> {
    match builder.kind() {
        BuilderKind::Remote | BuilderKind::Hybrid => vec![("BUILDKIT_NO_CLIENT_TOKEN", "1")],
        _ => Vec::new(),
    }
}

/// Remote and hybrid builders push from the remote machine, so nothing logs in locally.
pub fn login_to_registry_locally(builder: &Builder) -> bool {
    !matches!(builder.kind(), BuilderKind::Remote | BuilderKind::Hybrid)
}

/// Creates the buildx builder; `None` when there is nothing to create (the `docker`
/// driver; pack, where Kamal has no create at all).
pub fn create(builder: &Builder) -> Option<Cmd> {
    let name = builder.builder_name()?;
    let driver = builder.driver();
    match builder.kind() {
        BuilderKind::Local => Some(
            docker(["buildx", "create", "--name", &name, &format!("--driver={driver}")])
                .with_words(driver_options(builder.configuration())),
        ),
        BuilderKind::Remote => Some(chain([
            create_remote_context(builder, &name),
            docker(["buildx", "create", "--name", &name])
                .with_words(driver_options(builder.configuration()))
                .with_words([format!("{name}-context")]),
        ])),
        BuilderKind::Hybrid => Some(combine(
            [
                docker(["buildx", "create"])
                    .with_words(platform_options(&builder.local_arches()))
                    .with_words(["--name", &name, &format!("--driver={driver}")])
                    .with_words(driver_options(builder.configuration())),
                create_remote_context(builder, &name),
                docker(["buildx", "create"])
                    .with_words(platform_options(&builder.remote_arches()))
                    .with_words(["--append", "--name", &name])
                    .with_words(driver_options(builder.configuration()))
                    .with_words([format!("{name}-context")]),
            ],
            "&&",
        )),
        BuilderKind::Cloud => Some(docker(["buildx", "create", "--driver", &driver])),
        BuilderKind::Pack => None,
    }
}

/// Removes the builder (and a remote builder's Docker context); `None` for the `docker`
/// driver and pack.
pub fn remove(builder: &Builder) -> Option<Cmd> {
    let name = builder.builder_name()?;
    match builder.kind() {
        BuilderKind::Remote | BuilderKind::Hybrid => Some(chain([
            docker(["context", "rm", &format!("{name}-context")]),
            docker(["buildx", "rm", &name]),
        ])),
        BuilderKind::Pack => None,
        _ => Some(docker(["buildx", "rm", &name])),
    }
}

/// The existence check before a build; its failure text (`no builder`, `does not exist`,
/// `no compatible builder`, `context not found`) triggers remove + create. `None` for the
/// `docker` driver.
pub fn inspect_builder(builder: &Builder) -> Option<Cmd> {
    match builder.kind() {
        BuilderKind::Pack => Some(pack_inspect(builder)),
        BuilderKind::Remote | BuilderKind::Hybrid => {
            let name = builder.builder_name()?;
            let context = format!("{name}-context");
            let remote = builder.remote().unwrap_or_default();
            let matches_remote = combine(
                [
                    pipe([
                        docker(["buildx", "inspect", &name]),
                        grep(["-q", &format!("Endpoint:.*{context}")]),
                    ]),
                    pipe([
                        docker([
                            "context",
                            "inspect",
                            &context,
                            "--format",
                            "'{{.Endpoints.docker.Host}}'",
                        ]),
                        grep(["-xq", &remote]),
                    ]),
                ],
                "&&",
            );
            Some(any([
                matches_remote,
                Cmd::new(["(echo no compatible builder && exit 1)"]),
            ]))
        }
        _ => builder
            .builder_name()
            .map(|name| docker(["buildx", "inspect", &name])),
    }
}

/// `kamal build details`: contexts and builders (`;` for remote builders, whose context
/// listing may fail).
pub fn info(builder: &Builder) -> Cmd {
    let listings = [docker(["context", "ls"]), docker(["buildx", "ls"])];
    match builder.kind() {
        BuilderKind::Pack => pack_inspect(builder),
        BuilderKind::Remote | BuilderKind::Hybrid => chain(listings),
        _ => combine(listings, "&&"),
    }
}

/// `docker image rm --force <image>` before each pull.
pub fn clean(config: &Configuration, version: &str) -> Cmd {
    docker(["image", "rm", "--force", &config.absolute_image(version)])
}

/// `docker pull <image>`.
pub fn pull(config: &Configuration, version: &str) -> Cmd {
    docker(["pull".to_string(), config.absolute_image(version)])
}

/// Checks the pulled image carries this service's label.
pub fn validate_image(config: &Configuration, version: &str) -> Cmd {
    let image = config.absolute_image(version);
    pipe([
        docker(["inspect", "-f", "'{{ .Config.Labels.service }}'", &image]),
        any([
            grep(["-x".to_string(), config.service()]),
            Cmd::new([format!(
                "(echo \"Image {image} is missing the 'service' label\" && exit 1)"
            )]),
        ]),
    ])
}

/// The host's first registry mirror; failing with `error calling index: reflect: slice
/// index out of range` means it has none.
pub fn first_mirror() -> Cmd {
    docker(["info", "--format '{{index .RegistryConfig.Mirrors 0}}'"])
}

/// The helper image `kamal build dev` builds to list the files inside the build context.
pub const BUILD_CHECK_TAG: &str = "kamal-local-build-check";

/// The helper's Dockerfile (written to a temporary file by the caller).
pub const BUILD_CHECK_DOCKERFILE: &str =
    "FROM busybox\nCOPY . app\nWORKDIR app\nCMD find . -type f | sed \"s|^\\./||\"\n";

/// `docker buildx build -t=kamal-local-build-check -f=<dockerfile> .` (Kamal runs it with
/// `system`, not through SSHKit, so it is not logged).
pub fn build_check(dockerfile_path: &str) -> Cmd {
    docker([
        "buildx".to_string(),
        "build".to_string(),
        format!("-t={BUILD_CHECK_TAG}"),
        format!("-f={dockerfile_path}"),
        ".".to_string(),
    ])
}

/// `docker run --rm kamal-local-build-check`: prints the context's files, one a line.
pub fn run_build_check() -> Cmd {
    docker(["run", "--rm", BUILD_CHECK_TAG])
}

/// Why [`fallback_push`] cannot stand in for buildx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FallbackUnavailable {
    /// Remote, hybrid and cloud builders are buildx builders.
    NeedsBuildx(BuilderKind),
    /// `docker build` builds for one platform only.
    MultipleArches(Vec<String>),
}

impl std::error::Error for FallbackUnavailable {}

impl std::fmt::Display for FallbackUnavailable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FallbackUnavailable::NeedsBuildx(kind) => write!(
                formatter,
                "Docker buildx plugin is not installed locally, and a {} builder needs it",
                kind.name()
            ),
            FallbackUnavailable::MultipleArches(arches) => write!(
                formatter,
                "Docker buildx plugin is not installed locally, and building for {} needs it",
                arches.join(", ")
            ),
        }
    }
}

/// **Not in Kamal.** Our build when the local Docker has no buildx plugin, for a local
/// builder with at most one arch (pack needs no buildx and keeps its own command):
///
/// ```text
/// docker build [--platform linux/<arch>] -t <image>:<version> -t <image>:<latest>
///   --label service="<svc>" [--build-arg k="v"]… [--secret id="NAME"]… --file <Dockerfile>
///   [--target t] [--ssh s] [--no-cache] <context> 2>&1
///   && docker push <image>:<version> && docker push <image>:<latest>
/// ```
///
/// Same tags, labels, build args, secrets, file, target and context as the buildx command,
/// in the same order. Run it with [`fallback_push_env`], which picks the builder. What
/// `docker build` cannot do is left out: `--builder`, cache export (`--cache-to` /
/// `--cache-from`), the `--provenance` and `--sbom` attestations, and `--output`: the image
/// lands in the local image store, and the pushes follow only for `registry` output (as
/// pack's export does).
pub fn fallback_push(
    builder: &Builder,
    version: &str,
    build_secrets: &[(String, Secret)],
    options: &PushOptions,
) -> Result<Cmd, FallbackUnavailable> {
    match builder.kind() {
        BuilderKind::Local => {}
        kind => return Err(FallbackUnavailable::NeedsBuildx(kind)),
    }
    let arches = builder.arches();
    if arches.len() > 1 {
        return Err(FallbackUnavailable::MultipleArches(arches));
    }
    let config = builder.configuration();
    let mut build = docker(["build"]);
    build.extend(platform_options(&arches));
    build.extend(tag_options(config, version, options.tag_as_dirty));
    build.append(&build_options(builder, build_secrets));
    if options.no_cache {
        build.push("--no-cache");
    }
    build.extend([builder.build_context(), "2>&1".to_string()]);
    let mut steps = vec![build];
    if options.output == "registry" {
        for tag in tag_names(config, version, options.tag_as_dirty) {
            steps.push(docker(["push".to_string(), tag]));
        }
    }
    Ok(combine(steps, "&&"))
}

/// The environment [`fallback_push`] runs with. Without buildx, a Docker CLI from 23 on
/// refuses BuildKit builds, while the legacy builder (`DOCKER_BUILDKIT=0`) works with every
/// CLI and engine — but only BuildKit understands `--secret` and `--ssh`. So: the legacy
/// builder, unless the build uses secrets or ssh; then BuildKit, which Debian 12's Docker
/// 20.10 CLI runs without buildx (a newer CLI fails with its own "buildx component is
/// missing" message).
pub fn fallback_push_env(builder: &Builder) -> Vec<(&'static str, &'static str)> {
    let needs_buildkit = !builder.secret_names().is_empty() || builder.ssh().is_some();
    vec![("DOCKER_BUILDKIT", if needs_buildkit { "1" } else { "0" })]
}

/// `pack build … --path <context> [&& docker push <image> && docker push <latest>]`.
fn pack_push(
    builder: &Builder,
    version: &str,
    build_secrets: &[(String, Secret)],
    options: &PushOptions,
) -> Cmd {
    let config = builder.configuration();
    let arch = builder.local_arches().into_iter().next().unwrap_or_default();
    let mut build = pack(["build".to_string(), config.repository()]);
    build.extend([
        "--platform".to_string(),
        format!("linux/{arch}"),
        "--creation-time".to_string(),
        "now".to_string(),
        "--builder".to_string(),
        builder.pack_builder().unwrap_or_default(),
    ]);
    let mut buildpacks = builder.pack_buildpacks();
    buildpacks.push("paketo-buildpacks/image-labels".to_string());
    for buildpack in buildpacks {
        build.extend(["--buildpack".to_string(), buildpack]);
    }
    build.extend(tag_options(config, version, options.tag_as_dirty));
    if options.no_cache {
        build.push("--clear-cache");
    }
    build.extend([
        "--env".to_string(),
        format!("BP_IMAGE_LABELS=service={}", config.service()),
    ]);
    if let Some(args) = builder.args() {
        build.extend(argumentize("--env", &Value::Mapping(args.clone())));
    }
    for (name, value) in build_secrets {
        push_sensitive_pair(
            &mut build,
            "--env",
            name,
            Some(value.expose()),
            value.is_present(),
        );
    }
    build.extend(["--path".to_string(), builder.build_context()]);
    let mut steps = vec![build];
    // Pack's export pushes the plain tags, even for a dirty build.
    if options.output == "registry" {
        steps.push(docker(["push".to_string(), config.absolute_image(version)]));
        steps.push(docker(["push".to_string(), config.latest_image()]));
    }
    combine(steps, "&&")
}

fn pack_inspect(builder: &Builder) -> Cmd {
    pack([
        "builder".to_string(),
        "inspect".to_string(),
        builder.pack_builder().unwrap_or_default(),
    ])
}

/// `docker context create <name>-context --description '<name> host' --docker 'host=<remote>'`.
fn create_remote_context(builder: &Builder, name: &str) -> Cmd {
    docker([
        "context".to_string(),
        "create".to_string(),
        format!("{name}-context"),
        "--description".to_string(),
        format!("'{name} host'"),
        "--docker".to_string(),
        format!("'host={}'", builder.remote().unwrap_or_default()),
    ])
}

/// A local registry is reached on the host network (through the SSH tunnel's port).
fn driver_options(config: &Configuration) -> Vec<String> {
    if config.local_registry() {
        vec!["--driver-opt".to_string(), "network=host".to_string()]
    } else {
        Vec::new()
    }
}

/// `--platform linux/a[,linux/b]`, nothing without arches.
fn platform_options(arches: &[String]) -> Vec<String> {
    if arches.is_empty() {
        return Vec::new();
    }
    let platforms: Vec<String> = arches.iter().map(|arch| format!("linux/{arch}")).collect();
    vec!["--platform".to_string(), platforms.join(",")]
}

fn tag_names(config: &Configuration, version: &str, tag_as_dirty: bool) -> Vec<String> {
    let suffix = if tag_as_dirty { "-dirty" } else { "" };
    vec![
        format!("{}{suffix}", config.absolute_image(version)),
        format!("{}{suffix}", config.latest_image()),
    ]
}

fn tag_options(config: &Configuration, version: &str, tag_as_dirty: bool) -> Vec<String> {
    tag_names(config, version, tag_as_dirty)
        .into_iter()
        .flat_map(|name| ["-t".to_string(), name])
        .collect()
}

/// `Builder::Base#build_options` without cache, provenance and sbom: the label, build args
/// (sensitive), secret ids, file, target and ssh — shared with the fallback build.
fn build_options(builder: &Builder, build_secrets: &[(String, Secret)]) -> Cmd {
    let config = builder.configuration();
    let mut options = Cmd::default();
    options.extend([
        "--label".to_string(),
        format!("service={}", escape_shell_value(&config.service())),
    ]);
    if let Some(args) = builder.args() {
        for (key, value) in &args.entries {
            let key = raw::to_s(&key.value);
            let present = raw::present(Some(&value.value));
            let text = match &value.value {
                Value::Bool(false) => Some("false".to_string()),
                value if present => Some(raw::to_s(value)),
                _ => None,
            };
            push_sensitive_pair(&mut options, "--build-arg", &key, text.as_deref(), present);
        }
    }
    for (name, _) in build_secrets {
        options.extend(["--secret".to_string(), format!("id={}", escape_shell_value(name))]);
    }
    options.extend(["--file".to_string(), builder.dockerfile()]);
    if let Some(target) = builder.target().filter(|target| !target.trim().is_empty()) {
        options.extend(["--target".to_string(), target]);
    }
    if let Some(ssh) = builder.ssh() {
        options.extend(["--ssh".to_string(), ssh]);
    }
    options
}

/// `argumentize(flag, {key => value}, sensitive: true)` for one pair: a present value is
/// `key="value"`, shown as `[REDACTED]`; `false` is `key=false`; blank is the bare key.
/// Kamal asks for a `key=[REDACTED]` redaction, but SSHKit prints every sensitive word as
/// plain `[REDACTED]` (Kamal 2.11 logs `--build-arg [REDACTED]`); we print what it prints.
fn push_sensitive_pair(command: &mut Cmd, flag: &str, key: &str, value: Option<&str>, present: bool) {
    command.push(flag);
    match value {
        Some(value) if present => {
            command.push_sensitive(
                Secret::new(format!("{key}={}", escape_shell_value(value))),
                "[REDACTED]",
            );
        }
        Some("false") => {
            command.push(format!("{key}=false"));
        }
        _ => {
            command.push(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{configuration, DEPLOY_YML, VERSION};
    use kamal_config::configuration::Configuration;

    const BASE: &str =
        "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nregistry:\n  username: dhh\n  password: secret\n";

    fn with_builder(builder_yaml: &str) -> Configuration {
        configuration(&format!("{BASE}builder:\n{builder_yaml}"))
    }

    fn display(command: Option<Cmd>) -> String {
        command.map(|command| command.to_display()).unwrap_or_default()
    }

    #[test]
    fn local_push() {
        let config = configuration(DEPLOY_YML);
        let builder = config.builder("amd64");
        assert_eq!(builder.kind(), BuilderKind::Local);
        assert_eq!(
            push(&builder, VERSION, &[], &PushOptions::default()).to_display(),
            "docker buildx build --output=type=registry --platform linux/amd64 --builder kamal-local-docker-container -t dhh/app:999 -t dhh/app:latest --label service=\"app\" --file Dockerfile . 2>&1"
        );
        assert!(push_env(&builder).is_empty());
        assert!(login_to_registry_locally(&builder));
    }

    #[test]
    fn push_with_every_option() {
        let config = with_builder(
            "  arch: [amd64, arm64]\n  cache:\n    type: registry\n    options: mode=max\n  args:\n    a: 1\n    b: false\n  secrets: [token_a]\n  dockerfile: Dockerfile.prod\n  target: prod\n  ssh: default=$SSH_AUTH_SOCK\n  provenance: mode=max\n  sbom: true\n  context: ./app\n",
        );
        let builder = config.builder("amd64");
        let secrets = [("token_a".to_string(), Secret::new("s3cr3t"))];
        let options = PushOptions {
            no_cache: true,
            ..PushOptions::default()
        };
        let command = push(&builder, VERSION, &secrets, &options);
        assert_eq!(
            command.to_display(),
            "docker buildx build --output=type=registry --platform linux/amd64,linux/arm64 --builder kamal-local-docker-container -t dhh/app:999 -t dhh/app:latest --cache-to type=registry,ref=dhh/app-build-cache,mode=max --cache-from type=registry,ref=dhh/app-build-cache --label service=\"app\" --build-arg [REDACTED] --build-arg b=false --secret id=\"token_a\" --file Dockerfile.prod --target prod --ssh default=$SSH_AUTH_SOCK --provenance mode=max --sbom true --no-cache ./app 2>&1"
        );
        assert!(command
            .to_shell()
            .contains("--build-arg a=\"1\" --build-arg b=false"));
        assert!(!command.to_shell().contains("s3cr3t"));
    }

    #[test]
    fn gha_cache_copies_only_the_allowed_options_to_cache_from() {
        let config = with_builder(
            "  arch: amd64\n  cache:\n    type: gha\n    options: mode=max,url=http://x,scope=app,other=1\n",
        );
        let command = push(&config.builder("amd64"), VERSION, &[], &PushOptions::default()).to_display();
        assert!(command.contains(
            "--cache-to type=gha,mode=max,url=http://x,scope=app,other=1 --cache-from type=gha,url=http://x,scope=app "
        ));
    }

    #[test]
    fn build_dev_tags_dirty_and_outputs_to_docker() {
        let config = configuration(DEPLOY_YML);
        let options = PushOptions {
            output: "docker".to_string(),
            tag_as_dirty: true,
            no_cache: false,
        };
        assert_eq!(
            push(&config.builder("amd64"), VERSION, &[], &options).to_display(),
            "docker buildx build --output=type=docker --platform linux/amd64 --builder kamal-local-docker-container -t dhh/app:999-dirty -t dhh/app:latest-dirty --label service=\"app\" --file Dockerfile . 2>&1"
        );
    }

    #[test]
    fn local_builder_lifecycle() {
        let config = configuration(DEPLOY_YML);
        let builder = config.builder("amd64");
        assert_eq!(
            display(create(&builder)),
            "docker buildx create --name kamal-local-docker-container --driver=docker-container"
        );
        assert_eq!(
            display(remove(&builder)),
            "docker buildx rm kamal-local-docker-container"
        );
        assert_eq!(
            display(inspect_builder(&builder)),
            "docker buildx inspect kamal-local-docker-container"
        );
        assert_eq!(
            info(&builder).to_display(),
            "docker context ls && docker buildx ls"
        );
    }

    #[test]
    fn docker_driver_has_no_builder() {
        let config = with_builder("  arch: amd64\n  driver: docker\n");
        let builder = config.builder("amd64");
        assert_eq!(create(&builder), None);
        assert_eq!(remove(&builder), None);
        assert_eq!(inspect_builder(&builder), None);
        assert_eq!(
            push(&builder, VERSION, &[], &PushOptions::default()).to_display(),
            "docker buildx build --output=type=registry --platform linux/amd64 -t dhh/app:999 -t dhh/app:latest --label service=\"app\" --file Dockerfile . 2>&1"
        );
    }

    #[test]
    fn local_registry_builder() {
        let config = configuration(
            "service: app\nimage: dhh/app\nservers: [1.1.1.1]\nregistry:\n  server: localhost:5000\nbuilder:\n  arch: amd64\n",
        );
        let builder = config.builder("amd64");
        assert_eq!(
            display(create(&builder)),
            "docker buildx create --name kamal-local-registry-docker-container --driver=docker-container --driver-opt network=host"
        );
        assert!(push(&builder, VERSION, &[], &PushOptions::default())
            .to_display()
            .contains("--builder kamal-local-registry-docker-container -t localhost:5000/dhh/app:999 -t localhost:5000/dhh/app:latest "));
    }

    #[test]
    fn remote_builder() {
        let config = with_builder("  arch: amd64\n  remote: ssh://app@1.1.1.5\n");
        let builder = config.builder("arm64");
        assert_eq!(builder.kind(), BuilderKind::Remote);
        assert_eq!(
            display(create(&builder)),
            "docker context create kamal-remote-ssh---app-1-1-1-5-context --description 'kamal-remote-ssh---app-1-1-1-5 host' --docker 'host=ssh://app@1.1.1.5' ; docker buildx create --name kamal-remote-ssh---app-1-1-1-5 kamal-remote-ssh---app-1-1-1-5-context"
        );
        assert_eq!(
            display(remove(&builder)),
            "docker context rm kamal-remote-ssh---app-1-1-1-5-context ; docker buildx rm kamal-remote-ssh---app-1-1-1-5"
        );
        assert_eq!(
            display(inspect_builder(&builder)),
            "docker buildx inspect kamal-remote-ssh---app-1-1-1-5 | grep -q Endpoint:.*kamal-remote-ssh---app-1-1-1-5-context && docker context inspect kamal-remote-ssh---app-1-1-1-5-context --format '{{.Endpoints.docker.Host}}' | grep -xq ssh://app@1.1.1.5 || (echo no compatible builder && exit 1)"
        );
        assert_eq!(
            info(&builder).to_display(),
            "docker context ls ; docker buildx ls"
        );
        let push_line = push(&builder, VERSION, &[], &PushOptions::default()).with_env(&push_env(&builder));
        assert_eq!(
            push_line.to_display(),
            "( export BUILDKIT_NO_CLIENT_TOKEN=\"1\" ; docker buildx build --output=type=registry --platform linux/amd64 --builder kamal-remote-ssh---app-1-1-1-5 -t dhh/app:999 -t dhh/app:latest --label service=\"app\" --file Dockerfile . 2>&1 )"
        );
        assert!(!login_to_registry_locally(&builder));
    }

    #[test]
    fn hybrid_builder() {
        let config = with_builder("  arch: [amd64, arm64]\n  remote: ssh://app@1.1.1.5\n");
        let builder = config.builder("amd64");
        assert_eq!(builder.kind(), BuilderKind::Hybrid);
        assert_eq!(
            display(create(&builder)),
            "docker buildx create --platform linux/amd64 --name kamal-hybrid-docker-container-ssh---app-1-1-1-5 --driver=docker-container && docker context create kamal-hybrid-docker-container-ssh---app-1-1-1-5-context --description 'kamal-hybrid-docker-container-ssh---app-1-1-1-5 host' --docker 'host=ssh://app@1.1.1.5' && docker buildx create --platform linux/arm64 --append --name kamal-hybrid-docker-container-ssh---app-1-1-1-5 kamal-hybrid-docker-container-ssh---app-1-1-1-5-context"
        );
        assert_eq!(push_env(&builder), vec![("BUILDKIT_NO_CLIENT_TOKEN", "1")]);
    }

    #[test]
    fn cloud_builder() {
        let config = with_builder("  arch: amd64\n  driver: cloud docker-org-name/builder-name\n");
        let builder = config.builder("amd64");
        assert_eq!(builder.kind(), BuilderKind::Cloud);
        assert_eq!(
            display(create(&builder)),
            "docker buildx create --driver cloud docker-org-name/builder-name"
        );
        assert_eq!(
            display(remove(&builder)),
            "docker buildx rm cloud-docker-org-name-builder-name"
        );
        assert_eq!(
            display(inspect_builder(&builder)),
            "docker buildx inspect cloud-docker-org-name-builder-name"
        );
        assert!(push(&builder, VERSION, &[], &PushOptions::default())
            .to_display()
            .contains(" --builder cloud-docker-org-name-builder-name "));
    }

    #[test]
    fn pack_builder() {
        let config = with_builder(
            "  arch: amd64\n  pack:\n    builder: heroku/builder:24\n    buildpacks: [heroku/ruby, heroku/procfile]\n  args:\n    a: 1\n  secrets: [token]\n",
        );
        let builder = config.builder("amd64");
        assert_eq!(builder.kind(), BuilderKind::Pack);
        let secrets = [("token".to_string(), Secret::new("xyz"))];
        let command = push(&builder, "123", &secrets, &PushOptions::default());
        assert_eq!(
            command.to_display(),
            "/usr/bin/env pack build dhh/app --platform linux/amd64 --creation-time now --builder heroku/builder:24 --buildpack heroku/ruby --buildpack heroku/procfile --buildpack paketo-buildpacks/image-labels -t dhh/app:123 -t dhh/app:latest --env BP_IMAGE_LABELS=service=app --env a=\"1\" --env [REDACTED] --path . && docker push dhh/app:123 && docker push dhh/app:latest"
        );
        assert!(command.to_shell().contains("--env token=\"xyz\" --path ."));
        assert_eq!(
            display(inspect_builder(&builder)),
            "/usr/bin/env pack builder inspect heroku/builder:24"
        );
        assert_eq!(remove(&builder), None);
        let dev = PushOptions {
            output: "docker".to_string(),
            tag_as_dirty: true,
            no_cache: true,
        };
        assert!(push(&builder, "123", &[], &dev)
            .to_display()
            .ends_with("-t dhh/app:123-dirty -t dhh/app:latest-dirty --clear-cache --env BP_IMAGE_LABELS=service=app --env a=\"1\" --path ."));
    }

    #[test]
    fn pull_side() {
        let config = configuration(DEPLOY_YML);
        assert_eq!(
            clean(&config, VERSION).to_display(),
            "docker image rm --force dhh/app:999"
        );
        assert_eq!(pull(&config, VERSION).to_display(), "docker pull dhh/app:999");
        assert_eq!(
            validate_image(&config, VERSION).to_display(),
            "docker inspect -f '{{ .Config.Labels.service }}' dhh/app:999 | grep -x app || (echo \"Image dhh/app:999 is missing the 'service' label\" && exit 1)"
        );
        assert_eq!(
            first_mirror().to_display(),
            "docker info --format '{{index .RegistryConfig.Mirrors 0}}'"
        );
    }

    #[test]
    fn build_dev_file_check() {
        assert_eq!(
            build_check("/tmp/Dockerfile-abc").to_display(),
            "docker buildx build -t=kamal-local-build-check -f=/tmp/Dockerfile-abc ."
        );
        assert_eq!(
            run_build_check().to_display(),
            "docker run --rm kamal-local-build-check"
        );
    }

    #[test]
    fn fallback_without_buildx() {
        let config = with_builder(
            "  arch: amd64\n  args:\n    a: 1\n  secrets: [token_a]\n  target: prod\n  cache:\n    type: gha\n  provenance: false\n",
        );
        let builder = config.builder("amd64");
        let secrets = [("token_a".to_string(), Secret::new("s3cr3t"))];
        let command =
            fallback_push(&builder, VERSION, &secrets, &PushOptions::default()).expect("a local builder");
        assert_eq!(
            command.with_env(&fallback_push_env(&builder)).to_display(),
            "( export DOCKER_BUILDKIT=\"1\" ; docker build --platform linux/amd64 -t dhh/app:999 -t dhh/app:latest --label service=\"app\" --build-arg [REDACTED] --secret id=\"token_a\" --file Dockerfile --target prod . 2>&1 && docker push dhh/app:999 && docker push dhh/app:latest )"
        );
        let dev = PushOptions {
            output: "docker".to_string(),
            tag_as_dirty: true,
            no_cache: true,
        };
        let plain = configuration(DEPLOY_YML);
        let plain_builder = plain.builder("amd64");
        assert_eq!(
            fallback_push(&plain_builder, VERSION, &[], &dev)
                .expect("a local builder")
                .with_env(&fallback_push_env(&plain_builder))
                .to_display(),
            "( export DOCKER_BUILDKIT=\"0\" ; docker build --platform linux/amd64 -t dhh/app:999-dirty -t dhh/app:latest-dirty --label service=\"app\" --file Dockerfile --no-cache . 2>&1 )"
        );
    }

    #[test]
    fn fallback_needs_a_single_arch_local_builder() {
        let multi = with_builder("  arch: [amd64, arm64]\n");
        assert_eq!(
            fallback_push(&multi.builder("amd64"), VERSION, &[], &PushOptions::default()),
            Err(FallbackUnavailable::MultipleArches(vec![
                "amd64".to_string(),
                "arm64".to_string()
            ]))
        );
        let remote = with_builder("  arch: amd64\n  remote: ssh://app@1.1.1.5\n");
        assert_eq!(
            fallback_push(&remote.builder("arm64"), VERSION, &[], &PushOptions::default()),
            Err(FallbackUnavailable::NeedsBuildx(BuilderKind::Remote))
        );
    }
}
