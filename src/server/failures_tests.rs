//! A run's failures over HTTP: the run detail and its page stay small for a
//! run with 100,000 failures, further pages of item ids come one cursor at
//! a time, and the exports carry every entry to any member of the tenant.

use super::test_client::{spawn_server, Client};
use crate::db::testing::{member, set_status, tenant, MEMBER_PASSWORD};
use crate::model::FailureEntry;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeSet;

/// A finished `backup_set.add_policies` run of `failed` unknown policies
/// (ids 1000000…) and 3 skipped ones, recorded through the engine's writer
/// in batches of 5,000.
async fn run_with_failures(pool: &PgPool, tenant_id: i64, user_id: i64, failed: usize) -> i64 {
    let backup_set: i64 = sqlx::query_scalar(
        "INSERT INTO backup_sets (tenant_id, name) VALUES ($1, 'Nightly') RETURNING id",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await
    .unwrap();
    let ids: Vec<i64> = (0..failed as i64 + 3).map(|i| 1_000_000 + i).collect();
    let run: i64 = sqlx::query_scalar(
        "INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, item_ids) \
         VALUES ($1, $2, 'backup_set', 'add_policies', $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(json!({"backup_set_id": backup_set, "policy_ids": ids, "options": {"include_assignments": false}}))
    .fetch_one(pool)
    .await
    .unwrap();
    set_status(pool, run, "running").await.unwrap();
    let entries: Vec<FailureEntry> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| FailureEntry {
            reason_code: if i < failed {
                "policy_not_found"
            } else {
                "already_in_backup_set"
            }
            .into(),
            reason: if i < failed {
                "No policy with this id exists in this tenant."
            } else {
                "The policy is already in this backup set, \"as\" before."
            }
            .into(),
            item_id: Some(id.to_string()),
            skipped: i >= failed,
        })
        .collect();
    let mut conn = pool.acquire().await.unwrap();
    for batch in entries.chunks(5_000) {
        crate::engine::failures::record(&mut conn, tenant_id, run, batch)
            .await
            .unwrap();
    }
    sqlx::query(
        "UPDATE bulk_operation_runs SET status = 'completed_with_errors', finished_at = now(), \
         total_items = $2, processed_items = $2, failed = $3, skipped = 3 WHERE id = $1",
    )
    .bind(run)
    .bind(ids.len() as i32)
    .bind(failed as i32)
    .execute(pool)
    .await
    .unwrap();
    run
}

struct World {
    addr: std::net::SocketAddr,
    a: i64,
    a_op: i64,
    b_run: i64,
}

async fn world(pool: &PgPool) -> World {
    let a = tenant(pool, "acme").await;
    let a_op = member(pool, a, "op@acme.example", "operator").await;
    member(pool, a, "viewer@acme.example", "viewer").await;
    let b = tenant(pool, "globex").await;
    let b_op = member(pool, b, "op@globex.example", "operator").await;
    let b_run = run_with_failures(pool, b, b_op, 5).await;
    World {
        addr: spawn_server(pool.clone()).await,
        a,
        a_op,
        b_run,
    }
}

async fn signed_in(addr: std::net::SocketAddr, email: &str) -> Client {
    let c = Client::new(addr);
    c.sign_in(email, MEMBER_PASSWORD).await;
    c
}

#[sqlx::test]
async fn a_run_with_100k_failures_has_a_small_detail_and_page_and_exports_them_all(pool: PgPool) {
    let w = world(&pool).await;
    let run = run_with_failures(&pool, w.a, w.a_op, 100_000).await;
    let viewer = signed_in(w.addr, "viewer@acme.example").await;

    let res = viewer
        .post("/api/runs/get", &[("id", &run.to_string())])
        .await;
    assert_eq!(res.status, 200, "{}", &res.body[..res.body.len().min(500)]);
    eprintln!(
        "runs/get of a 100,000-failure run: {} bytes",
        res.body.len()
    );
    assert!(
        res.body.len() < 64 * 1024,
        "runs/get answered {} bytes",
        res.body.len()
    );
    let detail: Value = serde_json::from_str(&res.body).unwrap();
    let groups = detail["failure_groups"].as_array().unwrap();
    assert_eq!(groups[0]["reason_code"], "policy_not_found");
    assert_eq!(groups[0]["count"], 100_000);
    assert_eq!(groups[1]["count"], 3);
    assert_eq!(
        groups[0]["items"]["items"].as_array().unwrap().len(),
        crate::model::failure::FIRST_PAGE_ITEMS
    );

    let page = viewer.get(&format!("/runs/{run}")).await;
    assert_eq!(page.status, 200);
    eprintln!(
        "run page of a 100,000-failure run: {} bytes",
        page.body.len()
    );
    assert!(
        page.body.len() < 256 * 1024,
        "the run page is {} bytes",
        page.body.len()
    );
    assert!(page.body.contains("× 100000"));
    assert!(page.body.contains(&format!("/runs/{run}/failures.csv")));
    // A later page of one reason, by URL (works without JavaScript).
    let after = groups[0]["items"]["next_after"].as_i64().unwrap();
    let later = viewer
        .get(&format!(
            "/runs/{run}?reason_code=policy_not_found&after={after}"
        ))
        .await;
    assert_eq!(later.status, 200);
    assert!(
        later.body.contains("#1000020"),
        "the next page starts after the first"
    );
    assert!(later.body.len() < 256 * 1024);

    // The exports carry every entry, to a viewer too.
    let csv = viewer.get(&format!("/runs/{run}/failures.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines[0], "item_id,reason_code,reason,type");
    assert_eq!(lines.len(), 1 + 100_003);
    let ids: BTreeSet<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 100_003);
    assert!(lines.contains(
        &"1100000,already_in_backup_set,\"The policy is already in this backup set, \"\"as\"\" before.\",skipped"
    ));

    let json = viewer.get(&format!("/runs/{run}/failures.json")).await;
    assert_eq!(json.status, 200);
    assert!(json
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    let entries: Vec<Value> = serde_json::from_str(&json.body).unwrap();
    assert_eq!(entries.len(), 100_003);
    let skips: Vec<_> = entries.iter().filter(|e| e["type"] == "skipped").collect();
    assert_eq!(skips.len(), 3);
    assert_eq!(skips[0]["item_id"], "1100000");
}

#[sqlx::test]
async fn pages_of_item_ids_return_each_id_exactly_once(pool: PgPool) {
    let w = world(&pool).await;
    let run = run_with_failures(&pool, w.a, w.a_op, 1_234).await;
    let c = signed_in(w.addr, "viewer@acme.example").await;
    let detail: Value = serde_json::from_str(
        &c.post("/api/runs/get", &[("id", &run.to_string())])
            .await
            .body,
    )
    .unwrap();
    let first = &detail["failure_groups"][0]["items"];
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .collect();
    let mut after = first["next_after"].as_i64();
    let mut pages = 1;
    while let Some(cursor) = after {
        let res = c
            .post(
                "/api/runs/failures",
                &[
                    ("id", &run.to_string()),
                    ("reason_code", "policy_not_found"),
                    ("after", &cursor.to_string()),
                ],
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        let page: Value = serde_json::from_str(&res.body).unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= crate::model::failure::PAGE_ITEMS);
        seen.extend(
            items
                .iter()
                .map(|i| i["item_id"].as_str().unwrap().to_string()),
        );
        after = page["next_after"].as_i64();
        pages += 1;
    }
    assert_eq!(pages, 1 + 13);
    let expected: Vec<String> = (0..1_234).map(|i| (1_000_000 + i).to_string()).collect();
    assert_eq!(seen, expected);

    // Skips are their own group.
    let res = c
        .post(
            "/api/runs/failures",
            &[
                ("id", &run.to_string()),
                ("reason_code", "already_in_backup_set"),
                ("skipped", "true"),
            ],
        )
        .await;
    let page: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(page["next_after"], Value::Null);
}

#[sqlx::test]
async fn failures_of_another_tenants_or_a_malformed_run_are_refused(pool: PgPool) {
    let w = world(&pool).await;
    let own = run_with_failures(&pool, w.a, w.a_op, 2).await;
    let c = signed_in(w.addr, "op@acme.example").await;
    let b_run = w.b_run.to_string();
    for path in ["/runs/{}/failures.csv", "/runs/{}/failures.json"] {
        let url = |id: &str| path.replace("{}", id);
        let foreign = c.get(&url(&b_run)).await;
        assert_eq!(foreign.status, 404, "{}", foreign.body);
        assert!(!foreign.body.contains("1000000"));
        assert_eq!(c.get(&url("987654321")).await.status, 404);
        assert_eq!(c.get(&url("abc")).await.status, 400);
        assert_eq!(c.get(&url("-1")).await.status, 400);
        // Signed out: sent to sign in, nothing served.
        let anonymous = Client::new(w.addr).get(&url(&own.to_string())).await;
        assert_eq!(anonymous.status, 303);
    }
    let page = |id: &str, code: &str, skipped: &str, after: &str| {
        let form = [
            ("id", id.to_string()),
            ("reason_code", code.to_string()),
            ("skipped", skipped.to_string()),
            ("after", after.to_string()),
        ];
        let c = &c;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.post("/api/runs/failures", &form).await.status
        }
    };
    let own = own.to_string();
    assert_eq!(page(&own, "policy_not_found", "", "").await, 200);
    assert_eq!(page(&b_run, "policy_not_found", "", "").await, 404);
    assert_eq!(page("987654321", "policy_not_found", "", "").await, 404);
    assert_eq!(page("abc", "policy_not_found", "", "").await, 400);
    assert_eq!(page(&own, "Not A Code", "", "").await, 400);
    assert_eq!(page(&own, "policy_not_found", "perhaps", "").await, 400);
    assert_eq!(page(&own, "policy_not_found", "", "x").await, 400);
    assert_eq!(
        c.post("/api/runs/failures", &[("id", &own)]).await.status,
        400
    );
}
