//! Loading `config/deploy.yml` (and `deploy.DEST.yml`) as `Kamal::Configuration.create_from`
//! does: each file ERB-rendered, then YAML-parsed, then the destination deep-merged over the
//! base. Validation errors get the file and line of the value they are about.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, Location, Result};
use super::sections::ruby_class_name;
use super::Configuration;
use crate::environment::Environment;
use crate::yaml::{Mapping, Node, Value};

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-c`; default `config/deploy.yml`.
    pub config_file: Option<PathBuf>,
    /// `-d`.
    pub destination: Option<String>,
    /// `--version`.
    pub version: Option<String>,
}

/// One loaded file: its path and its root Hash.
struct LoadedFile {
    path: PathBuf,
    root: Node,
}

pub fn load(options: &LoadOptions, environment: &mut dyn Environment) -> Result<Configuration> {
    let config_file = environment.absolute(
        options
            .config_file
            .as_deref()
            .unwrap_or(Path::new("config/deploy.yml")),
    );
    let config_file = normalize(&config_file);
    match &options.destination {
        Some(destination) => environment.set_var("KAMAL_DESTINATION", destination),
        None => environment.remove_var("KAMAL_DESTINATION"),
    }

    let mut files = vec![load_file(&config_file, environment)?];
    if let Some(destination) = &options.destination {
        files.push(load_file(
            &destination_file(&config_file, destination),
            environment,
        )?);
    }

    let merged = files.iter().skip(1).fold(files[0].root.clone(), |merged, file| {
        super::raw::deep_merge(&merged, &file.root)
    });
    let Value::Mapping(raw) = merged.value else {
        return Err(ConfigError::invalid("configuration must be a hash"));
    };
    Configuration::new(
        raw,
        options.destination.clone(),
        options.version.clone(),
        environment,
    )
    .map_err(|error| locate(error, &files, environment.current_dir()))
}

/// `Pathname#sub_ext(".DEST.yml")`: the extension of the base file replaced.
fn destination_file(config_file: &Path, destination: &str) -> PathBuf {
    let file_name = config_file
        .file_name()
        .map(|name| name.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = match file_name.rfind('.') {
        Some(dot) if dot > 0 => &file_name[..dot],
        _ => file_name.as_str(),
    };
    config_file.with_file_name(format!("{stem}.{destination}.yml"))
}

/// `File.expand_path`: `.` and `..` resolved without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut normalized = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normalized.pop();
            }
            other => normalized.push(other.as_os_str()),
        }
    }
    normalized
}

fn load_file(path: &Path, environment: &mut dyn Environment) -> Result<LoadedFile> {
    if !environment.file_exists(path) {
        return Err(ConfigError::Runtime(format!(
            "Configuration file not found in {}",
            path.display()
        )));
    }
    let source = environment
        .read_file(path)
        .map_err(|error| ConfigError::io(path, &error))?;
    // Errors name the file as the user would type it.
    let shown = path
        .strip_prefix(environment.current_dir())
        .unwrap_or(path)
        .to_path_buf();
    let rendered = crate::erb::render(&source, &shown, environment)?;
    let root = crate::yaml::load(&rendered, &shown)?;
    match root {
        Some(node) if matches!(node.value, Value::Mapping(_)) => Ok(LoadedFile {
            path: path.to_path_buf(),
            root: node,
        }),
        // Kamal calls `symbolize_keys` on whatever the file held.
        Some(node) => Err(ConfigError::Ruby {
            class: "NoMethodError",
            message: format!(
                "undefined method `symbolize_keys' for an instance of {}",
                ruby_class_name(&node.value)
            ),
        }),
        None => Err(ConfigError::Ruby {
            class: "NoMethodError",
            message: "undefined method `symbolize_keys' for nil".into(),
        }),
    }
}

/// Fills in where a validation error's value was written: the destination file when the
/// value came from it (it replaces or merges into the base), else the base file.
fn locate(error: ConfigError, files: &[LoadedFile], current_dir: &Path) -> ConfigError {
    let ConfigError::Invalid {
        message,
        context,
        location: None,
    } = error
    else {
        return error;
    };
    // For "unknown key(s): a, b" point at the first unknown key itself.
    let unknown_key = message
        .split_once("unknown key: ")
        .or_else(|| message.split_once("unknown keys: "))
        .and_then(|(_, keys)| keys.split(", ").next())
        .map(str::to_string);
    let location = files.iter().rev().find_map(|file| {
        let parent = find(&file.root, &context)?;
        let node = match (&unknown_key, &parent.value) {
            (Some(key), Value::Mapping(mapping)) => mapping
                .entries
                .iter()
                .find(|(candidate, _)| super::raw::to_s(&candidate.value) == *key)
                .map(|(key, _)| key)?,
            _ => parent,
        };
        let path = file
            .path
            .strip_prefix(current_dir)
            .unwrap_or(&file.path)
            .to_path_buf();
        Some(Location {
            file: path,
            line: node.mark.line,
            column: node.mark.column,
        })
    });
    ConfigError::Invalid {
        message,
        context,
        location,
    }
}

/// The node at a context path (`servers/web/hosts/0`), where the path exists in a file.
fn find<'a>(root: &'a Node, path: &[String]) -> Option<&'a Node> {
    let mut node = root;
    for part in path {
        node = match &node.value {
            Value::Mapping(mapping) => find_key(mapping, part)?,
            Value::Sequence(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn find_key<'a>(mapping: &'a Mapping, key: &str) -> Option<&'a Node> {
    mapping
        .entries
        .iter()
        .find(|(candidate, _)| super::raw::to_s(&candidate.value) == key)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::destination_file;
    use std::path::Path;

    #[test]
    fn destination_file_replaces_the_extension() {
        assert_eq!(
            destination_file(Path::new("/p/config/deploy.yml"), "staging"),
            Path::new("/p/config/deploy.staging.yml")
        );
        assert_eq!(
            destination_file(Path::new("/p/deploy"), "eu"),
            Path::new("/p/deploy.eu.yml")
        );
    }
}
