//! One keyset cursor for every newest-first list: the `(created_at, id)` of
//! the last row of a page, written `<microseconds>_<id>` in URLs. A page
//! starts strictly after it, so a row added meanwhile never shifts the next
//! page.

use chrono::{DateTime, Datelike as _, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a malformed cursor answers.
pub const MALFORMED: &str = "the page cursor is malformed; start from the first page";

/// The id half of a cursor: what breaks ties between rows created in the
/// same microsecond.
pub trait CursorId: Sized + Copy {
    fn parse_id(s: &str) -> Option<Self>;
    fn write_id(&self) -> String;
}

/// Run (and other row) ids: positive integers.
impl CursorId for i64 {
    fn parse_id(s: &str) -> Option<i64> {
        s.parse().ok().filter(|id: &i64| *id > 0)
    }

    fn write_id(&self) -> String {
        self.to_string()
    }
}

/// Notification ids.
impl CursorId for uuid::Uuid {
    fn parse_id(s: &str) -> Option<uuid::Uuid> {
        uuid::Uuid::parse_str(s).ok()
    }

    fn write_id(&self) -> String {
        self.to_string()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[serde(bound(serialize = "Id: CursorId", deserialize = "Id: CursorId"))]
pub struct Cursor<Id: CursorId> {
    pub created_at: DateTime<Utc>,
    pub id: Id,
}

impl<Id: CursorId> Cursor<Id> {
    pub fn new(created_at: DateTime<Utc>, id: Id) -> Cursor<Id> {
        Cursor { created_at, id }
    }

    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.id.write_id()
        )
    }

    /// Reads a cursor this hub handed out. Its time must be one a row can
    /// have: between the years 1 and 9999, well inside what Postgres stores
    /// (a time outside that range would be refused by the database).
    pub fn parse(s: &str) -> Result<Cursor<Id>, String> {
        let (micros, id) = s.split_once('_').ok_or(MALFORMED)?;
        let micros: i64 = micros.parse().map_err(|_| MALFORMED)?;
        let created_at = DateTime::from_timestamp_micros(micros)
            .filter(|at| (1..=9999).contains(&at.year()))
            .ok_or(MALFORMED)?;
        let id = Id::parse_id(id).ok_or(MALFORMED)?;
        Ok(Cursor { created_at, id })
    }
}

impl<Id: CursorId> fmt::Display for Cursor<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl<Id: CursorId> TryFrom<String> for Cursor<Id> {
    type Error = String;
    fn try_from(s: String) -> Result<Cursor<Id>, String> {
        Cursor::parse(&s)
    }
}

impl<Id: CursorId> From<Cursor<Id>> for String {
    fn from(c: Cursor<Id>) -> String {
        c.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_through_its_text() {
        let c = Cursor::<i64>::parse("1700000000000000_42").unwrap();
        assert_eq!(c.id, 42);
        assert_eq!(c.created_at.timestamp_micros(), 1_700_000_000_000_000);
        assert_eq!(c.encode(), "1700000000000000_42");
        let n =
            Cursor::<uuid::Uuid>::parse("1700000000000000_67e55044-10b1-426f-9247-bb680e5fe0c8")
                .unwrap();
        assert_eq!(
            n.encode(),
            "1700000000000000_67e55044-10b1-426f-9247-bb680e5fe0c8"
        );
    }

    #[test]
    fn malformed_cursors_and_impossible_times_are_refused() {
        for bad in [
            "",
            "x_y",
            "1700000000000000",
            "1700000000000000_0",
            "1700000000000000_-3",
            "_42",
            // Representable, but beyond what Postgres stores.
            "-1000000000000000000_1",
            "9000000000000000000_1",
            "-62135596800000001_1",
        ] {
            assert_eq!(
                Cursor::<i64>::parse(bad),
                Err(MALFORMED.to_string()),
                "{bad}"
            );
        }
        assert!(Cursor::<uuid::Uuid>::parse("1700000000000000_42").is_err());
        assert!(Cursor::<i64>::parse("-62135596800000000_1").is_ok());
    }
}
