//! Live updates. One `LISTEN` connection per process receives every run and
//! notification event (any process may have caused it: they all `NOTIFY`)
//! and fans it out to the open event streams; each stream passes on only
//! its own tenant's events, and notification events only to their user.

use crate::engine::lifecycle::EVENTS_CHANNEL;
use crate::model::{RunEvent, RunEventKind, StreamedRunEvent};
use crate::server::auth::Actor;
use axum::extract::Request;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// A stream ends after this long; the browser reconnects at once, and the
/// reconnection checks the session and membership again.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(30 * 60);

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
}

impl LiveHub {
    /// Starts listening; reconnects with a back-off when the connection
    /// drops, and tells every stream to resync once it is back.
    pub fn spawn(pool: PgPool) -> LiveHub {
        let (tx, _) = broadcast::channel(1024);
        let closed = CancellationToken::new();
        let hub = LiveHub {
            tx: tx.clone(),
            closed: closed.clone(),
        };
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let listened = tokio::select! {
                    listened = listen(&pool, &tx) => listened,
                    _ = closed.cancelled() => return,
                };
                match listened {
                    Ok(()) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "live updates: listener lost; reconnecting");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {},
                            _ = closed.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        let _ = tx.send(Signal::Resync);
                    }
                }
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

async fn listen(pool: &PgPool, tx: &broadcast::Sender<Signal>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(EVENTS_CHANNEL).await?;
    loop {
        let note = listener.recv().await?;
        match serde_json::from_str::<RunEvent>(note.payload()) {
            Ok(event) => {
                // No subscribers is fine: nobody is watching.
                let _ = tx.send(Signal::Event(Arc::new(event)));
            }
            Err(err) => tracing::warn!(error = %err, "live updates: unreadable event"),
        }
    }
}

/// `GET /api/events`: the signed-in user's event stream for their current
/// tenant (Server-Sent Events). Behind the sign-in gate, so signed out it
/// answers 401 before getting here.
pub async fn events(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    req: Request,
) -> Response {
    let Some(actor) = req.extensions().get::<Actor>().cloned() else {
        return crate::error::AppError::Unauthorized.into_response();
    };
    let rx = state.live.subscribe();
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let hello = SseEvent::default().event("ready").data("{}");
    let first = futures_util::stream::once(async move { Ok::<_, Infallible>(hello) });
    let rest = futures_util::stream::unfold((rx, actor), move |(mut rx, actor)| async move {
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) | Ok(Ok(Signal::Resync)) => {
                    let resync = SseEvent::default().event("resync").data("{}");
                    return Some((Ok(resync), (rx, actor)));
                }
                Ok(Ok(Signal::Event(event))) if visible_to(&event, &actor) => {
                    return Some((Ok(to_sse(&event)), (rx, actor)));
                }
                Ok(Ok(Signal::Event(_))) => continue,
            }
        }
    });
    use futures_util::StreamExt;
    // On shutdown the stream ends; the browser reconnects to another process
    // (or to this one once it is back).
    let stream = first
        .chain(rest)
        .take_until(state.live.closed.clone().cancelled_owned());
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
