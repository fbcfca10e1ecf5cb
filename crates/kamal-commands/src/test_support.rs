//! Test fixtures: the spec's example configuration (`service: app`, `image: dhh/app`, hosts
//! `1.1.1.1`…) loaded through the real pipeline from in-memory files.

use kamal_config::configuration::{load, Configuration, LoadOptions};
use kamal_config::secrets::Secrets;
use kamal_config::MapEnvironment;

/// `service: app`, `image: dhh/app`, two web hosts, Docker Hub credentials, one arch.
pub const DEPLOY_YML: &str = "service: app
image: dhh/app
servers:
  - 1.1.1.1
  - 1.1.1.2
registry:
  username: dhh
  password: secret
builder:
  arch: amd64
";

pub const VERSION: &str = "999";

fn environment(yaml: &str, destination: Option<(&str, &str)>, secrets: &str) -> MapEnvironment {
    let mut environment = MapEnvironment::new()
        .with_file("config/deploy.yml", yaml)
        .with_file(".kamal/secrets", secrets);
    if let Some((name, overlay)) = destination {
        environment = environment
            .with_file(&format!("config/deploy.{name}.yml"), overlay)
            .with_file(&format!(".kamal/secrets.{name}"), secrets);
    }
    environment
}

pub fn configuration(yaml: &str) -> Configuration {
    configuration_for(yaml, None)
}

/// With a destination (`deploy.<name>.yml` holding `overlay`).
pub fn configuration_for(yaml: &str, destination: Option<(&str, &str)>) -> Configuration {
    let mut environment = environment(yaml, destination, "");
    let options = LoadOptions {
        destination: destination.map(|(name, _)| name.to_string()),
        ..LoadOptions::default()
    };
    match load(&options, &mut environment) {
        Ok(configuration) => configuration,
        Err(error) => panic!("test configuration does not load: {error}"),
    }
}

/// Secrets from a `.kamal/secrets` text (dotenv).
pub fn secrets(text: &str) -> Secrets {
    let mut environment = environment(DEPLOY_YML, None, text);
    match Secrets::load(".kamal/secrets", None, &mut environment) {
        Ok(secrets) => secrets,
        Err(error) => panic!("test secrets do not load: {error}"),
    }
}
