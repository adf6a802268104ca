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
    /// The tenant as notifications name it.
    pub tenant_slug: String,
    pub tenant_name: String,
    pub id: i64,
    pub user_id: i64,
    pub kind: OperationKind,
    pub item_ids: Value,
    pub total_items: Option<i32>,
    /// Items already done by earlier attempts: work resumes after them.
    pub processed_items: i32,
    pub attempts: i32,
    /// An operator asked to cancel before this claim (a recovered run).
    pub cancel_requested: bool,
    /// Claimed after its previous worker stopped responding.
    pub recovered: bool,
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

    /// The failure (or skip) of an item, or of the run when `item_id` is None.
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
    /// Trouble that may pass (connection lost, pool timeout, serialization
    /// failure, deadlock, lock timeout): the run is released and retried
    /// later with backoff; the attempt counts.
    Transient(sqlx::Error),
    /// The storage refused what was written (a constraint or data error):
    /// retrying the same work cannot help.
    Permanent(sqlx::Error),
}

impl From<sqlx::Error> for RunError {
    fn from(err: sqlx::Error) -> Self {
        match ErrorClass::of(&err) {
            ErrorClass::Transient => RunError::Transient(err),
            ErrorClass::Permanent => RunError::Permanent(err),
        }
    }
}

/// Whether retrying the work that met an error can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    Transient,
    Permanent,
}

impl ErrorClass {
    pub fn of(err: &sqlx::Error) -> ErrorClass {
        match err {
            sqlx::Error::Database(db) => match db.code() {
                Some(code) => ErrorClass::of_sqlstate(&code),
                None => ErrorClass::Permanent,
            },
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }

    /// By SQLSTATE: connection exceptions (08), serialization failures and
    /// deadlocks (40001, 40P01), lock timeouts (55P03), operator
    /// intervention such as a terminated backend or a restarting server
    /// (57P01-57P05), insufficient resources (53) and query cancellation
    /// (57014) may pass; everything else (constraint, data, syntax ...)
    /// will not.
    pub fn of_sqlstate(code: &str) -> ErrorClass {
        let transient = code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || matches!(code, "40001" | "40P01" | "55P03" | "57014");
        if transient {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        }
    }
}

/// A safe, short description of a storage error for operators: its SQLSTATE
/// and class only, never the server's message (it may quote data).
pub fn describe_error(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let class = match code.get(..2).unwrap_or("") {
                "21" => "cardinality violation",
                "22" => "data exception",
                "23" => "integrity constraint violation",
                "25" => "invalid transaction state",
                "40" => "transaction rollback",
                "42" => "syntax error or access rule violation",
                "53" => "insufficient resources",
                "54" => "program limit exceeded",
                "55" => "object not in prerequisite state",
                "57" => "operator intervention",
                "08" => "connection exception",
                "P0" => "raised by a database function",
                _ => "database error",
            };
            format!("SQLSTATE {code}, {class}")
        }
        sqlx::Error::Io(_) => "connection lost".into(),
        sqlx::Error::PoolTimedOut => "no database connection available in time".into(),
        sqlx::Error::PoolClosed => "the connection pool is closed".into(),
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => {
            "a stored value could not be read".into()
        }
        _ => "storage error".into(),
    }
}

/// Why a request to the engine (a start, a cancel, a retry) was refused.
/// Nothing is written when it is.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
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

impl From<RequestError> for AppError {
    fn from(err: RequestError) -> Self {
        match err {
            RequestError::Invalid(m) => AppError::BadRequest(m),
            RequestError::NotFound(m) => AppError::NotFound(m),
            RequestError::Forbidden(m) => AppError::Forbidden(m),
            RequestError::Conflict(m) => AppError::Conflict(m),
            RequestError::Storage(e) => AppError::from(e),
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
    ) -> Result<Value, RequestError>;

    /// How many items a run of this canonical scope will have, when the
    /// scope tells (recorded as the run's `total_items` from the start; small
    /// runs are claimed and completed together).
    fn planned_items(&self, _scope: &Value) -> Option<i32> {
        None
    }

    /// Loads what the run needs and lists its items in a stable order, so a
    /// resumed run can skip the ones already done.
    async fn prepare(
        &self,
        pool: &PgPool,
        run: &ClaimedRun,
    ) -> Result<Box<dyn PreparedRun>, RunError>;

    /// Applies the effects of several small runs of this kind inside `tx`
    /// (the transaction that completes them), in fewer statements than one
    /// batch per run, and returns each run's outcomes in order. `None`: the
    /// kind has no such path, and each run is processed on its own.
    async fn process_group(
        &self,
        _tx: &mut PgConnection,
        _runs: &[(&ClaimedRun, &[String])],
    ) -> Result<Option<Vec<Vec<ItemOutcome>>>, RunError> {
        Ok(None)
    }

    /// Runs inside the transaction that ends a run of this kind, however it
    /// ended (also when it never got as far as `prepare`), so artifacts it
    /// opened never outlive it.
    async fn finish(
        &self,
        _tx: &mut PgConnection,
        _run: &ClaimedRun,
        _status: RunStatus,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

/// A run being executed.
#[async_trait]
pub trait PreparedRun: Send + Sync {
    fn items(&self) -> &[String];

    /// Applies one batch's effects inside `tx`; they commit together with the
    /// run's counters, so a crash never leaves effects without their count.
    /// Effects must be idempotent (upserts), so a replayed batch is harmless.
    /// Two batches of a run may be applied at once, each in its own
    /// transaction (they commit in order), so the items of a run must write
    /// distinct rows: one batch never waits on a row of the next.
    async fn process(
        &self,
        tx: &mut PgConnection,
        run: &ClaimedRun,
        items: &[String],
    ) -> Result<Vec<ItemOutcome>, RunError>;
}

/// Reads a positive id from a scope field.
pub fn scope_id(scope: &Value, field: &str) -> Result<i64, RequestError> {
    match scope.get(field) {
        Some(Value::Number(n)) => n.as_i64().filter(|v| *v > 0),
        _ => None,
    }
    .ok_or_else(|| RequestError::Invalid(format!("scope.{field} must be a positive integer id")))
}

/// Rejects scope keys the kind does not know.
pub fn only_fields(scope: &Value, allowed: &[&str]) -> Result<(), RequestError> {
    let obj = scope
        .as_object()
        .ok_or_else(|| RequestError::Invalid("the scope must be a JSON object".into()))?;
    if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(40).collect();
        return Err(RequestError::Invalid(format!(
            "unknown scope field '{shown}'; expected {}",
            allowed.join(", ")
        )));
    }
    Ok(())
}
