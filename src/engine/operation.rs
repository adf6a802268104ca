//! The one trait every operation implements, and the types it speaks.

use super::sanitize::{sanitize_code, sanitize_reason};
use crate::error::AppError;
use crate::model::{FailureEntry, OperationKind, RunStatus};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

/// A run as a worker holds it.
#[derive(Clone, Debug)]
pub struct ClaimedRun {
    pub tenant_id: i64,
    pub id: i64,
    pub user_id: i64,
    pub kind: OperationKind,
    pub item_ids: Value,
    pub total_items: Option<i32>,
    /// Items already done by earlier attempts: work resumes after them.
    pub processed_items: i32,
    pub attempts: i32,
    /// This claim's lease token: unique per claim, so an execution that lost
    /// its lease (even to its own process) can no longer write.
    pub lease: String,
}

/// Why an item or a run did not succeed: a stable code and a short, safe text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: String,
    pub text: String,
}

impl Reason {
    /// Both parts are sanitized, whatever the caller passes.
    pub fn new(code: &str, text: &str) -> Reason {
        Reason {
            code: sanitize_code(code),
            text: sanitize_reason(text),
        }
    }

    /// A failure (or skip) entry, as [`super::failures::record`] stores it.
    pub fn failure(&self, item_id: Option<&str>, skipped: bool) -> FailureEntry {
        FailureEntry {
            reason_code: self.code.clone(),
            reason: self.text.clone(),
            item_id: item_id.map(str::to_string),
            skipped,
        }
    }
}

/// What happened to one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemOutcome {
    Succeeded,
    Skipped(Reason),
    Failed(Reason),
}

/// Why a run stopped before its items were done.
#[derive(Debug)]
pub enum RunError {
    /// The run cannot succeed: it ends `failed` with this reason.
    Fatal(Reason),
    /// Storage trouble: the run is released and retried by a worker later.
    Transient(sqlx::Error),
}

impl From<sqlx::Error> for RunError {
    fn from(err: sqlx::Error) -> Self {
        RunError::Transient(err)
    }
}

/// Why a start request was refused. Nothing is written when it is.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage error")]
    Storage(#[from] sqlx::Error),
}

impl From<StartError> for AppError {
    fn from(err: StartError) -> Self {
        match err {
            StartError::Invalid(m) => AppError::BadRequest(m),
            StartError::NotFound(m) => AppError::NotFound(m),
            StartError::Forbidden(m) => AppError::Forbidden(m),
            StartError::Conflict(m) => AppError::Conflict(m),
            StartError::Storage(e) => AppError::from(e),
        }
    }
}

/// An operation kind the engine can run.
#[async_trait]
pub trait Operation: Send + Sync + 'static {
    fn kind(&self) -> OperationKind;

    /// Checks a requested scope (and payload, for kinds that take one) for
    /// this tenant, stores what the run will need inside `conn`'s transaction,
    /// and returns the canonical scope the run records as `item_ids`.
    async fn validate(
        &self,
        conn: &mut PgConnection,
        tenant_id: i64,
        scope: &Value,
        payload: Option<&Value>,
    ) -> Result<Value, StartError>;

    /// Loads what the run needs and lists its items in a stable order, so a
    /// resumed run can skip the ones already done.
    async fn prepare(
        &self,
        pool: &PgPool,
        run: &ClaimedRun,
    ) -> Result<Box<dyn PreparedRun>, RunError>;
}

/// A run being executed.
#[async_trait]
pub trait PreparedRun: Send {
    fn items(&self) -> &[String];

    /// Applies one batch's effects inside `tx`; they commit together with the
    /// run's counters, so a crash never leaves effects without their count.
    /// Effects must be idempotent (upserts), so a replayed batch is harmless.
    async fn process(
        &mut self,
        tx: &mut PgConnection,
        run: &ClaimedRun,
        items: &[String],
    ) -> Result<Vec<ItemOutcome>, RunError>;

    /// Runs inside the finishing transaction.
    async fn complete(
        &mut self,
        _tx: &mut PgConnection,
        _run: &ClaimedRun,
        _status: RunStatus,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

/// Reads a positive id from a scope field.
pub fn scope_id(scope: &Value, field: &str) -> Result<i64, StartError> {
    match scope.get(field) {
        Some(Value::Number(n)) => n.as_i64().filter(|v| *v > 0),
        _ => None,
    }
    .ok_or_else(|| StartError::Invalid(format!("scope.{field} must be a positive integer id")))
}

/// Rejects scope keys the kind does not know.
pub fn only_fields(scope: &Value, allowed: &[&str]) -> Result<(), StartError> {
    let obj = scope
        .as_object()
        .ok_or_else(|| StartError::Invalid("the scope must be a JSON object".into()))?;
    if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(40).collect();
        return Err(StartError::Invalid(format!(
            "unknown scope field '{shown}'; expected {}",
            allowed.join(", ")
        )));
    }
    Ok(())
}
