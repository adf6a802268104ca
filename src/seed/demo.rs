//! `opshub seed --demo`: two tenants, their users, policies, inventory syncs,
//! drift findings, backup sets, and runs of every operation in every status
//! with the audit entries and notifications their lifecycle implies.
//!
//! Re-running is safe: tenants, users and memberships are upserted, and a
//! tenant that already has runs keeps its data unchanged.

use crate::db::history;
use crate::engine::canonical::{hash_json, idempotency_key};
use crate::engine::drift::{compare, ObservedItem};
use crate::engine::lifecycle::{self, HistoricOutcome as Outcome};
use crate::model::{Email, FailureEntry, OperationKind, Role, RunCounters, RunStatus};
use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "opshub-demo";

pub struct DemoUser {
    pub name: &'static str,
    pub email: &'static str,
    /// (tenant slug, role)
    pub memberships: &'static [(&'static str, Role)],
}

pub const DEMO_TENANTS: [(&str, &str); 2] =
    [("contoso", "Contoso Ltd"), ("fabrikam", "Fabrikam Inc")];

pub const DEMO_USERS: [DemoUser; 3] = [
    DemoUser {
        name: "Olivia Operator",
        email: "olivia@contoso.example",
        memberships: &[("contoso", Role::Operator), ("fabrikam", Role::Operator)],
    },
    DemoUser {
        name: "Victor Viewer",
        email: "victor@contoso.example",
        memberships: &[("contoso", Role::Viewer)],
    },
    DemoUser {
        name: "Frank Operator",
        email: "frank@fabrikam.example",
        memberships: &[("fabrikam", Role::Operator)],
    },
];

#[derive(Debug, Default)]
pub struct SeedReport {
    /// (tenant slug, whether its demo history was created now)
    pub tenants: Vec<(String, bool)>,
}

pub async fn run(pool: &PgPool, now: DateTime<Utc>) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    let mut tx = crate::db::begin(pool).await?;

    let mut tenant_ids = Vec::new();
    for (slug, name) in DEMO_TENANTS {
        let id = crate::db::tenants::upsert(&mut tx, slug, name).await?;
        tenant_ids.push((slug, name, id));
    }

    let mut user_ids = Vec::new();
    for user in &DEMO_USERS {
        let email = Email::parse(user.email).map_err(anyhow::Error::msg)?;
        let (id, _) = crate::db::users::find_or_create(&mut tx, &email, user.name, || {
            crate::server::password::hash(DEMO_PASSWORD)
        })
        .await?;
        for (slug, role) in user.memberships {
            let tenant_id = tenant_ids
                .iter()
                .find(|t| t.0 == *slug)
                .expect("demo tenant")
                .2;
            crate::db::users::set_membership(&mut tx, tenant_id, id, *role).await?;
        }
        user_ids.push((user.email, id));
    }
    let user = |email: &str| user_ids.iter().find(|u| u.0 == email).expect("demo user").1;

    for (index, (slug, name, tenant_id)) in tenant_ids.iter().enumerate() {
        let has_runs = history::tenant_has_runs(&mut tx, *tenant_id).await?;
        if !has_runs {
            let tenant = DemoTenant {
                now,
                id: *tenant_id,
                slug,
                name,
                operator: if index == 0 {
                    user("olivia@contoso.example")
                } else {
                    user("frank@fabrikam.example")
                },
                second_operator: user("olivia@contoso.example"),
                policy_count: if index == 0 { 10 } else { 8 },
            };
            seed_tenant_history(&mut tx, &tenant)
                .await
                .with_context(|| format!("seeding tenant {slug}"))?;
        }
        report.tenants.push((slug.to_string(), !has_runs));
    }
    tx.commit().await?;
    Ok(report)
}

struct DemoTenant<'a> {
    /// The seed's clock: every demo time is relative to it.
    now: DateTime<Utc>,
    id: i64,
    slug: &'a str,
    name: &'a str,
    operator: i64,
    second_operator: i64,
    policy_count: usize,
}

const POLICY_NAMES: [(&str, &str); 10] = [
    ("compliance_policy", "Windows 11 compliance baseline"),
    ("compliance_policy", "iOS passcode requirements"),
    ("configuration_policy", "Android work profile restrictions"),
    ("configuration_policy", "BitLocker drive encryption"),
    ("configuration_policy", "Defender antivirus settings"),
    ("configuration_policy", "Edge security baseline"),
    ("compliance_policy", "macOS FileVault enforcement"),
    ("update_ring", "Windows update ring: pilot"),
    ("update_ring", "Windows update ring: broad"),
    ("configuration_policy", "Firewall rules: corporate"),
];

/// The settings of policy `i` in inventory version `v` (1..=4): versions
/// differ in a few keys so drift between them is meaningful.
fn policy_settings(i: usize, v: u32) -> Value {
    let mut s = json!({
        "enabled": true,
        "min_password_length": 8 + (i % 3) * 2,
        "require_encryption": i.is_multiple_of(2),
        "grace_period_hours": 24,
    });
    if i == 2 && v >= 2 {
        s["min_password_length"] = json!(14);
    }
    if i == 1 && v >= 3 {
        s["require_encryption"] = json!(true);
        s["grace_period_hours"] = json!(4);
    }
    if i == 3 && v >= 4 {
        s["block_removable_storage"] = json!(true);
    }
    s
}

/// Which policies an inventory version observed.
fn policies_in_version(count: usize, v: u32) -> Vec<usize> {
    (0..count)
        .filter(|&i| match v {
            1 => i < count - 2,
            2 => i < count - 1,
            3 => i != 4,
            _ => i != 4 && i != 5,
        })
        .collect()
}

fn external_id(slug: &str, i: usize) -> String {
    format!("{slug}-pol-{:04}", i + 1)
}

fn observed(slug: &str, i: usize, v: u32) -> ObservedItem {
    let settings = policy_settings(i, v);
    ObservedItem {
        subject_type: POLICY_NAMES[i].0.to_string(),
        subject_external_id: external_id(slug, i),
        display_name: POLICY_NAMES[i].1.to_string(),
        settings_hash: hash_json(&settings),
        settings,
    }
}

fn counters(total: Option<i32>, succeeded: i32, failed: i32, skipped: i32) -> RunCounters {
    RunCounters {
        total_items: total,
        processed_items: succeeded + failed + skipped,
        succeeded,
        failed,
        skipped,
    }
}

fn failure(item_id: Option<i64>, code: &str, reason: &str, skipped: bool) -> FailureEntry {
    FailureEntry {
        reason_code: code.to_string(),
        reason: reason.to_string(),
        item_id: item_id.map(|id| id.to_string()),
        skipped,
    }
}

async fn seed_tenant_history(tx: &mut PgConnection, t: &DemoTenant<'_>) -> anyhow::Result<()> {
    let now = t.now;
    let ago = |h: i64, m: i64| now - Duration::hours(h) - Duration::minutes(m);

    // Current policies: the latest inventory version.
    let mut policy_ids = Vec::new();
    for (i, (policy_type, display_name)) in POLICY_NAMES.iter().enumerate().take(t.policy_count) {
        let settings = policy_settings(i, 4);
        let id = history::insert_policy(
            tx,
            &history::Policy {
                tenant_id: t.id,
                external_id: &external_id(t.slug, i),
                policy_type,
                display_name,
                settings: &settings,
                assignments: &json!([{"group": format!("{}-all-devices", t.slug), "intent": "apply"}]),
                settings_hash: &hash_json(&settings),
                at: ago(96, 0),
            },
        )
        .await?;
        policy_ids.push(id);
    }
    let unknown = |n: i64| 900_000 + n;

    // Inventory syncs of the "all policies" scope, each recorded by an
    // inventory.sync run, plus one of the "compliance" scope.
    let all_selection = json!({"policy_types": ["all"]});
    let all_scope = hash_json(&all_selection);
    let mut syncs = Vec::new();
    for (v, at) in [
        (1u32, ago(72, 0)),
        (2, ago(48, 0)),
        (3, ago(24, 0)),
        (4, ago(0, 25)),
    ] {
        let items: Vec<ObservedItem> = policies_in_version(t.policy_count, v)
            .into_iter()
            .map(|i| observed(t.slug, i, v))
            .collect();
        let sync_id = insert_sync(tx, t.id, &all_scope, &all_selection, &items, at).await?;
        let n = items.len() as i32;
        insert_run(
            tx,
            t,
            t.operator,
            OperationKind::InventorySync,
            json!({"selection_hash": all_scope, "source": format!("snapshot-v{v}.json"), "policy_count": n}),
            at - Duration::seconds(40),
            Outcome::Finished {
                started: Some(at - Duration::seconds(38)),
                finished: at,
                status: RunStatus::Completed,
                counters: counters(Some(n), n, 0, 0),
                failures: vec![],
            },
        )
        .await?;
        syncs.push((sync_id, items));
    }
    let compliance_selection = json!({"policy_types": ["compliance_policy"]});
    let compliance_scope = hash_json(&compliance_selection);
    let compliance_items: Vec<ObservedItem> = (0..t.policy_count)
        .filter(|&i| POLICY_NAMES[i].0 == "compliance_policy")
        .map(|i| observed(t.slug, i, 4))
        .collect();
    insert_sync(
        tx,
        t.id,
        &compliance_scope,
        &compliance_selection,
        &compliance_items,
        ago(1, 5),
    )
    .await?;

    // Drift: v1 -> v2 and v2 -> v3 completed with findings, v3 -> v4 running,
    // the compliance scope (one sync only) failed for lack of a baseline and
    // queued again, and v1 -> v3 cancelled before it started.
    for (b, c, created, ack) in [
        (0usize, 1usize, ago(47, 50), true),
        (1, 2, ago(23, 50), false),
    ] {
        let (base_id, base_items) = (&syncs[b].0, &syncs[b].1);
        let (curr_id, curr_items) = (&syncs[c].0, &syncs[c].1);
        let changes = compare(base_items, curr_items);
        let compared = subjects_compared(base_items, curr_items);
        insert_run(
            tx,
            t,
            t.operator,
            OperationKind::DriftGenerate,
            json!({"scope_key": all_scope, "baseline_run_id": base_id, "current_run_id": curr_id}),
            created,
            Outcome::Finished {
                started: Some(created + Duration::seconds(2)),
                finished: created + Duration::seconds(9),
                status: RunStatus::Completed,
                counters: counters(Some(compared), compared, 0, 0),
                failures: vec![],
            },
        )
        .await?;
        for (n, change) in changes.iter().enumerate() {
            let acknowledged = ack && n == 0;
            history::insert_finding(
                tx,
                &history::Finding {
                    tenant_id: t.id,
                    scope_key: &all_scope,
                    baseline_run_id: *base_id,
                    current_run_id: *curr_id,
                    fingerprint: &change.fingerprint(&all_scope, *base_id, *curr_id),
                    subject_type: &change.subject_type,
                    subject_external_id: &change.subject_external_id,
                    evidence: &change.evidence(),
                    acknowledged: acknowledged
                        .then_some((created + Duration::hours(3), t.operator)),
                    at: created + Duration::seconds(9),
                },
            )
            .await?;
        }
    }
    let latest_total = subjects_compared(&syncs[2].1, &syncs[3].1);
    insert_run(
        tx,
        t,
        t.second_operator,
        OperationKind::DriftGenerate,
        json!({"scope_key": all_scope, "baseline_run_id": syncs[2].0, "current_run_id": syncs[3].0}),
        ago(0, 3),
        Outcome::Running { started: ago(0, 2), counters: counters(Some(latest_total), 4, 0, 0) },
    )
    .await?;
    insert_run(
        tx,
        t,
        t.operator,
        OperationKind::DriftGenerate,
        json!({"scope_key": compliance_scope, "baseline_run_id": null, "current_run_id": null}),
        ago(1, 0),
        Outcome::Finished {
            started: Some(ago(1, 0) + Duration::seconds(1)),
            finished: ago(1, 0) + Duration::seconds(2),
            status: RunStatus::Failed,
            counters: counters(None, 0, 0, 0),
            failures: vec![failure(
                None,
                "baseline_missing",
                "The scope has only one completed inventory sync; drift needs a baseline and a current sync.",
                false,
            )],
        },
    )
    .await?;
    insert_run(
        tx,
        t,
        t.operator,
        OperationKind::DriftGenerate,
        json!({"scope_key": compliance_scope, "baseline_run_id": null, "current_run_id": null}),
        ago(0, 1),
        Outcome::Pending,
    )
    .await?;
    insert_run(
        tx,
        t,
        t.second_operator,
        OperationKind::DriftGenerate,
        json!({"scope_key": all_scope, "baseline_run_id": syncs[0].0, "current_run_id": syncs[2].0}),
        ago(30, 0),
        Outcome::Finished {
            started: None,
            finished: ago(30, 0) + Duration::seconds(20),
            status: RunStatus::Aborted,
            counters: counters(None, 0, 0, 0),
            failures: vec![failure(None, "cancelled", "Cancelled by an operator before it started.", false)],
        },
    )
    .await?;

    // Backup sets and add-policies runs.
    let quarterly = history::insert_backup_set(
        tx,
        t.id,
        "Quarterly baseline",
        "Policies captured at the start of each quarter.",
        ago(90, 0),
    )
    .await?;
    let pre_change = history::insert_backup_set(
        tx,
        t.id,
        "Pre-change snapshot",
        "Taken before the change window.",
        ago(80, 0),
    )
    .await?;
    let p = |i: usize| policy_ids[i % policy_ids.len()];
    let backup_scope = |set: i64, ids: &[i64], assignments: bool| json!({"backup_set_id": set, "policy_ids": ids, "options": {"include_assignments": assignments}});

    // (backup set, policies, include assignments, initiator, created, outcome
    // with `started` a second after creation, policies actually copied)
    let not_found = |id: i64| {
        failure(
            Some(id),
            "policy_not_found",
            "No policy with this id exists in this tenant.",
            false,
        )
    };
    let after = |created: DateTime<Utc>,
                 secs: i64,
                 status: RunStatus,
                 c: RunCounters,
                 failures: Vec<FailureEntry>| {
        Outcome::Finished {
            started: Some(created + Duration::seconds(1)),
            finished: created + Duration::seconds(secs),
            status,
            counters: c,
            failures,
        }
    };
    let five: Vec<i64> = (0..5).map(p).collect();
    let six: Vec<i64> = (0..6).map(p).collect();
    let eight: Vec<i64> = (2..10).map(p).collect();
    let backup_runs = vec![
        // Completed: five policies copied.
        (
            quarterly,
            five.clone(),
            true,
            t.operator,
            ago(70, 0),
            after(
                ago(70, 0),
                6,
                RunStatus::Completed,
                counters(Some(5), 5, 0, 0),
                vec![],
            ),
            five,
        ),
        // Completed with errors: one already present (skipped), one unknown (failed).
        (
            quarterly,
            vec![p(2), p(5), p(6), unknown(1)],
            true,
            t.second_operator,
            ago(20, 0),
            after(
                ago(20, 0),
                4,
                RunStatus::CompletedWithErrors,
                counters(Some(4), 2, 1, 1),
                vec![
                    failure(
                        Some(p(2)),
                        "already_in_backup_set",
                        "The policy is already in this backup set.",
                        true,
                    ),
                    not_found(unknown(1)),
                ],
            ),
            vec![p(5), p(6)],
        ),
        // Failed: every policy unknown.
        (
            pre_change,
            vec![unknown(2), unknown(3), unknown(4)],
            false,
            t.operator,
            ago(6, 0),
            after(
                ago(6, 0),
                2,
                RunStatus::Failed,
                counters(Some(3), 0, 3, 0),
                vec![
                    not_found(unknown(2)),
                    not_found(unknown(3)),
                    not_found(unknown(4)),
                ],
            ),
            vec![],
        ),
        // Aborted while running, after two policies.
        (
            pre_change,
            six.clone(),
            true,
            t.second_operator,
            ago(3, 0),
            after(
                ago(3, 0),
                30,
                RunStatus::Aborted,
                counters(Some(6), 2, 0, 0),
                vec![failure(
                    None,
                    "cancelled",
                    "Cancelled by an operator; items already copied were kept.",
                    false,
                )],
            ),
            six[..2].to_vec(),
        ),
        // Running: three of eight done, and no progress since it started
        // twenty minutes ago (the overview flags it as stalled).
        (
            pre_change,
            eight.clone(),
            false,
            t.operator,
            ago(0, 20),
            Outcome::Running {
                started: ago(0, 20) + Duration::seconds(1),
                counters: counters(Some(8), 3, 0, 0),
            },
            eight[..3].to_vec(),
        ),
    ];
    for (set, ids, assignments, user_id, created, outcome, copied) in backup_runs {
        let scope = backup_scope(set, &ids, assignments);
        insert_run(
            tx,
            t,
            user_id,
            OperationKind::BackupSetAddPolicies,
            scope,
            created,
            outcome,
        )
        .await?;
        if !copied.is_empty() {
            history::copy_into_backup(
                tx,
                t.id,
                set,
                &copied,
                assignments,
                created + Duration::seconds(3),
            )
            .await?;
        }
    }

    // Queued.
    let ids: Vec<i64> = (6..t.policy_count).map(p).collect();
    insert_run(
        tx,
        t,
        t.operator,
        OperationKind::BackupSetAddPolicies,
        backup_scope(quarterly, &ids, true),
        ago(0, 0),
        Outcome::Pending,
    )
    .await?;
    Ok(())
}

async fn insert_sync(
    tx: &mut PgConnection,
    tenant_id: i64,
    selection_hash: &str,
    selection: &Value,
    items: &[ObservedItem],
    finished: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let rows: Vec<history::Observed<'_>> = items
        .iter()
        .map(|i| history::Observed {
            subject_type: &i.subject_type,
            subject_external_id: &i.subject_external_id,
            display_name: &i.display_name,
            settings: &i.settings,
            settings_hash: &i.settings_hash,
        })
        .collect();
    let started = finished - Duration::seconds(35);
    Ok(history::insert_inventory_sync(
        tx,
        tenant_id,
        selection_hash,
        selection,
        &rows,
        started,
        finished,
    )
    .await?)
}

/// Writes one run of the demo's history through the engine's lifecycle
/// (pending, then running, then its final status), at the demo's times.
async fn insert_run(
    tx: &mut PgConnection,
    t: &DemoTenant<'_>,
    user_id: i64,
    kind: OperationKind,
    scope: Value,
    created: DateTime<Utc>,
    outcome: Outcome,
) -> anyhow::Result<i64> {
    let key = idempotency_key(t.id, kind.key(), &scope);
    let run = lifecycle::HistoricRun {
        tenant: lifecycle::TenantRef {
            id: t.id,
            slug: t.slug,
            name: t.name,
        },
        user_id,
        kind,
        key: &key,
        scope: &scope,
        created,
        // Notifications older than a day have been read, an hour after.
        read_before: t.now - Duration::days(1),
    };
    Ok(lifecycle::replay(tx, &run, outcome).await?)
}

/// How many subjects a drift run of these two syncs compares: each
/// external id seen in either, once.
fn subjects_compared(baseline: &[ObservedItem], current: &[ObservedItem]) -> i32 {
    let mut ids: Vec<_> = baseline
        .iter()
        .chain(current)
        .map(|i| &i.subject_external_id)
        .collect();
    ids.sort();
    ids.dedup();
    ids.len() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OperationKind;

    async fn count(pool: &PgPool, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
    }

    #[sqlx::test]
    async fn the_demo_shows_both_operations_in_every_status(pool: PgPool) {
        let report = run(&pool, Utc::now()).await.unwrap();
        assert!(report.tenants.iter().all(|(_, created)| *created));

        for kind in [
            OperationKind::DriftGenerate,
            OperationKind::BackupSetAddPolicies,
        ] {
            let statuses: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT r.status FROM bulk_operation_runs r JOIN tenants t ON t.id = r.tenant_id \
                 WHERE t.slug = 'contoso' AND r.resource = $1 AND r.action = $2 ORDER BY 1",
            )
            .bind(kind.resource())
            .bind(kind.action())
            .fetch_all(&pool)
            .await
            .unwrap();
            let expected: Vec<&str> = match kind {
                OperationKind::DriftGenerate => {
                    vec!["aborted", "completed", "failed", "pending", "running"]
                }
                _ => vec![
                    "aborted",
                    "completed",
                    "completed_with_errors",
                    "failed",
                    "pending",
                    "running",
                ],
            };
            assert_eq!(statuses, expected, "{}", kind.key());
        }
        // Every run has its start audited and linked, and a queued notification.
        assert_eq!(
            count(
                &pool,
                "SELECT count(*) FROM bulk_operation_runs WHERE audit_log_id IS NULL"
            )
            .await,
            0
        );
        assert_eq!(
            count(&pool, "SELECT count(*) FROM bulk_operation_runs").await,
            count(
                &pool,
                "SELECT count(*) FROM notifications WHERE type = 'opshub.run_queued'"
            )
            .await
        );
        assert!(count(&pool, "SELECT count(*) FROM findings").await > 0);
        assert!(count(&pool, "SELECT count(*) FROM backup_items").await > 0);
        assert!(
            count(&pool, "SELECT count(*) FROM bulk_operation_runs WHERE failures @> '[{\"reason_code\": \"policy_not_found\"}]'").await > 0
        );
    }

    #[sqlx::test]
    async fn seeding_twice_changes_nothing(pool: PgPool) {
        run(&pool, Utc::now()).await.unwrap();
        let snapshot = |pool: PgPool| async move {
            let mut counts = Vec::new();
            for table in [
                "tenants",
                "users",
                "tenant_memberships",
                "bulk_operation_runs",
                "findings",
                "notifications",
                "audit_logs",
                "backup_items",
                "inventory_items",
            ] {
                counts.push(count(&pool, &format!("SELECT count(*) FROM {table}")).await);
            }
            counts
        };
        let before = snapshot(pool.clone()).await;
        let report = run(&pool, Utc::now()).await.unwrap();
        assert!(report.tenants.iter().all(|(_, created)| !*created));
        assert_eq!(before, snapshot(pool.clone()).await);
    }

    #[sqlx::test]
    async fn demo_users_can_sign_in_with_the_printed_password(pool: PgPool) {
        run(&pool, Utc::now()).await.unwrap();
        let hash: String = sqlx::query_scalar(
            "SELECT password_hash FROM users WHERE email = 'victor@contoso.example'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert!(crate::server::password::verify(DEMO_PASSWORD, &hash));
    }
}
