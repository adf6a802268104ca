//! The server's HTTP surface over a real socket: health, readiness, metrics,
//! and clear 4xx answers to bad input.

use super::test_client::{spawn_server, Client};
use sqlx::PgPool;

/// (status, body) of a GET.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let res = Client::new(addr).get(path).await;
    (res.status, res.body)
}

#[sqlx::test]
async fn health_and_readiness_answer(pool: PgPool) {
    let addr = spawn_server(pool.clone()).await;
    assert_eq!(get(addr, "/healthz").await, (200, "ok".to_string()));
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ready"));
    // Without the migrations table the process is alive but not ready.
    sqlx::query("DROP TABLE _sqlx_migrations")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("migrations pending"));
}

#[sqlx::test]
async fn metrics_are_served_in_the_prometheus_format(pool: PgPool) {
    let addr = spawn_server(pool).await;
    crate::server::metrics::install();
    crate::engine::metrics::run_started(crate::model::OperationKind::DriftGenerate);
    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("# TYPE opshub_queue_pending_runs gauge"),
        "{body}"
    );
    assert!(
        body.contains("opshub_runs_started_total{kind=\"drift.generate\"}"),
        "{body}"
    );
}

#[sqlx::test]
async fn server_functions_answer_bad_input_with_4xx(pool: PgPool) {
    crate::seed::demo::run(&pool, chrono::Utc::now())
        .await
        .unwrap();
    let addr = spawn_server(pool).await;
    let c = Client::new(addr);
    c.sign_in("olivia@contoso.example", crate::seed::demo::DEMO_PASSWORD)
        .await;
    let res = c.post("/api/runs/get", &[("id", "abc")]).await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("not a valid id"));
    assert_eq!(c.post("/api/runs/get", &[]).await.status, 400);
    assert_eq!(
        c.post("/api/runs/get", &[("id", "987654321")]).await.status,
        404
    );
    let long = "x".repeat(100);
    assert_eq!(
        c.post("/api/session/switch_tenant", &[("slug", &long)])
            .await
            .status,
        400
    );
    assert_eq!(
        c.post("/api/session/switch_tenant", &[("slug", "../etc")])
            .await
            .status,
        404
    );
    let res = c.post("/api/runs/list", &[]).await;
    assert_eq!(res.status, 200);
    assert!(res.body.contains("\"status\""));
}
