//! `kamal proxy …` and `kamal app maintenance | live` against the test bed's vms, with our
//! kamal-proxy image from the bed's registry (`<registry>/basecamp/kamal-proxy:v0.9.2`).
//!
//! There is one `kamal-proxy` per vm, shared by everyone using the bed, so the proxy's
//! life cycle is one test that runs its steps in order: boot from `proxy.run`, an app
//! container started with Kamal's own run line and registered with the proxy,
//! maintenance and live, the legacy boot-config files through reboots (plain, rolling, with
//! a nested `kamal` in the reboot hook under the inherited lock), reset, removal, and the
//! failures on the way. What it found on the vms it leaves there; what it created it
//! removes. Without a bed the tests fail with a hint, or are skipped when
//! `KAMAL_SKIP_TESTBED=1`. Only the bed's own addresses are contacted.

mod support;

use std::path::PathBuf;
use std::process::Command;

use kamal_commands::app::App;
use kamal_config::configuration::{load, Configuration, LoadOptions};
use kamal_config::MapEnvironment;
use support::{bed, finish, Bed, Finished};

const PROXY_VERSION: &str = "v0.9.2";
/// Kamal's default proxy image, which a reset boot config runs. No vm can pull it (there
/// is no Docker Hub here), so the test tags the bed's copy with this name first.
const DEFAULT_PROXY_IMAGE: &str = "basecamp/kamal-proxy:v0.9.2";

impl Bed {
    fn proxy_image(&self) -> String {
        format!("{}/basecamp/kamal-proxy:{PROXY_VERSION}", self.registry)
    }
}

/// A temporary project with two configs for one service: `config/deploy.yml` (no
/// `proxy.run`: the boot-config files decide) and `config/run.yml` (with `proxy.run`).
struct Project<'a> {
    bed: &'a Bed,
    dir: PathBuf,
    service: String,
}

const VERSION: &str = "v1";

impl<'a> Project<'a> {
    fn new(bed: &'a Bed, name: &str) -> Project<'a> {
        let service = format!("krs-{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("kamal-proxy-test-{service}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).expect("config dir");
        std::fs::create_dir_all(dir.join(".kamal/hooks")).expect(".kamal dir");
        std::fs::copy(&bed.known_hosts, dir.join("known_hosts")).expect("known_hosts");
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host *\n    UserKnownHostsFile {}\n",
                dir.join("known_hosts").display()
            ),
        )
        .expect("ssh_config");
        std::fs::write(
            dir.join(".kamal/secrets"),
            format!("KAMAL_REGISTRY_PASSWORD={}\n", bed.registry_password),
        )
        .expect("secrets");
        let project = Project { bed, dir, service };
        let run = format!(
            "  run:\n    registry: {}\n    repository: basecamp/kamal-proxy\n    version: {PROXY_VERSION}\n    \
             log_max_size: 20m\n    metrics_port: 9101\n    options:\n      label: krs.test={}\n",
            bed.registry, project.service
        );
        std::fs::write(
            project.path("config/deploy.yml"),
            project.config_text(&project.service, ""),
        )
        .expect("deploy.yml");
        std::fs::write(
            project.path("config/run.yml"),
            project.config_text(&project.service, &run),
        )
        .expect("run.yml");
        let absent = format!("{}-absent", project.service);
        std::fs::write(
            project.path("config/absent.yml"),
            project.config_text(&absent, ""),
        )
        .expect("absent.yml");
        project
    }

    fn config_text(&self, service: &str, proxy_run: &str) -> String {
        let bed = self.bed;
        let hosts: Vec<String> = bed.hosts.iter().map(|host| format!("\"{host}\"")).collect();
        format!(
            "service: {service}\n\
             image: {image}\n\
             servers:\n  web:\n    hosts: [{hosts}]\n\
             proxy:\n  host: {service}.test\n  app_port: 80\n  healthcheck:\n    path: /up\n    interval: 1\n{proxy_run}\
             registry:\n  server: {registry}\n  username: {user}\n  password: [KAMAL_REGISTRY_PASSWORD]\n\
             ssh:\n  user: root\n  keys_only: true\n  keys: [\"{key}\"]\n  config: [\"{ssh_config}\"]\n\
             builder:\n  arch: amd64\n",
            image = bed.app_image,
            hosts = hosts.join(", "),
            registry = bed.registry,
            user = bed.registry_user,
            key = bed.key.display(),
            ssh_config = self.path("ssh_config").display(),
        )
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kamal"));
        command
            .args(args)
            .current_dir(&self.dir)
            .env("VERSION", VERSION)
            .env("KRS_KAMAL_BIN", env!("CARGO_BIN_EXE_kamal"));
        for (name, _) in std::env::vars() {
            if name.starts_with("KAMAL_") {
                command.env_remove(name);
            }
        }
        command
    }

    fn kamal(&self, args: &[&str]) -> Finished {
        finish(self.command(args), &format!("kamal {}", args.join(" ")))
    }

    fn write_hook(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(&format!(".kamal/hooks/{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("hook");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// The configuration as kamal loads it (to build Kamal's own command lines).
    fn configuration(&self) -> Configuration {
        let text = std::fs::read_to_string(self.path("config/deploy.yml")).expect("deploy.yml");
        let mut environment = MapEnvironment::new()
            .with_file("config/deploy.yml", &text)
            .with_file(".kamal/secrets", "");
        load(&LoadOptions::default(), &mut environment).unwrap_or_else(|error| panic!("config: {error}"))
    }

    /// `docker run` of the app as `kamal app boot` does it (Kamal's run line, an empty env
    /// file), then `kamal-proxy deploy` of that container: what a deploy leaves behind.
    fn start_app(&self, host: &str) {
        let config = self.configuration();
        let role = config.role("web").expect("web role");
        let app = App::new(&config, role, host, VERSION);
        let runtime = config.role_runtime(role);
        self.bed.output(
            host,
            &format!(
                "mkdir -p {} && printf '\\n' > {} && {}",
                runtime.env_directory(),
                runtime.secrets_path(),
                app.run(None).join_shell()
            ),
        );
        let id = self
            .bed
            .output(host, &app.current_running_container_id().join_shell());
        assert!(!id.is_empty(), "no running app container on {host}");
        let deploy = app.deploy(&id).expect("web runs behind the proxy");
        self.bed.output(host, &deploy.join_shell());
    }

    /// `curl http://<host>:<port>/` for this service's proxy host name: status and body.
    fn get(&self, host: &str, port: u16) -> (String, String) {
        let mut curl = Command::new("curl");
        curl.args([
            "--silent",
            "--max-time",
            "10",
            "--header",
            &format!("Host: {}.test", self.service),
            "--write-out",
            "\n%{http_code}",
            &format!("http://{host}:{port}/"),
        ]);
        let finished = finish(curl, "curl");
        let (body, status) = finished
            .stdout
            .rsplit_once('\n')
            .unwrap_or(("", &finished.stdout));
        (status.to_string(), body.to_string())
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let cleanup = format!(
            "docker exec kamal-proxy kamal-proxy remove {service}-web >/dev/null 2>&1; \
             docker ps -aq --filter label=service={service} | xargs -r docker rm -f >/dev/null 2>&1; \
             rm -rf .kamal/apps/{service} .kamal/{service}-audit.log .kamal/lock-{service} \
             .kamal/proxy/apps-config/{service}; true",
            service = self.service
        );
        for host in &self.bed.hosts {
            let _ = self.bed.remote(host, &cleanup);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What each vm had before the test, so the end (or a panic) restores it: a proxy
/// container, the proxy's config volume, the `kamal` network, the default image tag, the
/// `.kamal/proxy` directory.
struct BedState<'a> {
    bed: &'a Bed,
    before: Vec<HostState>,
}

#[derive(Debug, Clone, Copy)]
struct HostState {
    proxy: bool,
    volume: bool,
    network: bool,
    default_image: bool,
    proxy_directory: bool,
}

impl<'a> BedState<'a> {
    fn record(bed: &'a Bed) -> BedState<'a> {
        let before = bed
            .hosts
            .iter()
            .map(|host| {
                let yes = |check: &str| {
                    bed.output(host, &format!("{check} >/dev/null 2>&1 && echo yes || echo no")) == "yes"
                };
                HostState {
                    proxy: yes("docker container inspect kamal-proxy"),
                    volume: yes("docker volume inspect kamal-proxy-config"),
                    network: yes("docker network inspect kamal"),
                    default_image: yes(&format!("docker image inspect {DEFAULT_PROXY_IMAGE}")),
                    proxy_directory: yes("test -d .kamal/proxy"),
                }
            })
            .collect();
        BedState { bed, before }
    }

    fn had_proxy(&self) -> bool {
        self.before.iter().any(|state| state.proxy)
    }

    /// Tags the bed's proxy image with Kamal's default name where it is missing (pulled
    /// already by the boot from `proxy.run`).
    fn tag_default_image(&self) {
        for host in &self.bed.hosts {
            self.bed.output(
                host,
                &format!("docker image inspect {DEFAULT_PROXY_IMAGE} >/dev/null 2>&1 || docker tag {} {DEFAULT_PROXY_IMAGE}", self.bed.proxy_image()),
            );
        }
    }
}

impl Drop for BedState<'_> {
    fn drop(&mut self) {
        for (host, state) in self.bed.hosts.iter().zip(&self.before) {
            let mut steps = vec!["rm -f .kamal/proxy/options .kamal/proxy/image .kamal/proxy/image_version .kamal/proxy/run_command".to_string()];
            if !state.proxy_directory {
                steps.push("rm -rf .kamal/proxy".into());
            }
            if !state.proxy {
                steps.push("docker rm -f kamal-proxy".into());
            }
            if !state.volume {
                steps.push("docker volume rm kamal-proxy-config".into());
            }
            if !state.default_image {
                steps.push(format!("docker image rm {DEFAULT_PROXY_IMAGE}"));
            }
            if !state.network {
                steps.push("docker network rm kamal".into());
            }
            let script: Vec<String> = steps
                .iter()
                .map(|step| format!("{step} >/dev/null 2>&1"))
                .collect();
            let _ = self.bed.remote(host, &format!("{}; true", script.join("; ")));
        }
    }
}

/// The parts of `docker inspect kamal-proxy` the boot options decide.
#[derive(Debug)]
struct ProxyContainer {
    image: String,
    ports: String,
    log_max_size: String,
    restart: String,
    network: String,
    command: String,
    exposed: String,
    mounts: String,
    label: String,
}

fn inspect_proxy(bed: &Bed, host: &str) -> ProxyContainer {
    let format = "{{.Config.Image}}|{{json .HostConfig.PortBindings}}|{{index .HostConfig.LogConfig.Config \"max-size\"}}|\
                  {{.HostConfig.RestartPolicy.Name}}|{{.HostConfig.NetworkMode}}|{{json .Config.Cmd}}|\
                  {{json .Config.ExposedPorts}}|{{range .Mounts}}{{if .Name}}{{.Name}}{{else}}{{.Source}}{{end}}:{{.Destination}} {{end}}|\
                  {{index .Config.Labels \"krs.test\"}}";
    let text = bed.output(host, &format!("docker inspect kamal-proxy --format '{format}'"));
    let fields: Vec<&str> = text.split('|').collect();
    assert_eq!(fields.len(), 9, "docker inspect on {host}: {text}");
    ProxyContainer {
        image: fields[0].to_string(),
        ports: fields[1].to_string(),
        log_max_size: fields[2].to_string(),
        restart: fields[3].to_string(),
        network: fields[4].to_string(),
        command: fields[5].to_string(),
        exposed: fields[6].to_string(),
        mounts: fields[7].to_string(),
        label: fields[8].to_string(),
    }
}

fn proxy_container_id(bed: &Bed, host: &str) -> String {
    bed.output(host, "docker inspect kamal-proxy --format '{{.Id}}'")
}

/// Ports published as `<container port>/tcp -> <host port>`, sorted (empty: none).
fn published(container: &ProxyContainer) -> Vec<String> {
    let mut ports: Vec<String> = container
        .ports
        .split("],")
        .filter_map(|entry| {
            let container_port = entry.split('"').nth(1)?;
            let host_port = entry.split("\"HostPort\":\"").nth(1)?.split('"').next()?;
            Some(format!("{container_port} -> {host_port}"))
        })
        .collect();
    ports.sort();
    ports
}

fn assert_common_run_options(container: &ProxyContainer, host: &str) {
    assert_eq!(container.restart, "unless-stopped", "{host}: {container:?}");
    assert_eq!(container.network, "kamal", "{host}: {container:?}");
    assert!(
        container
            .mounts
            .contains("kamal-proxy-config:/home/kamal-proxy/.config/kamal-proxy"),
        "{host}: {container:?}"
    );
    assert!(
        container
            .mounts
            .contains("/.kamal/proxy/apps-config:/home/kamal-proxy/.apps-config"),
        "{host}: {container:?}"
    );
}

#[test]
fn proxy_life_cycle_boot_config_reboots_and_maintenance_on_the_bed() {
    let Some(bed) = bed() else { return };
    let state = BedState::record(&bed);
    let project = Project::new(&bed, "proxy");
    let run = ["-c", "config/run.yml"];
    let with = |command: &[&str], config: &[&str]| -> Vec<String> {
        command
            .iter()
            .chain(config)
            .map(|word| word.to_string())
            .collect()
    };
    let kamal = |words: Vec<String>| -> Finished {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        project.kamal(&words)
    };

    // Start from no proxy container (one left by someone else is stopped and removed).
    if state.had_proxy() {
        kamal(with(&["proxy", "stop"], &run)).assert_success();
        kamal(with(&["proxy", "remove_container"], &run)).assert_success();
    }

    // No proxy container: the commands that need one fail clearly.
    let missing = kamal(with(&["proxy", "start"], &run));
    let message = missing.assert_error_line("SSHKit::Command::Failed");
    assert!(
        message.contains("No such container: kamal-proxy"),
        "{}",
        missing.all()
    );
    let missing = kamal(with(&["app", "live"], &run));
    let message = missing.assert_error_line("SSHKit::Command::Failed");
    assert!(
        message.contains("No such container: kamal-proxy"),
        "{}",
        missing.all()
    );

    // Boot from proxy.run: the container has exactly the configured options.
    kamal(with(&["proxy", "boot"], &run)).assert_success();
    for host in &bed.hosts {
        let container = inspect_proxy(&bed, host);
        assert_eq!(container.image, bed.proxy_image(), "{host}");
        assert_eq!(
            published(&container),
            ["443/tcp -> 443", "80/tcp -> 80"],
            "{host}: {container:?}"
        );
        assert_eq!(container.log_max_size, "20m", "{host}");
        assert_eq!(
            container.command, r#"["kamal-proxy","run","--metrics-port","9101"]"#,
            "{host}"
        );
        assert!(
            container.exposed.contains("\"9101/tcp\""),
            "{host}: {container:?}"
        );
        assert_eq!(container.label, project.service, "{host}");
        assert_common_run_options(&container, host);
    }
    // A second boot finds it running at the minimum version and keeps it.
    let first_ids: Vec<String> = bed
        .hosts
        .iter()
        .map(|host| proxy_container_id(&bed, host))
        .collect();
    kamal(with(&["proxy", "boot"], &run)).assert_success();
    let second_ids: Vec<String> = bed
        .hosts
        .iter()
        .map(|host| proxy_container_id(&bed, host))
        .collect();
    assert_eq!(first_ids, second_ids);
    let details = kamal(with(&["proxy", "details"], &run));
    details.assert_success();
    for host in &bed.hosts {
        assert!(
            details.stdout.contains(&format!("Proxy Host: {host}\n")),
            "{}",
            details.all()
        );
    }
    assert!(details.stdout.contains(&bed.proxy_image()), "{}", details.all());
    let get = kamal(with(&["proxy", "boot_config", "get"], &run));
    get.assert_success();
    assert!(
        get.stdout.contains(&format!(
            "proxy/run in the deploy config is in force on {}",
            bed.hosts.join(", ")
        )),
        "{}",
        get.all()
    );
    state.tag_default_image();

    // An app container as a deploy leaves it, behind the proxy: maintenance and live.
    for host in &bed.hosts {
        project.start_app(host);
        assert_eq!(project.get(host, 80).0, "200", "{host} before maintenance");
    }
    let maintenance = kamal(with(
        &[
            "app",
            "maintenance",
            "--message",
            "Back soon",
            "--drain-timeout",
            "2",
        ],
        &run,
    ));
    maintenance.assert_success();
    assert!(
        maintenance.stdout.contains(&format!(
            "docker exec kamal-proxy kamal-proxy stop {}-web --drain-timeout=\"2s\" --message=\"Back soon\"",
            project.service
        )),
        "{}",
        maintenance.all()
    );
    for host in &bed.hosts {
        let (status, body) = project.get(host, 80);
        assert_eq!(status, "503", "{host} in maintenance: {body}");
        assert!(body.contains("Back soon"), "{host}: {body}");
    }
    kamal(with(&["app", "live"], &run)).assert_success();
    for host in &bed.hosts {
        assert_eq!(project.get(host, 80).0, "200", "{host} live again");
    }
    // Maintenance without options: the configured drain timeout (30).
    let maintenance = kamal(with(&["app", "maintenance", "-r", "web"], &run));
    maintenance.assert_success();
    assert!(
        maintenance.stdout.contains("--drain-timeout=\"30s\""),
        "{}",
        maintenance.all()
    );
    kamal(with(&["app", "live"], &run)).assert_success();

    // An app the proxy does not know.
    let absent = kamal(vec![
        "app".into(),
        "maintenance".into(),
        "-c".into(),
        "config/absent.yml".into(),
    ]);
    let message = absent.assert_error_line("SSHKit::Command::Failed");
    assert!(message.contains("service not found"), "{}", absent.all());

    // Legacy boot config, no publishing: the files, what `get` prints, the rebooted proxy.
    let registry_options = [
        "--registry",
        bed.registry.as_str(),
        "--repository",
        "basecamp",
        "--image-version",
        PROXY_VERSION,
    ];
    let mut set = vec![
        "proxy",
        "boot_config",
        "set",
        "--http-port",
        "8080",
        "--no-publish",
    ];
    set.extend(registry_options);
    let output = project.kamal(&set);
    output.assert_success();
    assert!(
        output.stdout.contains("The proxy boot_config command is deprecated - set the config in the deploy YAML at proxy/run instead"),
        "{}",
        output.all()
    );
    let image = format!("{}/basecamp/kamal-proxy", bed.registry);
    for host in &bed.hosts {
        assert_eq!(
            bed.output(host, "cat .kamal/proxy/options"),
            "--log-opt max-size=10m"
        );
        assert_eq!(bed.output(host, "cat .kamal/proxy/image"), image);
        assert_eq!(bed.output(host, "cat .kamal/proxy/image_version"), PROXY_VERSION);
        assert_eq!(
            bed.output(host, "test -e .kamal/proxy/run_command && echo yes || echo no"),
            "no"
        );
    }
    let get = project.kamal(&["proxy", "boot_config", "get"]);
    get.assert_success();
    for host in &bed.hosts {
        assert!(
            get.stdout.contains(&format!(
                "Host {host}: --log-opt max-size=10m {image}:{PROXY_VERSION}\n"
            )),
            "{}",
            get.all()
        );
    }
    assert!(!get.stdout.contains("in force"), "{}", get.all());

    let hook_log = project.path("hook.log");
    project.write_hook(
        "pre-proxy-reboot",
        &format!(
            "echo \"pre $KAMAL_HOSTS lock=$KAMAL_LOCK\" >> {}",
            hook_log.display()
        ),
    );
    project.write_hook(
        "post-proxy-reboot",
        &format!("echo \"post $KAMAL_HOSTS\" >> {}", hook_log.display()),
    );
    let reboot = project.kamal(&["proxy", "reboot", "-y"]);
    reboot.assert_success();
    assert_eq!(
        std::fs::read_to_string(&hook_log).expect("hook log"),
        format!(
            "pre {hosts} lock=true\npost {hosts}\n",
            hosts = bed.hosts.join(",")
        )
    );
    for host in &bed.hosts {
        let container = inspect_proxy(&bed, host);
        assert_eq!(container.image, format!("{image}:{PROXY_VERSION}"), "{host}");
        assert!(published(&container).is_empty(), "{host}: {container:?}");
        assert_eq!(container.log_max_size, "10m", "{host}");
        assert_eq!(container.command, r#"["kamal-proxy","run"]"#, "{host}");
        assert!(!container.exposed.contains("9101"), "{host}: {container:?}");
        assert_eq!(container.label, "", "{host}");
        assert_common_run_options(&container, host);
        // The proxy's routes live in its config volume: the app is still registered.
        let services = bed.output(host, "docker exec kamal-proxy kamal-proxy list");
        assert!(
            services.contains(&format!("{}-web", project.service)),
            "{host}: {services}"
        );
    }

    // Publishing on 8080, set by a `kamal` run inside the reboot hook (under the reboot's
    // lock, which it inherits; `app live` takes the lock and would fail otherwise),
    // rolling: one host per hook pair.
    std::fs::remove_file(&hook_log).expect("hook log");
    let nested_set = format!(
        "\"$KRS_KAMAL_BIN\" proxy boot_config set --publish --http-port 8080 {} -h \"$KAMAL_HOSTS\" >/dev/null || echo nested-set-failed >> {log}\n\
         \"$KRS_KAMAL_BIN\" app live -h \"$KAMAL_HOSTS\" >/dev/null || echo nested-live-failed >> {log}\n\
         echo \"pre $KAMAL_HOSTS lock=$KAMAL_LOCK\" >> {log}",
        registry_options.join(" "),
        log = hook_log.display()
    );
    project.write_hook("pre-proxy-reboot", &nested_set);
    let reboot = project.kamal(&["proxy", "reboot", "-y", "--rolling"]);
    reboot.assert_success();
    let expected: String = bed
        .hosts
        .iter()
        .map(|host| format!("pre {host} lock=true\npost {host}\n"))
        .collect();
    assert_eq!(std::fs::read_to_string(&hook_log).expect("hook log"), expected);
    for host in &bed.hosts {
        let container = inspect_proxy(&bed, host);
        assert_eq!(
            published(&container),
            ["443/tcp -> 443", "80/tcp -> 8080"],
            "{host}: {container:?}"
        );
        assert_eq!(container.image, format!("{image}:{PROXY_VERSION}"), "{host}");
        assert_eq!(
            project.get(host, 8080).0,
            "200",
            "{host} on 8080 after the reboot"
        );
    }
    std::fs::remove_file(project.path(".kamal/hooks/pre-proxy-reboot")).expect("hook");
    std::fs::remove_file(project.path(".kamal/hooks/post-proxy-reboot")).expect("hook");

    // Without -y and with nothing on standard input: asked, aborted, nothing touched.
    let ids: Vec<String> = bed
        .hosts
        .iter()
        .map(|host| proxy_container_id(&bed, host))
        .collect();
    let aborted = project.kamal(&["proxy", "reboot"]);
    aborted.assert_success();
    assert!(
        aborted
            .stdout
            .contains("This will cause a brief outage on each host. Are you sure? [y, N] (N) "),
        "{}",
        aborted.all()
    );
    assert!(aborted.stdout.contains("Aborted"), "{}", aborted.all());
    let after: Vec<String> = bed
        .hosts
        .iter()
        .map(|host| proxy_container_id(&bed, host))
        .collect();
    assert_eq!(ids, after);

    // Reset (and its alias clear): the defaults again after a reboot.
    project.kamal(&["proxy", "boot_config", "reset"]).assert_success();
    project.kamal(&["proxy", "boot_config", "clear"]).assert_success();
    let get = project.kamal(&["proxy", "boot_config", "get"]);
    for host in &bed.hosts {
        assert!(
            get.stdout.contains(&format!(
                "Host {host}: --publish 80:80 --publish 443:443 --log-opt max-size=10m {DEFAULT_PROXY_IMAGE}\n"
            )),
            "{}",
            get.all()
        );
    }
    project.kamal(&["proxy", "reboot", "-y"]).assert_success();
    for host in &bed.hosts {
        let container = inspect_proxy(&bed, host);
        assert_eq!(container.image, DEFAULT_PROXY_IMAGE, "{host}");
        assert_eq!(
            published(&container),
            ["443/tcp -> 443", "80/tcp -> 80"],
            "{host}: {container:?}"
        );
        assert_eq!(container.log_max_size, "10m", "{host}");
        assert_common_run_options(&container, host);
        assert_eq!(project.get(host, 80).0, "200", "{host} after the reset");
    }

    // Logs, restart.
    let logs = project.kamal(&["proxy", "logs", "-n", "5"]);
    logs.assert_success();
    for host in &bed.hosts {
        assert!(
            logs.stdout.contains(&format!("Proxy Host: {host}\n")),
            "{}",
            logs.all()
        );
    }
    project.kamal(&["proxy", "restart"]).assert_success();
    for host in &bed.hosts {
        assert_eq!(
            bed.output(host, "docker inspect kamal-proxy --format '{{.State.Running}}'"),
            "true"
        );
    }

    // Removal, when the test brought the proxy: the app directory on the hosts holds it
    // back until --force.
    if !state.had_proxy() && state.before.iter().all(|host| !host.default_image) {
        let held = project.kamal(&["proxy", "remove"]);
        held.assert_success();
        assert!(
            held.stdout.contains("Not removing the proxy, as other apps are installed, ignore this check with kamal proxy remove --force"),
            "{}",
            held.all()
        );
        project.kamal(&["proxy", "remove", "--force"]).assert_success();
        for host in &bed.hosts {
            assert_eq!(
                bed.output(
                    host,
                    "docker container inspect kamal-proxy >/dev/null 2>&1 && echo yes || echo no"
                ),
                "no"
            );
            assert_eq!(
                bed.output(host, "test -d .kamal/proxy && echo yes || echo no"),
                "no"
            );
        }
    }
}

#[test]
fn bad_input_boot_config_set_with_docker_options_xargs_would_split() {
    let Some(bed) = bed() else { return };
    let project = Project::new(&bed, "proxy-bad");
    let bad = project.kamal(&["proxy", "boot_config", "set", "--docker-options", "label=a b"]);
    let message = bad.assert_error("ArgumentError");
    assert!(
        message.starts_with("Invalid docker option \"label=a b\""),
        "{}",
        bad.all()
    );
    let bad = project.kamal(&["proxy", "boot_config", "set", "--publish-host-ip", "not-an-ip"]);
    let message = bad.assert_error("ArgumentError");
    assert!(
        message.starts_with("Invalid publish IP address: not-an-ip"),
        "{}",
        bad.all()
    );
    let bad = project.kamal(&["proxy", "boot_config", "set", "--http-port", "eighty"]);
    assert_eq!(bad.code, Some(1), "{}", bad.all());
    assert!(
        bad.stderr
            .contains("Expected numeric value for '--http-port'; got \"eighty\""),
        "{}",
        bad.all()
    );
    let bad = project.kamal(&["proxy", "boot_config", "bogus"]);
    let message = bad.assert_error("ArgumentError");
    assert!(
        message.starts_with("Unknown boot_config subcommand bogus"),
        "{}",
        bad.all()
    );
    // Nothing reached the hosts.
    for host in &bed.hosts {
        assert_eq!(
            bed.output(
                host,
                "cat .kamal/proxy/options 2>/dev/null | grep -c 'label=a' || true"
            ),
            "0"
        );
    }
}
