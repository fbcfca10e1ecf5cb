//! `--scope-cookie-paths` (§7.9): a service mounted under a stripped path prefix sees its own paths without
//! the prefix, so the cookies it sets would be scoped to the wrong path. Each `Set-Cookie` for the request's
//! host (no `Domain`, or exactly the host) gets its `Path` moved under the prefix, and is written back the way
//! Go's `http.Cookie.String()` writes it, since that is what the Go proxy sends: attributes in Go's order, an
//! unparsable `Expires` or `Max-Age` dropped, unknown attributes dropped. Headers that do not parse as a cookie,
//! and cookies for other domains, pass unchanged.

use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::calendar::{civil_from_days, days_from_civil};

/// Rewrites the `Set-Cookie` headers of a response to a request for `host` (port removed) routed by `prefix`.
pub fn scope_set_cookies(headers: &mut HeaderMap, host: &str, prefix: &str) {
    if !headers.contains_key(SET_COOKIE) {
        return;
    }
    let original: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    headers.remove(SET_COOKIE);
    for value in original {
        let scoped = value
            .to_str()
            .ok()
            .and_then(SetCookie::parse)
            .filter(|cookie| cookie.domain.is_empty() || cookie.domain == host)
            .and_then(|mut cookie| {
                cookie.path = join_path(prefix, cookie.path.trim_matches('/'));
                HeaderValue::from_str(&cookie.to_string()).ok()
            });
        headers.append(SET_COOKIE, scoped.unwrap_or(value));
    }
}

/// The parts of a `Set-Cookie` line Go's `http.ParseSetCookie` keeps.
#[derive(Debug, Default, PartialEq, Eq)]
struct SetCookie {
    name: String,
    value: String,
    quoted: bool,
    path: String,
    domain: String,
    /// Seconds since the epoch; `None` when absent or unparsable (Go's zero time, not written).
    expires: Option<i64>,
    /// Go's convention: 0 absent, -1 for `Max-Age<=0`, else seconds.
    max_age: i64,
    http_only: bool,
    secure: bool,
    same_site: Option<&'static str>,
    partitioned: bool,
}

/// `textproto.TrimString`: ASCII white space only.
fn trim(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

fn valid_value_byte(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte) && byte != b'"' && byte != b';' && byte != b'\\'
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Go's `parseCookieValue`: optional surrounding quotes (values only), then only valid bytes.
fn parse_value(raw: &str, allow_quotes: bool) -> Option<(&str, bool)> {
    let (raw, quoted) = match raw.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(inner) if allow_quotes && raw.len() > 1 => (inner, true),
        _ => (raw, false),
    };
    raw.bytes().all(valid_value_byte).then_some((raw, quoted))
}

impl SetCookie {
    fn parse(line: &str) -> Option<Self> {
        let mut parts = trim(line).split(';');
        let (name, value) = trim(parts.next()?).split_once('=')?;
        let name = trim(name);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return None;
        }
        let (value, quoted) = parse_value(value, true)?;
        let mut cookie = SetCookie {
            name: name.to_string(),
            value: value.to_string(),
            quoted,
            ..SetCookie::default()
        };
        for part in parts {
            let part = trim(part);
            if part.is_empty() {
                continue;
            }
            let (attribute, raw) = part.split_once('=').unwrap_or((part, ""));
            if !attribute.is_ascii() {
                continue;
            }
            let Some((value, _)) = parse_value(raw, false) else {
                continue;
            };
            match attribute.to_ascii_lowercase().as_str() {
                "samesite" => {
                    cookie.same_site = match value.to_ascii_lowercase().as_str() {
                        "lax" => Some("Lax"),
                        "strict" => Some("Strict"),
                        "none" => Some("None"),
                        _ => None,
                    }
                }
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "domain" => cookie.domain = value.to_string(),
                "max-age" => {
                    if let Some(seconds) = parse_max_age(value) {
                        cookie.max_age = if seconds <= 0 { -1 } else { seconds };
                    }
                }
                "expires" => cookie.expires = parse_expires(value),
                "path" => cookie.path = value.to_string(),
                "partitioned" => cookie.partitioned = true,
                _ => {}
            }
        }
        Some(cookie)
    }
}

/// `strconv.Atoi`, refusing a leading zero on a non-zero number as Go's cookie parser does.
fn parse_max_age(value: &str) -> Option<i64> {
    let seconds: i64 = value.parse().ok()?;
    (seconds == 0 || !value.starts_with('0')).then_some(seconds)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `Mon, 02 Jan 2006 15:04:05 MST` or `Mon, 02-Jan-2006 15:04:05 MST` (Go's two layouts). A zone name
/// Go does not know has offset 0, as in the proxy's UTC container; only years from 1601 are kept.
fn parse_expires(value: &str) -> Option<i64> {
    let (weekday, rest) = value.split_once(", ")?;
    if !WEEKDAYS.iter().any(|name| name.eq_ignore_ascii_case(weekday)) {
        return None;
    }
    // "DD Mon YYYY HH:MM:SS ZONE" or "DD-Mon-YYYY HH:MM:SS ZONE".
    let mut fields: Vec<&str> = rest.split(' ').collect();
    if fields.len() == 3 {
        let date: Vec<&str> = fields[0].split('-').collect();
        fields.splice(0..1, date);
    }
    let [day, month, year, time, zone] = fields.as_slice() else {
        return None;
    };
    let two_digits = |text: &str| (text.len() == 2 && text.bytes().all(|b| b.is_ascii_digit())).then_some(());
    two_digits(day)?;
    let day: i64 = day.parse().ok()?;
    let month = MONTHS.iter().position(|name| name.eq_ignore_ascii_case(month))? as i64 + 1;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = year.parse().ok()?;
    let mut clock = time.split(':');
    let (hour, minute, second) = (clock.next()?, clock.next()?, clock.next()?);
    if clock.next().is_some() || hour.is_empty() || hour.len() > 2 {
        return None;
    }
    two_digits(minute)?;
    two_digits(second)?;
    let (hour, minute, second): (i64, i64, i64) =
        (hour.parse().ok()?, minute.parse().ok()?, second.parse().ok()?);
    if !(zone.len() >= 3 && zone.bytes().all(|b| b.is_ascii_uppercase())) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 || day < 1 || day > days_in_month(year, month) || year < 1601 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// IMF-fixdate (`Mon, 02 Jan 2006 15:04:05 GMT`) of seconds since the epoch, as Go's `http.TimeFormat`.
pub fn imf_fixdate(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let weekday = WEEKDAYS[(days + 3).rem_euclid(7) as usize];
    let (year, month, day) = civil_from_days(days);
    let second_of_day = seconds.rem_euclid(86_400);
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        MONTHS[(month - 1) as usize],
        second_of_day / 3600,
        (second_of_day / 60) % 60,
        second_of_day % 60
    )
}

/// Go's `isCookieDomainName`: letters, digits, dashes and dots in the places DNS allows, one letter at least.
fn is_cookie_domain_name(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > 255 {
        return false;
    }
    let domain = domain.strip_prefix('.').unwrap_or(domain);
    let (mut last, mut letter, mut label) = (b'.', false, 0usize);
    for byte in domain.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' => {
                letter = true;
                label += 1;
            }
            b'0'..=b'9' => label += 1,
            b'-' if last != b'.' => label += 1,
            b'.' if last != b'.' && last != b'-' && (1..=63).contains(&label) => label = 0,
            _ => return false,
        }
        last = byte;
    }
    last != b'-' && label <= 63 && letter
}

fn valid_domain(domain: &str) -> bool {
    is_cookie_domain_name(domain) || domain.parse::<std::net::Ipv4Addr>().is_ok()
}

/// `url.JoinPath(prefix, path)`: joined with one slash and cleaned (`path.Join`).
fn join_path(prefix: &str, path: &str) -> String {
    let joined = if path.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}/{path}")
    };
    clean(&joined)
}

/// Go's `path.Clean` for an absolute path: no empty, `.` or `..` segments, no trailing slash.
fn clean(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/"))
}

impl std::fmt::Display for SetCookie {
    /// Go's `http.Cookie.String()`.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value: String = self
            .value
            .bytes()
            .filter(|&b| valid_value_byte(b))
            .map(char::from)
            .collect();
        if !value.is_empty() && (self.quoted || value.contains([' ', ','])) {
            write!(formatter, "{}=\"{value}\"", self.name)?;
        } else {
            write!(formatter, "{}={value}", self.name)?;
        }
        if !self.path.is_empty() {
            let path: String = self
                .path
                .bytes()
                .filter(|&b| (0x20..0x7f).contains(&b) && b != b';')
                .map(char::from)
                .collect();
            write!(formatter, "; Path={path}")?;
        }
        if !self.domain.is_empty() && valid_domain(&self.domain) {
            let domain = self.domain.strip_prefix('.').unwrap_or(&self.domain);
            write!(formatter, "; Domain={domain}")?;
        }
        if let Some(expires) = self.expires {
            write!(formatter, "; Expires={}", imf_fixdate(expires))?;
        }
        match self.max_age {
            0 => {}
            age if age < 0 => formatter.write_str("; Max-Age=0")?,
            age => write!(formatter, "; Max-Age={age}")?,
        }
        if self.http_only {
            formatter.write_str("; HttpOnly")?;
        }
        if self.secure {
            formatter.write_str("; Secure")?;
        }
        if let Some(same_site) = self.same_site {
            write!(formatter, "; SameSite={same_site}")?;
        }
        if self.partitioned {
            formatter.write_str("; Partitioned")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scoped(lines: &[&str], host: &str, prefix: &str) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(SET_COOKIE, HeaderValue::from_str(line).expect("header"));
        }
        scope_set_cookies(&mut headers, host, prefix);
        headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().expect("text").to_string())
            .collect()
    }

    #[test]
    fn paths_move_under_the_prefix() {
        assert_eq!(
            scoped(
                &["a=1; Path=/", "b=2; Path=/admin/", "c=3", "d=4; path=admin/x"],
                "app.test",
                "/api"
            ),
            [
                "a=1; Path=/api",
                "b=2; Path=/api/admin",
                "c=3; Path=/api",
                "d=4; Path=/api/admin/x"
            ]
        );
    }

    #[test]
    fn only_the_request_hosts_cookies_are_scoped() {
        assert_eq!(
            scoped(
                &[
                    "a=1; Path=/; Domain=app.test",
                    "b=2; Path=/; Domain=other.test",
                    "=bad",
                    "no-equals"
                ],
                "app.test",
                "/api"
            ),
            [
                "a=1; Path=/api; Domain=app.test",
                "b=2; Path=/; Domain=other.test",
                "=bad",
                "no-equals"
            ]
        );
    }

    #[test]
    fn cookies_are_written_back_in_gos_form() {
        assert_eq!(
            scoped(
                &[
                    "session=abc; secure; SameSite=lax; HttpOnly; expires=Wed, 21-Oct-2037 07:28:00 GMT; \
                     Max-Age=3600; Path=/; Priority=High",
                    "gone=; Max-Age=0",
                    "q=\"a b\"; Expires=not a date; Max-Age=012",
                    "p=1; Partitioned; SameSite=Whatever; Secure",
                ],
                "app.test",
                "/api/"
            ),
            [
                "session=abc; Path=/api; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Max-Age=3600; HttpOnly; Secure; \
                 SameSite=Lax",
                "gone=; Path=/api; Max-Age=0",
                "q=\"a b\"; Path=/api",
                "p=1; Path=/api; Secure; Partitioned"
            ]
        );
    }

    #[test]
    fn expires_dates_are_read_as_go_reads_them() {
        assert_eq!(parse_expires("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_expires("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_expires("Sun, 06-Nov-1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_expires("Sun, 6 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_expires("Sun, 31 Feb 1994 08:49:37 GMT"), None);
        assert_eq!(parse_expires("Sun, 06 Nov 1500 08:49:37 GMT"), None);
        assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(imf_fixdate(-86_400), "Wed, 31 Dec 1969 00:00:00 GMT");
    }

    #[test]
    fn domains_and_paths_are_checked_as_go_does() {
        assert!(is_cookie_domain_name(".example.com"));
        assert!(!is_cookie_domain_name("exa_mple.com"));
        assert!(!is_cookie_domain_name("example-.com"));
        assert!(valid_domain("10.0.0.1"));
        assert_eq!(join_path("/api", ""), "/api");
        assert_eq!(join_path("/api", "a/../b"), "/api/b");
    }
}
