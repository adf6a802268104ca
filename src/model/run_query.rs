//! The runs list's query: filters and page cursor, as carried in the URL
//! (`/runs?status=failed&op=drift.generate&by=3&range=24h&q=…&before=…`), so
//! reloads, back/forward and shared links restore it.

use super::cursor::Cursor;
use super::url::encode;
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

/// The runs list's query as the URL carries it: each value as typed, `None`
/// when absent. [`RunQuery`] is what it means.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunQueryParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// What the runs list shows, parsed once from the URL and carried as is to
/// the server function and the query. Unknown or malformed URL values are
/// errors (a clear 400), not silently dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RunQueryParams", into = "RunQueryParams")]
pub struct RunQuery {
    pub bucket: Option<StatusBucket>,
    pub kind: Option<OperationKind>,
    /// The initiator's user id.
    pub initiator: Option<i64>,
    pub range: Option<TimeRange>,
    /// A run id or an idempotency key.
    pub search: Option<String>,
    /// Keyset cursor: rows strictly older than this.
    pub before: Option<Cursor<i64>>,
}

impl RunQuery {
    /// Reads the URL's query values (each absent when missing or empty).
    pub fn parse(params: &RunQueryParams) -> Result<RunQuery, String> {
        fn present(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let bucket = match present(&params.status) {
            None => None,
            Some(s) => Some(
                StatusBucket::parse(s)
                    .ok_or_else(|| format!("unknown status filter '{}'", clip(s)))?,
            ),
        };
        let kind = match present(&params.op) {
            None => None,
            Some(s) => Some(
                OperationKind::parse(s)
                    .ok_or_else(|| format!("unknown operation '{}'", clip(s)))?,
            ),
        };
        let initiator = match present(&params.by) {
            None => None,
            Some(s) => Some(
                s.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| format!("'{}' is not an initiator id", clip(s)))?,
            ),
        };
        let range = match present(&params.range) {
            None => None,
            Some(s) => Some(
                TimeRange::parse(s).ok_or_else(|| format!("unknown time range '{}'", clip(s)))?,
            ),
        };
        let search = present(&params.q).map(str::to_string);
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH)
        {
            return Err(format!("search for at most {MAX_SEARCH} characters"));
        }
        let before = present(&params.before).map(Cursor::parse).transpose()?;
        Ok(RunQuery {
            bucket,
            kind,
            initiator,
            range,
            search,
            before,
        })
    }

    /// Reads the query of a URL, given how to look a parameter up.
    pub fn from_url(get: impl Fn(&str) -> Option<String>) -> Result<RunQuery, String> {
        RunQuery::parse(&RunQueryParams {
            status: get("status"),
            op: get("op"),
            by: get("by"),
            range: get("range"),
            q: get("q"),
            before: get("before"),
        })
    }

    /// The URL values of this query, in a fixed order.
    pub fn params(&self) -> RunQueryParams {
        RunQueryParams {
            status: self.bucket.map(|b| b.slug().into()),
            op: self.kind.map(|k| k.key().into()),
            by: self.initiator.map(|u| u.to_string()),
            range: self.range.map(|r| r.slug().into()),
            q: self.search.clone(),
            before: self.before.map(|c| c.encode()),
        }
    }

    /// The URL of this view (`/runs?...`), parameters in a fixed order.
    pub fn to_url(&self) -> String {
        let p = self.params();
        let params = [
            ("status", p.status),
            ("op", p.op),
            ("by", p.by),
            ("range", p.range),
            ("q", p.q),
            ("before", p.before),
        ];
        let query: Vec<String> = params
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
            .collect();
        if query.is_empty() {
            return "/runs".into();
        }
        format!("/runs?{}", query.join("&"))
    }

    /// The same view on its first page.
    pub fn first_page(&self) -> RunQuery {
        RunQuery {
            before: None,
            ..self.clone()
        }
    }

    /// The same view, a page older than `cursor`.
    pub fn older_than(&self, cursor: Cursor<i64>) -> RunQuery {
        RunQuery {
            before: Some(cursor),
            ..self.clone()
        }
    }

    pub fn with_bucket(&self, bucket: Option<StatusBucket>) -> RunQuery {
        RunQuery {
            bucket,
            before: None,
            ..self.clone()
        }
    }

    /// What the counts per bucket depend on: neither the bucket nor the page.
    pub fn for_counts(&self) -> RunQuery {
        self.with_bucket(None)
    }

    pub fn is_filtered(&self) -> bool {
        self.bucket.is_some()
            || self.kind.is_some()
            || self.initiator.is_some()
            || self.range.is_some()
            || self.search.is_some()
    }
}

impl TryFrom<RunQueryParams> for RunQuery {
    type Error = String;
    fn try_from(params: RunQueryParams) -> Result<RunQuery, String> {
        RunQuery::parse(&params)
    }
}

impl From<RunQuery> for RunQueryParams {
    fn from(query: RunQuery) -> RunQueryParams {
        query.params()
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A page of the runs list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    pub runs: Vec<RunSummary>,
    /// Cursor of the next (older) page, if there is one.
    pub older: Option<Cursor<i64>>,
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

/// A count as the hub shows it: grouped in thousands, "10,000+" at the cap.
pub fn format_count(n: i64) -> String {
    let plus = if n >= COUNT_CAP { "+" } else { "" };
    format!("{}{plus}", thousands(n.min(COUNT_CAP)))
}

/// 1234567 -> "1,234,567".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(
        status: Option<&str>,
        op: Option<&str>,
        by: Option<&str>,
        range: Option<&str>,
        q: Option<&str>,
        before: Option<&str>,
    ) -> Result<RunQuery, String> {
        let s = |v: Option<&str>| v.map(str::to_string);
        RunQuery::parse(&RunQueryParams {
            status: s(status),
            op: s(op),
            by: s(by),
            range: s(range),
            q: s(q),
            before: s(before),
        })
    }

    #[test]
    fn a_query_round_trips_through_its_url() {
        let f = query(
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
        assert_eq!(RunQuery::default().to_url(), "/runs");
        assert_eq!(f.with_bucket(None).before, None);
        assert_eq!(RunQuery::parse(&f.params()), Ok(f));
    }

    #[test]
    fn bad_url_values_are_refused_with_a_reason() {
        let q = |status, op, by, range, before| query(status, op, by, range, None, before);
        assert!(q(Some("done"), None, None, None, None)
            .unwrap_err()
            .contains("status"));
        assert!(q(None, Some("rm.rf"), None, None, None)
            .unwrap_err()
            .contains("operation"));
        assert!(q(None, None, Some("-1"), None, None).is_err());
        assert!(q(None, None, None, Some("1y"), None).is_err());
        assert!(q(None, None, None, None, Some("x_y")).is_err());
        assert!(q(None, None, None, None, Some("-1000000000000000000_1"))
            .unwrap_err()
            .contains("cursor"));
        assert!(query(None, None, None, None, Some(&"k".repeat(300)), None).is_err());
        assert_eq!(
            q(Some(""), Some(" "), None, None, None).unwrap(),
            RunQuery::default()
        );
    }

    #[test]
    fn counts_are_grouped_and_capped() {
        assert_eq!(format_count(7), "7");
        assert_eq!(format_count(1234), "1,234");
        assert_eq!(format_count(COUNT_CAP), "10,000+");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(-12_345), "-12,345");
    }
}
