//! The runs list: filters, keyset pages and per-bucket counts. Every query
//! filters by tenant first and walks an index in the list's order, so the
//! first page and a page 10,000 rows deep cost the same.

use super::runs::{SummaryRow, SUMMARY_COLUMNS};
use crate::model::cursor::Cursor;
use crate::model::run_query::{RunFacets, RunPage, RunQuery, COUNT_CAP};
use crate::model::{RunStatus, StatusBucket};
use chrono::{DateTime, Duration, Utc};
use sqlx::{FromRow, Postgres, QueryBuilder, Row};

/// Appends the filters other than the status bucket, for rows aliased `r`.
fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, filter: &RunQuery, now: DateTime<Utc>) {
    if let Some(kind) = filter.kind {
        qb.push(" AND r.resource = ")
            .push_bind(kind.resource())
            .push(" AND r.action = ")
            .push_bind(kind.action());
    }
    if let Some(user_id) = filter.initiator {
        qb.push(" AND r.user_id = ").push_bind(user_id);
    }
    if let Some(range) = filter.range {
        qb.push(" AND r.created_at >= ")
            .push_bind(now - Duration::hours(range.hours()));
    }
    if let Some(q) = &filter.search {
        let q = q.trim().to_string();
        match crate::model::parse_id(&q) {
            Ok(id) => {
                qb.push(" AND (r.id = ")
                    .push_bind(id)
                    .push(" OR r.idempotency_key = ")
                    .push_bind(q)
                    .push(")");
            }
            Err(_) => {
                qb.push(" AND r.idempotency_key = ").push_bind(q);
            }
        }
    }
}

/// One page of runs, newest first, starting after `filter.before`.
pub async fn page(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    filter: &RunQuery,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<RunPage, sqlx::Error> {
    let mut qb = QueryBuilder::new("");
    push_page(&mut qb, tenant_id, filter, limit, now);
    let rows: Vec<SummaryRow> = qb.build_query_as().fetch_all(db).await?;
    into_page(rows, limit)
}

/// Counts per status bucket under the filters (except the bucket itself),
/// each capped at [`COUNT_CAP`], and the tenant's members as initiators.
pub async fn facets(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    filter: &RunQuery,
    now: DateTime<Utc>,
) -> Result<RunFacets, sqlx::Error> {
    let mut qb = QueryBuilder::new("");
    push_facets(&mut qb, tenant_id, &filter.for_counts(), now);
    let (numbers, ids, names) = qb.build_query_as().fetch_one(db).await?;
    Ok(into_facets(numbers, ids, names))
}

/// [`page`] and [`facets`] in one statement: a first visit of the list
/// needs both, and a round trip costs the database more than either.
pub async fn page_and_facets(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    filter: &RunQuery,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<(RunPage, RunFacets), sqlx::Error> {
    // The facets' one row, joined to each run of the page; with no run,
    // the facets' row alone (the run's columns null).
    let mut qb = QueryBuilder::new("SELECT f.counts, f.ids, f.names, p.* FROM (");
    push_facets(&mut qb, tenant_id, &filter.for_counts(), now);
    qb.push(") f LEFT JOIN LATERAL (");
    push_page(&mut qb, tenant_id, filter, limit, now);
    qb.push(") p ON true ORDER BY p.created_at DESC, p.id DESC");
    let rows = qb.build().fetch_all(db).await?;
    let first = rows
        .first()
        .ok_or_else(|| sqlx::Error::Protocol("the runs list's facets read no row".into()))?;
    let facets = into_facets(
        first.try_get("counts")?,
        first.try_get("ids")?,
        first.try_get("names")?,
    );
    let mut runs = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            runs.push(SummaryRow::from_row(row)?);
        }
    }
    Ok((into_page(runs, limit)?, facets))
}

/// The page's statement. A bucket of several statuses reads each status's
/// index range in order and merges them, instead of sorting all matching
/// rows.
fn push_page(
    qb: &mut QueryBuilder<'_, Postgres>,
    tenant_id: i64,
    filter: &RunQuery,
    limit: i64,
    now: DateTime<Utc>,
) {
    let statuses: Vec<Option<RunStatus>> = match filter.bucket {
        None => vec![None],
        Some(bucket) => bucket.statuses().into_iter().map(Some).collect(),
    };
    qb.push("SELECT * FROM (");
    for (i, status) in statuses.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push(format!(
            "(SELECT {SUMMARY_COLUMNS} FROM bulk_operation_runs r JOIN users u ON u.id = r.user_id \
             WHERE r.tenant_id = "
        ))
        .push_bind(tenant_id);
        if let Some(status) = status {
            qb.push(" AND r.status = ").push_bind(status.as_str());
        }
        push_filters(qb, filter, now);
        if let Some(c) = filter.before {
            qb.push(" AND (r.created_at, r.id) < (")
                .push_bind(c.created_at)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
            .push_bind(limit + 1)
            .push(")");
    }
    qb.push(") page ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
}

/// Up to `limit` rows (one more was read to tell whether an older page
/// exists) and the cursor of that page.
fn into_page(rows: Vec<SummaryRow>, limit: i64) -> Result<RunPage, sqlx::Error> {
    let more = rows.len() as i64 > limit;
    let runs = rows
        .into_iter()
        .take(limit as usize)
        .map(SummaryRow::into_summary)
        .collect::<Result<Vec<_>, _>>()?;
    let older = more
        .then(|| runs.last().map(|r| Cursor::new(r.created_at, r.id)))
        .flatten();
    Ok(RunPage { runs, older })
}

/// The facets' statement: one row of the counts (in the order of
/// [`RunStatus::ALL`]) and the initiators' ids and names.
fn push_facets(
    qb: &mut QueryBuilder<'_, Postgres>,
    tenant_id: i64,
    counted: &RunQuery,
    now: DateTime<Utc>,
) {
    let statuses: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
    qb.push(
        "SELECT c.counts, m.ids, m.names FROM (SELECT array_agg((SELECT count(*) FROM (SELECT 1 FROM bulk_operation_runs r WHERE r.tenant_id = ",
    );
    qb.push_bind(tenant_id).push(" AND r.status = s.status");
    push_filters(qb, counted, now);
    qb.push(" LIMIT ")
        .push_bind(COUNT_CAP)
        .push(") capped) ORDER BY s.ord) AS counts FROM unnest(")
        .push_bind(statuses)
        .push(
            "::text[]) WITH ORDINALITY AS s(status, ord)) c, \
             (SELECT coalesce(array_agg(u.id ORDER BY u.name, u.id), '{}') AS ids, \
                     coalesce(array_agg(u.name ORDER BY u.name, u.id), '{}') AS names \
              FROM tenant_memberships m JOIN users u ON u.id = m.user_id WHERE m.tenant_id = ",
        )
        .push_bind(tenant_id)
        .push(") m");
}

/// Per-status counts summed into buckets, and the initiators as pairs.
fn into_facets(numbers: Vec<i64>, ids: Vec<i64>, names: Vec<String>) -> RunFacets {
    let counts = StatusBucket::ALL
        .into_iter()
        .map(|bucket| {
            let n: i64 = RunStatus::ALL
                .iter()
                .zip(&numbers)
                .filter(|(status, _)| StatusBucket::from(**status) == bucket)
                .map(|(_, n)| n)
                .sum();
            (bucket, n.min(COUNT_CAP))
        })
        .collect();
    RunFacets {
        counts,
        initiators: ids.into_iter().zip(names).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{member, set_status, tenant, user};
    use crate::model::OperationKind;
    use sqlx::PgPool;

    /// A drift run created `minutes_ago` and taken to `status`.
    async fn run(pool: &PgPool, t: i64, u: i64, key: &str, minutes_ago: i32, status: &str) -> i64 {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, created_at) \
             VALUES ($1, $2, 'drift', 'generate', $3, now() - make_interval(mins => $4)) RETURNING id",
        )
        .bind(t)
        .bind(u)
        .bind(key)
        .bind(minutes_ago)
        .fetch_one(pool)
        .await
        .unwrap();
        match status {
            "pending" => {}
            "aborted" => set_status(pool, id, "aborted").await.unwrap(),
            s => {
                set_status(pool, id, "running").await.unwrap();
                if s != "running" {
                    set_status(pool, id, s).await.unwrap();
                }
            }
        }
        id
    }

    fn ids(page: &RunPage) -> Vec<i64> {
        page.runs.iter().map(|r| r.id).collect()
    }

    fn before(page: &RunPage) -> RunQuery {
        RunQuery {
            before: page.older,
            ..Default::default()
        }
    }

    #[sqlx::test]
    async fn pages_walk_the_keyset_and_stay_stable_while_runs_arrive(pool: PgPool) {
        let t = tenant(&pool, "acme").await;
        let u = user(&pool, "ann@acme.example").await;
        let mut all = Vec::new();
        for i in 0..5 {
            all.push(run(&pool, t, u, &format!("k{i}"), 10 - i, "completed").await);
        }
        let now = Utc::now();
        let first = page(&pool, t, &RunQuery::default(), 2, now).await.unwrap();
        assert_eq!(ids(&first), [all[4], all[3]]);
        // A new run arrives: the next page is unaffected.
        run(&pool, t, u, "newcomer", 0, "pending").await;
        let second = page(&pool, t, &before(&first), 2, now).await.unwrap();
        assert_eq!(ids(&second), [all[2], all[1]]);
        let last = page(&pool, t, &before(&second), 2, now).await.unwrap();
        assert_eq!(ids(&last), [all[0]]);
        assert_eq!(last.older, None);
    }

    #[sqlx::test]
    async fn facets_offer_the_tenants_members_as_initiators_by_name(pool: PgPool) {
        let t = tenant(&pool, "acme").await;
        let other = tenant(&pool, "globex").await;
        let zed = member(&pool, t, "zed@acme.example", "viewer").await;
        let ann = member(&pool, t, "ann@acme.example", "operator").await;
        member(&pool, other, "bob@globex.example", "viewer").await;
        let facets_of = |tenant_id| {
            let pool = pool.clone();
            async move {
                facets(&pool, tenant_id, &RunQuery::default(), Utc::now())
                    .await
                    .unwrap()
            }
        };
        let facets = facets_of(t).await;
        assert_eq!(
            facets.initiators,
            [
                (ann, "ann@acme.example".to_string()),
                (zed, "zed@acme.example".to_string())
            ]
        );
        assert!(facets.counts.iter().all(|(_, n)| *n == 0));
        // A tenant without members offers none.
        let empty = tenant(&pool, "initech").await;
        assert!(facets_of(empty).await.initiators.is_empty());
    }

    #[sqlx::test]
    async fn filters_narrow_the_list_and_the_counts(pool: PgPool) {
        let t = tenant(&pool, "acme").await;
        let other = tenant(&pool, "globex").await;
        let ann = user(&pool, "ann@acme.example").await;
        let bob = user(&pool, "bob@acme.example").await;
        let old_failure = run(&pool, t, ann, "old", 3 * 24 * 60, "failed").await;
        run(&pool, t, ann, "done", 6, "completed").await;
        let aborted = run(&pool, t, ann, "stopped", 5, "aborted").await;
        let running = run(&pool, t, ann, "busy", 4, "running").await;
        run(&pool, t, ann, "waiting", 3, "pending").await;
        run(&pool, t, ann, "partly", 2, "completed_with_errors").await;
        let bobs = run(&pool, t, bob, "bobs", 1, "failed").await;
        let foreign = run(&pool, other, bob, "foreign", 1, "failed").await;
        let now = Utc::now();
        let list = |f: RunQuery| {
            let pool = pool.clone();
            async move { ids(&page(&pool, t, &f, 50, now).await.unwrap()) }
        };

        // "failed" merges failed and aborted, newest first.
        let failed = RunQuery {
            bucket: Some(StatusBucket::Failed),
            ..Default::default()
        };
        assert_eq!(list(failed.clone()).await, [bobs, aborted, old_failure]);
        let by_ann = RunQuery {
            initiator: Some(ann),
            ..failed.clone()
        };
        assert_eq!(list(by_ann).await, [aborted, old_failure]);
        let recent = RunQuery {
            range: Some(crate::model::run_query::TimeRange::LastDay),
            ..failed
        };
        assert_eq!(list(recent).await, [bobs, aborted]);
        let other_kind = RunQuery {
            kind: Some(OperationKind::BackupSetAddPolicies),
            ..Default::default()
        };
        assert!(list(other_kind).await.is_empty());
        // Search by id or by idempotency key; another tenant's id is not found.
        let search = |q: String| RunQuery {
            search: Some(q),
            ..Default::default()
        };
        assert_eq!(list(search(running.to_string())).await, [running]);
        assert_eq!(list(search("stopped".into())).await, [aborted]);
        assert!(list(search(foreign.to_string())).await.is_empty());
        assert!(list(search("foreign".into())).await.is_empty());

        let facets = facets(&pool, t, &RunQuery::default(), now).await.unwrap();
        let count = |b| facets.counts.iter().find(|(x, _)| *x == b).unwrap().1;
        assert_eq!(count(StatusBucket::Failed), 3);
        assert_eq!(count(StatusBucket::Succeeded), 1);
        assert_eq!(count(StatusBucket::PartiallySucceeded), 1);
        assert_eq!(count(StatusBucket::Queued), 1);
        assert_eq!(count(StatusBucket::Running), 1);
        let bobs_only = RunQuery {
            initiator: Some(bob),
            ..Default::default()
        };
        let counted: i64 = super::facets(&pool, t, &bobs_only, now)
            .await
            .unwrap()
            .counts
            .iter()
            .map(|(_, n)| n)
            .sum();
        assert_eq!(counted, 1);
    }

    #[sqlx::test]
    async fn one_statement_reads_the_same_page_and_facets_as_two(pool: PgPool) {
        let t = tenant(&pool, "acme").await;
        let other = tenant(&pool, "globex").await;
        let ann = member(&pool, t, "ann@acme.example", "operator").await;
        let bob = member(&pool, other, "bob@globex.example", "operator").await;
        for (i, status) in ["failed", "completed", "aborted", "running", "pending"]
            .into_iter()
            .enumerate()
        {
            run(&pool, t, ann, &format!("k{i}"), 10 - i as i32, status).await;
        }
        run(&pool, other, bob, "theirs", 1, "failed").await;
        let now = Utc::now();
        let first = page(&pool, t, &RunQuery::default(), 2, now).await.unwrap();
        for filter in [
            RunQuery::default(),
            before(&first),
            RunQuery {
                bucket: Some(StatusBucket::Failed),
                ..Default::default()
            },
            // Nothing matches: an empty page, and the counts still read.
            RunQuery {
                search: Some("no such key".into()),
                ..Default::default()
            },
        ] {
            let (one_page, one_facets) = page_and_facets(&pool, t, &filter, 2, now).await.unwrap();
            assert_eq!(
                one_page,
                page(&pool, t, &filter, 2, now).await.unwrap(),
                "{filter:?}"
            );
            assert_eq!(
                one_facets,
                facets(&pool, t, &filter, now).await.unwrap(),
                "{filter:?}"
            );
            assert_eq!(
                one_facets.initiators,
                [(ann, "ann@acme.example".to_string())]
            );
        }
        let (all, _) = page_and_facets(&pool, t, &RunQuery::default(), 2, now)
            .await
            .unwrap();
        assert_eq!(all.runs.len(), 2);
        assert!(all.older.is_some());
    }
}
