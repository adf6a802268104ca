//! The list pages' queries on the wire: parsed once from the URL values,
//! bad values refused with a 400 that says why, never a 500.

use crate::server::test_client::demo_operator;
use sqlx::PgPool;

/// A cursor's time must be one a row can have: a time Postgres cannot
/// store reached the database and failed there.
#[sqlx::test]
async fn a_page_cursor_outside_the_times_postgres_stores_is_a_bad_request(pool: PgPool) {
    let c = demo_operator(pool).await;
    for (path, field, cursor) in [
        ("/api/runs/list", "before", "-1000000000000000000_1"),
        (
            "/api/notifications/list",
            "older",
            "-1000000000000000000_67e55044-10b1-426f-9247-bb680e5fe0c8",
        ),
    ] {
        let res = c.post(path, &[(field, cursor)]).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        assert!(res.body.contains("page cursor"), "{path}: {}", res.body);
    }
    for page in [
        "/runs?before=-1000000000000000000_1",
        "/notifications?older=-1000000000000000000_67e55044-10b1-426f-9247-bb680e5fe0c8",
    ] {
        let res = c.get(page).await;
        assert_eq!(res.status, 400, "{page}");
        assert!(res.body.contains("page cursor"), "{page}");
    }
}

#[sqlx::test]
async fn list_queries_travel_as_url_values_and_bad_ones_say_why(pool: PgPool) {
    let c = demo_operator(pool).await;
    let first = c.post("/api/runs/list", &[("status", "failed")]).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let page: crate::model::run_query::RunPage = serde_json::from_str(&first.body).unwrap();
    assert!(!page.runs.is_empty());
    let older = page
        .runs
        .last()
        .map(|r| crate::model::cursor::Cursor::new(r.created_at, r.id).encode());
    let next = c
        .post(
            "/api/runs/list",
            &[("status", "failed"), ("before", older.as_deref().unwrap())],
        )
        .await;
    assert_eq!(next.status, 200, "{}", next.body);
    // Empty values are absent, as a GET form sends them.
    let empty = c
        .post(
            "/api/runs/list",
            &[("status", ""), ("op", ""), ("before", "")],
        )
        .await;
    assert_eq!(empty.status, 200, "{}", empty.body);

    for (path, form, reason) in [
        (
            "/api/runs/list",
            [("status", "done")],
            "unknown status filter",
        ),
        ("/api/runs/facets", [("op", "rm.rf")], "unknown operation"),
        ("/api/runs/page", [("range", "forever")], "time range"),
        ("/api/findings/list", [("baseline", "x")], "baseline"),
        ("/api/notifications/list", [("older", "x_y")], "page cursor"),
    ] {
        let res = c.post(path, &form).await;
        assert_eq!(res.status, 400, "{path}: {}", res.body);
        assert!(res.body.contains(reason), "{path}: {}", res.body);
    }
    let page = c.get("/runs?status=done").await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("unknown status filter"));
}
