//! The server's HTTP surface over a real socket: health, readiness, metrics,
//! and clear 4xx answers to bad input.

use super::test_client::{demo_operator, spawn_server, Client};
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
async fn readiness_goes_red_within_a_second_when_the_database_does_not_answer(pool: PgPool) {
    // A pool whose database refuses connections: the port of a listener
    // that is closed again. The pool itself would keep retrying for ten
    // seconds; readiness must not wait for it.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_lazy_with(
            pool.connect_options()
                .as_ref()
                .clone()
                .host("127.0.0.1")
                .port(closed_port),
        );
    let (addr, _hub) = super::Application::spawn_local(unreachable).await.unwrap();
    let asked = std::time::Instant::now();
    let (status, body) = get(addr, "/readyz").await;
    let took = asked.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("database unreachable"), "{body}");
    assert!(
        took < std::time::Duration::from_secs(3),
        "readiness took {took:?} to answer"
    );
}

#[sqlx::test]
async fn metrics_are_served_in_the_prometheus_format(pool: PgPool) {
    // Without a token the hub has no metrics page at all.
    let plain = spawn_server(pool.clone()).await;
    assert_eq!(get(plain, "/metrics").await.0, 404);

    let (addr, _hub) =
        super::Application::spawn_local_with(super::test_client::hub_pool(&pool), |state| {
            state.metrics_token = Some("scrape-secret".into());
        })
        .await
        .unwrap();
    crate::server::metrics::install();
    crate::engine::metrics::run_started(crate::model::OperationKind::DriftGenerate);
    let c = Client::new(addr);
    for refused in [
        vec![],
        vec![("authorization", "Bearer wrong")],
        vec![("authorization", "scrape-secret")],
        vec![("authorization", "Basic c2NyYXBlLXNlY3JldA==")],
    ] {
        let res = c.get_raw("/metrics", &refused).await;
        assert_eq!(res.status, 401, "{refused:?}");
        assert!(!res.body.contains("opshub_"), "{}", res.body);
    }
    let res = c
        .get_raw("/metrics", &[("authorization", "Bearer scrape-secret")])
        .await;
    assert_eq!(res.status, 200);
    let body = res.body;
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
async fn scrapes_do_not_query_the_database(pool: PgPool) {
    let (addr, _hub) =
        super::Application::spawn_local_with(super::test_client::hub_pool(&pool), |state| {
            state.metrics_token = Some("scrape-secret".into());
        })
        .await
        .unwrap();
    let c = Client::new(addr);
    let auth = [("authorization", "Bearer scrape-secret")];
    assert_eq!(c.get_raw("/metrics", &auth).await.status, 200);
    let calls = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_user_tables t \
             CROSS JOIN LATERAL (SELECT t.seq_scan + coalesce(t.idx_scan, 0) AS calls) c \
             WHERE t.relname = 'bulk_operation_runs'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    // Statistics reach the view with a delay: compare scans of the runs
    // table across many scrapes with the same across none.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let before = calls().await;
    for _ in 0..20 {
        assert_eq!(c.get_raw("/metrics", &auth).await.status, 200);
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let after = calls().await;
    assert!(
        after - before < 5,
        "20 scrapes scanned the runs table {} times",
        after - before
    );
}

#[sqlx::test]
async fn server_functions_answer_bad_input_with_4xx(pool: PgPool) {
    let c = demo_operator(pool).await;
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

/// Reads the event stream until `want` shows up (or 10 s pass); returns
/// everything read.
async fn read_events_until(res: &mut reqwest::Response, want: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains(want) {
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            _ => break,
        }
    }
    seen
}

#[sqlx::test]
async fn the_event_stream_carries_only_the_own_tenants_and_users_events(pool: PgPool) {
    use crate::db::testing::{member, pending_run, tenant, MEMBER_PASSWORD};
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;
    let ann = member(&pool, acme, "ann@acme.example", "operator").await;
    let bob = member(&pool, acme, "bob@acme.example", "operator").await;
    let gus = member(&pool, globex, "gus@globex.example", "operator").await;
    let addr = spawn_server(pool.clone()).await;

    assert_eq!(
        Client::new(addr).get("/api/events").await.status,
        401,
        "signed out, the stream is refused"
    );

    let c = Client::new(addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let mut stream = c.stream("/api/events").await;
    assert_eq!(stream.status().as_u16(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert!(read_events_until(&mut stream, "event: ready")
        .await
        .contains("event: ready"));

    // Another tenant's run and another user's notification stay away;
    // the own tenant's run event arrives.
    let globex_run = pending_run(&pool, globex, gus, None).await.unwrap();
    let bobs_run = pending_run(&pool, acme, bob, None).await.unwrap();
    for (tenant_id, user_id, run_id) in [(globex, gus, globex_run), (acme, bob, bobs_run)] {
        crate::engine::cancel(&pool, tenant_id, user_id, run_id)
            .await
            .unwrap();
    }
    let anns_run = pending_run(&pool, acme, ann, None).await.unwrap();
    crate::engine::cancel(&pool, acme, ann, anns_run)
        .await
        .unwrap();
    let seen = read_events_until(
        &mut stream,
        &format!("\"run_id\":{anns_run},\"event\":\"notification\""),
    )
    .await;
    assert!(
        seen.contains(&format!("\"run_id\":{anns_run},\"event\":\"notification\"")),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("\"run_id\":{bobs_run},\"event\":\"finished\"")),
        "a run event of the own tenant arrives, whoever started the run: {seen}"
    );
    assert!(
        !seen.contains(&format!("\"run_id\":{bobs_run},\"event\":\"notification\"")),
        "another user's notification leaked: {seen}"
    );
    assert!(
        !seen.contains(&format!("\"run_id\":{globex_run}")),
        "another tenant's event leaked: {seen}"
    );
}

/// Listing the app's routes switches resource loading off for the whole
/// process while it runs. Pages served while another hub of the process is
/// built (tests build many at once) must still load their data, not wait
/// for it forever.
#[sqlx::test]
async fn pages_load_their_data_while_another_hub_is_built(pool: PgPool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let c = demo_operator(pool.clone()).await;
    let app = super::Application::build(
        super::test_client::hub_pool(&pool),
        super::application::HubConfig::local(),
    )
    .await
    .unwrap();
    let state = app.state();
    let (_addr, _hub) = app.spawn();
    let stop = Arc::new(AtomicBool::new(false));
    // Built on a thread and a runtime of its own, as another test's hub is.
    let building = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let _inside = runtime.enter();
            let mut built = 0u32;
            while !stop.load(Ordering::Relaxed) {
                drop(super::http::router(state.clone()));
                built += 1;
            }
            built
        }
    });
    for _ in 0..30 {
        let page = tokio::time::timeout(Duration::from_secs(10), c.get("/runs"))
            .await
            .expect("the runs page answers while another hub is built");
        assert_eq!(page.status, 200);
        assert!(page.body.contains("data-run-id"), "the page lists runs");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(building.join().unwrap() > 0, "hubs were built meanwhile");
}
