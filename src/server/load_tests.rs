//! The load suite (`scripts/suite load`): many signed-in browsers at once,
//! each with its event stream open, browsing the runs list, a run's detail,
//! the bell and the runs page while runs execute. Every answer must be a
//! success; it prints p50/p99 per request kind and the process's memory
//! before the load, after a warm-up (a third of the run) and at the end,
//! and holds the growth from the warm-up to the end to 20 % (the hub and its clients share the
//! process, so the figure bounds the hub's).
//!
//! `OPSHUB_LOAD_CLIENTS` and `OPSHUB_LOAD_SECS` set its size: 20 clients
//! for 5 s by default (the size `scripts/test` runs), 200 for 60 s in
//! `scripts/suite load`.

use crate::engine::{StartRequest, WorkerConfig, WorkerPool};
use crate::model::OperationKind;
use crate::server::test_client::{read_events, Client};
use serde_json::json;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn size(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn nearest_rank(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[derive(Default)]
struct Samples {
    by_kind: BTreeMap<&'static str, Vec<Duration>>,
    errors: Vec<String>,
}

impl Samples {
    fn record(&mut self, kind: &'static str, took: Duration, status: u16, body: &str) {
        self.by_kind.entry(kind).or_default().push(took);
        if status != 200 {
            self.errors.push(format!(
                "{kind}: {status} {}",
                body.chars().take(200).collect::<String>()
            ));
        }
    }
}

/// One browser: its stream open, then list, detail, bell and page in turn
/// until `until`.
async fn browse(c: Client, until: Instant) -> (Samples, usize) {
    let mut samples = Samples::default();
    let mut stream = c.stream("/api/events").await;
    let (seen, _) = read_events(&mut stream, "event: ready", Duration::from_secs(30)).await;
    if !seen.contains("event: ready") {
        samples
            .errors
            .push(format!("stream: no ready event: {seen}"));
    }
    let events = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = events.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(chunk)) = stream.chunk().await {
            let n = String::from_utf8_lossy(&chunk).matches("event: ").count();
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    });
    while Instant::now() < until {
        let t = Instant::now();
        let list = c.post("/api/runs/list", &[]).await;
        samples.record("runs list", t.elapsed(), list.status, &list.body);
        let run = list
            .body
            .split("\"id\":")
            .nth(1)
            .and_then(|rest| rest.split(|ch: char| !ch.is_ascii_digit()).next())
            .unwrap_or("1")
            .to_string();
        let t = Instant::now();
        let detail = c.post("/api/runs/get", &[("id", &run)]).await;
        samples.record("run detail", t.elapsed(), detail.status, &detail.body);
        let t = Instant::now();
        let bell = c.post("/api/notifications/bell", &[]).await;
        samples.record("bell", t.elapsed(), bell.status, &bell.body);
        let t = Instant::now();
        let page = c.get("/runs").await;
        samples.record("runs page", t.elapsed(), page.status, "");
    }
    reader.abort();
    let seen = events.load(std::sync::atomic::Ordering::Relaxed);
    (samples, seen)
}

#[sqlx::test]
#[ignore = "a load test: run by scripts/suite load and scripts/test"]
async fn load_suite_signed_in_browsers_get_answers_while_runs_execute(pool: PgPool) {
    let clients = size("OPSHUB_LOAD_CLIENTS", 20) as usize;
    let secs = size("OPSHUB_LOAD_SECS", 5);
    crate::seed::demo::run(&pool, chrono::Utc::now())
        .await
        .unwrap();
    let (tenant_id, user_id): (i64, i64) = sqlx::query_as(
        "SELECT m.tenant_id, u.id FROM users u JOIN tenant_memberships m ON m.user_id = u.id \
         JOIN tenants t ON t.id = m.tenant_id WHERE u.email = 'olivia@contoso.example' AND t.slug = 'contoso'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // The hub and the workers get pools of their own, as in `opshub serve`
    // (the test's pool is kept small).
    let own_pool = |size: u32| super::test_client::own_pool(&pool, size);
    let (addr, _hub) = super::Application::spawn_local(own_pool(20))
        .await
        .expect("a local hub");

    // Sign everyone in first (a burst of password checks, queued).
    let mut browsers = Vec::new();
    for _ in 0..clients {
        let c = Client::new(addr);
        c.sign_in("olivia@contoso.example", crate::seed::demo::DEMO_PASSWORD)
            .await;
        browsers.push(c);
    }

    // Runs execute throughout: a new import every half second.
    let workers = WorkerPool::spawn(
        own_pool(8),
        WorkerConfig {
            concurrency: 2,
            poll_interval: Duration::from_millis(200),
            max_batch: 50,
            batch_pause: Duration::from_millis(50),
            ..WorkerConfig::default()
        },
    );
    let starter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut started = 0u32;
            loop {
                let policies: Vec<_> = (0..200)
                    .map(|i| json!({"external_id": format!("load-{started}-{i}"), "policy_type": "compliance_policy",
                                   "display_name": format!("Load {i}"), "settings": {"i": i}}))
                    .collect();
                let _ = crate::engine::start(
                    &pool,
                    StartRequest {
                        tenant_id,
                        user_id,
                        kind: OperationKind::InventorySync,
                        scope: json!({"source": format!("load-{started}.json")}),
                        payload: Some(json!({"selection": {"name": format!("load-{started}")}, "policies": policies})),
                    },
                )
                .await;
                started += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    // Memory is compared from the end of a warm-up (the first third of the
    // run: every browser has its connection, its stream and a few rounds of
    // pages behind it), so what is measured is growth under steady load,
    // not the working set that 200 browsers in flight need; the readings
    // along the way are printed, so a slow climb shows.
    let rss_cold = rss_kib();
    let began = Instant::now();
    let until = began + Duration::from_secs(secs);
    // Read every sixth of the run: the second reading ends the warm-up.
    let readings = tokio::spawn(async move {
        let mut kib = Vec::new();
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_secs(secs).div_f64(6.0)).await;
            kib.push(rss_kib());
        }
        kib
    });
    let tasks: Vec<_> = browsers
        .into_iter()
        .map(|c| tokio::spawn(browse(c, until)))
        .collect();
    let mut all = Samples::default();
    let mut events = 0;
    for task in tasks {
        let (samples, seen) = task.await.expect("a browser task");
        for (kind, mut took) in samples.by_kind {
            all.by_kind.entry(kind).or_default().append(&mut took);
        }
        all.errors.extend(samples.errors);
        events += seen;
    }
    let elapsed = began.elapsed();
    let readings = readings.await.expect("the memory readings");
    let rss_start = readings[1];
    starter.abort();
    workers.shutdown().await;
    let rss_end = rss_kib();
    let finished: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM bulk_operation_runs WHERE tenant_id = $1 AND status = 'completed' \
         AND item_ids->>'source' LIKE 'load-%'",
    )
    .bind(tenant_id)
    .fetch_one(&pool)
    .await
    .unwrap();

    let mut lines = vec![format!(
        "load suite: {clients} signed-in browsers with open event streams for {:.1} s while runs executed \
         ({finished} imports completed meanwhile, {events} events received)",
        elapsed.as_secs_f64()
    )];
    let mut total = 0;
    for (kind, took) in all.by_kind.iter_mut() {
        took.sort();
        total += took.len();
        lines.push(format!(
            "  {kind:<11} {:>6} requests  p50 {:>7.1} ms  p99 {:>7.1} ms",
            took.len(),
            nearest_rank(took, 0.5).as_secs_f64() * 1000.0,
            nearest_rank(took, 0.99).as_secs_f64() * 1000.0
        ));
    }
    let growth = rss_end as f64 / rss_start.max(1) as f64 - 1.0;
    lines.push(format!(
        "  {total} requests, {} errors; process RSS {} MiB before the load, {} MiB after the warm-up, {} MiB at the end ({:+.1} % from the warm-up)",
        all.errors.len(),
        rss_cold / 1024,
        rss_start / 1024,
        rss_end / 1024,
        growth * 100.0
    ));
    lines.push(format!(
        "  RSS every sixth of the run, MiB: {:?}",
        readings.iter().map(|kib| kib / 1024).collect::<Vec<_>>()
    ));
    eprintln!("{}", lines.join("\n"));
    assert!(
        all.errors.is_empty(),
        "{} failed requests, e.g. {:?}",
        all.errors.len(),
        &all.errors[..all.errors.len().min(5)]
    );
    assert!(total > clients, "every browser made requests");
    assert!(
        growth <= 0.20,
        "memory grew by {:.1} % under load",
        growth * 100.0
    );
}
