//! The server's HTTP surface over a real socket: health, readiness, metrics,
//! and clear 4xx answers to bad input.

use super::http::router;
use super::state::AppState;
use leptos::config::LeptosOptions;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn spawn_server(pool: PgPool) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = LeptosOptions::builder()
        .output_name("opshub")
        .site_addr(addr)
        .build();
    let app = router(AppState {
        leptos_options: options,
        pool,
    });
    tokio::spawn(async move { axum::serve(listener, app.into_make_service()).await });
    addr
}

/// Sends one HTTP/1.1 request and returns (status, body).
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[sqlx::test]
async fn health_and_readiness_answer(pool: PgPool) {
    let addr = spawn_server(pool.clone()).await;
    assert_eq!(
        request(addr, "GET", "/healthz", "").await,
        (200, "ok".to_string())
    );
    let (status, body) = request(addr, "GET", "/readyz", "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ready"));
    // Without the migrations table the process is alive but not ready.
    sqlx::query("DROP TABLE _sqlx_migrations")
        .execute(&pool)
        .await
        .unwrap();
    let (status, body) = request(addr, "GET", "/readyz", "").await;
    assert_eq!(status, 503);
    assert!(body.contains("migrations pending"));
}

#[sqlx::test]
async fn metrics_are_served_in_the_prometheus_format(pool: PgPool) {
    let addr = spawn_server(pool).await;
    crate::server::metrics::install();
    crate::engine::metrics::run_started(crate::model::OperationKind::DriftGenerate);
    let (status, body) = request(addr, "GET", "/metrics", "").await;
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
    let (status, body) = request(addr, "POST", "/api/runs/get", "id=abc").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a valid id"));
    let (status, _) = request(addr, "POST", "/api/runs/get", "").await;
    assert_eq!(status, 400);
    let (status, _) = request(addr, "POST", "/api/runs/get", "id=987654321").await;
    assert_eq!(status, 404);
    let (status, _) = request(addr, "POST", "/api/tenants/switch", "slug=..%2Fetc").await;
    assert_eq!(status, 400);
    let (status, body) = request(addr, "POST", "/api/runs/list", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\""));
}
