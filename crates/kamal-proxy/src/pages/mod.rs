//! Error pages for the statuses the proxy itself produces (§5.4).
//!
//! A custom directory (`--error-pages DIR`, every `*.html` in it) is consulted first, then our built-in pages for
//! 404/413/502/503/504, then a bare `<h1>CODE Text</h1>`. Only the proxy's own errors are rendered here: an
//! upstream's error response is passed through untouched by the forwarding layer.

pub mod template;

use std::collections::HashMap;
use std::path::Path;

use template::Template;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to load error pages")]
pub struct UnableToLoadErrorPages {
    /// Why, for the log line; the user-facing message is Go's.
    pub reason: String,
}

/// Templates keyed by file name (`503.html`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorPages {
    templates: HashMap<String, Template>,
}

impl ErrorPages {
    /// Loads every `*.html` in `directory` (not recursively). A missing or unreadable directory, no pages at all,
    /// or a template we cannot parse fails the deploy.
    pub fn load(directory: &Path) -> Result<Self, UnableToLoadErrorPages> {
        let failure = |reason: String| UnableToLoadErrorPages { reason };
        let entries = std::fs::read_dir(directory)
            .map_err(|error| failure(format!("{}: {error}", directory.display())))?;
        let mut templates = HashMap::new();
        for entry in entries {
            let entry = entry.map_err(|error| failure(error.to_string()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".html") || entry.file_type().map(|kind| kind.is_dir()).unwrap_or(true) {
                continue;
            }
            let source =
                std::fs::read_to_string(entry.path()).map_err(|error| failure(format!("{name}: {error}")))?;
            let template = Template::parse(&source).map_err(|error| failure(format!("{name}: {error}")))?;
            templates.insert(name, template);
        }
        if templates.is_empty() {
            return Err(failure(format!("no *.html files in {}", directory.display())));
        }
        Ok(Self { templates })
    }

    pub fn render(&self, status: u16, message: Option<&str>) -> Option<String> {
        self.templates
            .get(&format!("{status}.html"))
            .map(|template| template.render(message))
    }
}

/// Renders the body for a proxy-generated `status`: custom page, else built-in, else `<h1>`.
pub fn render(custom: Option<&ErrorPages>, status: u16, message: Option<&str>) -> String {
    if let Some(body) = custom.and_then(|pages| pages.render(status, message)) {
        return body;
    }
    match built_in(status) {
        Some(page) => page.render(message),
        None => format!("<h1>{status} {}</h1>", status_text(status)),
    }
}

fn built_in(status: u16) -> Option<Template> {
    let (title, body) = match status {
        404 => ("Not Found", "<p>There is nothing here. Check the address and try again.</p>"),
        413 => ("Content Too Large", "<p>The request was larger than this service accepts.</p>"),
        502 => ("Bad Gateway", "<p>The service could not be reached. Please try again in a moment.</p>"),
        503 => (
            "Service Temporarily Unavailable",
            "{{ if .Message }}<p>{{ .Message }}</p>{{ else }}<p><strong>The service is temporarily unavailable.</strong> \
             Please try again in a moment.</p>{{ end }}",
        ),
        504 => ("Gateway Timeout", "<p>The service took too long to respond. Please try again in a moment.</p>"),
        _ => return None,
    };
    let source = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{status} {title}</title>\n\
         <style>body{{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
         background:#0971D5;color:#fff;font-family:system-ui,sans-serif;text-align:center}}\
         main{{max-width:36rem;padding:2rem}}h1{{font-size:6rem;margin:0}}h2{{font-weight:400;margin:0 0 1rem}}\
         p{{font-size:1.15rem;line-height:1.5}}</style>\n</head>\n<body>\n<main>\n<h1>{status}</h1>\n<h2>{title}</h2>\n\
         {body}\n</main>\n</body>\n</html>\n"
    );
    Template::parse(&source).ok()
}

/// Go's `http.StatusText` for the statuses a proxy meets.
pub fn status_text(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_pages_exist_for_the_proxy_statuses() {
        for status in [404, 413, 502, 503, 504] {
            let page = render(None, status, None);
            assert!(page.contains(&format!("<h1>{status}</h1>")), "{status}");
        }
        assert_eq!(render(None, 400, None), "<h1>400 Bad Request</h1>");
        assert_eq!(render(None, 418, None), "<h1>418 I'm a teapot</h1>");
    }

    #[test]
    fn built_in_503_shows_the_escaped_message() {
        let page = render(None, 503, Some("Back at <5>"));
        assert!(page.contains("<p>Back at &lt;5&gt;</p>"));
        assert!(render(None, 503, None).contains("temporarily unavailable"));
    }

    #[test]
    fn custom_pages_override_and_fall_back() {
        let directory = tempfile::tempdir().expect("temp dir");
        std::fs::write(directory.path().join("404.html"), "custom 404 {{ .Message }}").expect("write");
        std::fs::write(directory.path().join("notes.txt"), "{{ broken").expect("write");
        let pages = ErrorPages::load(directory.path()).expect("loads");
        assert_eq!(render(Some(&pages), 404, None), "custom 404 ");
        assert!(render(Some(&pages), 503, Some("down")).contains("<p>down</p>"));
    }

    #[test]
    fn bad_directories_fail() {
        assert!(ErrorPages::load(Path::new("/nonexistent/kamal-proxy-pages")).is_err());
        let empty = tempfile::tempdir().expect("temp dir");
        assert!(ErrorPages::load(empty.path()).is_err());
        std::fs::write(empty.path().join("503.html"), "{{ .Unknown }}").expect("write");
        assert_eq!(
            ErrorPages::load(empty.path()).map_err(|e| e.to_string()),
            Err("unable to load error pages".into())
        );
    }
}
