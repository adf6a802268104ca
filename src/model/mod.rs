//! Types and pure logic shared by the server and the browser. No server crates.

pub mod account;
pub mod backup_set;
pub mod cursor;
pub mod event;
pub mod failure;
pub mod finding;
pub mod id;
pub mod notification;
pub mod operation;
pub mod overview;
pub mod run;
pub mod run_query;
pub mod start;
pub mod status;
pub mod tenant;
pub mod time;
pub mod url;

pub use account::{Email, NewPassword};
pub use event::{RunAuditAction, RunEvent, RunEventKind, StreamedRunEvent};
pub use failure::{
    group_failures, FailureEntry, FailureGroup, FailureItem, FailureKey, FailurePage,
};
pub use id::parse_id;
pub use notification::{Bell, NotificationItem, NotificationPage};
pub use operation::{operation_label, OperationKind, RunScope};
pub use run::{AuditEntry, RunCounters, RunDetail, RunSummary};
pub use status::{RunStatus, StatusBucket};
pub use tenant::{safe_next, Role, SessionInfo, TenantChoice};
