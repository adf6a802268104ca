//! Signing in and out over real HTTP: redirects, 401s, cookie flags, session
//! rotation, throttling, the session-held tenant, and the security headers.

use super::test_client::{spawn_server, Client};
use crate::db::testing::{member, pending_run, rows_in, tenant, MEMBER_PASSWORD};
use sqlx::PgPool;

#[sqlx::test]
async fn signed_out_pages_redirect_to_sign_in_and_apis_answer_401(pool: PgPool) {
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    for path in ["/", "/runs"] {
        let res = c.get(path).await;
        assert_eq!(res.status, 303, "{path}");
        assert_eq!(res.header("location"), Some("/signin"));
    }
    let res = c.get("/runs/12?tab=audit").await;
    assert_eq!(res.status, 303);
    assert_eq!(
        res.header("location"),
        Some("/signin?next=/runs/12%3Ftab%3Daudit")
    );
    let res = c.post("/api/runs/list", &[]).await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("Unauthorized"), "{}", res.body);
    // The sign-in page itself, assets and probes stay reachable.
    assert_eq!(c.get("/signin").await.status, 200);
    assert_eq!(c.get("/healthz").await.status, 200);
    assert_eq!(
        rows_in(&pool, "user_sessions").await,
        0,
        "no session for anonymous visits"
    );
}

#[sqlx::test]
async fn sign_in_sets_a_safe_cookie_rotates_the_session_and_sign_out_ends_it(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "operator").await;
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);

    let res = c.try_sign_in("Ann@Acme.example", MEMBER_PASSWORD).await;
    assert_eq!(res.status, 200, "{}", res.body);
    let cookie = res.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with("opshub_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        res.header("serverfnredirect").is_some(),
        "the app is sent on"
    );
    let first_id = cookie.split(';').next().unwrap().to_string();

    let me = c.post("/api/session/current", &[]).await;
    assert_eq!(me.status, 200);
    assert!(me.body.contains("ann@acme.example"), "{}", me.body);

    // Signing in again starts a new session and retires the old id.
    let res = c.try_sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let second_id = res
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(first_id, second_id);
    assert_eq!(rows_in(&pool, "user_sessions").await, 1);
    let stale = reqwest::Client::new()
        .post(format!("http://{addr}/api/session/current"))
        .header("cookie", &first_id)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status().as_u16(), 401, "an old session id is dead");

    let res = c.post("/api/auth/sign_out", &[]).await;
    assert_eq!(res.status, 200);
    assert_eq!(rows_in(&pool, "user_sessions").await, 0);
    let replayed = reqwest::Client::new()
        .post(format!("http://{addr}/api/session/current"))
        .header("cookie", &second_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        replayed.status().as_u16(),
        401,
        "a signed-out session is dead"
    );
    assert_eq!(c.post("/api/session/current", &[]).await.status, 401);
}

#[sqlx::test]
async fn wrong_credentials_are_refused_alike_and_repeated_failures_are_locked_out(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "operator").await;
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);

    let wrong_password = c.try_sign_in("ann@acme.example", "not the password").await;
    let unknown_user = c
        .try_sign_in("nobody@acme.example", "not the password")
        .await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown_user.status, 401);
    assert_eq!(
        wrong_password.body, unknown_user.body,
        "an unknown email is indistinguishable from a wrong password"
    );
    assert_eq!(c.try_sign_in("not an email", "x").await.status, 400);
    assert_eq!(
        c.try_sign_in("ann@acme.example", &"x".repeat(5000))
            .await
            .status,
        400
    );

    for _ in 1..super::auth::MAX_FAILURES_PER_EMAIL {
        assert_eq!(c.try_sign_in("ann@acme.example", "guess").await.status, 401);
    }
    // Locked now: even the right password waits.
    let locked = c.try_sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.body);
    assert!(locked.body.contains("try again in"), "{}", locked.body);
    assert_eq!(rows_in(&pool, "user_sessions").await, 0);
    // The window passing unlocks it.
    sqlx::query("UPDATE sign_in_failures SET failed_at = failed_at - interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sign_in_failures WHERE email = 'ann@acme.example'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "a successful sign-in clears the failures");
}

#[sqlx::test]
async fn the_tenant_comes_from_the_session_and_only_a_members_tenants(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;
    let initech = tenant(&pool, "initech").await;
    let ann = member(&pool, acme, "ann@example.com", "operator").await;
    member(&pool, globex, "ann@example.com", "viewer").await;
    let other = member(&pool, initech, "ivan@initech.example", "operator").await;
    let acme_run = pending_run(&pool, acme, ann, Some("acme-key"))
        .await
        .unwrap();
    let globex_run = pending_run(&pool, globex, ann, Some("globex-key"))
        .await
        .unwrap();
    pending_run(&pool, initech, other, Some("initech-key"))
        .await
        .unwrap();
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    c.sign_in("ann@example.com", MEMBER_PASSWORD).await;

    let me = c.post("/api/session/current", &[]).await.body;
    assert!(me.contains("\"role\":\"Operator\""), "{me}");
    assert!(me.contains("globex") && !me.contains("initech"), "{me}");
    let list = c.post("/api/runs/list", &[]).await.body;
    assert!(
        list.contains("acme-key") && !list.contains("globex-key"),
        "{list}"
    );

    // A tenant id or slug sent along is ignored: the session decides.
    let list = c
        .post(
            "/api/runs/list",
            &[("tenant_id", &globex.to_string()), ("tenant", "globex")],
        )
        .await
        .body;
    assert!(!list.contains("globex-key"), "{list}");

    // Not a member of initech: "not found", like a tenant that does not exist.
    let refused = c
        .post("/api/session/switch_tenant", &[("slug", "initech")])
        .await;
    let missing = c
        .post("/api/session/switch_tenant", &[("slug", "nowhere")])
        .await;
    assert_eq!(refused.status, 404);
    assert_eq!(missing.status, 404);
    assert!(!c
        .post("/api/runs/list", &[])
        .await
        .body
        .contains("initech-key"));

    assert_eq!(
        c.post("/api/session/switch_tenant", &[("slug", "globex")])
            .await
            .status,
        200
    );
    let list = c.post("/api/runs/list", &[]).await.body;
    assert!(
        list.contains("globex-key") && !list.contains("acme-key"),
        "{list}"
    );
    let me = c.post("/api/session/current", &[]).await.body;
    assert!(me.contains("\"role\":\"Viewer\""), "{me}");
    let id = acme_run.to_string();
    assert_eq!(
        c.post("/api/runs/get", &[("id", &id)]).await.status,
        404,
        "acme's run is not visible from globex"
    );
    let id = globex_run.to_string();
    assert_eq!(c.post("/api/runs/get", &[("id", &id)]).await.status, 200);

    // Losing the membership of the current tenant falls back to another one.
    sqlx::query("DELETE FROM tenant_memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(globex)
        .bind(ann)
        .execute(&pool)
        .await
        .unwrap();
    let list = c.post("/api/runs/list", &[]).await.body;
    assert!(
        list.contains("acme-key") && !list.contains("globex-key"),
        "{list}"
    );
    // Losing every membership ends the session.
    sqlx::query("DELETE FROM tenant_memberships WHERE user_id = $1")
        .bind(ann)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(c.post("/api/runs/list", &[]).await.status, 401);
}

#[sqlx::test]
async fn signed_in_visits_to_the_sign_in_page_go_to_next(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "viewer").await;
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let res = c.get("/signin?next=/runs/5").await;
    assert_eq!(res.status, 303);
    assert_eq!(res.header("location"), Some("/runs/5"));
    let res = c.get("/signin?next=https://evil.example/").await;
    assert_eq!(res.header("location"), Some("/runs"));
}

#[sqlx::test]
async fn pages_carry_security_headers_and_a_nonce_csp(pool: PgPool) {
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    let res = c.get("/signin").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert_eq!(res.header("referrer-policy"), Some("same-origin"));
    let csp = res.header("content-security-policy").unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the page's CSP");
    assert!(
        res.body.contains(&format!("nonce=\"{nonce}\"")),
        "inline scripts carry the CSP nonce"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(
        !res.body.contains(" style=\""),
        "no inline styles (blocked by the CSP)"
    );
    let api = c.post("/api/runs/list", &[]).await;
    assert_eq!(api.header("x-content-type-options"), Some("nosniff"));
    assert!(api.header("content-security-policy").is_some());
}

#[sqlx::test]
async fn state_changes_only_by_same_site_post(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let ann = member(&pool, acme, "ann@acme.example", "operator").await;
    let run = pending_run(&pool, acme, ann, Some("k")).await.unwrap();
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let before = crate::db::testing::tenant_snapshot(&pool, acme).await;

    let res = c.get(&format!("/api/runs/cancel?id={run}")).await;
    assert_eq!(res.status, 405, "GET does not reach a mutating function");
    let id = run.to_string();
    let res = c
        .post_with(
            "/api/runs/cancel",
            &[("id", &id)],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(res.status, 403, "cross-site POST is refused");
    assert_eq!(
        crate::db::testing::tenant_snapshot(&pool, acme).await,
        before
    );
    // The same call from the hub itself works.
    assert_eq!(c.post("/api/runs/cancel", &[("id", &id)]).await.status, 200);
    assert_ne!(
        crate::db::testing::tenant_snapshot(&pool, acme).await,
        before
    );
}

#[sqlx::test]
async fn a_failed_plain_form_sign_in_returns_to_the_form_with_the_error(pool: PgPool) {
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    let referer = format!("http://{addr}/signin?next=/runs");
    let res = c
        .post_with(
            "/api/auth/sign_in",
            &[("email", "ann@acme.example"), ("password", "wrong")],
            &[("accept", "text/html"), ("referer", &referer)],
        )
        .await;
    assert_eq!(res.status, 302, "{}", res.body);
    let location = res.header("location").unwrap();
    assert!(location.starts_with(&referer), "{location}");
    assert!(location.contains("__err="), "{location}");
}

#[sqlx::test]
async fn a_session_creation_whose_request_is_dropped_leaves_no_transaction_open(pool: PgPool) {
    use crate::db::testing::{
        drop_while_answered, in_transaction, one_connection_over_a_slow_link,
    };
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::SessionStore;
    let pool = one_connection_over_a_slow_link(&pool).await;
    let store = super::auth::Sessions::new(pool.clone());
    let mut record = Record {
        id: Id::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    // Dropped while the store's statement is answered.
    drop_while_answered(store.create(&mut record)).await;
    assert!(
        !in_transaction(&pool).await,
        "the connection went back to the pool inside a transaction"
    );
    // The store goes on working on the same (only) connection.
    let mut again = Record {
        id: Id::default(),
        ..record.clone()
    };
    store.create(&mut again).await.unwrap();
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM user_sessions WHERE id = $1")
        .bind(again.id.to_string())
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
}

/// The session's user and tenant as its row names them beside the data.
async fn named_in_sessions(pool: &PgPool) -> Vec<(Option<i64>, Option<i64>)> {
    sqlx::query_as("SELECT user_id, tenant_id FROM user_sessions")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_session_names_its_user_and_current_tenant_beside_its_data(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let globex = tenant(&pool, "globex").await;
    let ann = member(&pool, acme, "ann@example.com", "operator").await;
    member(&pool, globex, "ann@example.com", "viewer").await;
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    c.sign_in("ann@example.com", MEMBER_PASSWORD).await;
    assert_eq!(named_in_sessions(&pool).await, [(Some(ann), Some(acme))]);

    let switched = c
        .post("/api/session/switch_tenant", &[("slug", "globex")])
        .await;
    assert_eq!(switched.status, 200, "{}", switched.body);
    assert_eq!(named_in_sessions(&pool).await, [(Some(ann), Some(globex))]);
    let me = c.post("/api/session/current", &[]).await.body;
    assert!(me.contains("\"role\":\"Viewer\""), "{me}");

    // The membership of the remembered tenant ends: the next request falls
    // back to the first tenant and the session remembers that one.
    sqlx::query("DELETE FROM tenant_memberships WHERE tenant_id = $1")
        .bind(globex)
        .execute(&pool)
        .await
        .unwrap();
    let me = c.post("/api/session/current", &[]).await.body;
    assert!(me.contains("\"role\":\"Operator\""), "{me}");
    assert_eq!(named_in_sessions(&pool).await, [(Some(ann), Some(acme))]);
}

#[sqlx::test]
async fn a_session_stored_before_sessions_named_their_user_still_opens_pages(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@example.com", "operator").await;
    let addr = spawn_server(pool.clone()).await;
    let c = Client::new(addr);
    c.sign_in("ann@example.com", MEMBER_PASSWORD).await;
    sqlx::query("UPDATE user_sessions SET user_id = NULL, tenant_id = NULL")
        .execute(&pool)
        .await
        .unwrap();

    let page = c.get("/runs").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-testid=\"user-name\""),
        "{}",
        page.body
    );
    let me = c.post("/api/session/current", &[]).await.body;
    assert!(me.contains("ann@example.com"), "{me}");

    // Ending it still ends it.
    assert_eq!(c.post("/api/auth/sign_out", &[]).await.status, 200);
    assert_eq!(c.post("/api/session/current", &[]).await.status, 401);
    assert_eq!(rows_in(&pool, "user_sessions").await, 0);
}
