//! Stopping a process cleanly. Ctrl-C or SIGTERM cancels one token, and from
//! it, at the same time: the workers stop claiming and give their in-flight
//! batches the grace period; the hub accepts no more connections, ends its
//! event streams and gives in-flight requests the same grace period. The
//! process exits when both are done.

use crate::engine::{WorkerConfig, WorkerPool};
use crate::server::{application::Application, metrics};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A token cancelled on the first Ctrl-C or SIGTERM.
pub fn on_signal() -> CancellationToken {
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let which = signal().await;
        tracing::info!(signal = which, "shutdown requested");
        token.cancel();
    });
    stop
}

/// Waits for Ctrl-C or SIGTERM and says which came.
async fn signal() -> &'static str {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for Ctrl-C");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                "SIGTERM"
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&'static str>();
    tokio::select! {
        which = ctrl_c => which,
        which = terminate => which,
    }
}

/// `opshub serve`: the hub and, if any, this process's
/// workers, until `stop` is cancelled; then both stop at once, each within
/// `grace`.
pub async fn run_hub(
    app: Application,
    workers: Option<WorkerPool>,
    grace: Duration,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let hub = async {
        let served = app.run_until_stopped(stop.clone(), grace).await;
        // A hub that fails stops the workers too.
        stop.cancel();
        served
    };
    let stopping = async {
        stop.cancelled().await;
        Instant::now()
    };
    let (served, (), stopping) = tokio::join!(hub, stop_workers(workers, &stop, grace), stopping);
    tracing::info!(
        took_ms = stopping.elapsed().as_millis() as u64,
        "opshub stopped"
    );
    served
}

/// `opshub worker`: workers and, with `metrics`, `/metrics` on that
/// listener, until `stop` is cancelled; the metrics stay up until the workers
/// have stopped.
pub async fn run_worker(
    pool: PgPool,
    config: WorkerConfig,
    metrics: Option<TcpListener>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let metrics_stop = CancellationToken::new();
    let exporter = metrics.map(|listener| {
        // Installed before the workers start, so none of their metrics is lost.
        metrics::install();
        tokio::spawn(metrics::serve(listener, pool.clone(), metrics_stop.clone()))
    });
    let grace = config.shutdown_grace;
    let workers = WorkerPool::spawn(pool, config);
    stop_workers(Some(workers), &stop, grace).await;
    metrics_stop.cancel();
    if let Some(exporter) = exporter {
        match exporter.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "the metrics server failed"),
            Err(err) => tracing::warn!(error = %err, "the metrics server stopped abnormally"),
        }
    }
    tracing::info!("opshub worker stopped");
    Ok(())
}

/// Once `stop` is cancelled: no more claims, and in-flight batches get
/// `grace` before what is left is released for another worker.
async fn stop_workers(workers: Option<WorkerPool>, stop: &CancellationToken, grace: Duration) {
    let Some(workers) = workers else { return };
    stop.cancelled().await;
    tracing::info!(
        grace_secs = grace.as_secs_f64(),
        "workers: claiming stopped; finishing in-flight batches"
    );
    let started = Instant::now();
    workers.shutdown().await;
    tracing::info!(
        took_ms = started.elapsed().as_millis() as u64,
        "workers: all claims finished or released"
    );
}
