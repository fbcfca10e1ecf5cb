//! The real-world config corpus (`../shared/corpus`): 90 `deploy.yml` setups with the
//! output Kamal 2.11 gives for `kamal config` (and `-d DEST`). Ours must give the same,
//! byte for byte, except for the cases listed in `corpus-allowlist.tsv`, each with a reason
//! (Kamal failing inside Ruby code we do not evaluate); there we must still fail cleanly.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("KAMAL_CORPUS") {
        return Some(PathBuf::from(dir));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        workspace.join("../shared/corpus"),
        PathBuf::from("/work/shared/corpus"),
    ]
    .into_iter()
    .find(|candidate| candidate.join("check.sh").exists())
}

/// `case/file` → reason.
fn allowlist() -> BTreeMap<String, String> {
    let text = include_str!("corpus-allowlist.tsv");
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let case = fields.next()?;
            let file = fields.next()?;
            let reason = fields.next()?;
            Some((format!("{case}/{file}"), reason.to_string()))
        })
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.retain(|name| !name.starts_with('.'));
    names.sort();
    names
}

#[test]
fn kamal_config_matches_kamal_2_11_on_the_corpus() {
    let Some(corpus) = corpus_dir() else {
        if std::env::var_os("KAMAL_SKIP_CORPUS").is_some() {
            eprintln!("corpus not found; skipped because KAMAL_SKIP_CORPUS is set");
            return;
        }
        panic!("../shared/corpus not found (set KAMAL_CORPUS, or KAMAL_SKIP_CORPUS=1 to skip)");
    };
    let output = tempdir();
    let status = Command::new("bash")
        .arg(corpus.join("check.sh"))
        .arg(&output)
        .env("KAMAL", env!("CARGO_BIN_EXE_kamal"))
        .env("SANDBOX_ROOT", "/tmp/kamal-corpus-oracle")
        .status()
        .expect("run check.sh");
    assert!(status.success(), "check.sh failed to run");

    let allowed = allowlist();
    let mut differences = Vec::new();
    let mut compared = 0;
    let mut used_allowances = Vec::new();
    for case in files_in(&corpus)
        .into_iter()
        .filter(|name| name.chars().take(2).all(|c| c.is_ascii_digit()))
    {
        let expected_dir = corpus.join(&case).join("expected");
        let actual_dir = output.join(&case);
        let mut names = files_in(&expected_dir);
        for name in files_in(&actual_dir) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        for name in names {
            compared += 1;
            let expected = fs::read_to_string(expected_dir.join(&name)).ok();
            let actual = fs::read_to_string(actual_dir.join(&name)).ok();
            if expected == actual {
                continue;
            }
            let key = format!("{case}/{name}");
            if allowed.contains_key(&key) {
                used_allowances.push(key.clone());
                // Where Kamal fails inside Ruby we must fail too, with a message of our own.
                let ours = actual.clone().unwrap_or_default();
                let err_name = name.replace(".yml", ".err");
                let ours_err = fs::read_to_string(actual_dir.join(&err_name)).unwrap_or_default();
                assert!(
                    ours.starts_with("exit_code: 1") || ours_err.starts_with("exit_code: 1"),
                    "{key}: allow-listed, but we did not fail with exit 1:\n{ours}{ours_err}"
                );
                continue;
            }
            differences.push(format!(
                "== {key}\n--- expected\n{}\n--- ours\n{}",
                expected.unwrap_or_else(|| "(none)".into()),
                actual.unwrap_or_else(|| "(none)".into())
            ));
        }
    }
    let stale: Vec<&String> = allowed
        .keys()
        .filter(|key| !used_allowances.contains(key))
        .collect();
    assert!(
        stale.is_empty(),
        "allow-list entries that now match (remove them): {stale:?}"
    );
    assert!(compared > 100, "compared only {compared} outputs");
    assert!(
        differences.is_empty(),
        "{} of {compared} outputs differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kamal-corpus-out-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create output dir");
    dir
}
