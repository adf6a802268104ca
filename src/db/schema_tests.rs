//! The schema's promises, proven against a real Postgres.

use super::testing::{pending_run, rows_in, set_status, status_of, tenant, user};
use sqlx::PgPool;

/// The name of the constraint a statement violated, if any.
fn violated(result: Result<impl std::fmt::Debug, sqlx::Error>) -> String {
    match result {
        Err(sqlx::Error::Database(e)) => e.constraint().unwrap_or("<no constraint>").to_string(),
        other => panic!("expected a constraint violation, got {other:?}"),
    }
}

#[sqlx::test]
async fn unknown_status_values_are_rejected(pool: PgPool) {
    let (t, u) = (
        tenant(&pool, "acme").await,
        user(&pool, "a@x.example").await,
    );
    let run = pending_run(&pool, t, u, None).await.unwrap();
    // The lifecycle trigger fires before the CHECK; either refuses it.
    let err = violated(set_status(&pool, run, "done").await);
    assert!(
        [
            "bulk_operation_runs_status_check",
            "bulk_operation_runs_status_transition"
        ]
        .contains(&err.as_str()),
        "{err}"
    );
    let insert = sqlx::query(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, status) VALUES ($1, $2, 'drift', 'generate', 'queued')",
    )
    .bind(t)
    .bind(u)
    .execute(&pool)
    .await;
    assert!(violated(insert).starts_with("bulk_operation_runs_status"));
    assert_eq!(status_of(&pool, run).await, "pending");
}

#[sqlx::test]
async fn runs_must_be_created_pending(pool: PgPool) {
    let (t, u) = (
        tenant(&pool, "acme").await,
        user(&pool, "a@x.example").await,
    );
    let result = sqlx::query(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, status, started_at) \
         VALUES ($1, $2, 'drift', 'generate', 'running', now())",
    )
    .bind(t)
    .bind(u)
    .execute(&pool)
    .await;
    assert_eq!(violated(result), "bulk_operation_runs_status_transition");
}

#[sqlx::test]
async fn the_lifecycle_allows_only_forward_transitions(pool: PgPool) {
    let (t, u) = (
        tenant(&pool, "acme").await,
        user(&pool, "a@x.example").await,
    );

    // Allowed: pending -> running -> each final status; pending -> aborted.
    for final_status in ["completed", "completed_with_errors", "failed", "aborted"] {
        let run = pending_run(&pool, t, u, None).await.unwrap();
        set_status(&pool, run, "running").await.unwrap();
        set_status(&pool, run, final_status).await.unwrap();
        assert_eq!(status_of(&pool, run).await, final_status);
    }
    let run = pending_run(&pool, t, u, None).await.unwrap();
    set_status(&pool, run, "aborted").await.unwrap();

    // Refused: skipping running, going back, leaving a final status.
    let run = pending_run(&pool, t, u, None).await.unwrap();
    for bad in ["completed", "completed_with_errors", "failed"] {
        assert_eq!(
            violated(set_status(&pool, run, bad).await),
            "bulk_operation_runs_status_transition"
        );
    }
    set_status(&pool, run, "running").await.unwrap();
    assert_eq!(
        violated(set_status(&pool, run, "pending").await),
        "bulk_operation_runs_status_transition"
    );
    set_status(&pool, run, "completed").await.unwrap();
    for bad in ["running", "pending", "failed", "aborted"] {
        assert_eq!(
            violated(set_status(&pool, run, bad).await),
            "bulk_operation_runs_status_transition"
        );
    }
    assert_eq!(status_of(&pool, run).await, "completed");
}

#[sqlx::test]
async fn a_finished_runs_outcome_cannot_be_rewritten(pool: PgPool) {
    let (t, u) = (
        tenant(&pool, "acme").await,
        user(&pool, "a@x.example").await,
    );
    let run = pending_run(&pool, t, u, None).await.unwrap();
    set_status(&pool, run, "running").await.unwrap();
    set_status(&pool, run, "failed").await.unwrap();
    let result = sqlx::query(
        "UPDATE bulk_operation_runs SET processed_items = 1, succeeded = 1 WHERE id = $1",
    )
    .bind(run)
    .execute(&pool)
    .await;
    assert_eq!(violated(result), "bulk_operation_runs_finished_immutable");
}

#[sqlx::test]
async fn a_runs_tenant_and_scope_cannot_change(pool: PgPool) {
    let (t, u) = (
        tenant(&pool, "acme").await,
        user(&pool, "a@x.example").await,
    );
    let other = tenant(&pool, "globex").await;
    let run = pending_run(&pool, t, u, None).await.unwrap();
    let result = sqlx::query("UPDATE bulk_operation_runs SET tenant_id = $2 WHERE id = $1")
        .bind(run)
        .bind(other)
        .execute(&pool)
        .await;
    assert_eq!(violated(result), "bulk_operation_runs_immutable");
    let result =
        sqlx::query("UPDATE bulk_operation_runs SET item_ids = '{\"x\": 1}' WHERE id = $1")
            .bind(run)
            .execute(&pool)
            .await;
    assert_eq!(violated(result), "bulk_operation_runs_immutable");
}

#[sqlx::test]
async fn counters_that_break_the_invariants_are_rejected(pool: PgPool) {
    let (t, u) = (
        tenant(&pool, "acme").await,
        user(&pool, "a@x.example").await,
    );
    let run = pending_run(&pool, t, u, None).await.unwrap();
    let update = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query(sql).bind(run).execute(&pool).await }
    };
    assert_eq!(
        violated(
            update(
                "UPDATE bulk_operation_runs SET failed = -1, processed_items = -1 WHERE id = $1"
            )
            .await
        ),
        "bulk_operation_runs_counters_non_negative_check"
    );
    assert_eq!(
        violated(update("UPDATE bulk_operation_runs SET processed_items = 3, succeeded = 1, failed = 1 WHERE id = $1").await),
        "bulk_operation_runs_counters_sum_check"
    );
    assert_eq!(
        violated(update("UPDATE bulk_operation_runs SET total_items = 2, processed_items = 3, succeeded = 3 WHERE id = $1").await),
        "bulk_operation_runs_counters_total_check"
    );
    assert_eq!(
        violated(update("UPDATE bulk_operation_runs SET total_items = -5 WHERE id = $1").await),
        "bulk_operation_runs_counters_non_negative_check"
    );
    // Consistent counters pass, with and without a known total.
    update("UPDATE bulk_operation_runs SET processed_items = 3, succeeded = 1, failed = 1, skipped = 1 WHERE id = $1")
        .await
        .unwrap();
    update("UPDATE bulk_operation_runs SET total_items = 3 WHERE id = $1")
        .await
        .unwrap();
}

#[sqlx::test]
async fn one_active_run_per_tenant_and_idempotency_key(pool: PgPool) {
    let (acme, globex) = (tenant(&pool, "acme").await, tenant(&pool, "globex").await);
    let u = user(&pool, "a@x.example").await;
    let first = pending_run(&pool, acme, u, Some("drift.generate:k1"))
        .await
        .unwrap();

    // A second active run with the key in the same tenant is refused...
    assert_eq!(
        violated(pending_run(&pool, acme, u, Some("drift.generate:k1")).await),
        "bulk_operation_runs_active_idempotency_key"
    );
    set_status(&pool, first, "running").await.unwrap();
    assert_eq!(
        violated(pending_run(&pool, acme, u, Some("drift.generate:k1")).await),
        "bulk_operation_runs_active_idempotency_key"
    );
    // ...while another tenant may use the same key,
    pending_run(&pool, globex, u, Some("drift.generate:k1"))
        .await
        .unwrap();
    // and once the first run finished, the key is free again.
    set_status(&pool, first, "completed").await.unwrap();
    pending_run(&pool, acme, u, Some("drift.generate:k1"))
        .await
        .unwrap();
    // Runs without a key never collide.
    pending_run(&pool, acme, u, None).await.unwrap();
    pending_run(&pool, acme, u, None).await.unwrap();
}

#[sqlx::test]
async fn finding_fingerprints_are_unique_per_tenant(pool: PgPool) {
    let (acme, globex) = (tenant(&pool, "acme").await, tenant(&pool, "globex").await);
    let insert = |tenant_id: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO findings (tenant_id, scope_key, fingerprint, subject_type, subject_external_id) \
                 VALUES ($1, 'scope', 'fp-1', 'compliance_policy', 'p-1')",
            )
            .bind(tenant_id)
            .execute(&pool)
            .await
        }
    };
    insert(acme).await.unwrap();
    assert_eq!(violated(insert(acme).await), "findings_fingerprint_key");
    insert(globex).await.unwrap();
}

#[sqlx::test]
async fn rows_cannot_reference_another_tenants_rows(pool: PgPool) {
    let (acme, globex) = (tenant(&pool, "acme").await, tenant(&pool, "globex").await);
    let foreign_sync: i64 = sqlx::query_scalar(
        "INSERT INTO inventory_sync_runs (tenant_id, selection_hash, status, finished_at) \
         VALUES ($1, 'scope', 'completed', now()) RETURNING id",
    )
    .bind(globex)
    .fetch_one(&pool)
    .await
    .unwrap();
    let finding = sqlx::query(
        "INSERT INTO findings (tenant_id, scope_key, baseline_run_id, fingerprint, subject_type, subject_external_id) \
         VALUES ($1, 'scope', $2, 'fp', 'compliance_policy', 'p-1')",
    )
    .bind(acme)
    .bind(foreign_sync)
    .execute(&pool)
    .await;
    assert_eq!(violated(finding), "findings_tenant_id_baseline_run_id_fkey");
    let foreign_set: i64 = sqlx::query_scalar(
        "INSERT INTO backup_sets (tenant_id, name) VALUES ($1, 'S') RETURNING id",
    )
    .bind(globex)
    .fetch_one(&pool)
    .await
    .unwrap();
    let item = sqlx::query(
        "INSERT INTO backup_items (tenant_id, backup_set_id, policy_id, policy_external_id, display_name, snapshot, settings_hash) \
         VALUES ($1, $2, 1, 'p-1', 'P1', '{}', 'h')",
    )
    .bind(acme)
    .bind(foreign_set)
    .execute(&pool)
    .await;
    assert_eq!(violated(item), "backup_items_tenant_id_backup_set_id_fkey");
}

#[sqlx::test]
async fn membership_roles_are_operator_or_viewer(pool: PgPool) {
    let (t, u) = (
        tenant(&pool, "acme").await,
        user(&pool, "a@x.example").await,
    );
    let result = sqlx::query(
        "INSERT INTO tenant_memberships (tenant_id, user_id, role) VALUES ($1, $2, 'admin')",
    )
    .bind(t)
    .bind(u)
    .execute(&pool)
    .await;
    assert_eq!(violated(result), "tenant_memberships_role_check");
}

#[sqlx::test]
async fn readiness_sees_every_migration_applied(pool: PgPool) {
    assert!(super::migrations_applied(&pool).await.unwrap());
}

/// The engine finds a running run by tenant and id (completion, heartbeat,
/// batch, release): an index of running runs keyed by tenant alone made each
/// of those lookups read every running run of the tenant.
#[sqlx::test]
async fn running_runs_are_indexed_by_run_not_only_by_tenant(pool: PgPool) {
    let partial_indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'bulk_operation_runs' \
           AND indexdef LIKE '%WHERE (status = ''running''::text)'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!partial_indexes.is_empty());
    for def in &partial_indexes {
        assert!(def.contains("(tenant_id, id)"), "{def}");
    }
}

/// Checked once, when a run is created (they cannot change afterwards).
#[sqlx::test]
async fn a_runs_resource_action_key_and_scope_are_checked_when_it_is_created(pool: PgPool) {
    let (t, u) = (
        tenant(&pool, "acme").await,
        user(&pool, "a@x.example").await,
    );
    let long_key = "k".repeat(201);
    let cases = [
        (
            "Drift",
            "generate",
            Some("k"),
            "{}",
            "bulk_operation_runs_resource_check",
        ),
        (
            "drift",
            "gen erate",
            Some("k"),
            "{}",
            "bulk_operation_runs_action_check",
        ),
        (
            "drift",
            "generate",
            Some(""),
            "{}",
            "bulk_operation_runs_idempotency_key_check",
        ),
        (
            "drift",
            "generate",
            Some(long_key.as_str()),
            "{}",
            "bulk_operation_runs_idempotency_key_check",
        ),
        (
            "drift",
            "generate",
            Some("k"),
            "[1]",
            "bulk_operation_runs_item_ids_check",
        ),
    ];
    for (resource, action, key, item_ids, constraint) in cases {
        let result = sqlx::query(
            "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids) \
             VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        )
        .bind(t)
        .bind(u)
        .bind(resource)
        .bind(action)
        .bind(key)
        .bind(item_ids)
        .execute(&pool)
        .await;
        assert_eq!(
            violated(result),
            constraint,
            "{resource} {action} {key:?} {item_ids}"
        );
    }
    assert_eq!(rows_in(&pool, "bulk_operation_runs").await, 0);
    let run = pending_run(&pool, t, u, None).await.unwrap();
    assert_eq!(status_of(&pool, run).await, "pending");
}

#[sqlx::test]
async fn audit_actions_and_tenant_slugs_are_short_lowercase_identifiers(pool: PgPool) {
    for slug in ["Acme", "-acme", &"a".repeat(64)] {
        let result = sqlx::query("INSERT INTO tenants (slug, name) VALUES ($1, 'Acme')")
            .bind(slug)
            .execute(&pool)
            .await;
        assert_eq!(violated(result), "tenants_slug_check", "{slug}");
    }
    let t = tenant(&pool, &"a".repeat(63)).await;
    for action in ["Run.finished", "run finished", &"r".repeat(101)] {
        let result = sqlx::query(
            "INSERT INTO audit_logs (tenant_id, action, subject_type, subject_id) VALUES ($1, $2, 'x', 1)",
        )
        .bind(t)
        .bind(action)
        .execute(&pool)
        .await;
        assert_eq!(violated(result), "audit_logs_action_check", "{action}");
    }
}

/// A backup set of `tenant_id` with one item (policy id 1); answers the set.
async fn set_with_item(pool: &PgPool, tenant_id: i64, name: &str) -> i64 {
    let set: i64 = sqlx::query_scalar(
        "INSERT INTO backup_sets (tenant_id, name) VALUES ($1, $2) RETURNING id",
    )
    .bind(tenant_id)
    .bind(name)
    .fetch_one(pool)
    .await
    .unwrap();
    insert_items(pool, &[(tenant_id, set, 1)]).await.unwrap();
    set
}

/// Inserts one backup item per (tenant, set, policy), in one statement.
async fn insert_items(
    executor: impl sqlx::PgExecutor<'_>,
    rows: &[(i64, i64, i64)],
) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    let tenants: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let sets: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let policies: Vec<i64> = rows.iter().map(|r| r.2).collect();
    sqlx::query(
        "INSERT INTO backup_items (tenant_id, backup_set_id, policy_id, policy_external_id, display_name, snapshot, settings_hash) \
         SELECT t, s, p, 'p-' || p, 'P', '{}', 'h' FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(t, s, p)",
    )
    .bind(&tenants)
    .bind(&sets)
    .bind(&policies)
    .execute(executor)
    .await
}

#[sqlx::test]
async fn a_statement_naming_one_missing_backup_set_among_many_items_writes_none(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let set = set_with_item(&pool, acme, "S").await;
    let mut rows: Vec<(i64, i64, i64)> = (2..500).map(|p| (acme, set, p)).collect();
    rows.push((acme, set + 1000, 9_999));
    let refused = insert_items(&pool, &rows).await;
    let Err(sqlx::Error::Database(e)) = &refused else {
        panic!("expected a foreign key violation, got {refused:?}");
    };
    assert_eq!(e.code().as_deref(), Some("23503"));
    assert_eq!(
        e.constraint(),
        Some("backup_items_tenant_id_backup_set_id_fkey")
    );
    assert_eq!(
        rows_in(&pool, "backup_items").await,
        1,
        "nothing of the statement stays"
    );
    // Moving an item to a set that does not exist is refused the same way.
    let moved = sqlx::query("UPDATE backup_items SET backup_set_id = backup_set_id + 1000")
        .execute(&pool)
        .await;
    assert_eq!(violated(moved), "backup_items_tenant_id_backup_set_id_fkey");
}

#[sqlx::test]
async fn deleting_a_backup_set_deletes_its_items_and_only_its_own(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let kept = set_with_item(&pool, acme, "kept").await;
    let gone = set_with_item(&pool, acme, "gone").await;
    insert_items(&pool, &[(acme, gone, 2), (acme, gone, 3)])
        .await
        .unwrap();
    sqlx::query("DELETE FROM backup_sets WHERE id = $1")
        .bind(gone)
        .execute(&pool)
        .await
        .unwrap();
    let left: Vec<i64> = sqlx::query_scalar("SELECT backup_set_id FROM backup_items")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, vec![kept]);
    // A set's key cannot change while items name it, and the sets cannot be
    // truncated from under their items.
    let globex = tenant(&pool, "globex").await;
    let rekeyed = sqlx::query("UPDATE backup_sets SET tenant_id = $1 WHERE id = $2")
        .bind(globex)
        .bind(kept)
        .execute(&pool)
        .await;
    assert_eq!(
        violated(rekeyed),
        "backup_items_tenant_id_backup_set_id_fkey"
    );
    let truncated = sqlx::query("TRUNCATE backup_sets").execute(&pool).await;
    assert!(truncated.is_err(), "truncating the sets was allowed");
    assert_eq!(rows_in(&pool, "backup_items").await, 1);
}

#[sqlx::test]
async fn a_backup_set_deleted_while_items_are_added_to_it_takes_them_or_refuses_them(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    // Items added first: the delete waits for their transaction, then
    // removes them with the set.
    let set = set_with_item(&pool, acme, "first").await;
    let mut adding = crate::db::begin(&pool).await.unwrap();
    insert_items(&mut *adding, &[(acme, set, 2)]).await.unwrap();
    let deleting = tokio::spawn({
        let pool = pool.clone();
        async move {
            sqlx::query("DELETE FROM backup_sets WHERE id = $1")
                .bind(set)
                .execute(&pool)
                .await
                .unwrap()
                .rows_affected()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !deleting.is_finished(),
        "the delete did not wait for the items' transaction"
    );
    adding.commit().await.unwrap();
    assert_eq!(deleting.await.unwrap(), 1);
    assert_eq!(
        rows_in(&pool, "backup_items").await,
        0,
        "the set's items went with it"
    );

    // The set deleted first: adding items to it waits for the delete, then
    // is refused.
    let set = set_with_item(&pool, acme, "second").await;
    let mut deleting = crate::db::begin(&pool).await.unwrap();
    sqlx::query("DELETE FROM backup_sets WHERE id = $1")
        .bind(set)
        .execute(&mut *deleting)
        .await
        .unwrap();
    let adding = tokio::spawn({
        let pool = pool.clone();
        async move { insert_items(&pool, &[(acme, set, 2)]).await.map(|_| ()) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !adding.is_finished(),
        "the insert did not wait for the delete"
    );
    deleting.commit().await.unwrap();
    assert_eq!(
        violated(adding.await.unwrap()),
        "backup_items_tenant_id_backup_set_id_fkey"
    );
    assert_eq!(rows_in(&pool, "backup_items").await, 0);
}
