//! The fuzz suite: property-based inputs (proptest) thrown at every server
//! function, the upload, the event stream and the pages' URL filters by a
//! signed-in operator of one tenant, with another tenant's ids among them.
//! Whatever arrives: never a 5xx, never a dropped connection (a panic), and
//! the database unchanged (a checksum of every table before and after).
//!
//! `OPSHUB_FUZZ_CASES` sets the cases per target (16 by default, the size
//! `scripts/test` runs; `scripts/suite fuzz` runs 256). Each test ends by
//! printing what was tried and what held.

use super::access_tests::{world, Ids, PROBES};
use crate::db::testing::{database_checksum, MEMBER_PASSWORD};
use crate::server::test_client::{spawn_server, Client};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sqlx::PgPool;
use std::collections::BTreeMap;

fn cases() -> u32 {
    std::env::var("OPSHUB_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

/// Whether `value` names one of tenant A's own rows: a call with it may
/// rightly change data, so it is left out (another tenant's ids stay in).
fn names_own_row(value: &str, own: &Ids) -> bool {
    let v = value.trim();
    let ids = [
        own.pending_run,
        own.failed_run,
        own.finding,
        own.syncs.0,
        own.syncs.1,
        own.backup_set,
    ];
    v.parse::<i64>().is_ok_and(|n| ids.contains(&n))
        || [
            own.slug.as_str(),
            own.notification.as_str(),
            own.scope_key.as_str(),
        ]
        .contains(&v)
}

/// Values no server function should be troubled by.
fn nasty(foreign: Vec<String>, own: &Ids) -> BoxedStrategy<String> {
    let own = Ids {
        slug: own.slug.clone(),
        pending_run: own.pending_run,
        failed_run: own.failed_run,
        notification: own.notification.clone(),
        finding: own.finding,
        scope_key: own.scope_key.clone(),
        syncs: own.syncs,
        backup_set: own.backup_set,
    };
    let fixed: Vec<String> = [
        "",
        " ",
        "0",
        "-1",
        "00000000001",
        "1.5",
        "1e999",
        "NaN",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "99999999999999999999999999",
        "\u{0}",
        "a\u{0}b",
        "\u{202e}gnp.exe",
        "e\u{301}\u{301}\u{301}",
        "𝕏𝕐ℤ",
        "' OR '1'='1",
        "'; DROP TABLE bulk_operation_runs; --",
        "%",
        "_",
        "\\",
        "%00",
        "../../etc/passwd",
        "<script>alert(1)</script>",
        "{\"a\":",
        "[]",
        "null",
        "true",
        "-1000000000000000000_1",
        "9000000000000000000_1",
        "1_-1",
        "_",
        "00000000-0000-0000-0000-000000000000",
        "24h",
        "7d",
        "failed",
        "drift.generate",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    prop_oneof![
        3 => proptest::sample::select(fixed),
        2 => proptest::sample::select(foreign),
        2 => any::<String>(),
        1 => "[\\PC]{0,40}",
        1 => (1usize..=4).prop_map(|k| "é".repeat(k * 100)),
        1 => (10_000usize..70_000).prop_map(|n| "x".repeat(n)),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ]
    .prop_filter("names one of the own tenant's rows", move |v| {
        !names_own_row(v, &own)
    })
    .boxed()
}

fn foreign_values(b: &Ids) -> Vec<String> {
    vec![
        b.slug.clone(),
        b.pending_run.to_string(),
        b.failed_run.to_string(),
        b.notification.clone(),
        b.finding.to_string(),
        b.scope_key.clone(),
        b.syncs.0.to_string(),
        b.syncs.1.to_string(),
        b.backup_set.to_string(),
    ]
}

/// Arguments for one call: the function's own names (each maybe missing,
/// maybe repeated) and a stray one, with nasty values.
fn args_for(
    names: Vec<&'static str>,
    values: BoxedStrategy<String>,
) -> BoxedStrategy<Vec<(String, String)>> {
    let per_name = names
        .into_iter()
        .map(|name| {
            proptest::collection::vec(values.clone(), 0..=2).prop_map(move |vs| {
                vs.into_iter()
                    .map(|v| (name.to_string(), v))
                    .collect::<Vec<_>>()
            })
        })
        .collect::<Vec<_>>();
    let stray = proptest::option::of(("[a-z_\\[\\]]{1,12}", values.clone()));
    (per_name, stray)
        .prop_map(|(named, stray)| {
            let mut all: Vec<(String, String)> = named.into_iter().flatten().collect();
            all.extend(stray);
            all
        })
        .boxed()
}

/// What the fuzz run saw: statuses per target.
#[derive(Default)]
struct Tally {
    calls: usize,
    statuses: BTreeMap<u16, usize>,
    targets: BTreeMap<String, usize>,
}

impl Tally {
    fn record(&mut self, target: &str, status: u16, input: &dyn std::fmt::Debug, body: &str) {
        assert!(
            status < 500,
            "{target} answered {status} to {}: {}",
            format!("{input:?}").chars().take(600).collect::<String>(),
            body.chars().take(300).collect::<String>()
        );
        self.calls += 1;
        *self.statuses.entry(status).or_default() += 1;
        *self.targets.entry(target.to_string()).or_default() += 1;
    }

    fn summary(&self, what: &str) -> String {
        format!(
            "fuzz {what}: {} calls to {} targets; statuses {:?}; no 5xx, no dropped connection, database unchanged",
            self.calls,
            self.targets.len(),
            self.statuses
        )
    }
}

/// A signed-in operator of tenant A, signed in again whenever a call ended
/// the session (signing out, switching to a tenant that was removed).
async fn operator(addr: std::net::SocketAddr) -> Client {
    let c = Client::new(addr);
    c.sign_in("op@tenant-a.example", MEMBER_PASSWORD).await;
    c
}

#[sqlx::test]
async fn fuzzed_server_function_arguments_never_fail_the_server_or_change_data(pool: PgPool) {
    let w = world(&pool).await;
    let addr = spawn_server(pool.clone()).await;
    let mut c = operator(addr).await;
    // The one call that changes data without naming anything: done once
    // first, so that repeating it changes nothing.
    assert_eq!(
        c.post("/api/notifications/mark_all_read", &[]).await.status,
        200
    );
    let before = database_checksum(&pool).await;
    let values = nasty(foreign_values(&w.b_ids), &w.a_ids);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        ..Config::default()
    });
    let mut tally = Tally::default();
    for probe in PROBES.iter().filter(|p| !p.multipart) {
        let names: Vec<&'static str> = (probe.args)(&w.a_ids).into_iter().map(|(k, _)| k).collect();
        let strategy = args_for(names, values.clone());
        for _ in 0..cases() {
            let args = strategy.new_tree(&mut runner).unwrap().current();
            let form: Vec<(&str, &str)> =
                args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let res = c.post(probe.path, &form).await;
            tally.record(probe.path, res.status, &args, &res.body);
            if res.status == 401 && probe.path != "/api/auth/sign_in" {
                c = operator(addr).await;
            }
            if probe.path == "/api/auth/sign_out" || probe.path == "/api/session/switch_tenant" {
                c = operator(addr).await;
            }
        }
    }
    assert_eq!(
        database_checksum(&pool).await,
        before,
        "fuzzed calls changed stored data"
    );
    eprintln!("{}", tally.summary("server functions"));
}

/// Snapshot uploads that must all be refused: malformed JSON, wrong shapes,
/// NUL characters, oversized or odd file names.
fn bad_snapshot() -> BoxedStrategy<Vec<u8>> {
    let shapes = proptest::sample::select(vec![
        "",
        "{",
        "[]",
        "null",
        "\"snapshot\"",
        "{\"selection\": {}}",
        "{\"policies\": []}",
        "{\"selection\": [], \"policies\": []}",
        "{\"selection\": {}, \"policies\": {}}",
        "{\"selection\": {\"name\": \"\\u0000\"}, \"policies\": []}",
        "{\"selection\": {}, \"policies\": [], \"extra\": 1}",
        "{\"selection\": {\"a\": 1e999}, \"policies\": []}",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    prop_oneof![
        3 => shapes,
        2 => proptest::collection::vec(any::<u8>(), 0..512),
        1 => any::<String>().prop_map(|s| format!("{{\"selection\": {{\"k\": {s:?}}}, \"policies\": [").into_bytes()),
    ]
    .boxed()
}

#[sqlx::test]
async fn fuzzed_uploads_are_refused_with_4xx_and_change_nothing(pool: PgPool) {
    let w = world(&pool).await;
    let addr = spawn_server(pool.clone()).await;
    let c = operator(addr).await;
    let before = database_checksum(&pool).await;
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        ..Config::default()
    });
    let names = nasty(foreign_values(&w.b_ids), &w.a_ids);
    let mut tally = Tally::default();
    for _ in 0..cases() * 2 {
        let bytes = bad_snapshot().new_tree(&mut runner).unwrap().current();
        let name = names.new_tree(&mut runner).unwrap().current();
        let field = if name.len().is_multiple_of(7) {
            "other"
        } else {
            "snapshot"
        };
        let res = c
            .post_file("/api/operations/import", field, &name, bytes.clone())
            .await;
        tally.record(
            "/api/operations/import",
            res.status,
            &(field, &name, String::from_utf8_lossy(&bytes)),
            &res.body,
        );
        assert!(
            (400..500).contains(&res.status),
            "a bad snapshot was accepted: {}",
            res.body
        );
    }
    assert_eq!(database_checksum(&pool).await, before);
    eprintln!("{}", tally.summary("uploads"));
}

#[sqlx::test]
async fn fuzzed_url_filters_pages_and_streams_never_fail_the_server(pool: PgPool) {
    let w = world(&pool).await;
    let addr = spawn_server(pool.clone()).await;
    let c = operator(addr).await;
    let before = database_checksum(&pool).await;
    let values = nasty(foreign_values(&w.b_ids), &w.a_ids);
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        ..Config::default()
    });
    let pages: &[(&str, &[&str])] = &[
        ("/runs", &["status", "op", "by", "range", "q", "before"]),
        ("/", &["status", "q"]),
        ("/overview", &["range"]),
        (
            "/findings",
            &["scope", "baseline", "current", "status", "after"],
        ),
        ("/notifications", &["after", "before"]),
        ("/start", &["scope_key", "backup_set"]),
        ("/signin", &["next", "__err"]),
        ("/api/events", &["tenant", "since"]),
    ];
    let paths = ["/runs/", "/findings/", "/backup-sets/", "/runs/"];
    let mut tally = Tally::default();
    for (page, names) in pages {
        let strategy = args_for(names.to_vec(), values.clone());
        for _ in 0..cases() {
            // URLs longer than a few kilobytes are refused by proxies (and
            // by the HTTP layer) before any handler sees them.
            let args: Vec<(String, String)> = strategy
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .into_iter()
                .map(|(k, v)| (k, v.chars().take(1000).collect()))
                .collect();
            let query: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(args.iter())
                .finish();
            let url = format!("{page}?{query}");
            if *page == "/api/events" {
                let res = c
                    .stream_with(
                        &url,
                        &[(
                            "last-event-id",
                            &query.chars().take(200).collect::<String>(),
                        )],
                    )
                    .await;
                let status = res.status().as_u16();
                drop(res);
                tally.record(page, status, &url, "");
            } else {
                let res = c.get(&url).await;
                tally.record(page, res.status, &url, &res.body);
            }
        }
    }
    for (i, prefix) in paths.iter().enumerate() {
        for _ in 0..cases() {
            let id: String = values
                .new_tree(&mut runner)
                .unwrap()
                .current()
                .chars()
                .take(1000)
                .collect();
            let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
            let url = match i {
                3 => format!("{prefix}{id}/failures.csv"),
                _ => format!("{prefix}{id}"),
            };
            let res = c.get(&url).await;
            tally.record(prefix, res.status, &url, &res.body);
        }
    }
    assert_eq!(database_checksum(&pool).await, before);
    eprintln!(
        "{}",
        tally.summary("URL filters, pages and the event stream")
    );
}
