//! `kamal upgrade` (Kamal 1 → 2) on the test bed, with the real `kamal` binary: each vm is
//! first made to look like a Kamal 1 host — no kamal-proxy, and a `traefik` container
//! (from an image with Traefik's title label) holding port 80 — then the upgrade must take
//! Traefik and its image away, boot kamal-proxy, boot the image tagged `latest` behind it
//! and run the proxy-reboot hooks once per group with that group's `KAMAL_HOSTS`. A second,
//! rolling upgrade finds nothing of Traefik left and goes host by host.
//!
//! This replaces the vms' shared kamal-proxy container (its routes live in a volume and
//! come back with it); cargo runs one test binary at a time, and this file has one test.

mod support;

use support::bed;
use support::deployment::{web_behind_proxy, Deployment};

const TRAEFIK_IMAGE: &str = "kamal-rs-test/traefik:1";

/// Makes `host` look like a Kamal 1 host: kamal-proxy gone, Traefik on port 80.
fn plant_traefik(deployment: &Deployment<'_>, host: &str, base_image: &str) {
    let planted = deployment.bed.remote(
        host,
        &format!(
            "docker rm -f kamal-proxy >/dev/null && \
             printf 'FROM {base_image}\\nLABEL org.opencontainers.image.title=Traefik\\n' | docker build -q -t {TRAEFIK_IMAGE} - >/dev/null && \
             docker run -d --name traefik -p 80:80 {TRAEFIK_IMAGE} >/dev/null"
        ),
    );
    planted.assert_success();
}

fn traefik_left(deployment: &Deployment<'_>, host: &str) -> String {
    deployment.bed.output(
        host,
        "docker ps -a --filter name=^traefik$ --format '{{.Names}}'; \
         docker image ls --filter label=org.opencontainers.image.title=Traefik --format '{{.Repository}}:{{.Tag}}'",
    )
}

fn running(deployment: &Deployment<'_>, host: &str) -> String {
    deployment.bed.output(
        host,
        &format!(
            "docker ps --filter name=^kamal-proxy$ --format '{{{{.Names}}}}'; \
             docker ps --filter label=destination={} --format '{{{{.Names}}}}'",
            deployment.destination
        ),
    )
}

#[test]
fn upgrade_replaces_traefik_with_kamal_proxy_and_boots_latest() {
    let Some(bed) = bed() else { return };
    let deployment = Deployment::new(&bed, "upgrade", &web_behind_proxy(&bed), "");
    let destination = deployment.destination.clone();
    let log = deployment.dir.join("hooks.log");
    for hook in ["pre-proxy-reboot", "post-proxy-reboot"] {
        deployment.write_hook(
            hook,
            &format!("echo \"{hook} $KAMAL_HOSTS\" >> {}", log.display()),
        );
    }
    deployment.kamal("v1", &["deploy", "-P"]).assert_success();
    let base_image = format!("{}/kamal-testbed/app:v1", bed.registry);
    for host in &bed.hosts {
        plant_traefik(&deployment, host, &base_image);
        assert!(traefik_left(&deployment, host).contains("traefik"));
    }

    // VERSION says v2, but the upgrade boots what is tagged latest (`latest-<destination>`):
    // v1, from the deploy.
    let upgrade = deployment.kamal("v2", &["upgrade", "-y"]);
    let all_hosts = bed.hosts.join(",");
    upgrade
        .assert_success()
        .assert_says("Upgrading all hosts...")
        .assert_says(&format!("Upgrading proxy on {all_hosts}..."))
        .assert_says(&format!("Start container with version latest-{destination}"))
        .assert_says(&format!("Upgraded proxy on {all_hosts}"))
        .assert_says("Upgraded all hosts");
    for host in &bed.hosts {
        assert_eq!(
            traefik_left(&deployment, host).trim(),
            "",
            "Traefik left on {host}"
        );
        let running = running(&deployment, host);
        assert!(running.contains("kamal-proxy"), "{host}: {running}");
        assert!(
            running.contains(&format!("app-web-{destination}-latest-{destination}")),
            "{host}: {running}"
        );
        assert_eq!(deployment.version_served(host), (200, "v1".to_string()), "{host}");
    }
    assert_eq!(
        std::fs::read_to_string(&log).expect("hooks log"),
        format!("pre-proxy-reboot {all_hosts}\npost-proxy-reboot {all_hosts}\n")
    );

    // Rolling, with nothing of Traefik left: host by host, a hook pair per host.
    std::fs::remove_file(&log).expect("hooks log");
    let rolling = deployment.kamal("v2", &["upgrade", "--rolling", "-y"]);
    rolling.assert_success();
    let mut expected_hooks = String::new();
    for host in &bed.hosts {
        rolling
            .assert_says(&format!("Upgrading {host}..."))
            .assert_says(&format!("Upgrading proxy on {host}..."))
            .assert_says(&format!("Upgraded {host}"));
        expected_hooks.push_str(&format!("pre-proxy-reboot {host}\npost-proxy-reboot {host}\n"));
        assert_eq!(deployment.version_served(host), (200, "v1".to_string()), "{host}");
    }
    rolling.assert_not_says("Upgrading all hosts...");
    assert_eq!(std::fs::read_to_string(&log).expect("hooks log"), expected_hooks);
}
