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
    let mut stream = c.ready_events().await;
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
    let mut stream = b.ready_events().await;
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
    let (addr, _server) =
        super::Application::spawn_local_with(super::test_client::hub_pool(&pool), |state| {
            state.live.recheck = Duration::from_secs(1);
        })
        .await
        .unwrap();
    let c = Client::new(addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let mut stream = c.ready_events().await;
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
    let mut stream = c.ready_events().await;
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
    let (proxied, _hub) =
        super::Application::spawn_local_with(super::test_client::hub_pool(&pool), |state| {
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

#[sqlx::test]
async fn a_session_id_chosen_before_sign_in_is_never_used_after_it(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "operator").await;
    member(&pool, acme, "mallory@acme.example", "viewer").await;
    let addr = spawn_server(pool.clone()).await;
    // The attacker's own, valid session id, planted in the victim's browser.
    let attacker = Client::new(addr);
    let res = attacker
        .try_sign_in("mallory@acme.example", MEMBER_PASSWORD)
        .await;
    let planted = res
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .post(format!("http://{addr}/api/auth/sign_in"))
        .header("cookie", &planted)
        .header("origin", format!("http://{addr}"))
        .form(&[("email", "ann@acme.example"), ("password", MEMBER_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let issued = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(issued, planted, "the victim got a new session id");
    // The planted id reaches nobody's session, least of all the victim's.
    let with_planted = http
        .post(format!("http://{addr}/api/session/current"))
        .header("cookie", &planted)
        .header("origin", format!("http://{addr}"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_planted.status().as_u16(), 401);
    let with_issued = http
        .post(format!("http://{addr}/api/session/current"))
        .header("cookie", &issued)
        .header("origin", format!("http://{addr}"))
        .send()
        .await
        .unwrap();
    assert!(with_issued
        .text()
        .await
        .unwrap()
        .contains("ann@acme.example"));
}

#[sqlx::test]
async fn the_session_cookie_carries_every_flag(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "operator").await;
    let (addr, _hub) =
        super::Application::spawn_local_with(super::test_client::hub_pool(&pool), |state| {
            state.secure_cookies = true;
        })
        .await
        .unwrap();
    let res = Client::new(addr)
        .try_sign_in("ann@acme.example", MEMBER_PASSWORD)
        .await;
    let cookie = res.header("set-cookie").unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "host-only: {cookie}");
    let value = cookie.split(';').next().unwrap();
    assert!(
        value.len() > "opshub_session=".len() + 20,
        "an unguessable id: {value}"
    );
}

#[sqlx::test]
async fn sql_like_strings_in_searches_and_filters_match_nothing_and_break_nothing(pool: PgPool) {
    let c = super::test_client::demo_operator(pool.clone()).await;
    let before = database_checksum(&pool).await;
    for nasty in [
        "' OR '1'='1",
        "1 OR 1=1",
        "%",
        "_",
        "%%",
        "\\",
        "'; DROP TABLE bulk_operation_runs; --",
        "\") OR true --",
        "1; SELECT pg_sleep(10)",
    ] {
        let res = c.post("/api/runs/list", &[("q", nasty)]).await;
        assert_eq!(res.status, 200, "{nasty}: {}", res.body);
        assert!(
            res.body.contains("\"runs\":[]"),
            "{nasty} matched runs: {}",
            res.body
        );
        let res = c.post("/api/runs/facets", &[("q", nasty)]).await;
        assert_eq!(res.status, 200, "{nasty}: {}", res.body);
        for field in ["status", "op", "by", "range", "before"] {
            let res = c.post("/api/runs/list", &[(field, nasty)]).await;
            assert_eq!(res.status, 400, "{field}={nasty}: {}", res.body);
        }
        for field in ["scope", "baseline", "current", "status", "before"] {
            let res = c.post("/api/findings/list", &[(field, nasty)]).await;
            assert!(res.status < 500, "{field}={nasty}: {}", res.body);
            if res.status == 200 {
                assert!(
                    res.body.contains("[]"),
                    "{field}={nasty} matched: {}",
                    res.body
                );
            }
        }
        let page = c
            .get(&format!(
                "/runs?q={}",
                form_urlencoded::byte_serialize(nasty.as_bytes()).collect::<String>()
            ))
            .await;
        assert_eq!(page.status, 200, "{nasty}");
    }
    assert_eq!(database_checksum(&pool).await, before);
}

/// Everything logged on this thread while the guard lives.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[sqlx::test]
async fn secrets_stay_out_of_failure_reasons_responses_and_logs(pool: PgPool) {
    const SECRET: &str = "hunter2-S3cret";
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let c = super::test_client::demo_operator(pool.clone()).await;
    // A log line first reached by a test on another thread while this
    // subscriber was being set can keep the "nobody listens" it was given
    // then; asked again now, every line this test causes reaches it.
    tracing::callsite::rebuild_interest_cache();
    // A wrong password that is a secret, and a snapshot full of them.
    let res = Client::new(c.addr())
        .try_sign_in("olivia@contoso.example", SECRET)
        .await;
    assert_eq!(res.status, 401);
    let snapshot = serde_json::json!({
        "selection": {"name": "secrets"},
        "policies": [
            {"external_id": "ok", "policy_type": "compliance_policy", "display_name": "Fine",
             "settings": {"password": SECRET}},
            {"external_id": format!("postgres://admin:{SECRET}@db.internal/x"), "display_name": SECRET},
            {"external_id": "bad", "policy_type": 7, "display_name": format!("token={SECRET}"),
             "settings": format!("Bearer {SECRET}")},
        ]
    });
    let res = c
        .post_file(
            "/api/operations/import",
            "snapshot",
            "secrets.json",
            snapshot.to_string().into_bytes(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let run: i64 = res.body.trim().parse().unwrap();
    let workers = crate::engine::WorkerPool::spawn(
        pool.clone(),
        crate::engine::WorkerConfig {
            poll_interval: Duration::from_millis(100),
            ..crate::engine::WorkerConfig::default()
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: String =
            sqlx::query_scalar("SELECT status FROM bulk_operation_runs WHERE id = $1")
                .bind(run)
                .fetch_one(&pool)
                .await
                .unwrap();
        if status != "pending" && status != "running" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run did not end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    workers.shutdown().await;
    let stored: String = sqlx::query_scalar(
        "SELECT coalesce(r.failures::text, '') || \
                coalesce((SELECT string_agg(f.reason || f.reason_code, '|') FROM bulk_operation_run_failures f \
                          WHERE f.tenant_id = r.tenant_id AND f.run_id = r.id), '') || \
                coalesce((SELECT string_agg(n.data::text, '|') FROM notifications n \
                          WHERE n.data->>'run_id' = r.id::text), '') \
         FROM bulk_operation_runs r WHERE r.id = $1",
    )
    .bind(run)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(stored.contains("invalid_policy_entry"), "{stored}");
    assert!(
        !stored.contains(SECRET),
        "a secret in failures or notifications: {stored}"
    );
    let id = run.to_string();
    for (path, body) in [
        (
            "/api/runs/get",
            c.post("/api/runs/get", &[("id", &id)]).await,
        ),
        (
            "/api/notifications/bell",
            c.post("/api/notifications/bell", &[]).await,
        ),
        (
            "failures.json",
            c.get(&format!("/runs/{run}/failures.json")).await,
        ),
        (
            "failures.csv",
            c.get(&format!("/runs/{run}/failures.csv")).await,
        ),
        ("run page", c.get(&format!("/runs/{run}")).await),
    ] {
        assert!(body.status < 400, "{path}: {}", body.status);
        assert!(
            !body.body.contains(SECRET),
            "{path} shows a secret: {}",
            body.body
        );
    }
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        logged.contains("failed sign-in"),
        "the log was captured: {logged}"
    );
    assert!(!logged.contains(SECRET), "a secret in the log: {logged}");
}
