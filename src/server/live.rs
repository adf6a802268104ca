//! Live updates. One `LISTEN` connection per process receives every run and
//! notification event (any process may have caused it: they all `NOTIFY`)
//! and fans it out to the open event streams; each stream passes on only
//! its own tenant's events, and notification events only to their user.
//!
//! A stream follows its access: it checks that its session still exists
//! and its user is still a member of its tenant every [`LiveHub::recheck`]
//! and before passing on an event (at most once per
//! [`EVENT_RECHECK_SPACING`]), and ends when either is gone. When the
//! `LISTEN` connection is lost (the database restarted, say), events sent
//! meanwhile are lost too: once listening again, every open stream is told
//! to resync.

use crate::engine::lifecycle::EVENTS_CHANNEL;
use crate::model::{RunEvent, RunEventKind, StreamedRunEvent};
use crate::server::auth::Actor;
use axum::extract::{Request, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A stream ends after this long; the browser reconnects at once.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// How often an open stream checks that its session and membership still
/// hold, unless configured otherwise.
pub const DEFAULT_STREAM_RECHECK: Duration = Duration::from_secs(10);

/// A stream whose access could not be checked (the database is away) for
/// this long ends: lost access never outlives it.
pub const ACCESS_BOUND: Duration = Duration::from_secs(15);

/// An event is passed on without a new check when the last one is younger
/// than this: a busy tenant's progress events do not each cost a query.
pub const EVENT_RECHECK_SPACING: Duration = Duration::from_secs(1);

/// Whether the signed-in `actor` may see this event: their tenant's, and
/// a notification only when it is theirs.
pub fn visible_to(event: &RunEvent, actor: &Actor) -> bool {
    event.tenant_id == actor.tenant.id && event.user_id.is_none_or(|u| u == actor.user_id)
}

fn to_sse(event: &RunEvent) -> SseEvent {
    let name = if event.event == RunEventKind::Notification {
        "notification"
    } else {
        "run"
    };
    let data = serde_json::to_string(&StreamedRunEvent::from(event)).unwrap_or_default();
    SseEvent::default().event(name).data(data)
}

fn resync() -> SseEvent {
    SseEvent::default().event("resync").data("{}")
}

/// What a stream receives: an event, or "you may have missed events".
#[derive(Clone, Debug)]
pub enum Signal {
    Event(Arc<RunEvent>),
    Resync,
}

#[derive(Clone)]
pub struct LiveHub {
    tx: broadcast::Sender<Signal>,
    /// Cancelled when the process shuts down: every open stream ends, so the
    /// server's graceful shutdown is not held up by streams that never end.
    closed: CancellationToken,
    /// How often each stream checks its access.
    pub recheck: Duration,
}

/// Why listening stopped.
enum Lost {
    Connection,
    Error(sqlx::Error),
}

impl LiveHub {
    /// Starts listening; reconnects with a back-off when the connection
    /// drops, and tells every stream to resync once it listens again.
    pub fn spawn(pool: PgPool) -> LiveHub {
        let (tx, _) = broadcast::channel(1024);
        let closed = CancellationToken::new();
        let hub = LiveHub {
            tx: tx.clone(),
            closed: closed.clone(),
            recheck: DEFAULT_STREAM_RECHECK,
        };
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            let mut missed = false;
            loop {
                let lost = tokio::select! {
                    lost = listen(&pool, &tx, &mut missed, &mut backoff) => lost,
                    _ = closed.cancelled() => return,
                };
                missed = true;
                match lost {
                    Lost::Connection => {
                        tracing::warn!("live updates: listener connection lost; reconnecting")
                    }
                    Lost::Error(err) => {
                        tracing::warn!(error = %err, "live updates: listener failed; reconnecting")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {},
                    _ = closed.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        hub
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.tx.subscribe()
    }

    /// Ends every open event stream (and any opened later) and stops
    /// listening: the process is shutting down.
    pub fn close(&self) {
        self.closed.cancel();
    }
}

/// Listens until the connection is lost. Once listening after a loss
/// (`missed`), every stream is told to resync.
async fn listen(
    pool: &PgPool,
    tx: &broadcast::Sender<Signal>,
    missed: &mut bool,
    backoff: &mut Duration,
) -> Lost {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(err) => return Lost::Error(err),
    };
    if let Err(err) = listener.listen(EVENTS_CHANNEL).await {
        return Lost::Error(err);
    }
    if std::mem::take(missed) {
        tracing::info!("live updates: listening again; open streams resync");
        let _ = tx.send(Signal::Resync);
    }
    *backoff = Duration::from_millis(200);
    loop {
        // `try_recv` tells a lost connection apart (`recv` would reconnect
        // silently, and what was sent meanwhile would go unnoticed).
        match listener.try_recv().await {
            Ok(Some(note)) => match serde_json::from_str::<RunEvent>(note.payload()) {
                // No subscribers is fine: nobody is watching.
                Ok(event) => {
                    let _ = tx.send(Signal::Event(Arc::new(event)));
                }
                Err(err) => tracing::warn!(error = %err, "live updates: unreadable event"),
            },
            Ok(None) => return Lost::Connection,
            Err(err) => return Lost::Error(err),
        }
    }
}

/// One stream's access: its session and its user's membership of its
/// tenant, as last checked.
struct Access {
    pool: PgPool,
    session_id: String,
    actor: Actor,
    last_ok: Instant,
}

impl Access {
    /// `Some(false)` when the access is gone; `None` when it could not be
    /// checked.
    async fn holds(&mut self) -> Option<bool> {
        match crate::db::sessions::grants(
            &self.pool,
            &self.session_id,
            self.actor.user_id,
            self.actor.tenant.id,
        )
        .await
        {
            Ok(true) => {
                self.last_ok = Instant::now();
                Some(true)
            }
            Ok(false) => Some(false),
            Err(err) => {
                tracing::debug!(error = %err, "event stream: access check failed");
                None
            }
        }
    }

    /// Whether the stream may go on: access holds, or could not be checked
    /// for less than [`ACCESS_BOUND`].
    async fn may_continue(&mut self) -> bool {
        match self.holds().await {
            Some(holds) => holds,
            None => self.last_ok.elapsed() < ACCESS_BOUND,
        }
    }
}

struct Watch {
    rx: broadcast::Receiver<Signal>,
    access: Access,
    recheck: Duration,
    next_check: Instant,
    deadline: Instant,
}

impl Watch {
    /// The next event to send, or `None` when the stream ends.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => return None,
                () = tokio::time::sleep_until(self.next_check) => {
                    if !self.access.may_continue().await {
                        return None;
                    }
                    // A failed check is retried soon; a passed one after the interval.
                    let wait = if self.access.last_ok.elapsed() < Duration::from_millis(100) {
                        self.recheck
                    } else {
                        Duration::from_secs(1).min(self.recheck)
                    };
                    self.next_check = Instant::now() + wait;
                }
                signal = self.rx.recv() => match signal {
                    Err(broadcast::error::RecvError::Closed) => return None,
                    Err(broadcast::error::RecvError::Lagged(_)) | Ok(Signal::Resync) => {
                        return Some(resync());
                    }
                    Ok(Signal::Event(event)) if visible_to(&event, &self.access.actor) => {
                        if self.access.last_ok.elapsed() >= EVENT_RECHECK_SPACING
                            && !self.access.may_continue().await
                        {
                            return None;
                        }
                        return Some(to_sse(&event));
                    }
                    Ok(Signal::Event(_)) => continue,
                }
            }
        }
    }
}

/// `GET /api/events`: the signed-in user's event stream for their current
/// tenant (Server-Sent Events). Behind the sign-in gate, so signed out it
/// answers 401 before getting here.
pub async fn events(
    State(live): State<LiveHub>,
    State(pool): State<PgPool>,
    req: Request,
) -> Response {
    let actor = req.extensions().get::<Actor>().cloned();
    let session_id = req
        .extensions()
        .get::<tower_sessions::Session>()
        .and_then(|s| s.id());
    let (Some(actor), Some(session_id)) = (actor, session_id) else {
        return crate::error::AppError::Unauthorized.into_response();
    };
    let now = Instant::now();
    let watch = Watch {
        rx: live.subscribe(),
        access: Access {
            pool,
            session_id: session_id.to_string(),
            actor,
            last_ok: now,
        },
        recheck: live.recheck,
        next_check: now + live.recheck,
        deadline: now + STREAM_LIFETIME,
    };
    let hello = SseEvent::default().event("ready").data("{}");
    let first = futures_util::stream::once(async move { Ok::<_, Infallible>(hello) });
    let rest = futures_util::stream::unfold(watch, |mut watch| async move {
        let event = watch.next().await?;
        Some((Ok(event), watch))
    });
    use futures_util::StreamExt;
    // On shutdown the stream ends; the browser reconnects to another process
    // (or to this one once it is back).
    let stream = first
        .chain(rest)
        .take_until(live.closed.clone().cancelled_owned());
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tenants::Tenant;
    use crate::model::Role;

    fn actor(tenant: i64, user: i64) -> Actor {
        Actor {
            user_id: user,
            email: "a@example.com".into(),
            name: "A".into(),
            tenant: Tenant {
                id: tenant,
                slug: "t".into(),
                name: "T".into(),
            },
            role: Role::Viewer,
            tenants: Vec::new(),
        }
    }

    #[test]
    fn events_reach_their_tenant_and_notifications_their_user_only() {
        let run: RunEvent =
            serde_json::from_str(r#"{"tenant_id": 1, "run_id": 7, "event": "progress"}"#).unwrap();
        assert!(visible_to(&run, &actor(1, 10)));
        assert!(!visible_to(&run, &actor(2, 10)));
        let note: RunEvent = serde_json::from_str(
            r#"{"tenant_id": 1, "run_id": 7, "event": "notification", "user_id": 10}"#,
        )
        .unwrap();
        assert!(visible_to(&note, &actor(1, 10)));
        assert!(!visible_to(&note, &actor(1, 11)));
        assert!(!visible_to(&note, &actor(2, 10)));
    }
}
