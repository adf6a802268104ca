//! The access matrix: every registered server function, called over HTTP by
//! a signed-out caller, by an operator of another tenant with this tenant's
//! ids, and by a viewer. A server function that is not listed here fails
//! `every_server_function_is_in_the_matrix`, so none can be added unchecked.

use crate::db::testing::{
    failed_backup_run, member, pending_run, tenant, tenant_snapshot, MEMBER_PASSWORD,
};
use crate::server::test_client::{spawn_server, Client};
use sqlx::PgPool;
use std::collections::BTreeSet;

/// Who may call a server function.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Access {
    /// Anyone (signing in).
    Public,
    /// Any member of the current tenant.
    Read,
    /// Operators of the current tenant only.
    Operate,
}

/// The ids of one tenant's rows that server functions take.
pub(super) struct Ids {
    pub(super) slug: String,
    pub(super) pending_run: i64,
    pub(super) failed_run: i64,
    /// A notification of the tenant's operator.
    pub(super) notification: String,
    /// A new drift finding.
    pub(super) finding: i64,
    /// A scope with two completed inventory syncs (baseline, current).
    pub(super) scope_key: String,
    pub(super) syncs: (i64, i64),
    pub(super) backup_set: i64,
}

pub(super) struct Probe {
    pub(super) path: &'static str,
    pub(super) access: Access,
    /// Arguments naming the rows of the tenant in `Ids`.
    pub(super) args: fn(&Ids) -> Vec<(&'static str, String)>,
    /// Sent as a multipart upload (the `snapshot` field as a file).
    pub(super) multipart: bool,
    /// Whether a call with another tenant's `args` must answer "not found"
    /// (false for functions that take no ids: they are checked by what they
    /// return instead).
    pub(super) takes_ids: bool,
}

fn none(_: &Ids) -> Vec<(&'static str, String)> {
    Vec::new()
}

pub(super) const PROBES: &[Probe] = &[
    Probe {
        path: "/api/auth/sign_in",
        access: Access::Public,
        args: |_| {
            vec![
                ("email", "nobody@example.com".into()),
                ("password", "wrong password".into()),
            ]
        },
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/auth/sign_out",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/session/current",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/session/switch_tenant",
        access: Access::Read,
        args: |ids| vec![("slug", ids.slug.clone())],
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/runs/list",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/runs/facets",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/runs/page",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/runs/get",
        access: Access::Read,
        args: |ids| vec![("id", ids.pending_run.to_string())],
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/runs/failures",
        access: Access::Read,
        args: |ids| {
            vec![
                ("id", ids.failed_run.to_string()),
                ("reason_code", "policy_not_found".into()),
            ]
        },
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/backup_sets/get",
        access: Access::Read,
        args: |ids| vec![("id", ids.backup_set.to_string())],
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/overview/get",
        access: Access::Read,
        args: |_| vec![("range", "7d".into())],
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/findings/list",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/findings/get",
        access: Access::Read,
        args: |ids| vec![("id", ids.finding.to_string())],
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/findings/acknowledge",
        access: Access::Operate,
        args: |ids| vec![("id", ids.finding.to_string())],
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/notifications/bell",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/notifications/list",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/notifications/mark_read",
        access: Access::Read,
        args: |ids| vec![("id", ids.notification.clone())],
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/notifications/mark_all_read",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/operations/options",
        access: Access::Read,
        args: none,
        takes_ids: false,
        multipart: false,
    },
    Probe {
        path: "/api/operations/drift",
        access: Access::Operate,
        args: |ids| {
            vec![
                ("scope_key", ids.scope_key.clone()),
                ("baseline", ids.syncs.0.to_string()),
                ("current", ids.syncs.1.to_string()),
            ]
        },
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/operations/backup",
        access: Access::Operate,
        args: |ids| {
            vec![
                ("backup_set", ids.backup_set.to_string()),
                ("policies[]", "1".into()),
            ]
        },
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/operations/import",
        access: Access::Operate,
        args: |_| {
            vec![(
                "snapshot",
                r#"{"selection": {"name": "probe"}, "policies": [{"external_id": "p1", "policy_type": "compliance_policy", "display_name": "P1", "settings": {}}]}"#.into(),
            )]
        },
        takes_ids: false,
        multipart: true,
    },
    Probe {
        path: "/api/runs/cancel",
        access: Access::Operate,
        args: |ids| vec![("id", ids.pending_run.to_string())],
        takes_ids: true,
        multipart: false,
    },
    Probe {
        path: "/api/runs/retry",
        access: Access::Operate,
        args: |ids| vec![("id", ids.failed_run.to_string())],
        takes_ids: true,
        multipart: false,
    },
];

pub(super) struct World {
    pub(super) a: i64,
    pub(super) b: i64,
    pub(super) a_ids: Ids,
    pub(super) b_ids: Ids,
}

/// Tenants A and B, each with an operator, a viewer, a queued run and a
/// finished run with a failed item.
pub(super) async fn world(pool: &PgPool) -> World {
    let mut made = Vec::new();
    for slug in ["tenant-a", "tenant-b"] {
        let t = tenant(pool, slug).await;
        let op = member(pool, t, &format!("op@{slug}.example"), "operator").await;
        member(pool, t, &format!("viewer@{slug}.example"), "viewer").await;
        let pending = pending_run(pool, t, op, Some(&format!("{slug}-queued")))
            .await
            .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        crate::engine::lifecycle::notify_run(&mut conn, t, pending)
            .await
            .unwrap();
        let notification: uuid::Uuid =
            sqlx::query_scalar("SELECT id FROM notifications WHERE tenant_id = $1")
                .bind(t)
                .fetch_one(pool)
                .await
                .unwrap();
        let ids = Ids {
            slug: slug.to_string(),
            pending_run: pending,
            failed_run: failed_backup_run(pool, t, op).await,
            notification: notification.to_string(),
            finding: crate::db::testing::finding(pool, t, &format!("{slug}-subject")).await,
            scope_key: format!("{slug}-scope"),
            syncs: crate::db::testing::two_syncs(pool, t, &format!("{slug}-scope")).await,
            backup_set: sqlx::query_scalar("SELECT id FROM backup_sets WHERE tenant_id = $1")
                .bind(t)
                .fetch_one(pool)
                .await
                .unwrap(),
        };
        made.push((t, ids));
    }
    let (b, b_ids) = made.pop().unwrap();
    let (a, a_ids) = made.pop().unwrap();
    World { a, b, a_ids, b_ids }
}

async fn call(client: &Client, probe: &Probe, ids: &Ids) -> crate::server::test_client::Response {
    let args = (probe.args)(ids);
    let form: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if probe.multipart {
        client.post_multipart(probe.path, &form, "snapshot").await
    } else {
        client.post(probe.path, &form).await
    }
}

#[test]
fn every_server_function_is_in_the_matrix_and_takes_post_only() {
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| {
            assert_eq!(
                method,
                axum::http::Method::POST,
                "{path} must accept POST only"
            );
            path.to_string()
        })
        .collect();
    let listed: BTreeSet<String> = PROBES.iter().map(|p| p.path.to_string()).collect();
    assert_eq!(
        registered, listed,
        "every server function must join the access matrix in api/access_tests.rs"
    );
}

#[sqlx::test]
async fn signed_out_callers_get_401_from_every_server_function(pool: PgPool) {
    let w = world(&pool).await;
    let before = tenant_snapshot(&pool, w.a).await;
    let addr = spawn_server(pool.clone()).await;
    let anonymous = Client::new(addr);
    for probe in PROBES.iter().filter(|p| p.access != Access::Public) {
        let res = call(&anonymous, probe, &w.a_ids).await;
        assert_eq!(res.status, 401, "{}: {}", probe.path, res.body);
    }
    assert_eq!(tenant_snapshot(&pool, w.a).await, before);
}

#[sqlx::test]
async fn another_tenants_ids_are_not_found_and_change_nothing(pool: PgPool) {
    let w = world(&pool).await;
    let addr = spawn_server(pool.clone()).await;
    let b_before = tenant_snapshot(&pool, w.b).await;
    let foreign_keys = [
        "tenant-b-queued".to_string(),
        "tenant-b.example".to_string(),
        "tenant-b-subject".to_string(),
        w.b_ids.notification.clone(),
    ];
    for probe in PROBES.iter().filter(|p| p.access != Access::Public) {
        // A fresh operator session of tenant A for every probe (sign-out
        // and switching tenant change the session).
        let a_operator = Client::new(addr);
        a_operator
            .sign_in("op@tenant-a.example", MEMBER_PASSWORD)
            .await;
        let res = call(&a_operator, probe, &w.b_ids).await;
        if probe.takes_ids {
            assert_eq!(res.status, 404, "{} with B's ids: {}", probe.path, res.body);
            // Indistinguishable from an id that exists nowhere.
            let missing = Ids {
                slug: "no-such-tenant".into(),
                pending_run: 999_999_999,
                failed_run: 999_999_998,
                notification: uuid::Uuid::new_v4().to_string(),
                finding: 999_999_997,
                scope_key: "no-such-scope".into(),
                syncs: (999_999_996, 999_999_995),
                backup_set: 999_999_994,
            };
            let unknown = call(&a_operator, probe, &missing).await;
            assert_eq!(unknown.status, 404, "{}", probe.path);
        } else {
            for key in &foreign_keys {
                assert!(
                    !res.body.contains(key.as_str()),
                    "{} leaked tenant B's {key}: {}",
                    probe.path,
                    res.body
                );
            }
        }
        assert_eq!(
            tenant_snapshot(&pool, w.b).await,
            b_before,
            "{} changed tenant B",
            probe.path
        );
    }
}

#[sqlx::test]
async fn viewers_are_refused_every_mutating_function_and_operators_are_not(pool: PgPool) {
    let w = world(&pool).await;
    let addr = spawn_server(pool.clone()).await;
    let viewer = Client::new(addr);
    viewer
        .sign_in("viewer@tenant-a.example", MEMBER_PASSWORD)
        .await;
    let before = tenant_snapshot(&pool, w.a).await;
    let mutating: Vec<&Probe> = PROBES
        .iter()
        .filter(|p| p.access == Access::Operate)
        .collect();
    assert!(!mutating.is_empty());
    for probe in &mutating {
        let res = call(&viewer, probe, &w.a_ids).await;
        assert_eq!(res.status, 403, "{}: {}", probe.path, res.body);
        assert!(res.body.contains("viewers"), "{}", res.body);
    }
    assert_eq!(tenant_snapshot(&pool, w.a).await, before);

    // The same calls by an operator of the tenant go through: the refusals
    // above are about the role, not broken arguments.
    let operator = Client::new(addr);
    operator
        .sign_in("op@tenant-a.example", MEMBER_PASSWORD)
        .await;
    for probe in &mutating {
        let res = call(&operator, probe, &w.a_ids).await;
        assert_eq!(res.status, 200, "{}: {}", probe.path, res.body);
    }
    assert_ne!(tenant_snapshot(&pool, w.a).await, before);
}
