//! Time formatting shared by server and browser. The server renders absolute
//! times; relative ones are computed only after hydration, so both sides
//! render the same HTML first.

use chrono::{DateTime, Datelike, Timelike, Utc};

// Formatted by hand rather than with chrono's `format`: its pattern
// interpreter is a sizeable part of the browser's download.

/// `2026-11-29 14:03:05 UTC`: the same on server and browser.
pub fn format_absolute(at: DateTime<Utc>) -> String {
    let mut buf = String::with_capacity(23);
    write_date_time(&mut buf, at, ' ');
    buf.push_str(" UTC");
    buf
}

/// `2026-11-29T14:03:05.042Z`, as a `datetime` attribute and JavaScript's
/// `toISOString` write it.
pub fn format_iso(at: DateTime<Utc>) -> String {
    let mut buf = String::with_capacity(24);
    write_date_time(&mut buf, at, 'T');
    buf.push('.');
    push_digits(&mut buf, at.timestamp_subsec_millis(), 3);
    buf.push('Z');
    buf
}

/// `2026-11-29{between}14:03:05`. Tables write dozens of times per page, so
/// this pushes digits rather than going through `format!`.
fn write_date_time(buf: &mut String, at: DateTime<Utc>, between: char) {
    push_digits(buf, at.year().max(0) as u32, 4);
    buf.push('-');
    push_digits(buf, at.month(), 2);
    buf.push('-');
    push_digits(buf, at.day(), 2);
    buf.push(between);
    push_digits(buf, at.hour(), 2);
    buf.push(':');
    push_digits(buf, at.minute(), 2);
    buf.push(':');
    push_digits(buf, at.second(), 2);
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn push_digits(buf: &mut String, n: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut i = digits.len();
    let mut rest = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let start = i.min(digits.len() - width.min(digits.len()));
    for &d in &digits[start..] {
        buf.push(d as char);
    }
}

/// `Nov 29`.
pub fn format_day(at: DateTime<Utc>) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!("{} {}", MONTHS[at.month0() as usize], at.day())
}

/// `14:00`: the hour of `at`.
pub fn format_hour(at: DateTime<Utc>) -> String {
    format!("{:02}:00", at.hour())
}

/// "just now", "5 minutes ago", "in 2 hours".
pub fn humanize_ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    if secs.abs() < 10 {
        return "just now".to_string();
    }
    let amount = secs.unsigned_abs();
    let (n, unit) = if amount < 60 {
        (amount, "second")
    } else if amount < 3_600 {
        (amount / 60, "minute")
    } else if amount < 86_400 {
        (amount / 3_600, "hour")
    } else {
        (amount / 86_400, "day")
    };
    let plural = if n == 1 { "" } else { "s" };
    if secs > 0 {
        format!("{n} {unit}{plural} ago")
    } else {
        format!("in {n} {unit}{plural}")
    }
}

/// A duration for operators: `850 ms`, `42 s`, `3 min 12 s`, `2 h 05 min`.
pub fn format_duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format_millis((to - from).num_milliseconds())
}

/// [`format_duration`] of a length in milliseconds (negative counts as 0).
pub fn format_millis(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        return format!("{ms} ms");
    }
    let secs = ms / 1_000;
    if secs < 60 {
        format!("{secs} s")
    } else if secs < 3_600 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{} h {:02} min", secs / 3_600, (secs % 3_600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 14, 3, 5).unwrap()
    }

    #[test]
    fn absolute_times_are_utc_and_second_precise() {
        assert_eq!(format_absolute(t0()), "2026-11-29 14:03:05 UTC");
    }

    #[test]
    fn hand_formatted_times_match_chrono_patterns() {
        let mut at = Utc.with_ymd_and_hms(1999, 1, 1, 0, 0, 0).unwrap();
        while at.year() < 2031 {
            assert_eq!(
                format_absolute(at),
                at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
            );
            assert_eq!(format_day(at), at.format("%b %-d").to_string());
            assert_eq!(
                format_iso(at),
                at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
            );
            assert_eq!(format_hour(at), at.format("%H:00").to_string());
            at += Duration::seconds(86_400 * 3 + 3_600 * 7 + 60 * 13 + 17)
                + Duration::milliseconds(37);
        }
    }

    #[test]
    fn relative_times_pick_the_largest_whole_unit() {
        let now = t0();
        assert_eq!(humanize_ago(now - Duration::seconds(3), now), "just now");
        assert_eq!(
            humanize_ago(now - Duration::seconds(42), now),
            "42 seconds ago"
        );
        assert_eq!(
            humanize_ago(now - Duration::seconds(60), now),
            "1 minute ago"
        );
        assert_eq!(
            humanize_ago(now - Duration::minutes(150), now),
            "2 hours ago"
        );
        assert_eq!(humanize_ago(now - Duration::days(3), now), "3 days ago");
        assert_eq!(
            humanize_ago(now + Duration::minutes(5), now),
            "in 5 minutes"
        );
    }

    #[test]
    fn durations_read_naturally() {
        let t = t0();
        assert_eq!(
            format_duration(t, t + Duration::milliseconds(850)),
            "850 ms"
        );
        assert_eq!(format_duration(t, t + Duration::seconds(42)), "42 s");
        assert_eq!(format_duration(t, t + Duration::seconds(192)), "3 min 12 s");
        assert_eq!(
            format_duration(t, t + Duration::seconds(7_500)),
            "2 h 05 min"
        );
        assert_eq!(format_duration(t, t - Duration::seconds(5)), "0 ms");
    }
}
