//! `kamal build dev`: the working directory built as it is into the local Docker, tagged
//! `<version>-dirty` and `latest-dirty`, with the `service` label Kamal puts on every image.
//! Needs a local Docker engine (testbed/install.sh starts one); skipped with
//! `KAMAL_SKIP_TESTBED=1` where there is none.

use std::process::Command;

fn docker_answers() -> bool {
    Command::new("docker")
        .args(["info"])
        .output()
        .is_ok_and(|output| output.status.success())
}

#[test]
fn build_dev_tags_dirty_images_with_the_service_label() {
    if !docker_answers() {
        assert_eq!(
            std::env::var("KAMAL_SKIP_TESTBED").as_deref(),
            Ok("1"),
            "no Docker engine answers: run testbed/install.sh (or set KAMAL_SKIP_TESTBED=1)"
        );
        return;
    }
    let directory = std::env::temp_dir().join(format!("kamal-build-dev-{}", std::process::id()));
    std::fs::create_dir_all(directory.join("config")).expect("project");
    std::fs::write(directory.join("hello.txt"), "hello\n").expect("file");
    std::fs::write(
        directory.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\n",
    )
    .expect("Dockerfile");
    let image = format!("local/devapp{}", std::process::id());
    std::fs::write(
        directory.join("config/deploy.yml"),
        format!("service: devapp\nimage: {image}\nservers: [10.213.0.11]\nregistry: {{username: u, password: p}}\nbuilder:\n  arch: amd64\n"),
    )
    .expect("deploy.yml");
    let output = Command::new(env!("CARGO_BIN_EXE_kamal"))
        .args(["build", "dev"])
        .current_dir(&directory)
        .env("VERSION", "v9")
        .output()
        .expect("run kamal");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for tag in ["v9-dirty", "latest-dirty"] {
        let inspect = Command::new("docker")
            .args([
                "image",
                "inspect",
                "-f",
                "{{.Config.Labels.service}}",
                &format!("{image}:{tag}"),
            ])
            .output()
            .expect("docker inspect");
        assert_eq!(String::from_utf8_lossy(&inspect.stdout).trim(), "devapp", "{tag}");
    }
    let _ = Command::new("docker")
        .args([
            "rmi",
            &format!("{image}:v9-dirty"),
            &format!("{image}:latest-dirty"),
        ])
        .output();
    let _ = std::fs::remove_dir_all(&directory);
}
