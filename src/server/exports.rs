//! Downloads of every failure and skip of a run: `GET /runs/{id}/failures.csv`
//! and `/runs/{id}/failures.json`. For any member of the run's tenant
//! (viewers too); another tenant's run is "not found". The body is streamed
//! in keyset chunks, so neither memory nor a database connection is held
//! for the length of a slow download.

use crate::db::run_failures::{export_chunk, run_level_entries, ExportCursor};
use crate::error::AppError;
use crate::model::FailureEntry;
use crate::server::auth::Actor;
use crate::server::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;

/// Entries read per query while streaming.
const CHUNK: usize = 1_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

pub async fn failures_csv(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let actor = req.extensions().get::<Actor>().cloned();
    export(state, &id, actor, Format::Csv).await
}

pub async fn failures_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let actor = req.extensions().get::<Actor>().cloned();
    export(state, &id, actor, Format::Json).await
}

/// The sign-in gate has resolved `actor` from the session.
async fn export(state: AppState, id: &str, actor: Option<Actor>, format: Format) -> Response {
    let Some(actor) = actor else {
        return AppError::Unauthorized.into_response();
    };
    let run_id = match crate::model::parse_id(id) {
        Ok(id) => id,
        Err(msg) => return AppError::BadRequest(msg).into_response(),
    };
    let tenant_id = actor.tenant.id;
    let run_level = match run_level_entries(&state.pool, tenant_id, run_id).await {
        Ok(Some(entries)) => entries,
        Ok(None) => {
            return AppError::NotFound(format!("run {run_id} does not exist")).into_response()
        }
        Err(err) => return AppError::from(err).into_response(),
    };
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let body = Body::from_stream(stream(
        state.pool.clone(),
        tenant_id,
        run_id,
        run_level,
        format,
    ));
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"run-{run_id}-failures.{extension}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

/// Where the stream is: before the first chunk, after a cursor, or done.
enum Step {
    Start(Vec<FailureEntry>),
    After(ExportCursor),
    Done,
}

fn stream(
    pool: PgPool,
    tenant_id: i64,
    run_id: i64,
    run_level: Vec<FailureEntry>,
    format: Format,
) -> impl futures_util::Stream<Item = Result<Bytes, sqlx::Error>> + Send + 'static {
    futures_util::stream::unfold(
        (Step::Start(run_level), pool),
        move |(step, pool)| async move {
            let (mut out, after, first) = match step {
                Step::Done => return None,
                Step::Start(run_level) => {
                    let mut out = String::new();
                    match format {
                        Format::Csv => out.push_str("item_id,reason_code,reason,type\r\n"),
                        Format::Json => out.push('['),
                    }
                    let mut first = true;
                    for e in &run_level {
                        write_entry(&mut out, e, format, first);
                        first = false;
                    }
                    (out, None, first)
                }
                Step::After(cursor) => (String::new(), Some(cursor), false),
            };
            let (entries, next) =
                match export_chunk(&pool, tenant_id, run_id, after.as_ref(), CHUNK).await {
                    Ok(chunk) => chunk,
                    Err(err) => {
                        // The status is sent already: end the body short.
                        tracing::error!(error = %err, run_id, "exporting failures failed");
                        return Some((Err(err), (Step::Done, pool)));
                    }
                };
            let mut first = first;
            for e in &entries {
                write_entry(&mut out, e, format, first);
                first = false;
            }
            let step = match next {
                Some(cursor) => Step::After(cursor),
                None => {
                    if format == Format::Json {
                        out.push_str("]\n");
                    }
                    Step::Done
                }
            };
            Some((Ok(Bytes::from(out)), (step, pool)))
        },
    )
}

fn write_entry(out: &mut String, e: &FailureEntry, format: Format, first: bool) {
    let kind = if e.skipped { "skipped" } else { "failed" };
    match format {
        Format::Csv => {
            for (i, field) in [
                e.item_id.as_deref().unwrap_or(""),
                &e.reason_code,
                &e.reason,
                kind,
            ]
            .into_iter()
            .enumerate()
            {
                if i > 0 {
                    out.push(',');
                }
                push_csv_field(out, field);
            }
            out.push_str("\r\n");
        }
        Format::Json => {
            if !first {
                out.push(',');
            }
            let mut entry = serde_json::json!({"reason_code": e.reason_code, "reason": e.reason});
            if let Some(id) = &e.item_id {
                entry["item_id"] = id.as_str().into();
            }
            if e.skipped {
                entry["type"] = "skipped".into();
            }
            out.push_str(&entry.to_string());
        }
    }
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line
/// break, with quotes doubled. A field a spreadsheet would run as a formula
/// gets a leading apostrophe.
fn push_csv_field(out: &mut String, field: &str) {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || field.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(field: &str) -> String {
        let mut out = String::new();
        push_csv_field(&mut out, field);
        out
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed_and_formulas_are_defused() {
        assert_eq!(csv("policy_not_found"), "policy_not_found");
        assert_eq!(csv("a, b"), "\"a, b\"");
        assert_eq!(csv("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
        assert_eq!(csv(""), "");
    }
}
