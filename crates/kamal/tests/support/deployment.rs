//! A deployment of the bed's example app (`service: app`, as its image label says) under
//! a destination of its own, so container names, locks and proxy services never clash
//! between tests; what it leaves on the hosts is removed when it is dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{finish, Bed, Finished};

pub struct Deployment<'a> {
    pub bed: &'a Bed,
    pub dir: PathBuf,
    pub destination: String,
    pub host_name: String,
}

impl<'a> Deployment<'a> {
    pub fn new(bed: &'a Bed, name: &str, servers: &str, extra: &str) -> Deployment<'a> {
        let destination = format!("{name}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("kamal-e2e-test-{destination}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).expect("config dir");
        std::fs::create_dir_all(dir.join(".kamal/hooks")).expect("hooks dir");
        std::fs::copy(&bed.known_hosts, dir.join("known_hosts")).expect("known_hosts");
        std::fs::write(
            dir.join("ssh_config"),
            format!(
                "Host *\n    UserKnownHostsFile {}\n",
                dir.join("known_hosts").display()
            ),
        )
        .expect("ssh_config");
        let host_name = format!("{destination}.test");
        let deployment = Deployment {
            bed,
            dir,
            destination,
            host_name,
        };
        deployment.configure(servers, extra);
        std::fs::write(
            deployment
                .dir
                .join(format!("config/deploy.{}.yml", deployment.destination)),
            "readiness_delay: 0\n",
        )
        .expect("destination file");
        std::fs::write(
            deployment
                .dir
                .join(format!(".kamal/secrets.{}", deployment.destination)),
            format!("KAMAL_REGISTRY_PASSWORD={}\n", bed.registry_password),
        )
        .expect("secrets");
        deployment
    }

    /// Writes `config/deploy.yml`: `servers` as given, the proxy on this test's host name.
    pub fn configure(&self, servers: &str, extra: &str) {
        let bed = self.bed;
        let config = format!(
            "service: app\nimage: kamal-testbed/app\nservers:\n{servers}\n\
             proxy:\n  host: {host}\n  app_port: 80\n  healthcheck:\n    path: /up\n    interval: 1\n\
             \x20 run:\n    registry: {registry}\n    repository: basecamp/kamal-proxy\n    version: v0.9.2\n\
             registry:\n  server: {registry}\n  username: {user}\n  password: [KAMAL_REGISTRY_PASSWORD]\n\
             ssh:\n  keys_only: true\n  keys: [\"{key}\"]\n  config: [\"{ssh_config}\"]\n\
             builder:\n  arch: amd64\n{extra}",
            host = self.host_name,
            registry = bed.registry,
            user = bed.registry_user,
            key = bed.key.display(),
            ssh_config = self.dir.join("ssh_config").display(),
        );
        std::fs::write(self.dir.join("config/deploy.yml"), config).expect("deploy.yml");
    }

    pub fn write_hook(&self, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(format!(".kamal/hooks/{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("hook");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    pub fn kamal(&self, version: &str, args: &[&str]) -> Finished {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kamal"));
        command
            .args(args)
            .args(["-d", &self.destination])
            .current_dir(&self.dir)
            .env("VERSION", version);
        for (name, _) in std::env::vars() {
            if name.starts_with("KAMAL_") {
                command.env_remove(name);
            }
        }
        finish(command, &format!("kamal {}", args.join(" ")))
    }

    /// What `GET /version` answers on `host` through its kamal-proxy.
    pub fn version_served(&self, host: &str) -> (u16, String) {
        get(host, &self.host_name, "/version")
    }
}

impl Drop for Deployment<'_> {
    fn drop(&mut self) {
        let cleanup = format!(
            "docker exec kamal-proxy kamal-proxy remove app-web-{destination} >/dev/null 2>&1; \
             docker rm -f $(docker ps -aq --filter label=service=app --filter label=destination={destination}) >/dev/null 2>&1; \
             rm -rf .kamal/apps/app-{destination} .kamal/proxy/apps-config/app-{destination} .kamal/lock-app-{destination} .kamal/app-{destination}-audit.log .kamal/apps/guard-{destination}; true",
            destination = self.destination
        );
        for host in &self.bed.hosts {
            let _ = self.bed.remote(host, &cleanup);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One HTTP/1.0 request to `host:80` with a Host header: status and body.
pub fn get(host: &str, host_header: &str, path: &str) -> (u16, String) {
    get_from_port(host, 80, host_header, path)
}

/// One HTTP/1.0 request to `host:port` with a Host header: status and body (0 when
/// nothing answers).
pub fn get_from_port(host: &str, port: u16, host_header: &str, path: &str) -> (u16, String) {
    let attempt = || -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect((host, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {host_header}\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.trim().to_string())
            .unwrap_or_default();
        Ok((status, body))
    };
    attempt().unwrap_or((0, String::new()))
}

pub fn web_behind_proxy(bed: &Bed) -> String {
    format!("  web:\n    hosts: [{}]", bed.hosts.join(", "))
}
