//! A backup set as the hub shows it: what it holds and the runs that added
//! to it.

use super::RunSummary;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Items shown per page of a backup set.
pub const ITEMS_PAGE_SIZE: usize = 100;
/// The newest runs listed on a backup set's page.
pub const RECENT_RUNS: usize = 10;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupSetDetail {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub item_count: i64,
    /// A page of items, by policy id.
    pub items: Vec<BackupItem>,
    /// Cursor of the next page (`?after=`), if any.
    pub next_after: Option<i64>,
    /// The newest `backup_set.add_policies` runs into this set.
    pub runs: Vec<RunSummary>,
}

/// A policy's copy in the set (its snapshot stays on the server).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupItem {
    pub policy_id: i64,
    pub policy_external_id: String,
    pub display_name: String,
    pub with_assignments: bool,
    pub settings_hash: String,
    pub captured_at: DateTime<Utc>,
}
