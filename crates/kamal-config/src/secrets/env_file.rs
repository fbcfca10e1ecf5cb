//! Docker env-file content for secrets (`Kamal::EnvFile`): one `KEY=value` line each, the
//! value escaped like Ruby's `String#dump` without its quotes, except that `"` and `#` are
//! left bare (Docker reads quotes literally); non-ASCII text is kept raw. An empty file is
//! a single newline so the upload is never empty.

use super::ruby;
use super::sensitive::Secret;

/// `Kamal::EnvFile.new(secrets).to_s`.
pub fn env_file(secrets: &[(String, Secret)]) -> Secret {
    let mut contents = String::new();
    for (key, value) in secrets {
        contents.push_str(key);
        contents.push('=');
        for (ascii, run) in ruby::ascii_runs(value.expose()) {
            if ascii {
                let dumped = ruby::dump_ascii(run);
                contents.push_str(
                    &dumped[1..dumped.len() - 1]
                        .replace("\\\"", "\"")
                        .replace("\\#", "#"),
                );
            } else {
                contents.push_str(run);
            }
        }
        contents.push('\n');
    }
    if contents.is_empty() {
        contents.push('\n');
    }
    Secret::new(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(pairs: &[(&str, &str)]) -> String {
        let secrets: Vec<(String, Secret)> = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), Secret::new(*value)))
            .collect();
        env_file(&secrets).into_exposed()
    }

    /// Expected strings follow Kamal's `env_file_test.rb`.
    #[test]
    fn encodes_like_kamal() {
        assert_eq!(file(&[("foo", "bar"), ("baz", "haz")]), "foo=bar\nbaz=haz\n");
        assert_eq!(
            file(&[("foo", "hello\\nthere"), ("bar", "multi\nline")]),
            "foo=hello\\\\nthere\nbar=multi\\nline\n"
        );
        assert_eq!(file(&[("foo", "\"quoted\" #{x} #y")]), "foo=\"quoted\" #{x} #y\n");
        assert_eq!(file(&[("foo", "ñ\tx\u{7f}")]), "foo=ñ\\tx\\x7F\n");
        assert_eq!(file(&[]), "\n");
    }
}
