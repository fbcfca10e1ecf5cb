//! The app lifecycle end to end on the test bed, with the real `kamal` binary and our
//! kamal-proxy image (from the bed's registry, through `proxy.run`): deploy, a second
//! version under continuous load with no failed request, rollback, boot groups with their
//! hooks and `boot.wait`, a version that fails its health check leaving the old one
//! serving, maintenance, and custom SSL certificates from the secrets served over HTTPS.
//! Each test deploys the bed's example app (`service: app`, as its image label says) under
//! a destination of its own, so container names, locks and proxy services never clash;
//! the tests take turns, because they share each host's kamal-proxy.

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::deployment::{get, web_behind_proxy, Deployment};
use support::{bed, finish, Finished};

/// One deploy at a time: they share the hosts' kamal-proxy (and its boot).
static TURN: Mutex<()> = Mutex::new(());

#[test]
fn deploy_a_second_version_under_load_then_roll_back() {
    let Some(bed) = bed() else { return };
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let deployment = Deployment::new(&bed, "load", &web_behind_proxy(&bed), "");

    deployment.kamal("v1", &["deploy", "-P"]).assert_success();
    for host in &bed.hosts {
        assert_eq!(deployment.version_served(host), (200, "v1".to_string()), "{host}");
    }

    // Continuous load on every host while v2 replaces v1.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let load: Vec<_> = bed
        .hosts
        .iter()
        .map(|host| {
            let (host, header) = (host.clone(), deployment.host_name.clone());
            let (stop, served, failed) = (stop.clone(), served.clone(), failed.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut count = 0;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline && count < 20_000 {
                    let (status, body) = get(&host, &header, "/version");
                    if status == 200 && (body == "v1" || body == "v2") {
                        served.fetch_add(1, Ordering::SeqCst);
                    } else {
                        failed
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .push(format!("{host}: {status} {body:?}"));
                    }
                    count += 1;
                }
            })
        })
        .collect();
    let second = deployment.kamal("v2", &["deploy", "-P"]);
    stop.store(true, Ordering::SeqCst);
    for thread in load {
        thread.join().expect("load thread");
    }
    second.assert_success();
    let failed = failed
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    assert!(
        failed.is_empty(),
        "{} failed requests during the deploy: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(
        served.load(Ordering::SeqCst) > 10,
        "the load generator barely ran"
    );
    for host in &bed.hosts {
        assert_eq!(deployment.version_served(host), (200, "v2".to_string()), "{host}");
    }

    deployment.kamal("v2", &["rollback", "v1"]).assert_success();
    for host in &bed.hosts {
        assert_eq!(deployment.version_served(host), (200, "v1".to_string()), "{host}");
    }
    let version = deployment.kamal("v1", &["app", "version", "-q"]);
    version.assert_success();
    assert_eq!(
        version.stdout.matches("v1").count(),
        bed.hosts.len(),
        "{}",
        version.all()
    );
    deployment
        .kamal("v1", &["lock", "status"])
        .assert_success()
        .assert_says("There is no deploy lock");
}

#[test]
fn boot_groups_run_the_boot_hooks_per_group_and_wait_after_each() {
    let Some(bed) = bed() else { return };
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let servers = format!("  web:\n    hosts: [{}]\n    proxy: false", bed.hosts.join(", "));
    let deployment = Deployment::new(&bed, "groups", &servers, "boot:\n  limit: 1\n  wait: 2\n");
    let log = deployment.dir.join("hooks.log");
    for hook in ["pre-app-boot", "post-app-boot"] {
        deployment.write_hook(
            hook,
            &format!("echo \"{hook} $KAMAL_HOSTS $(date +%s.%N)\" >> {}", log.display()),
        );
    }
    deployment.kamal("v1", &["deploy", "-P"]).assert_success();

    let text = std::fs::read_to_string(&log).expect("hooks log");
    let lines: Vec<(&str, &str, f64)> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            (fields[0], fields[1], fields[2].parse().expect("time"))
        })
        .collect();
    let expected: Vec<(&str, &str)> = bed
        .hosts
        .iter()
        .flat_map(|host| [("pre-app-boot", host.as_str()), ("post-app-boot", host.as_str())])
        .collect();
    let seen: Vec<(&str, &str)> = lines.iter().map(|(hook, hosts, _)| (*hook, *hosts)).collect();
    assert_eq!(
        seen, expected,
        "one pre/post pair per group, each with its one host:\n{text}"
    );
    let gap = lines[2].2 - lines[1].2;
    assert!(
        gap >= 2.0,
        "the second group started {gap:.2}s after the first post-app-boot (boot.wait is 2)"
    );
}

#[test]
fn a_version_that_fails_its_health_check_leaves_the_old_one_serving() {
    let Some(bed) = bed() else { return };
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let deployment = Deployment::new(&bed, "unhealthy", &web_behind_proxy(&bed), "");
    deployment.kamal("v1", &["deploy", "-P"]).assert_success();

    // v2 is probed on a path the app does not serve.
    let servers = web_behind_proxy(&bed);
    deployment.configure(&servers, "deploy_timeout: 3\n");
    let config = std::fs::read_to_string(deployment.dir.join("config/deploy.yml")).expect("config");
    std::fs::write(
        deployment.dir.join("config/deploy.yml"),
        config.replace("path: /up", "path: /not-here"),
    )
    .expect("config");
    let failed = deployment.kamal("v2", &["deploy", "-P"]);
    let message = failed.assert_error("SSHKit::Command::Failed");
    assert!(message.contains("target failed to become healthy"), "{message}");
    assert!(
        message.contains("/not-here"),
        "the error says what was probed: {message}"
    );
    for host in &bed.hosts {
        assert!(message.contains(host.as_str()), "{host} named: {message}");
        assert_eq!(
            deployment.version_served(host),
            (200, "v1".to_string()),
            "{host} still serves v1"
        );
    }
    deployment
        .kamal("v1", &["lock", "status"])
        .assert_success()
        .assert_says("There is no deploy lock");

    // A version the registry does not have: the pull (which overlaps the lock and the
    // proxy boot) fails, nothing is booted, and the lock is released.
    let missing = deployment.kamal("v404", &["deploy", "-P"]);
    let message = missing.assert_error("SSHKit::Command::Failed");
    assert!(message.contains("app:v404 not found"), "{message}");
    assert!(
        !missing.stdout.contains("Running docker run"),
        "{}",
        missing.stdout
    );
    for host in &bed.hosts {
        assert_eq!(deployment.version_served(host), (200, "v1".to_string()), "{host}");
    }
    deployment
        .kamal("v1", &["lock", "status"])
        .assert_success()
        .assert_says("There is no deploy lock");
}

#[test]
fn maintenance_serves_the_built_in_page_then_the_apps_own_and_live_brings_it_back() {
    let Some(bed) = bed() else { return };
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let deployment = Deployment::new(&bed, "maintenance", &web_behind_proxy(&bed), "");
    deployment.kamal("v1", &["deploy", "-P"]).assert_success();

    // The proxy's built-in 503 page, with the message.
    deployment
        .kamal("v1", &["app", "maintenance", "--message", "Back soon"])
        .assert_success();
    for host in &bed.hosts {
        let (status, body) = deployment.version_served(host);
        assert_eq!(status, 503, "{host}: {body}");
        assert!(body.contains("Back soon"), "{host}: {body}");
    }
    deployment.kamal("v1", &["app", "live"]).assert_success();

    // The app's own pages (error_pages_path), uploaded per version at boot.
    std::fs::create_dir_all(deployment.dir.join("public")).expect("pages dir");
    std::fs::write(
        deployment.dir.join("public/503.html"),
        "<h1>Our own maintenance page</h1><p>{{ .Message }}</p>\n",
    )
    .expect("503.html");
    let config = std::fs::read_to_string(deployment.dir.join("config/deploy.yml")).expect("config");
    std::fs::write(
        deployment.dir.join("config/deploy.yml"),
        format!("{config}error_pages_path: public\n"),
    )
    .expect("config");
    deployment.kamal("v1", &["deploy", "-P"]).assert_success();
    deployment
        .kamal(
            "v1",
            &["app", "maintenance", "--message", "Upgrading the database"],
        )
        .assert_success();
    for host in &bed.hosts {
        let (status, body) = deployment.version_served(host);
        assert_eq!(status, 503, "{host}: {body}");
        assert!(
            body.contains("Our own maintenance page") && body.contains("Upgrading the database"),
            "{host}: {body}"
        );
    }
    deployment.kamal("v1", &["app", "live"]).assert_success();
    for host in &bed.hosts {
        assert_eq!(deployment.version_served(host), (200, "v1".to_string()), "{host}");
    }
}

/// `curl` on the machine: `args`, then `-w` with what it reports.
fn curl(args: &[&str]) -> Finished {
    let mut command = Command::new("curl");
    command.args(["-sS", "--max-time", "10"]).args(args);
    finish(command, &format!("curl {}", args.join(" ")))
}

#[test]
fn custom_ssl_certificates_are_uploaded_and_served_over_https() {
    let Some(bed) = bed() else { return };
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let deployment = Deployment::new(&bed, "ssl", &web_behind_proxy(&bed), "");
    let name = deployment.host_name.clone();

    // A self-signed certificate for this test's host name, in the destination's secrets.
    let (cert, key) = (deployment.dir.join("cert.pem"), deployment.dir.join("key.pem"));
    let mut openssl = Command::new("openssl");
    openssl
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}"), "-days", "2"]);
    finish(openssl, "openssl req").assert_success();
    let (cert_pem, key_pem) = (
        std::fs::read_to_string(&cert).expect("cert"),
        std::fs::read_to_string(&key).expect("key"),
    );
    let secrets = deployment
        .dir
        .join(format!(".kamal/secrets.{}", deployment.destination));
    let mut text = std::fs::read_to_string(&secrets).expect("secrets");
    text.push_str(&format!("CERT_PEM=\"{cert_pem}\"\nKEY_PEM=\"{key_pem}\"\n"));
    std::fs::write(&secrets, text).expect("secrets");
    let config_path = deployment.dir.join("config/deploy.yml");
    let config = std::fs::read_to_string(&config_path).expect("config");
    std::fs::write(
        &config_path,
        config.replacen(
            "proxy:\n",
            "proxy:\n  ssl:\n    certificate_pem: CERT_PEM\n    private_key_pem: KEY_PEM\n",
            1,
        ),
    )
    .expect("config");

    deployment.kamal("v1", &["deploy", "-P"]).assert_success();

    let tls = format!(".kamal/proxy/apps-config/app-{}/tls/web", deployment.destination);
    for host in &bed.hosts {
        for (file, expected) in [("cert.pem", &cert_pem), ("key.pem", &key_pem)] {
            let uploaded = bed.remote(host, &format!("cat {tls}/{file}"));
            uploaded.assert_success();
            assert_eq!(
                uploaded.stdout.trim(),
                expected.trim(),
                "{host}: {tls}/{file} is the PEM from the secrets"
            );
        }
        let resolve = format!("{name}:443:{host}");
        let https = curl(&[
            "--resolve",
            &resolve,
            "--cacert",
            &cert.display().to_string(),
            &format!("https://{name}/version"),
        ]);
        https.assert_success();
        assert_eq!(https.stdout.trim(), "v1", "{host}: {}", https.all());

        let resolve = format!("{name}:80:{host}");
        let http = curl(&[
            "--resolve",
            &resolve,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &format!("http://{name}/version"),
        ]);
        http.assert_success();
        assert_eq!(
            http.stdout.trim(),
            format!("301 https://{name}/version"),
            "{host}: plain HTTP redirects to https"
        );
    }
}

/// What a deployment has on a host: its containers and their states, its image tags, its
/// files under `.kamal` (size, mtime, mode) and its kamal-proxy service. Other tests share
/// the hosts, so only this deployment's things are listed.
fn state_of(deployment: &Deployment<'_>, host: &str) -> String {
    let destination = &deployment.destination;
    let script = format!(
        "docker ps -a --no-trunc --filter label=destination={destination} --format '{{{{.ID}}}} {{{{.Names}}}} {{{{.State}}}}' | sort; \
         docker image ls --no-trunc --format '{{{{.ID}}}} {{{{.Repository}}}}:{{{{.Tag}}}}' | grep -e -{destination} | sort; \
         find .kamal -path '*{destination}*' -printf '%p %s %T@ %m\\n' | sort; \
         docker exec kamal-proxy kamal-proxy list | grep -e -{destination} || true"
    );
    let state = deployment.bed.remote(host, &script);
    state.assert_success();
    state.stdout.clone()
}

#[test]
fn dry_runs_of_deploy_rollback_and_app_boot_print_the_plan_and_change_nothing() {
    let Some(bed) = bed() else { return };
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let servers = format!(
        "{}\n  workers:\n    hosts: [{}]\n    proxy: false",
        web_behind_proxy(&bed),
        bed.hosts.join(", ")
    );
    let deployment = Deployment::new(&bed, "dryrun", &servers, "");
    deployment.kamal("v1", &["deploy", "-P"]).assert_success();
    deployment.kamal("v2", &["deploy", "-P"]).assert_success();
    let before: Vec<String> = bed.hosts.iter().map(|host| state_of(&deployment, host)).collect();
    for (host, state) in bed.hosts.iter().zip(&before) {
        assert!(
            state.contains(&format!("app-web-{}-v2", deployment.destination)),
            "{host}: {state}"
        );
    }

    let destination = &deployment.destination;
    let plans = [
        ("v1", vec!["deploy", "-P", "--dry-run"]),
        ("v2", vec!["rollback", "v1", "--dry-run"]),
        ("v2", vec!["app", "boot", "--version", "v1", "--dry-run"]),
    ];
    for (version, args) in plans {
        let run = deployment.kamal(version, &args);
        run.assert_success();
        let plan = &run.stdout;
        for host in &bed.hosts {
            for expected in [
                // v1's container is still there (stopped): it is moved aside first.
                format!("Would run docker rename app-web-{destination}-v1 app-web-{destination}-v1_replaced_"),
                format!("Would run docker run --detach --restart unless-stopped --name app-web-{destination}-v1 "),
                format!("Would run docker run --detach --restart unless-stopped --name app-workers-{destination}-v1 "),
                format!("kamal-proxy deploy app-web-{destination} --target=\"<id of app-web-{destination}-v1>:80\""),
                // The running version, read from the host, is the one it would stop.
                format!("Would run docker container ls --all --filter 'name=^app-web-{destination}-v2$' --quiet | xargs docker stop on {host}"),
                format!("Would upload .kamal/apps/app-{destination}/env/roles/web.env (mode 0600) to {host}"),
            ] {
                let on_host = plan.lines().any(|line| {
                    line.contains(&expected)
                        && (line.ends_with(&format!(" on {host}")) || line.ends_with(&format!(" to {host}")))
                });
                assert!(on_host, "kamal {}: no `{expected}` for {host} in:\n{plan}", args.join(" "));
            }
        }
        assert!(
            !plan.contains("Running docker run"),
            "a dry run started a container:\n{plan}"
        );
    }

    // A version that is not on the hosts is refused from what the hosts say.
    deployment
        .kamal("v2", &["rollback", "v9", "--dry-run"])
        .assert_success()
        .assert_says("The app version 'v9' is not available as a container");

    let after: Vec<String> = bed.hosts.iter().map(|host| state_of(&deployment, host)).collect();
    for ((host, before), after) in bed.hosts.iter().zip(&before).zip(&after) {
        assert_eq!(before, after, "{host} changed under --dry-run");
        assert_eq!(deployment.version_served(host), (200, "v2".to_string()), "{host}");
    }

    // The hidden `app remove_container VERSION`, for real: v1's containers go, v2 serves on.
    deployment
        .kamal("v2", &["app", "remove_container", "v1"])
        .assert_success();
    for host in &bed.hosts {
        let state = state_of(&deployment, host);
        assert!(!state.contains(&format!("{destination}-v1 ")), "{host}: {state}");
        assert!(
            state.contains(&format!("app-web-{destination}-v2 running")),
            "{host}: {state}"
        );
        assert_eq!(deployment.version_served(host), (200, "v2".to_string()), "{host}");
    }
}
