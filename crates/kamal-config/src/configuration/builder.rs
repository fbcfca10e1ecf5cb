//! `builder:` as Kamal reads it at run time (`Kamal::Configuration::Builder`): arches split
//! between the local engine and a remote builder, the builder kind (§2.6), the buildx
//! builder names (§4.2), cache references, build args and secrets, and the git-clone build
//! directory. Facts about the deployer machine (Docker's arch, `Dir.tmpdir`, the working
//! directory, the git root) are passed in, so everything here stays pure.

use super::{raw, Configuration};
use crate::secrets::{Secret, Secrets, SecretsError};
use crate::yaml::{Mapping, Value};

/// How the image gets built, in Kamal's order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuilderKind {
    /// Local buildx (or the plain `docker` driver).
    Local,
    /// Every arch on the remote builder.
    Remote,
    /// Local arches here, the others appended from the remote builder.
    Hybrid,
    /// Cloud Native Buildpacks (`pack build`).
    Pack,
    /// Docker Build Cloud (`driver: cloud org/name`).
    Cloud,
}

impl BuilderKind {
    /// `Kamal::Commands::Builder#name` (`Using builder: local`, `kamal build details`).
    pub fn name(self) -> &'static str {
        match self {
            BuilderKind::Local => "local",
            BuilderKind::Remote => "remote",
            BuilderKind::Hybrid => "hybrid",
            BuilderKind::Pack => "pack",
            BuilderKind::Cloud => "cloud",
        }
    }
}

/// The `builder:` section of a configuration, with the local Docker engine's arch.
#[derive(Debug, Clone)]
pub struct Builder<'a> {
    configuration: &'a Configuration,
    settings: Option<&'a Mapping>,
    docker_arch: String,
}

impl Configuration {
    /// `docker_arch` is the local engine's arch in Docker's words (`amd64`, `arm64`; see
    /// `sections::docker_arch`). It only matters when `builder.remote` is set.
    pub fn builder(&self, docker_arch: &str) -> Builder<'_> {
        Builder {
            configuration: self,
            settings: raw::get_mapping(self.root(), "builder"),
            docker_arch: docker_arch.to_string(),
        }
    }
}

impl<'a> Builder<'a> {
    pub fn configuration(&self) -> &'a Configuration {
        self.configuration
    }

    pub fn remote(&self) -> Option<String> {
        raw::get_string(self.settings, "remote")
    }

    /// `Array(fetch("arch", default))`: `[amd64, arm64]` unless the `docker` driver.
    pub fn arches(&self) -> Vec<String> {
        if raw::has_key(self.settings, "arch") {
            raw::strings(raw::get(self.settings, "arch"))
        } else if self.docker_driver() {
            Vec::new()
        } else {
            vec!["amd64".to_string(), "arm64".to_string()]
        }
    }

    pub fn local_disabled(&self) -> bool {
        raw::get_bool(self.settings, "local") == Some(false)
    }

    /// With a remote builder only the engine's own arch is built locally.
    pub fn local_arches(&self) -> Vec<String> {
        if self.local_disabled() {
            Vec::new()
        } else if self.remote().is_some() {
            self.arches()
                .into_iter()
                .filter(|arch| *arch == self.docker_arch)
                .collect()
        } else {
            self.arches()
        }
    }

    pub fn remote_arches(&self) -> Vec<String> {
        if self.remote().is_none() {
            return Vec::new();
        }
        let local = self.local_arches();
        self.arches()
            .into_iter()
            .filter(|arch| !local.contains(arch))
            .collect()
    }

    pub fn is_remote(&self) -> bool {
        !self.remote_arches().is_empty()
    }

    pub fn is_local(&self) -> bool {
        !self.local_disabled() && (self.arches().is_empty() || !self.local_arches().is_empty())
    }

    pub fn is_pack(&self) -> bool {
        truthy(raw::get_value(self.settings, "pack"))
    }

    pub fn is_cloud(&self) -> bool {
        self.driver().starts_with("cloud")
    }

    pub fn is_cached(&self) -> bool {
        truthy(raw::get_value(self.settings, "cache"))
    }

    /// `Kamal::Commands::Builder#target`: remote arches make it hybrid or remote; then
    /// pack; then a `cloud…` driver; else local.
    pub fn kind(&self) -> BuilderKind {
        if self.is_remote() {
            if self.is_local() {
                BuilderKind::Hybrid
            } else {
                BuilderKind::Remote
            }
        } else if self.is_pack() {
            BuilderKind::Pack
        } else if self.is_cloud() {
            BuilderKind::Cloud
        } else {
            BuilderKind::Local
        }
    }

    pub fn driver(&self) -> String {
        raw::get_string(self.settings, "driver").unwrap_or_else(|| "docker-container".to_string())
    }

    /// The plain `docker` driver: no buildx builder to create, inspect or name.
    pub fn docker_driver(&self) -> bool {
        self.driver() == "docker"
    }

    /// The buildx builder this configuration builds with (§4.2); `None` for the `docker`
    /// driver and for pack, which have none.
    pub fn builder_name(&self) -> Option<String> {
        let driver = self.driver();
        let local_registry = self.configuration.local_registry();
        match self.kind() {
            BuilderKind::Local if self.docker_driver() => None,
            BuilderKind::Local if local_registry => Some(format!("kamal-local-registry-{driver}")),
            BuilderKind::Local => Some(format!("kamal-local-{driver}")),
            BuilderKind::Remote => Some(format!("kamal-remote-{}", self.remote_builder_name_suffix())),
            BuilderKind::Hybrid => Some(format!(
                "kamal-hybrid-{driver}-{}",
                self.remote_builder_name_suffix()
            )),
            BuilderKind::Cloud => Some(driver.replace([' ', '/'], "-")),
            BuilderKind::Pack => None,
        }
    }

    /// The Docker context a remote or hybrid builder runs in: `<builder name>-context`.
    pub fn remote_context_name(&self) -> Option<String> {
        match self.kind() {
            BuilderKind::Remote | BuilderKind::Hybrid => {
                self.builder_name().map(|name| format!("{name}-context"))
            }
            _ => None,
        }
    }

    /// `remote.gsub(/[^a-z0-9_-]/, "-")`, plus `-local-registry` with a local registry.
    fn remote_builder_name_suffix(&self) -> String {
        let sanitized: String = self
            .remote()
            .unwrap_or_default()
            .chars()
            .map(|character| {
                if character.is_ascii_lowercase()
                    || character.is_ascii_digit()
                    || character == '_'
                    || character == '-'
                {
                    character
                } else {
                    '-'
                }
            })
            .collect();
        if self.configuration.local_registry() {
            format!("{sanitized}-local-registry")
        } else {
            sanitized
        }
    }

    /// `args:` as written (a Hash); rendered as sensitive `--build-arg`s.
    pub fn args(&self) -> Option<&'a Mapping> {
        raw::get_mapping(self.settings, "args")
    }

    /// The names listed under `secrets:`.
    pub fn secret_names(&self) -> Vec<String> {
        raw::strings(raw::get(self.settings, "secrets"))
    }

    /// `Builder#secrets`: each name with its value; a missing secret raises Kamal's error.
    pub fn secrets(&self, secrets: &Secrets) -> Result<Vec<(String, Secret)>, SecretsError> {
        self.secret_names()
            .into_iter()
            .map(|name| secrets.get(&name).map(|value| (name, value)))
            .collect()
    }

    pub fn dockerfile(&self) -> String {
        raw::get_string(self.settings, "dockerfile").unwrap_or_else(|| "Dockerfile".to_string())
    }

    pub fn target(&self) -> Option<String> {
        raw::get_string(self.settings, "target")
    }

    /// `context:` as written; `None` means "build from a git clone" when git is used.
    pub fn context(&self) -> Option<String> {
        raw::get_string(self.settings, "context")
    }

    /// The build context argument: `context`, else `.`.
    pub fn build_context(&self) -> String {
        self.context().unwrap_or_else(|| ".".to_string())
    }

    pub fn ssh(&self) -> Option<String> {
        raw::get_string(self.settings, "ssh").filter(|ssh| !ssh.trim().is_empty())
    }

    /// `provenance:` as Ruby's `to_s` writes it (`false` stays `false`).
    pub fn provenance(&self) -> Option<String> {
        raw::get_value(self.settings, "provenance")
            .filter(|value| !value.is_null())
            .map(raw::to_s)
    }

    pub fn sbom(&self) -> Option<String> {
        raw::get_value(self.settings, "sbom")
            .filter(|value| !value.is_null())
            .map(raw::to_s)
    }

    pub fn pack_builder(&self) -> Option<String> {
        raw::get_string(raw::get_mapping(self.settings, "pack"), "builder")
    }

    pub fn pack_buildpacks(&self) -> Vec<String> {
        raw::strings(raw::get(raw::get_mapping(self.settings, "pack"), "buildpacks"))
    }

    fn cache(&self) -> Option<&'a Mapping> {
        raw::get_mapping(self.settings, "cache")
    }

    fn cache_type(&self) -> Option<String> {
        raw::get_string(self.cache(), "type")
    }

    fn cache_options(&self) -> Option<String> {
        raw::get_string(self.cache(), "options")
    }

    /// `[registry.server, cache.image || "<image>-build-cache"].compact.join("/")`.
    fn cache_image_ref(&self) -> String {
        let image = raw::get_string(self.cache(), "image")
            .unwrap_or_else(|| format!("{}-build-cache", self.configuration.image().unwrap_or_default()));
        [self.configuration.registry_config().server(), Some(image)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/")
    }

    /// `--cache-from`: for gha only the `url`, `url_v2`, `token`, `scope` and `timeout`
    /// options are copied.
    pub fn cache_from(&self) -> Option<String> {
        if !self.is_cached() {
            return None;
        }
        match self.cache_type()?.as_str() {
            "gha" => {
                let options = self.cache_options().unwrap_or_default();
                let allowed = options.split(',').filter(|option| {
                    ["url=", "url_v2=", "token=", "scope=", "timeout="]
                        .iter()
                        .any(|prefix| option.starts_with(prefix))
                });
                Some(
                    std::iter::once("type=gha")
                        .chain(allowed)
                        .collect::<Vec<_>>()
                        .join(","),
                )
            }
            "registry" => Some(format!("type=registry,ref={}", self.cache_image_ref())),
            _ => None,
        }
    }

    pub fn cache_to(&self) -> Option<String> {
        if !self.is_cached() {
            return None;
        }
        let options = self.cache_options();
        let parts: Vec<String> = match self.cache_type()?.as_str() {
            "gha" => std::iter::once("type=gha".to_string()).chain(options).collect(),
            "registry" => [
                Some("type=registry".to_string()),
                Some(format!("ref={}", self.cache_image_ref())),
                options,
            ]
            .into_iter()
            .flatten()
            .collect(),
            _ => return None,
        };
        Some(parts.join(","))
    }

    /// Kamal builds from a fresh git clone when the project is in git and `context` is unset.
    pub fn git_clone(&self, git_used: bool) -> bool {
        git_used && raw::get_value(self.settings, "context").is_none_or(Value::is_null)
    }

    /// `<tmpdir>/kamal-clones/<service>-<sha256(pwd)[0..12]>`.
    pub fn clone_directory(&self, tmpdir: &str, working_directory: &str) -> String {
        let digest = sha256_hex(working_directory.as_bytes());
        ruby_file_join(&[
            tmpdir,
            "kamal-clones",
            &format!("{}-{}", self.configuration.service(), &digest[..13]),
        ])
    }

    /// Where the build runs: inside the clone (the repository's base name, then the working
    /// directory relative to the git root), or `.` when not building from a clone.
    /// `git_root` is `git rev-parse --show-toplevel`, `None` when git is not used.
    pub fn build_directory(&self, tmpdir: &str, working_directory: &str, git_root: Option<&str>) -> String {
        match git_root {
            Some(root) if self.git_clone(true) => {
                let basename = root.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
                let relative = working_directory.strip_prefix(root).unwrap_or(working_directory);
                ruby_file_join(&[
                    &self.clone_directory(tmpdir, working_directory),
                    basename,
                    relative,
                ])
            }
            _ => ".".to_string(),
        }
    }
}

/// Ruby's `!!value`: anything but nil and false.
fn truthy(value: Option<&Value>) -> bool {
    !matches!(value, None | Some(Value::Null) | Some(Value::Bool(false)))
}

/// Ruby's `File.join`: one `/` between parts, however many the parts bring.
fn ruby_file_join(parts: &[&str]) -> String {
    let mut joined = String::new();
    for (index, part) in parts.iter().enumerate() {
        if index == 0 {
            joined.push_str(part);
            continue;
        }
        match (joined.ends_with('/'), part.starts_with('/')) {
            (true, true) => joined.push_str(&part[1..]),
            (false, false) => {
                joined.push('/');
                joined.push_str(part);
            }
            _ => joined.push_str(part),
        }
    }
    joined
}

/// SHA-256 as lowercase hex (`Digest::SHA256.hexdigest`), for the clone directory name.
fn sha256_hex(input: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];
    let mut state: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ];
    let mut message = input.to_vec();
    let bit_length = (input.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_length.to_be_bytes());
    for block in message.chunks(64) {
        let mut words = [0u32; 64];
        for (index, word) in block.chunks(4).enumerate() {
            words[index] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for index in 16..64 {
            let s0 = words[index - 15].rotate_right(7)
                ^ words[index - 15].rotate_right(18)
                ^ (words[index - 15] >> 3);
            let s1 = words[index - 2].rotate_right(17)
                ^ words[index - 2].rotate_right(19)
                ^ (words[index - 2] >> 10);
            words[index] = words[index - 16]
                .wrapping_add(s0)
                .wrapping_add(words[index - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
        for index in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let choice = (e & f) ^ (!e & g);
            let temporary1 = h
                .wrapping_add(s1)
                .wrapping_add(choice)
                .wrapping_add(K[index])
                .wrapping_add(words[index]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let majority = (a & b) ^ (a & c) ^ (b & c);
            let temporary2 = s0.wrapping_add(majority);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(temporary1);
            d = c;
            c = b;
            b = a;
            a = temporary1.wrapping_add(temporary2);
        }
        for (slot, value) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *slot = slot.wrapping_add(value);
        }
    }
    state.iter().map(|word| format!("{word:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{ruby_file_join, sha256_hex};

    #[test]
    fn sha256_matches_known_digests() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            sha256_hex(&[b'a'; 1000]),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }

    #[test]
    fn file_join_collapses_separators_like_ruby() {
        assert_eq!(
            ruby_file_join(&["/tmp", "kamal-clones", "app-1"]),
            "/tmp/kamal-clones/app-1"
        );
        assert_eq!(ruby_file_join(&["/tmp/", "repo", "/sub"]), "/tmp/repo/sub");
        assert_eq!(ruby_file_join(&["/tmp/c", "repo", ""]), "/tmp/c/repo/");
    }
}
