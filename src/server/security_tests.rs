//! The security suite: sign-in bursts, cross-site writes, event streams
//! that follow access, inputs that once answered 500, session fixation,
//! cookie flags, SQL-ish search strings and secrets, each over real HTTP
//! against a real database.

use super::test_client::{read_events, spawn_server, Client};
use crate::db::testing::{database_checksum, member, pending_run, tenant, MEMBER_PASSWORD};
use sqlx::PgPool;
use std::time::Duration;

#[sqlx::test]
async fn a_burst_of_wrong_passwords_for_one_email_gets_five_checks_and_the_rest_429(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "operator").await;
    let addr = spawn_server(pool.clone()).await;
    let attempts = (0..50).map(|i| async move {
        Client::new(addr)
            .try_sign_in("ann@acme.example", &format!("guess {i}"))
            .await
            .status
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert!(
        checked <= crate::server::auth::MAX_FAILURES_PER_EMAIL as usize,
        "{checked} of 50 parallel guesses had their password checked: {statuses:?}"
    );
    assert_eq!(checked + throttled, 50, "{statuses:?}");
    // Locked: even the right password waits.
    let c = Client::new(addr);
    assert_eq!(
        c.try_sign_in("ann@acme.example", MEMBER_PASSWORD)
            .await
            .status,
        429
    );
}

#[sqlx::test]
async fn a_post_that_does_not_say_it_is_same_origin_is_refused_and_changes_nothing(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let ann = member(&pool, acme, "ann@acme.example", "operator").await;
    let run = pending_run(&pool, acme, ann, Some("k")).await.unwrap();
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let before = database_checksum(&pool).await;
    let id = run.to_string();
    let host = addr.to_string();
    for headers in [
        vec![],
        vec![("origin", "null")],
        vec![("origin", "http://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
        vec![("referer", format!("http://{host}/runs").leak() as &str)],
    ] {
        let res = c
            .post_bare("/api/runs/cancel", &[("id", &id)], &headers)
            .await;
        assert_eq!(res.status, 403, "{headers:?}: {}", res.body);
        assert!(
            res.body.contains("own pages") || res.body.contains("cross-site"),
            "a readable reason: {}",
            res.body
        );
    }
    // Sign-in and sign-out are guarded alike (no sign-in forced on a victim).
    let fresh = Client::new(addr);
    let res = fresh
        .post_bare(
            "/api/auth/sign_in",
            &[("email", "ann@acme.example"), ("password", MEMBER_PASSWORD)],
            &[],
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.body);
    assert_eq!(
        c.post_bare("/api/auth/sign_out", &[], &[]).await.status,
        403
    );
    assert_eq!(database_checksum(&pool).await, before);

    // What browsers send on the hub's own requests passes: fetch metadata
    // alone, or a same-origin Origin.
    let res = c
        .post_bare(
            "/api/runs/cancel",
            &[("id", &id)],
            &[("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(c.post("/api/runs/list", &[]).await.status, 200);
}

async fn listening_backends(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn notify_run_event(pool: &PgPool, tenant_id: i64, run_id: i64) {
    let event = serde_json::json!({"tenant_id": tenant_id, "run_id": run_id, "event": "progress"});
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::engine::lifecycle::EVENTS_CHANNEL)
        .bind(event.to_string())
        .execute(pool)
        .await
        .unwrap();
}

#[sqlx::test]
async fn an_event_stream_ends_at_the_next_event_after_sign_out_or_removal(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let ann = member(&pool, acme, "ann@acme.example", "operator").await;
    member(&pool, acme, "bob@acme.example", "operator").await;
    let run = pending_run(&pool, acme, ann, None).await.unwrap();
    let addr = spawn_server(pool.clone()).await;

    // Signed out in the same browser (the session is gone).
    let c = Client::new(addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let mut stream = c.stream("/api/events").await;
    let (seen, _) = read_events(&mut stream, "event: ready", Duration::from_secs(10)).await;
    assert!(seen.contains("event: ready"), "{seen}");
    assert_eq!(c.post("/api/auth/sign_out", &[]).await.status, 200);
    // Past the spacing of checks made for events.
    tokio::time::sleep(super::live::EVENT_RECHECK_SPACING).await;
    notify_run_event(&pool, acme, run).await;
    let (seen, ended) = read_events(&mut stream, "never", Duration::from_secs(5)).await;
    assert!(ended, "the stream outlived the sign-out: {seen}");
    assert!(
        !seen.contains(&format!("\"run_id\":{run}")),
        "an event reached a signed-out stream: {seen}"
    );

    // The membership removed while the stream is open.
    let b = Client::new(addr);
    b.sign_in("bob@acme.example", MEMBER_PASSWORD).await;
    let mut stream = b.stream("/api/events").await;
    let (seen, _) = read_events(&mut stream, "event: ready", Duration::from_secs(10)).await;
    assert!(seen.contains("event: ready"), "{seen}");
    sqlx::query(
        "DELETE FROM tenant_memberships WHERE tenant_id = $1 \
         AND user_id = (SELECT id FROM users WHERE email = 'bob@acme.example')",
    )
    .bind(acme)
    .execute(&pool)
    .await
    .unwrap();
    tokio::time::sleep(super::live::EVENT_RECHECK_SPACING).await;
    notify_run_event(&pool, acme, run).await;
    let (seen, ended) = read_events(&mut stream, "never", Duration::from_secs(5)).await;
    assert!(ended, "the stream outlived the membership: {seen}");
    assert!(!seen.contains(&format!("\"run_id\":{run}")), "{seen}");
}

#[sqlx::test]
async fn a_quiet_event_stream_ends_within_its_recheck_interval_after_sign_out(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "operator").await;
    let (addr, _server) = super::http::spawn_local_with(pool.clone(), |state| {
        state.live.recheck = Duration::from_secs(1);
    })
    .await
    .unwrap();
    let c = Client::new(addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let mut stream = c.stream("/api/events").await;
    let (seen, _) = read_events(&mut stream, "event: ready", Duration::from_secs(10)).await;
    assert!(seen.contains("event: ready"), "{seen}");
    // Still signed in: the stream stays open across several rechecks.
    let (seen, ended) = read_events(&mut stream, "never", Duration::from_secs(3)).await;
    assert!(!ended, "a signed-in stream ended: {seen}");
    sqlx::query("DELETE FROM user_sessions")
        .execute(&pool)
        .await
        .unwrap();
    let (seen, ended) = read_events(&mut stream, "never", Duration::from_secs(4)).await;
    assert!(ended, "the stream outlived its session: {seen}");
    // The default keeps to the promise of 15 seconds.
    assert!(super::live::DEFAULT_STREAM_RECHECK <= Duration::from_secs(15));
}

#[sqlx::test]
async fn a_lost_listen_connection_sends_every_open_stream_a_resync(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let ann = member(&pool, acme, "ann@acme.example", "operator").await;
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let mut stream = c.stream("/api/events").await;
    let (seen, _) = read_events(&mut stream, "event: ready", Duration::from_secs(10)).await;
    assert!(seen.contains("event: ready"), "{seen}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listening_backends(&pool).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "nobody listens");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // As a database restart does to it.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (seen, ended) = read_events(&mut stream, "event: resync", Duration::from_secs(10)).await;
    assert!(
        seen.contains("event: resync"),
        "no resync after the listener was lost (ended: {ended}): {seen}"
    );
    // And events flow again after it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listening_backends(&pool).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nobody listens again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let run = pending_run(&pool, acme, ann, None).await.unwrap();
    notify_run_event(&pool, acme, run).await;
    let want = format!("\"run_id\":{run}");
    let (seen, _) = read_events(&mut stream, &want, Duration::from_secs(10)).await;
    assert!(seen.contains(&want), "{seen}");
}

#[sqlx::test]
async fn a_snapshot_holding_a_nul_character_is_a_bad_request_and_changes_nothing(pool: PgPool) {
    let c = super::test_client::demo_operator(pool.clone()).await;
    let before = database_checksum(&pool).await;
    for snapshot in [
        r#"{"selection": {"name": "nul\u0000"}, "policies": []}"#,
        r#"{"selection": {"name": "x"}, "policies": [{"external_id": "p\u0000", "policy_type": "t", "display_name": "d", "settings": {}}]}"#,
        r#"{"selection": {"name": "x"}, "policies": [{"external_id": "p", "policy_type": "t", "display_name": "d", "settings": {"k\u0000": 1}}]}"#,
    ] {
        let res = c
            .post_file(
                "/api/operations/import",
                "snapshot",
                "snapshot.json",
                snapshot.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(res.status, 400, "{snapshot}: {}", res.body);
        assert!(res.body.contains("NUL"), "a readable reason: {}", res.body);
    }
    assert_eq!(database_checksum(&pool).await, before);
}

#[sqlx::test]
async fn an_upload_named_with_150_accented_letters_is_not_a_server_error(pool: PgPool) {
    let c = super::test_client::demo_operator(pool.clone()).await;
    let snapshot = r#"{"selection": {"name": "accents"}, "policies": []}"#;
    let name = "é".repeat(150);
    let res = c
        .post_file(
            "/api/operations/import",
            "snapshot",
            &name,
            snapshot.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let stored: String = sqlx::query_scalar(
        "SELECT item_ids->>'source' FROM bulk_operation_runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, name, "the name is kept whole");
    // Longer names are cut, never refused: 250 accented letters keep 200.
    let res = c
        .post_file(
            "/api/operations/import",
            "snapshot",
            &"è".repeat(250),
            br#"{"selection": {"name": "longer"}, "policies": []}"#.to_vec(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
}

#[sqlx::test]
async fn a_page_cursor_outside_the_databases_time_range_is_a_bad_request(pool: PgPool) {
    let c = super::test_client::demo_operator(pool.clone()).await;
    for before in [
        "-1000000000000000000_1",
        "9000000000000000000_1",
        "-9223372036854775808_1",
    ] {
        let res = c.post("/api/runs/list", &[("before", before)]).await;
        assert!(
            (400..500).contains(&res.status),
            "{before}: {} {}",
            res.status,
            res.body
        );
        let page = c.get(&format!("/runs?before={before}")).await;
        assert!(page.status < 500, "{before}: {}", page.status);
    }
}

async fn recorded_clients(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT client FROM sign_in_failures ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn the_client_address_comes_from_a_trusted_proxy_only(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "operator").await;
    // No proxy trusted: a forged X-Forwarded-For is ignored.
    let direct = spawn_server(pool.clone()).await;
    let forged = [("x-forwarded-for", "203.0.113.7")];
    let res = Client::new(direct)
        .post_with(
            "/api/auth/sign_in",
            &[("email", "ann@acme.example"), ("password", "wrong")],
            &forged,
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(recorded_clients(&pool).await, ["127.0.0.1"]);

    // Behind a trusted proxy, the client it names is counted.
    let (proxied, _hub) = super::http::spawn_local_with(pool.clone(), |state| {
        state.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()].into();
    })
    .await
    .unwrap();
    let res = Client::new(proxied)
        .post_with(
            "/api/auth/sign_in",
            &[("email", "bob@acme.example"), ("password", "wrong")],
            &[("x-forwarded-for", "198.51.100.1, 203.0.113.7")],
        )
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(recorded_clients(&pool).await, ["127.0.0.1", "203.0.113.7"]);
}
