//! The runs list's view: filters and page cursor, as carried in the URL
//! (`/runs?status=failed&op=drift.generate&by=3&range=24h&q=…&before=…`), so
//! reloads, back/forward and shared links restore it.

use super::{OperationKind, RunSummary, StatusBucket};
use serde::{Deserialize, Serialize};

/// Longest search text accepted (an idempotency key is 64 characters).
pub const MAX_SEARCH: usize = 200;

/// How far back the list looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeRange {
    LastHour,
    LastDay,
    LastWeek,
    LastMonth,
}

impl TimeRange {
    pub const ALL: [TimeRange; 4] = [
        TimeRange::LastHour,
        TimeRange::LastDay,
        TimeRange::LastWeek,
        TimeRange::LastMonth,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            TimeRange::LastHour => "1h",
            TimeRange::LastDay => "24h",
            TimeRange::LastWeek => "7d",
            TimeRange::LastMonth => "30d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TimeRange::LastHour => "Last hour",
            TimeRange::LastDay => "Last 24 hours",
            TimeRange::LastWeek => "Last 7 days",
            TimeRange::LastMonth => "Last 30 days",
        }
    }

    pub fn parse(s: &str) -> Option<TimeRange> {
        TimeRange::ALL.into_iter().find(|r| r.slug() == s)
    }

    pub fn hours(self) -> i64 {
        match self {
            TimeRange::LastHour => 1,
            TimeRange::LastDay => 24,
            TimeRange::LastWeek => 24 * 7,
            TimeRange::LastMonth => 24 * 30,
        }
    }
}

/// What the runs list shows. Unknown or malformed URL values are errors
/// (a clear 400), not silently dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFilter {
    pub bucket: Option<StatusBucket>,
    pub kind: Option<OperationKind>,
    /// The initiator's user id.
    pub initiator: Option<i64>,
    pub range: Option<TimeRange>,
    /// A run id or an idempotency key.
    pub search: Option<String>,
    /// Keyset cursor: rows strictly older than this (see [`RunCursor`]).
    pub before: Option<String>,
}

impl RunFilter {
    /// Reads the URL's query values (each `None` when absent or empty).
    pub fn from_query(
        status: Option<&str>,
        op: Option<&str>,
        by: Option<&str>,
        range: Option<&str>,
        q: Option<&str>,
        before: Option<&str>,
    ) -> Result<RunFilter, String> {
        fn present(v: Option<&str>) -> Option<&str> {
            v.map(str::trim).filter(|v| !v.is_empty())
        }
        let bucket = match present(status) {
            None => None,
            Some(s) => Some(
                StatusBucket::parse(s)
                    .ok_or_else(|| format!("unknown status filter '{}'", clip(s)))?,
            ),
        };
        let kind = match present(op) {
            None => None,
            Some(s) => Some(
                OperationKind::parse(s)
                    .ok_or_else(|| format!("unknown operation '{}'", clip(s)))?,
            ),
        };
        let initiator = match present(by) {
            None => None,
            Some(s) => Some(
                s.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| format!("'{}' is not an initiator id", clip(s)))?,
            ),
        };
        let range = match present(range) {
            None => None,
            Some(s) => Some(
                TimeRange::parse(s).ok_or_else(|| format!("unknown time range '{}'", clip(s)))?,
            ),
        };
        let search = present(q).map(str::to_string);
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH)
        {
            return Err(format!("search for at most {MAX_SEARCH} characters"));
        }
        let before = match present(before) {
            None => None,
            Some(s) => {
                RunCursor::parse(s).ok_or_else(|| {
                    "the page cursor is malformed; start from the first page".to_string()
                })?;
                Some(s.to_string())
            }
        };
        Ok(RunFilter {
            bucket,
            kind,
            initiator,
            range,
            search,
            before,
        })
    }

    /// The URL of this view (`/runs?...`), parameters in a fixed order.
    pub fn to_url(&self) -> String {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(b) = self.bucket {
            params.push(("status", b.slug().into()));
        }
        if let Some(k) = self.kind {
            params.push(("op", k.key().into()));
        }
        if let Some(u) = self.initiator {
            params.push(("by", u.to_string()));
        }
        if let Some(r) = self.range {
            params.push(("range", r.slug().into()));
        }
        if let Some(q) = &self.search {
            params.push(("q", q.clone()));
        }
        if let Some(c) = &self.before {
            params.push(("before", c.clone()));
        }
        if params.is_empty() {
            return "/runs".into();
        }
        let query: Vec<String> = params
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode(&v)))
            .collect();
        format!("/runs?{}", query.join("&"))
    }

    /// The same view on its first page.
    pub fn first_page(&self) -> RunFilter {
        RunFilter {
            before: None,
            ..self.clone()
        }
    }

    pub fn with_bucket(&self, bucket: Option<StatusBucket>) -> RunFilter {
        RunFilter {
            bucket,
            before: None,
            ..self.clone()
        }
    }

    pub fn is_filtered(&self) -> bool {
        self.bucket.is_some()
            || self.kind.is_some()
            || self.initiator.is_some()
            || self.range.is_some()
            || self.search.is_some()
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    percent_encode(s, false)
}

/// Percent-encodes everything but unreserved characters (and `/` when
/// `keep_slash`, for a path carried in a query value).
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A position in the newest-first order: `(created_at, id)` of the last row
/// of a page, as microseconds and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunCursor {
    pub created_at_micros: i64,
    pub id: i64,
}

impl RunCursor {
    pub fn of(run: &RunSummary) -> RunCursor {
        RunCursor {
            created_at_micros: run.created_at.timestamp_micros(),
            id: run.id,
        }
    }

    pub fn encode(&self) -> String {
        format!("{}_{}", self.created_at_micros, self.id)
    }

    pub fn parse(s: &str) -> Option<RunCursor> {
        let (micros, id) = s.split_once('_')?;
        let cursor = RunCursor {
            created_at_micros: micros.parse().ok()?,
            id: id.parse().ok().filter(|id: &i64| *id > 0)?,
        };
        // A time the database can compare with: years 1 to 9999 (its own
        // range is wider, chrono's wider still; a run's time is in this one).
        let at = chrono::DateTime::from_timestamp_micros(cursor.created_at_micros)?;
        (1..=9999)
            .contains(&chrono::Datelike::year(&at))
            .then_some(cursor)
    }
}

/// A page of the runs list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    pub runs: Vec<RunSummary>,
    /// Cursor of the next (older) page, if there is one.
    pub older: Option<String>,
}

/// Counts per status bucket for the current filters (all but the bucket),
/// and who may be picked as initiator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFacets {
    /// (bucket, count); a count at [`COUNT_CAP`] means "at least".
    pub counts: Vec<(StatusBucket, i64)>,
    pub initiators: Vec<(i64, String)>,
}

/// Counts stop here ("10,000+"): exact counts of a long history cost more
/// than they tell.
pub const COUNT_CAP: i64 = 10_000;

pub fn format_count(n: i64) -> String {
    let plus = if n >= COUNT_CAP { "+" } else { "" };
    let digits = n.min(COUNT_CAP).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}{plus}")
}

#[cfg(test)]
mod tests {

    #[test]
    fn cursors_outside_the_years_a_run_can_have_are_malformed() {
        assert!(RunCursor::parse("1764720000000000_5").is_some());
        for bad in [
            "-1000000000000000000_1",
            "9000000000000000000_1",
            "-9223372036854775808_1",
            "-62135596800000001_1",
            "253402300800000000_1",
            "1764720000000000_0",
            "x_1",
            "1_",
        ] {
            assert_eq!(RunCursor::parse(bad), None, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn a_filter_round_trips_through_its_url() {
        let f = RunFilter::from_query(
            Some("partial"),
            Some("drift.generate"),
            Some("3"),
            Some("24h"),
            Some("key with spaces&"),
            Some("1700000000000000_42"),
        )
        .unwrap();
        assert_eq!(f.bucket, Some(StatusBucket::PartiallySucceeded));
        assert_eq!(
            f.to_url(),
            "/runs?status=partial&op=drift.generate&by=3&range=24h&q=key%20with%20spaces%26&before=1700000000000000_42"
        );
        assert_eq!(RunFilter::default().to_url(), "/runs");
        assert_eq!(f.with_bucket(None).before, None);
    }

    #[test]
    fn bad_url_values_are_refused_with_a_reason() {
        let q = |status, op, by, range, before| {
            RunFilter::from_query(status, op, by, range, None, before)
        };
        assert!(q(Some("done"), None, None, None, None)
            .unwrap_err()
            .contains("status"));
        assert!(q(None, Some("rm.rf"), None, None, None)
            .unwrap_err()
            .contains("operation"));
        assert!(q(None, None, Some("-1"), None, None).is_err());
        assert!(q(None, None, None, Some("1y"), None).is_err());
        assert!(q(None, None, None, None, Some("x_y")).is_err());
        assert!(
            RunFilter::from_query(None, None, None, None, Some(&"k".repeat(300)), None).is_err()
        );
        assert_eq!(
            q(Some(""), Some(" "), None, None, None).unwrap(),
            RunFilter::default()
        );
    }

    #[test]
    fn counts_are_grouped_and_capped() {
        assert_eq!(format_count(7), "7");
        assert_eq!(format_count(1234), "1,234");
        assert_eq!(format_count(COUNT_CAP), "10,000+");
    }
}
