//! Passbolt (`passbolt`). Secrets are `name` or `folder[/subfolder...]/name`; folders are
//! looked up first (top-level ones in one query, nested ones level by level), then one
//! `passbolt list resources` query filters by name and folder. Keys are resource names.

use serde_json::Value;

use super::doppler::inspect_names;
use super::{backtick, parse_json, prefixed_secrets, require_cli, Adapter, FetchedSecrets};
use crate::environment::Environment;
use crate::secrets::error::SecretsError;
use crate::secrets::ruby;
use crate::secrets::shellwords;

pub struct Passbolt;

/// `value.shellescape.inspect`, as Kamal quotes names inside `--filter '...'`.
fn quoted(value: &str) -> String {
    ruby::inspect(&shellwords::escape(value))
}

fn field(folder: &Value, name: &str) -> String {
    super::text_of(folder.get(name))
}

/// `get_folder_path`: the folder's name preceded by its known ancestors' names.
fn folder_path(folder: &Value, folders: &[Value]) -> String {
    let mut path = vec![field(folder, "name")];
    let mut current = folder;
    // The depth bound only guards against a parent cycle in the CLI's answer.
    for _ in 0..folders.len() {
        let parent_id = field(current, "folder_parent_id");
        if parent_id.is_empty() {
            break;
        }
        let Some(parent) = folders
            .iter()
            .find(|candidate| field(candidate, "id") == parent_id)
        else {
            break;
        };
        path.insert(0, field(parent, "name"));
        current = parent;
    }
    path.join("/")
}

fn list_folders(environment: &mut dyn Environment, filter: &str) -> Result<Option<Vec<Value>>, SecretsError> {
    let output = backtick(
        environment,
        &format!("passbolt list folders --filter '{filter}' --json"),
    )?;
    if output.status != 0 {
        return Ok(None);
    }
    Ok(Some(
        parse_json(&output.stdout)?
            .as_array()
            .cloned()
            .unwrap_or_default(),
    ))
}

/// `secrets_get_folders`.
fn folders_of(secrets: &[String], environment: &mut dyn Environment) -> Result<Vec<Value>, SecretsError> {
    let mut folder_paths: Vec<Vec<&str>> = Vec::new();
    for secret in secrets.iter().filter(|secret| secret.contains('/')) {
        let parts = ruby::split(secret, "/");
        let path = parts[..parts.len().saturating_sub(1)].to_vec();
        if !folder_paths.contains(&path) {
            folder_paths.push(path);
        }
    }
    if folder_paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut parents: Vec<&str> = Vec::new();
    for path in &folder_paths {
        let first = path.first().copied().unwrap_or_default();
        if !parents.contains(&first) {
            parents.push(first);
        }
    }
    let filter = parents
        .iter()
        .map(|name| format!("Name == {}", quoted(name)))
        .collect::<Vec<_>>()
        .join(" || ");
    let parent_folders = list_folders(environment, &filter)?
        .ok_or_else(|| SecretsError::failed("Could not read folders from Passbolt"))?;
    let mut all_folders = parent_folders.clone();
    for path in folder_paths.iter().filter(|path| path.len() > 1) {
        let Some(mut current_parent) = parent_folders
            .iter()
            .find(|folder| field(folder, "name") == path[0])
            .cloned()
        else {
            continue;
        };
        for name in &path[1..] {
            let filter = format!(
                "Name == {} && FolderParentID == {}",
                quoted(name),
                quoted(&field(&current_parent, "id"))
            );
            let Some(nested) = list_folders(environment, &filter)? else {
                continue;
            };
            let Some(first) = nested.first().cloned() else {
                break;
            };
            all_folders.extend(nested);
            current_parent = first;
        }
    }
    let found: Vec<String> = all_folders
        .iter()
        .map(|folder| folder_path(folder, &all_folders))
        .collect();
    let missing: Vec<String> = folder_paths
        .iter()
        .map(|path| path.join("/"))
        .filter(|path| !found.contains(path))
        .collect();
    if !missing.is_empty() {
        return Err(SecretsError::failed(format!(
            "Could not find the following folders in Passbolt: {}",
            missing.join(", ")
        )));
    }
    Ok(all_folders)
}

impl Adapter for Passbolt {
    fn requires_account(&self) -> bool {
        false
    }

    fn check_dependencies(&self, environment: &mut dyn Environment) -> Result<(), SecretsError> {
        require_cli(environment, "passbolt --version 2> /dev/null", "Passbolt")
    }

    fn login(
        &self,
        _: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<Option<String>, SecretsError> {
        if backtick(environment, "passbolt verify")?.status != 0 {
            return Err(SecretsError::failed("Failed to login to Passbolt"));
        }
        Ok(None)
    }

    fn fetch_secrets(
        &self,
        secrets: &[String],
        from: Option<&str>,
        _: Option<&str>,
        _: Option<&str>,
        environment: &mut dyn Environment,
    ) -> Result<FetchedSecrets, SecretsError> {
        let secrets = prefixed_secrets(secrets, from);
        if secrets.is_empty() {
            return Err(SecretsError::failed("No secrets given to fetch"));
        }
        let secret_names: Vec<&str> = secrets
            .iter()
            .map(|secret| ruby::split(secret, "/").last().copied().unwrap_or_default())
            .collect();
        let folders = folders_of(&secrets, environment)?;

        let mut conditions = Vec::new();
        for secret in &secrets {
            let parts = ruby::split(secret, "/");
            let name = parts.last().copied().unwrap_or_default();
            if parts.len() > 1 {
                let mut current_folder = None;
                for depth in 1..parts.len() {
                    let current_path = parts[..depth].join("/");
                    if let Some(folder) = folders
                        .iter()
                        .find(|folder| folder_path(folder, &folders) == current_path)
                    {
                        current_folder = Some(folder);
                    }
                }
                if let Some(folder) = current_folder {
                    conditions.push(format!(
                        "(Name == {} && FolderParentID == {})",
                        quoted(name),
                        quoted(&field(folder, "id"))
                    ));
                }
            } else {
                conditions.push(format!("Name == {}", quoted(name)));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("--filter '{}'", conditions.join(" || "))
        };
        let folder_options: Vec<String> = folders
            .iter()
            .map(|folder| format!("--folder {}", shellwords::escape(&field(folder, "id"))))
            .collect();
        let command = format!(
            "passbolt list resources {filter} {} --json",
            folder_options.join(" ")
        );
        let output = backtick(environment, &command)?;
        if output.status != 0 {
            return Err(SecretsError::failed(format!(
                "Could not read {} from Passbolt",
                inspect_names(&secrets)
            )));
        }
        let items = parse_json(&output.stdout)?;
        let items = items.as_array().cloned().unwrap_or_default();
        let found: Vec<String> = items.iter().map(|item| field(item, "name")).collect();
        let missing: Vec<&str> = secret_names
            .iter()
            .copied()
            .filter(|name| !found.iter().any(|found| found == name))
            .collect();
        if !missing.is_empty() {
            return Err(SecretsError::failed(format!(
                "Could not find the following secrets in Passbolt: {}",
                missing.join(", ")
            )));
        }
        let mut fetched = FetchedSecrets::default();
        for item in &items {
            fetched.insert_json(field(item, "name"), item.get("password").unwrap_or(&Value::Null));
        }
        Ok(fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::adapters::fetch;
    use crate::secrets::adapters::testing::vendor_cli;

    /// `passbolt` is a stand-in answering the exact commands Kamal 2.11 sends.
    #[test]
    fn fetches_root_level_secrets() {
        let mut environment = vendor_cli(&[
            ("passbolt --version 2> /dev/null", "passbolt 0.3.0\n", 0),
            ("passbolt verify", "", 0),
            (
                r#"passbolt list resources --filter 'Name == "SECRET1" || Name == "FSECRET1"'  --json"#,
                r#"[{"id":"1","name":"SECRET1","password":"secret1"},{"id":"2","name":"FSECRET1","password":"fsecret1"}]"#,
                0,
            ),
        ]);
        let secrets = ["SECRET1".to_string(), "FSECRET1".to_string()];
        let fetched = fetch(&Passbolt, &secrets, None, None, &mut environment).expect("fetches");
        assert_eq!(
            fetched.to_json().expose(),
            r#"{"SECRET1":"secret1","FSECRET1":"fsecret1"}"#
        );
    }

    /// `passbolt` is a stand-in; nested folders are resolved level by level.
    #[test]
    fn fetches_from_nested_folders() {
        let mut environment = vendor_cli(&[
            ("passbolt --version 2> /dev/null", "", 0),
            ("passbolt verify", "", 0),
            (
                r#"passbolt list folders --filter 'Name == "my-project"' --json"#,
                r#"[{"id":"dcbe","name":"my-project","folder_parent_id":""}]"#,
                0,
            ),
            (
                r#"passbolt list folders --filter 'Name == "subfolder" && FolderParentID == "dcbe"' --json"#,
                r#"[{"id":"6a3f","name":"subfolder","folder_parent_id":"dcbe"}]"#,
                0,
            ),
            (
                r#"passbolt list resources --filter '(Name == "SECRET1" && FolderParentID == "6a3f") || (Name == "OTHER" && FolderParentID == "dcbe")' --folder dcbe --folder 6a3f --json"#,
                r#"[{"name":"SECRET1","password":"s1"},{"name":"OTHER","password":"o"}]"#,
                0,
            ),
        ]);
        let secrets = [
            "my-project/subfolder/SECRET1".to_string(),
            "my-project/OTHER".to_string(),
        ];
        let fetched = fetch(&Passbolt, &secrets, None, None, &mut environment).expect("fetches");
        assert_eq!(fetched.to_json().expose(), r#"{"SECRET1":"s1","OTHER":"o"}"#);
    }
}
