//! Dates and times in YAML the way Psych handles them: which texts become a Ruby `Date` or
//! `Time` (`ScalarScanner`'s regexes, then `Date.strptime` / `Time.utc` / `Time.new`, whose
//! `ArgumentError` keeps the text a String), and how `to_yaml` writes them back
//! (`Date#to_s`, and `format_time`'s `%Y-%m-%d %H:%M:%S.%9N %:z`, ` Z` for UTC).
//!
//! A time without a zone is a local time in Ruby; we take the local zone to be UTC, as in the
//! containers Kamal runs in.

use std::sync::LazyLock;

use regex::Regex;

use super::resolve::built_in_regex;

static TIME: LazyLock<Regex> = LazyLock::new(|| {
    built_in_regex(
        r"^(?P<year>-?[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})(?:[Tt]|[ \t\r\n\x0B\x0C]+)(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]*))?(?:[ \t\r\n\x0B\x0C]*(?P<zone>Z|[-+][0-9]{1,2}:?(?:[0-9]{2})?))?$",
    )
});
static DATE: LazyLock<Regex> = LazyLock::new(|| {
    built_in_regex(
        r"^(?P<year>[0-9]{4})-(?P<month>1[012]|0[0-9]|[0-9])-(?P<day>[12][0-9]|3[01]|0[0-9]|[0-9])$",
    )
});

/// Where a time's clock is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// `Z`: a UTC time.
    Utc,
    /// No zone: a local time.
    Local,
    /// `+05:30`, in seconds east of UTC.
    Offset(i64),
}

/// A text Psych loads as a `Date` or a `Time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timestamp {
    Date {
        year: i64,
        month: i64,
        day: i64,
    },
    Time {
        year: i64,
        month: i64,
        day: i64,
        seconds_of_day: i64,
        nanoseconds: String,
        zone: Zone,
    },
}

/// Whether the text matches Psych's date or time pattern at all (a text that does but names no
/// real date stays a String rather than being tried as a number).
pub fn looks_like_timestamp(text: &str) -> bool {
    TIME.is_match(text) || DATE.is_match(text)
}

/// The Date or Time Psych builds from `text`, or `None` when it would keep a String.
pub fn parse(text: &str) -> Option<Timestamp> {
    if let Some(captures) = TIME.captures(text) {
        let number = |name: &str| {
            captures
                .name(name)
                .and_then(|found| found.as_str().parse::<i64>().ok())
                .unwrap_or(0)
        };
        let (month, day, hour, minute, second) = (
            number("month"),
            number("day"),
            number("hour"),
            number("minute"),
            number("second"),
        );
        // `Time.utc` raises for these; a day up to 31 rolls over into the next month instead.
        let fields_valid = (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && (0..=24).contains(&hour)
            && (0..=59).contains(&minute)
            && (0..=60).contains(&second)
            && (hour < 24 || (minute == 0 && second == 0));
        if !fields_valid {
            return None;
        }
        let zone = match captures.name("zone").map(|found| found.as_str()) {
            None => Zone::Local,
            Some("Z") => Zone::Utc,
            Some(zone) => Zone::Offset(zone_offset(zone)?),
        };
        let mut nanoseconds: String = captures
            .name("fraction")
            .map_or("", |found| found.as_str())
            .chars()
            .take(9)
            .collect();
        while nanoseconds.len() < 9 {
            nanoseconds.push('0');
        }
        return Some(Timestamp::Time {
            year: number("year"),
            month,
            day,
            seconds_of_day: hour * 3600 + minute * 60 + second,
            nanoseconds,
            zone,
        });
    }
    let captures = DATE.captures(text)?;
    let number = |name: &str| {
        captures
            .name(name)
            .and_then(|found| found.as_str().parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (year, month, day) = (number("year"), number("month"), number("day"));
    (1..=days_in_month(year, month))
        .contains(&day)
        .then_some(Timestamp::Date { year, month, day })
}

/// Psych's zone parsing, `/^([+\-]?\d{1,2})\:?(\d{1,2})?$/` (so `+530` is 53 hours and 0
/// minutes), and `Time.new`'s limit of less than a day.
fn zone_offset(zone: &str) -> Option<i64> {
    let (negative, digits) = match zone.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, zone.strip_prefix('+').unwrap_or(zone)),
    };
    let digits = digits.replacen(':', "", 1);
    let split = digits.len().min(2);
    let hours: i64 = digits[..split].parse().ok()?;
    let minutes: i64 = if digits.len() > split {
        digits[split..].parse().ok()?
    } else {
        0
    };
    let seconds = if negative {
        -(hours * 3600 + minutes * 60)
    } else {
        hours * 3600 + minutes * 60
    };
    (seconds.abs() < 86_400).then_some(seconds)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

impl Timestamp {
    /// How Psych's `to_yaml` writes the Ruby object back.
    pub fn to_psych(&self) -> String {
        match self {
            Timestamp::Date { year, month, day } => format!("{year:04}-{month:02}-{day:02}"),
            Timestamp::Time {
                year,
                month,
                day,
                seconds_of_day,
                nanoseconds,
                zone,
            } => {
                // Out-of-range days and 24:00:00 roll over, as `Time.utc` does.
                let days = days_from_civil(*year, *month, 1) + day - 1 + seconds_of_day.div_euclid(86_400);
                let (year, month, day) = civil_from_days(days);
                let seconds = seconds_of_day.rem_euclid(86_400);
                let (hour, minute, second) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
                let zone = match zone {
                    Zone::Utc => "Z".to_string(),
                    Zone::Local => "+00:00".to_string(),
                    Zone::Offset(offset) => {
                        let sign = if *offset < 0 { '-' } else { '+' };
                        format!("{sign}{:02}:{:02}", offset.abs() / 3600, offset.abs() % 3600 / 60)
                    }
                };
                format!(
                    "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{nanoseconds} {zone}"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kamal config` (Kamal 2.11) printing these values raw under `builder: args:`.
    #[test]
    fn dates_and_times_dump_as_psych_does() {
        let table = [
            ("2024-01-01 10:00:00", "2024-01-01 10:00:00.000000000 +00:00"),
            ("2024-1-5", "2024-01-05"),
            ("2024-01-01t10:00:00.5Z", "2024-01-01 10:00:00.500000000 Z"),
            (
                "2024-01-01 10:00:00.123456789123 +5",
                "2024-01-01 10:00:00.123456789 +05:00",
            ),
            (
                "2024-01-01 10:00:00 -03:30",
                "2024-01-01 10:00:00.000000000 -03:30",
            ),
            ("2024-02-31 24:00:00Z", "2024-03-03 00:00:00.000000000 Z"),
            (
                "2024-01-01 1:02:03.1 +0530",
                "2024-01-01 01:02:03.100000000 +05:30",
            ),
        ];
        for (text, expected) in table {
            assert_eq!(
                parse(text).map(|timestamp| timestamp.to_psych()).as_deref(),
                Some(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn impossible_dates_and_times_stay_strings() {
        for text in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01 10:00:00",
            "2024-01-01T25:00:00Z",
            "2024-01-01 10:00:00 +530",
        ] {
            assert_eq!(parse(text), None, "{text}");
            assert!(looks_like_timestamp(text), "{text}");
        }
        assert!(parse("2024-02-29").is_some());
    }
}
