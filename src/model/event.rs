//! What the engine announces and records about runs: the live event sent
//! with `NOTIFY` (and passed on to the hub's event streams) and the audit
//! actions of a run's lifecycle. Written and read through serde only.

use serde::{Deserialize, Serialize};

/// What happened to a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEventKind {
    /// Created, waiting for a worker.
    Queued,
    /// A start joined the run instead of creating one.
    Deduplicated,
    /// A worker claimed it.
    Started,
    /// A batch of items was recorded.
    Progress,
    CancelRequested,
    /// Its worker handed it back (shutdown or a transient error).
    Released,
    Finished,
    /// A new notification for one user (the event carries `user_id`).
    Notification,
    /// Sent by a newer version: passed on as a plain run change.
    #[serde(other)]
    Other,
}

impl RunEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunEventKind::Queued => "queued",
            RunEventKind::Deduplicated => "deduplicated",
            RunEventKind::Started => "started",
            RunEventKind::Progress => "progress",
            RunEventKind::CancelRequested => "cancel_requested",
            RunEventKind::Released => "released",
            RunEventKind::Finished => "finished",
            RunEventKind::Notification => "notification",
            RunEventKind::Other => "other",
        }
    }

    /// Whether the run's status (and so the counts per status) may have changed.
    pub fn changes_status(self) -> bool {
        !matches!(
            self,
            RunEventKind::Progress | RunEventKind::Notification | RunEventKind::Deduplicated
        )
    }
}

/// One live event: the payload of a `NOTIFY` on the run events channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEvent {
    pub tenant_id: i64,
    pub run_id: i64,
    pub event: RunEventKind,
    /// Set for events meant for one user only (new notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

impl RunEvent {
    pub fn new(tenant_id: i64, run_id: i64, event: RunEventKind) -> RunEvent {
        RunEvent {
            tenant_id,
            run_id,
            event,
            user_id: None,
        }
    }
}

/// What the hub's event stream tells a browser about a run (the tenant and
/// user are implied by the stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamedRunEvent {
    pub run_id: i64,
    pub event: RunEventKind,
}

impl From<&RunEvent> for StreamedRunEvent {
    fn from(e: &RunEvent) -> Self {
        StreamedRunEvent {
            run_id: e.run_id,
            event: e.event,
        }
    }
}

/// The audit actions of a run's lifecycle (`audit_logs.action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunAuditAction {
    Started,
    /// A start that matched the active run and joined it.
    StartJoined,
    CancelRequested,
    Cancelled,
    Finished,
    /// Handed back by its worker, to be continued by another.
    Released,
    /// Claimed again after its worker stopped responding.
    Recovered,
}

impl RunAuditAction {
    pub const ALL: [RunAuditAction; 7] = [
        RunAuditAction::Started,
        RunAuditAction::StartJoined,
        RunAuditAction::CancelRequested,
        RunAuditAction::Cancelled,
        RunAuditAction::Finished,
        RunAuditAction::Released,
        RunAuditAction::Recovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunAuditAction::Started => "bulk_operation_run.started",
            RunAuditAction::StartJoined => "bulk_operation_run.start_joined",
            RunAuditAction::CancelRequested => "bulk_operation_run.cancel_requested",
            RunAuditAction::Cancelled => "bulk_operation_run.cancelled",
            RunAuditAction::Finished => "bulk_operation_run.finished",
            RunAuditAction::Released => "bulk_operation_run.released",
            RunAuditAction::Recovered => "bulk_operation_run.recovered",
        }
    }

    pub fn parse(s: &str) -> Option<RunAuditAction> {
        RunAuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_unknown_kinds_are_read_as_other() {
        let e = RunEvent::new(1, 7, RunEventKind::CancelRequested);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"tenant_id":1,"run_id":7,"event":"cancel_requested"}"#
        );
        assert_eq!(serde_json::from_str::<RunEvent>(&json).unwrap(), e);
        let newer: RunEvent =
            serde_json::from_str(r#"{"tenant_id":1,"run_id":7,"event":"paused"}"#).unwrap();
        assert_eq!(newer.event, RunEventKind::Other);
        for kind in [
            RunEventKind::Queued,
            RunEventKind::Started,
            RunEventKind::Notification,
        ] {
            let text = serde_json::to_string(&kind).unwrap();
            assert_eq!(text, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn audit_actions_parse_back() {
        for a in RunAuditAction::ALL {
            assert_eq!(RunAuditAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(RunAuditAction::parse("bulk_operation_run.exploded"), None);
    }
}
