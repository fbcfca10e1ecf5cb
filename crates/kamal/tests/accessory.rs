//! `kamal accessory …` end to end on the test bed, with the real `kamal` binary: an
//! accessory with clear and secret env, an ERB-rendered file, a plain file, a data
//! directory, a named volume, a label and a published port is booted on one vm and checked
//! there (container, labels, env, mounts, the 0600 env file, what it serves); booting again
//! skips the host; details, logs, exec (new container and `--reuse`), reboot (a new
//! container), stop/start and `remove -y` (container, image and directory gone); an
//! unknown name is reported on stderr with exit 0. `setup` of an app with a plain and a
//! proxied accessory boots both, the proxied one reachable through the shared
//! kamal-proxy; `accessory stop`/`start` take it out of and back into the proxy, and
//! `remove -y` removes both (leaving the proxy to the other apps).
//!
//! The accessory image is the bed's app image pushed again under a repository of each
//! test's own (`kamal-testbed/accessory-<test>`), so removing the accessory's image never
//! touches the image other tests deploy. Service names carry the process id.

mod support;

use std::time::{Duration, Instant};

use std::process::Command;

use support::deployment::{get, get_from_port, web_behind_proxy, Deployment};
use support::{bed, finish, Bed, Finished};

/// How long the state a command leaves may take to show (a container's server starting).
const SETTLE: Duration = Duration::from_secs(30);

/// `command` on `host`, which must succeed; its stdout, trimmed.
fn remote(bed: &Bed, host: &str, command: &str) -> String {
    let finished = bed.remote(host, command);
    finished.assert_success();
    finished.stdout.trim().to_string()
}

/// The bed's app image, pushed again as `<registry>/kamal-testbed/accessory-<name>:v1`
/// from `host` (logged in to the registry through kamal first).
fn publish_image(deployment: &Deployment<'_>, host: &str, name: &str) -> String {
    let bed = deployment.bed;
    let source = format!("{}/kamal-testbed/app:v1", bed.registry);
    let image = format!("{}/kamal-testbed/accessory-{name}:v1", bed.registry);
    // Another test's `kamal remove` may log the vm out in between: log in and push again.
    for attempt in 1..=3 {
        deployment
            .kamal("v1", &["registry", "login", "-L", "-h", host])
            .assert_success();
        let push = bed.remote(
            host,
            &format!(
                "docker pull -q {source} >/dev/null && docker tag {source} {image} && \
                 docker push {image} >/dev/null && docker rmi {image} >/dev/null"
            ),
        );
        if push.code == Some(0) {
            return image;
        }
        assert!(attempt < 3, "pushing {image}: {}", push.all());
    }
    image
}

/// What a test's accessories leave on the hosts, removed when it ends however it ends.
struct Cleanup<'a> {
    bed: &'a Bed,
    host: String,
    services: Vec<String>,
    volumes: Vec<String>,
    image: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let mut script = String::new();
        for service in &self.services {
            script.push_str(&format!(
                "docker exec kamal-proxy kamal-proxy remove {service} >/dev/null 2>&1; \
                 docker rm -f {service} >/dev/null 2>&1; rm -rf {service}; "
            ));
        }
        for volume in &self.volumes {
            script.push_str(&format!("docker volume rm {volume} >/dev/null 2>&1; "));
        }
        script.push_str(&format!("docker rmi {} >/dev/null 2>&1; true", self.image));
        let _ = self.bed.remote(&self.host, &script);
    }
}

/// Polls `probe` until it returns `expected`, failing after [`SETTLE`].
fn eventually<T: PartialEq + std::fmt::Debug>(what: &str, expected: T, probe: impl Fn() -> T) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let seen = probe();
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {seen:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn boot_inspect_exec_logs_reboot_stop_start_then_remove() {
    let Some(bed) = bed() else { return };
    let pid = std::process::id();
    let host = bed.hosts[0].clone();
    let name = "cache";
    let service = format!("acc-boot-{pid}");
    let volume = format!("acc-boot-volume-{pid}");
    let port = 20000 + (pid % 10000) as u16;
    let deployment = Deployment::new(&bed, "accessory", &web_behind_proxy(&bed), "");
    let image = publish_image(&deployment, &host, "boot");
    let _cleanup = Cleanup {
        bed: &bed,
        host: host.clone(),
        services: vec![service.clone()],
        volumes: vec![volume.clone()],
        image: image.clone(),
    };
    deployment.configure(
        &web_behind_proxy(&bed),
        &format!(
            "accessories:\n  {name}:\n    service: {service}\n    image: {image}\n    host: {host}\n\
             \x20   port: \"{port}:80\"\n    labels:\n      tier: cache\n\
             \x20   env:\n      clear:\n        GREETING: hello\n      secret:\n        - ACCESSORY_SECRET\n\
             \x20   files:\n      - config/greeting.txt.erb:/www/greeting.txt\n\
             \x20     - local: config/plain.txt\n        remote: /www/plain.txt\n        mode: \"0644\"\n\
             \x20   directories:\n      - data:/data\n\
             \x20   volumes:\n      - {volume}:/volume\n"
        ),
    );
    std::fs::write(
        deployment.dir.join("config/greeting.txt.erb"),
        "<%= ENV[\"GREETING\"] %> <%= ENV[\"ACCESSORY_SECRET\"] %>\n",
    )
    .expect("template");
    std::fs::write(deployment.dir.join("config/plain.txt"), "plain\n").expect("plain file");
    let secrets = deployment
        .dir
        .join(format!(".kamal/secrets.{}", deployment.destination));
    let mut text = std::fs::read_to_string(&secrets).expect("secrets");
    text.push_str("ACCESSORY_SECRET=s3cr3t-value\n");
    std::fs::write(&secrets, text).expect("secrets");

    // boot: the secret never shows in the output (it travels in the env file).
    let boot = deployment.kamal("v1", &["accessory", "boot", name]);
    boot.assert_success();
    assert!(!boot.all().contains("s3cr3t-value"), "{}", boot.all());
    eventually(
        "the accessory's greeting",
        (200, "hello s3cr3t-value".to_string()),
        || get_from_port(&host, port, &host, "/greeting.txt"),
    );
    assert_eq!(
        get_from_port(&host, port, &host, "/plain.txt"),
        (200, "plain".to_string())
    );

    // On the host: labels, env, mounts, the env file's mode, the uploaded files.
    let inspect = |format: &str| remote(&bed, &host, &format!("docker inspect -f '{format}' {service}"));
    assert_eq!(inspect("{{.State.Running}}"), "true");
    assert_eq!(inspect("{{index .Config.Labels \"service\"}}"), service);
    assert_eq!(inspect("{{index .Config.Labels \"tier\"}}"), "cache");
    let env = inspect("{{range .Config.Env}}{{println .}}{{end}}");
    for variable in [
        "GREETING=hello",
        "ACCESSORY_SECRET=s3cr3t-value",
        &format!("KAMAL_HOST={host}"),
    ] {
        assert!(
            env.lines().any(|line| line == variable),
            "{variable} not in {env}"
        );
    }
    let mounts = inspect("{{range .Mounts}}{{println .Source .Destination}}{{end}}");
    let home = remote(&bed, &host, "pwd");
    for mount in [
        format!("{home}/{service}/www/greeting.txt /www/greeting.txt"),
        format!("{home}/{service}/www/plain.txt /www/plain.txt"),
        format!("{home}/{service}/data /data"),
    ] {
        assert!(
            mounts.lines().any(|line| line == mount),
            "{mount} not in {mounts}"
        );
    }
    assert!(
        mounts
            .lines()
            .any(|line| line.ends_with(" /volume") && line.contains(&volume)),
        "{volume} not in {mounts}"
    );
    assert_eq!(
        remote(
            &bed,
            &host,
            &format!(
                "stat -c %a .kamal/apps/app-{}/env/accessories/{name}.env {service}/www/greeting.txt \
                 {service}/www/plain.txt; test -d {service}/data && echo directory",
                deployment.destination
            )
        ),
        "600\n755\n644\ndirectory"
    );
    let published = inspect("{{range $port, $bindings := .HostConfig.PortBindings}}{{$port}}>{{(index $bindings 0).HostPort}}{{end}}");
    assert_eq!(published, format!("80/tcp>{port}"));

    // Booting again skips the host where the container exists.
    deployment
        .kamal("v1", &["accessory", "boot", name])
        .assert_success()
        .assert_says(&format!(
            "Skipping booting `{name}` on {host}, a container already exists"
        ));

    let details = deployment.kamal("v1", &["accessory", "details", name]);
    details
        .assert_success()
        .assert_says(&format!("Accessory {name} Host: {host}"))
        .assert_says(&service);

    // exec in a new container (with the accessory's env), then in the running one.
    let exec = deployment.kamal("v1", &["accessory", "exec", name, "sh -c 'echo exec-$GREETING'"]);
    exec.assert_success()
        .assert_says("Launching command from new container...")
        .assert_says(&format!("App Host: {host}"))
        .assert_says("exec-hello");
    let reuse = deployment.kamal(
        "v1",
        &[
            "accessory",
            "exec",
            "--reuse",
            name,
            "sh -c 'echo accessory-marker > /proc/1/fd/1; cat /www/plain.txt'",
        ],
    );
    reuse
        .assert_success()
        .assert_says("Launching command from existing container...")
        .assert_says("plain");

    let logs = deployment.kamal("v1", &["accessory", "logs", name, "-g", "accessory-marker", "-T"]);
    logs.assert_success();
    // The log line itself (the `Running …` line names the pattern too).
    assert_eq!(
        logs.stdout
            .lines()
            .filter(|line| line.trim() == "accessory-marker")
            .count(),
        1,
        "{}",
        logs.all()
    );
    let follow = deployment.kamal("v1", &["accessory", "logs", name, "-f", "--dry-run"]);
    follow
        .assert_success()
        .assert_says(&format!("Following logs on [\"{host}\"]..."))
        .assert_says(&format!(
            "docker logs {service} --timestamps --tail 10 --follow 2>&1'"
        ));

    // reboot: a new container from a fresh pull.
    let running_id = || remote(&bed, &host, &format!("docker ps -q --filter name=^{service}$"));
    let before = running_id();
    assert!(!before.is_empty());
    deployment
        .kamal("v1", &["accessory", "reboot", name])
        .assert_success()
        .assert_says(&format!("docker image pull {image}"));
    let after = running_id();
    assert!(!after.is_empty() && after != before, "{before} → {after}");
    eventually("the rebooted accessory", 200, || {
        get_from_port(&host, port, &host, "/plain.txt").0
    });

    // stop and start.
    deployment
        .kamal("v1", &["accessory", "stop", name])
        .assert_success();
    assert_eq!(running_id(), "");
    deployment
        .kamal("v1", &["accessory", "start", name])
        .assert_success();
    assert_eq!(running_id(), after);
    eventually("the restarted accessory", 200, || {
        get_from_port(&host, port, &host, "/plain.txt").0
    });

    // An unknown name: stderr, exit 0.
    let unknown = deployment.kamal("v1", &["accessory", "details", "nope"]);
    unknown.assert_success();
    assert_eq!(
        unknown.stderr.trim(),
        format!("No accessory by the name of 'nope' (options: {name})")
    );

    // remove -y: the container, its image and its directory.
    deployment
        .kamal("v1", &["accessory", "remove", name, "-y"])
        .assert_success();
    assert_eq!(
        remote(
            &bed,
            &host,
            &format!(
                "docker ps -aq --filter label=service={service}; docker images -q {image}; \
                 test -e {service} && echo directory; true"
            )
        ),
        ""
    );

    let audit = deployment.kamal("v1", &["audit", "-h", &host]);
    for line in [
        format!("Booted {name} accessory"),
        format!("Executed cmd 'sh -c 'echo exec-$GREETING'' on {name} accessory"),
        format!("Pull {name} accessory image"),
        format!("Stopped {name} accessory"),
        format!("Started {name} accessory"),
        format!("Removed {name} accessory image"),
    ] {
        audit.assert_says(&line);
    }
}

#[test]
fn setup_boots_plain_and_proxied_accessories_and_remove_takes_them_away() {
    let Some(bed) = bed() else { return };
    let pid = std::process::id();
    let host = bed.hosts[0].clone();
    let plain = format!("acc-setup-db-{pid}");
    let proxied = format!("acc-setup-web-{pid}");
    let deployment = Deployment::new(&bed, "accsetup", &web_behind_proxy(&bed), "");
    let image = publish_image(&deployment, &host, "setup");
    let _cleanup = Cleanup {
        bed: &bed,
        host: host.clone(),
        services: vec![plain.clone(), proxied.clone()],
        volumes: Vec::new(),
        image: image.clone(),
    };
    let proxied_host = format!("accessory-{}", deployment.host_name);
    deployment.configure(
        &web_behind_proxy(&bed),
        &format!(
            "accessories:\n  db:\n    service: {plain}\n    image: {image}\n    host: {host}\n\
             \x20 site:\n    service: {proxied}\n    image: {image}\n    host: {host}\n\
             \x20   proxy:\n      host: {proxied_host}\n      app_port: 80\n      healthcheck:\n        path: /up\n        interval: 1\n"
        ),
    );
    let destination = deployment.destination.clone();
    for guarded in &bed.hosts {
        // Another app on every host, so `remove` leaves the shared proxy alone.
        remote(
            &bed,
            guarded,
            &format!("mkdir -p .kamal/apps/guard-{destination}"),
        );
    }

    let setup = deployment.kamal("v1", &["setup", "-P"]);
    setup.assert_success();
    let running = |service: &str| remote(&bed, &host, &format!("docker ps -q --filter name=^{service}$"));
    assert!(!running(&plain).is_empty(), "{}", setup.all());
    assert!(!running(&proxied).is_empty(), "{}", setup.all());
    let accessory_booted = setup
        .stdout
        .find(&format!("docker run --name {plain}"))
        .expect("db booted");
    let app_booted = setup
        .stdout
        .find("docker run --detach --restart unless-stopped --name app-web")
        .expect("app booted");
    assert!(accessory_booted < app_booted, "accessories boot before the app");
    assert_eq!(get(&host, &proxied_host, "/version"), (200, "v1".to_string()));
    assert_eq!(deployment.version_served(&host), (200, "v1".to_string()));

    let details = deployment.kamal("v1", &["details"]);
    details
        .assert_success()
        .assert_says(&format!("Accessory db Host: {host}"))
        .assert_says(&format!("Accessory site Host: {host}"));

    // stop takes the proxied accessory out of kamal-proxy; start brings it back.
    deployment
        .kamal("v1", &["accessory", "stop", "site"])
        .assert_success();
    assert_not_routed(&bed, &host, &proxied_host);
    assert!(
        running(&proxied).is_empty(),
        "the stopped accessory's container is not running"
    );
    deployment
        .kamal("v1", &["accessory", "start", "site"])
        .assert_success();
    assert_eq!(get(&host, &proxied_host, "/version"), (200, "v1".to_string()));

    let remove = deployment.kamal("v1", &["remove", "-y"]);
    remove.assert_success();
    assert_eq!(
        remote(
            &bed,
            &host,
            &format!(
                "docker ps -aq --filter label=service={plain}; docker ps -aq --filter label=service={proxied}; \
                 docker ps -q --filter name=^kamal-proxy$ | wc -l"
            )
        ),
        "1"
    );
    assert_not_routed(&bed, &host, &proxied_host);
}

/// Asked of kamal-proxy itself rather than over HTTP: on a shared bed another app's catch-all route
/// (scripts/main.sh leaves one) would answer for any host.
fn assert_not_routed(bed: &Bed, host: &str, proxied_host: &str) {
    let routes = remote(bed, host, "docker exec kamal-proxy kamal-proxy list");
    assert!(routes.contains("Service"), "{routes}");
    assert!(!routes.contains(proxied_host), "{routes}");
}

fn project_dir(project: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("kamal-accessory-{project}-{}", std::process::id()))
}

/// `kamal <args> --dry-run` in the project `project` (written on first use): two
/// accessories on two hosts (nothing is contacted), a secret only in the secrets file and
/// in what an ERB file renders.
fn dry_run(project: &str, args: &[&str]) -> Finished {
    let dir = project_dir(project);
    if !dir.exists() {
        write_project(&dir);
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_kamal"));
    command
        .args(args)
        .arg("--dry-run")
        .current_dir(&dir)
        .env("VERSION", "v1");
    finish(command, &format!("kamal {}", args.join(" ")))
}

fn write_project(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("config")).expect("config dir");
    std::fs::create_dir_all(dir.join(".kamal")).expect(".kamal");
    std::fs::write(
        dir.join("config/deploy.yml"),
        "service: app\nimage: app\nservers: [10.213.0.11]\nregistry:\n  server: 10.213.0.2:5000\n  username: u\n  password: [REGISTRY_PASSWORD]\n\
         builder:\n  arch: amd64\naccessories:\n  db:\n    image: db:1\n    host: 10.213.0.11\n\
         \x20   env:\n      secret: [DB_PASSWORD]\n    files:\n      - config/init.sql.erb:/init.sql\n      - config/my.cnf:/etc/my.cnf\n\
         \x20 cache:\n    image: cache:1\n    host: 10.213.0.12\n",
    )
    .expect("deploy.yml");
    std::fs::write(
        dir.join("config/init.sql.erb"),
        "pw=<%= ENV[\"DB_PASSWORD\"] %>\n",
    )
    .expect("template");
    std::fs::write(dir.join("config/my.cnf"), "[mysqld]\n").expect("file");
    std::fs::write(
        dir.join(".kamal/secrets"),
        "REGISTRY_PASSWORD=registry-dry-secret\nDB_PASSWORD=db-dry-secret\n",
    )
    .expect("secrets");
}

#[test]
fn dry_run_boots_each_accessory_on_its_hosts_within_the_host_filter() {
    let boot = dry_run("boot", &["accessory", "boot", "all"]);
    boot.assert_success();
    for line in [
        "Would run docker run --name app-db --detach --restart unless-stopped --network kamal --log-opt max-size=\"10m\" --env KAMAL_HOST=\"10.213.0.11\" --env-file .kamal/apps/app/env/accessories/db.env --volume $PWD/app-db/init.sql:/init.sql --volume $PWD/app-db/etc/my.cnf:/etc/my.cnf --label service=\"app-db\" db:1 on 10.213.0.11",
        "Would upload .kamal/apps/app/env/accessories/db.env (mode 0600) to 10.213.0.11",
        "Would run /usr/bin/env chmod 755 app-db/init.sql on 10.213.0.11",
        "Would run docker run --name app-cache",
    ] {
        boot.assert_says(line);
    }
    assert!(!boot.all().contains("dry-secret"), "{}", boot.all());

    // -h narrows each accessory's hosts: only the cache runs on .12.
    let filtered = dry_run("boot", &["accessory", "boot", "all", "-h", "10.213.0.12"]);
    filtered
        .assert_success()
        .assert_says("Would run docker run --name app-cache")
        .assert_not_says("docker run --name app-db");

    // A missing file is named before anything is uploaded.
    let dir = project_dir("boot");
    std::fs::remove_file(dir.join("config/my.cnf")).expect("remove my.cnf");
    let missing = dry_run("boot", &["accessory", "upload", "db"]);
    let message = missing.assert_error("RuntimeError");
    assert!(
        message.starts_with(&format!(
            "Exception while executing on host 10.213.0.11: Missing file: {}",
            dir.join("config/my.cnf").display()
        )),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn names_arguments_and_confirmation_as_kamal() {
    let unknown = dry_run("names", &["accessory", "details", "nope"]);
    unknown.assert_success();
    assert_eq!(
        unknown.stderr.trim(),
        "No accessory by the name of 'nope' (options: db and cache)"
    );
    let no_name = dry_run("names", &["accessory", "boot"]);
    assert_eq!(no_name.code, Some(1));
    assert_eq!(
        no_name.stderr.trim(),
        "ERROR: \"kamal accessory boot\" was called with no arguments\nUsage: \"kamal accessory boot [NAME]\""
    );
    // Without -y and nothing on stdin: the question, then Aborted; nothing runs.
    let remove = dry_run("names", &["accessory", "remove", "db"]);
    remove
        .assert_success()
        .assert_says(
            "This will remove all containers, images and data directories for db. Are you sure? [y, N] (N) ",
        )
        .assert_says("Aborted")
        .assert_not_says("Would run");
    let follow = dry_run("names", &["accessory", "logs", "cache", "-f", "-g", "boom"]);
    follow
        .assert_success()
        .assert_says("Following logs on [\"10.213.0.12\"]...")
        .assert_says("-t root@10.213.0.12 -p 22 'docker logs app-cache --timestamps --tail 10 --follow 2>&1 | grep \"boom\"'");
    let _ = std::fs::remove_dir_all(project_dir("names"));
}
