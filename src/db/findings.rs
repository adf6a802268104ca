//! Drift findings of a tenant: the list, one finding, acknowledging.

use crate::model::finding::{
    FindingDetail, FindingEvidence, FindingPage, FindingQuery, FindingSummary,
};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};

const COLUMNS: &str = "f.id, f.scope_key, f.baseline_run_id, f.current_run_id, f.subject_type, \
     f.subject_external_id, f.status, f.evidence_jsonb, f.created_at, f.updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    scope_key: String,
    baseline_run_id: Option<i64>,
    current_run_id: Option<i64>,
    subject_type: String,
    subject_external_id: String,
    status: String,
    evidence_jsonb: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn summary(self) -> FindingSummary {
        FindingSummary {
            id: self.id,
            scope_key: self.scope_key,
            baseline_run_id: self.baseline_run_id,
            current_run_id: self.current_run_id,
            subject_type: self.subject_type,
            subject_external_id: self.subject_external_id,
            status: self.status,
            evidence: FindingEvidence::from_json(&self.evidence_jsonb),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

fn push_filter(qb: &mut QueryBuilder<'_, Postgres>, f: &FindingQuery) {
    if let Some(s) = &f.scope_key {
        qb.push(" AND f.scope_key = ").push_bind(s.clone());
    }
    if let Some(b) = f.baseline_run_id {
        qb.push(" AND f.baseline_run_id = ").push_bind(b);
    }
    if let Some(c) = f.current_run_id {
        qb.push(" AND f.current_run_id = ").push_bind(c);
    }
    if let Some(s) = &f.status {
        qb.push(" AND f.status = ").push_bind(s.clone());
    }
}

/// Findings newest first (by id), `limit` at a time, by keyset.
pub async fn page(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    f: &FindingQuery,
    limit: i64,
) -> Result<FindingPage, sqlx::Error> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM findings f WHERE f.tenant_id = "
    ));
    qb.push_bind(tenant_id);
    push_filter(&mut qb, f);
    if let Some(before) = f.before {
        qb.push(" AND f.id < ").push_bind(before);
    }
    qb.push(" ORDER BY f.id DESC LIMIT ").push_bind(limit + 1);
    let rows: Vec<Row> = qb.build_query_as().fetch_all(db).await?;
    let more = rows.len() as i64 > limit;
    let findings: Vec<FindingSummary> = rows
        .into_iter()
        .take(limit as usize)
        .map(Row::summary)
        .collect();
    let older = more.then(|| findings.last().map(|f| f.id)).flatten();
    Ok(FindingPage { findings, older })
}

/// How many findings a drift run's scope and inputs have.
pub async fn count_for_drift(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    scope_key: &str,
    baseline_run_id: Option<i64>,
    current_run_id: Option<i64>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM findings WHERE tenant_id = $1 AND scope_key = $2 \
         AND baseline_run_id IS NOT DISTINCT FROM $3 AND current_run_id IS NOT DISTINCT FROM $4",
    )
    .bind(tenant_id)
    .bind(scope_key)
    .bind(baseline_run_id)
    .bind(current_run_id)
    .fetch_one(db)
    .await
}

pub async fn find(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: i64,
    id: i64,
) -> Result<Option<FindingDetail>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Detail {
        #[sqlx(flatten)]
        row: Row,
        fingerprint: String,
        acknowledged_at: Option<DateTime<Utc>>,
        acknowledged_by: Option<String>,
    }
    let detail: Option<Detail> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, f.fingerprint, f.acknowledged_at, u.name AS acknowledged_by \
         FROM findings f LEFT JOIN users u ON u.id = f.acknowledged_by_user_id \
         WHERE f.tenant_id = $1 AND f.id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(detail.map(|d| FindingDetail {
        summary: d.row.summary(),
        fingerprint: d.fingerprint,
        acknowledged_at: d.acknowledged_at,
        acknowledged_by: d.acknowledged_by,
    }))
}

/// `new -> acknowledged`, recording who and when; acknowledging again keeps
/// the first acknowledgement. False when the finding is not the tenant's.
pub async fn acknowledge(
    pool: &PgPool,
    tenant_id: i64,
    user_id: i64,
    id: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = crate::db::begin(pool).await?;
    let changed: Option<i64> = sqlx::query_scalar(
        "UPDATE findings SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by_user_id = $3, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND status = 'new' RETURNING id",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let found = match changed {
        Some(_) => {
            sqlx::query(
                "INSERT INTO audit_logs (tenant_id, actor_user_id, action, subject_type, subject_id, metadata) \
                 VALUES ($1, $2, 'finding.acknowledged', 'finding', $3, '{}'::jsonb)",
            )
            .bind(tenant_id)
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            true
        }
        None => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM findings WHERE tenant_id = $1 AND id = $2)",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    tx.commit().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{finding, tenant, user};

    #[sqlx::test]
    async fn acknowledging_is_recorded_once_and_scoped_to_the_tenant(pool: PgPool) {
        let acme = tenant(&pool, "acme").await;
        let globex = tenant(&pool, "globex").await;
        let ann = user(&pool, "ann@acme.example").await;
        let id = finding(&pool, acme, "policy-1").await;

        assert!(
            !acknowledge(&pool, globex, ann, id).await.unwrap(),
            "another tenant's"
        );
        assert_eq!(
            find(&pool, acme, id).await.unwrap().unwrap().summary.status,
            "new"
        );
        assert!(find(&pool, globex, id).await.unwrap().is_none());

        assert!(acknowledge(&pool, acme, ann, id).await.unwrap());
        let first = find(&pool, acme, id).await.unwrap().unwrap();
        assert_eq!(first.summary.status, "acknowledged");
        assert_eq!(first.acknowledged_by.as_deref(), Some("ann@acme.example"));
        assert!(
            acknowledge(&pool, acme, ann, id).await.unwrap(),
            "again is fine"
        );
        let again = find(&pool, acme, id).await.unwrap().unwrap();
        assert_eq!(
            again.acknowledged_at, first.acknowledged_at,
            "the first acknowledgement stays"
        );
        let audits: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_logs WHERE tenant_id = $1 AND action = 'finding.acknowledged' AND subject_id = $2",
        )
        .bind(acme)
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(audits, 1);
    }

    #[sqlx::test]
    async fn the_list_filters_by_status_and_pages_by_id(pool: PgPool) {
        let acme = tenant(&pool, "acme").await;
        let ann = user(&pool, "ann@acme.example").await;
        let ids: Vec<i64> = {
            let mut v = Vec::new();
            for i in 0..3 {
                v.push(finding(&pool, acme, &format!("p{i}")).await);
            }
            v
        };
        acknowledge(&pool, acme, ann, ids[1]).await.unwrap();
        let all = page(&pool, acme, &FindingQuery::default(), 2)
            .await
            .unwrap();
        assert_eq!(
            all.findings.iter().map(|f| f.id).collect::<Vec<_>>(),
            [ids[2], ids[1]]
        );
        let rest = page(
            &pool,
            acme,
            &FindingQuery {
                before: all.older,
                ..Default::default()
            },
            2,
        )
        .await
        .unwrap();
        assert_eq!(
            rest.findings.iter().map(|f| f.id).collect::<Vec<_>>(),
            [ids[0]]
        );
        let new = FindingQuery {
            status: Some("new".into()),
            ..Default::default()
        };
        assert_eq!(page(&pool, acme, &new, 50).await.unwrap().findings.len(), 2);
        let scoped = FindingQuery {
            scope_key: Some("other".into()),
            ..Default::default()
        };
        assert!(page(&pool, acme, &scoped, 50)
            .await
            .unwrap()
            .findings
            .is_empty());
        assert_eq!(
            count_for_drift(&pool, acme, "all", None, None)
                .await
                .unwrap(),
            3
        );
    }
}
