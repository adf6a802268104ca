//! Stopping `opshub serve`: open event streams end, workers stop claiming at
//! once, in-flight requests finish, and nothing holds the process past the
//! grace period.

use super::shutdown::run_hub;
use super::test_client::Client;
use super::{Application, HubConfig};
use crate::db::testing::{member, pending_run, status_of, tenant, MEMBER_PASSWORD};
use crate::engine::{WorkerConfig, WorkerPool};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// A hub served by `run_hub`, as `opshub serve` does, stopped by `stop`.
struct Hub {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

async fn start_hub(pool: &PgPool, workers: bool, grace: Duration) -> Hub {
    let app = Application::build(pool.clone(), HubConfig::local())
        .await
        .unwrap();
    let addr = app.addr();
    let workers = workers.then(|| {
        WorkerPool::spawn(
            pool.clone(),
            WorkerConfig {
                concurrency: 2,
                poll_interval: Duration::from_millis(100),
                shutdown_grace: grace,
                ..WorkerConfig::default()
            },
        )
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_hub(app, workers, grace, stop.clone()));
    Hub { addr, stop, task }
}

/// Sends a request whose body never completes: the hub has it in flight
/// until the connection is dropped.
async fn hold_a_request(addr: SocketAddr) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/auth/sign_in HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail="
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    // Let the hub read the head and reach the handler.
    tokio::time::sleep(Duration::from_secs(1)).await;
    conn
}

#[sqlx::test]
async fn a_stop_ends_open_event_streams_and_the_hub_returns_at_once(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    member(&pool, acme, "ann@acme.example", "operator").await;
    let hub = start_hub(&pool, true, Duration::from_secs(20)).await;
    let c = Client::new(hub.addr);
    c.sign_in("ann@acme.example", MEMBER_PASSWORD).await;
    let mut stream = c.stream("/api/events").await;
    assert_eq!(stream.status().as_u16(), 200);
    let first = timeout(Duration::from_secs(10), stream.chunk())
        .await
        .expect("the stream's first event")
        .expect("reading the stream")
        .expect("an open stream");
    assert!(String::from_utf8_lossy(&first).contains("event: ready"));

    let stopped_at = Instant::now();
    hub.stop.cancel();
    let returned = timeout(Duration::from_secs(5), hub.task)
        .await
        .expect("the hub returns within 5 s of the stop, though a stream was open")
        .expect("the hub task");
    assert!(returned.is_ok(), "{returned:?}");
    assert!(stopped_at.elapsed() < Duration::from_secs(5));

    // The stream ended (rather than being left open or cut mid-event).
    let rest = timeout(Duration::from_secs(5), async {
        let mut rest = Vec::new();
        while let Some(bytes) = stream.chunk().await? {
            rest.extend_from_slice(&bytes);
        }
        Ok::<_, reqwest::Error>(rest)
    })
    .await
    .expect("the stream ends");
    assert!(rest.is_ok(), "the stream ended cleanly: {rest:?}");
    assert!(
        TcpStream::connect(hub.addr).await.is_err(),
        "a stopped hub accepts no connections"
    );
}

#[sqlx::test]
async fn workers_stop_claiming_at_once_while_requests_are_still_in_flight(pool: PgPool) {
    let acme = tenant(&pool, "acme").await;
    let ann = member(&pool, acme, "ann@acme.example", "operator").await;
    let hub = start_hub(&pool, true, Duration::from_secs(20)).await;

    // The workers claim while the hub runs.
    let before = pending_run(&pool, acme, ann, None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_of(&pool, before).await == "pending" {
        assert!(Instant::now() < deadline, "the workers never claimed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let held = hold_a_request(hub.addr).await;
    hub.stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = pending_run(&pool, acme, ann, None).await.unwrap();
    // Ten poll intervals: a worker still claiming would have taken it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !hub.task.is_finished(),
        "the hub waits for the request in flight"
    );
    assert_eq!(status_of(&pool, after).await, "pending");

    // Once the request is over, the hub returns.
    drop(held);
    let returned = timeout(Duration::from_secs(5), hub.task)
        .await
        .expect("the hub returns once no request is in flight")
        .expect("the hub task");
    assert!(returned.is_ok(), "{returned:?}");
    assert_eq!(status_of(&pool, after).await, "pending");
}

#[sqlx::test]
async fn a_request_in_flight_past_the_grace_period_does_not_hold_the_hub(pool: PgPool) {
    let hub = start_hub(&pool, false, Duration::from_secs(1)).await;
    let _held = hold_a_request(hub.addr).await;
    let stopped_at = Instant::now();
    hub.stop.cancel();
    let returned = timeout(Duration::from_secs(5), hub.task)
        .await
        .expect("the hub returns after the grace period")
        .expect("the hub task");
    assert!(returned.is_ok(), "{returned:?}");
    let took = stopped_at.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "the request had its grace period: {took:?}"
    );
}

#[sqlx::test]
async fn a_worker_serves_metrics_until_it_stops(pool: PgPool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    let worker = tokio::spawn(super::shutdown::run_worker(
        pool.clone(),
        config,
        Some(listener),
        stop.clone(),
    ));
    let res = Client::new(addr).get("/metrics").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(
        res.body.contains("# TYPE opshub_queue_pending_runs gauge"),
        "{}",
        res.body
    );
    assert_eq!(
        Client::new(addr).get("/runs").await.status,
        404,
        "metrics only"
    );

    stop.cancel();
    let returned = timeout(Duration::from_secs(5), worker)
        .await
        .expect("the worker returns within 5 s of the stop")
        .expect("the worker task");
    assert!(returned.is_ok(), "{returned:?}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "a stopped worker serves no metrics"
    );
}
