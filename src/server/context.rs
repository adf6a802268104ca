//! The request's shared state, available to every server function and page.
//! Who is asking lives in [`crate::server::auth`].

use crate::error::AppError;
use crate::server::state::AppState;
use leptos::prelude::use_context;
use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

/// The request's shared state; present in every server function and page.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the request context");
        AppError::internal()
    })
}

pub fn pool() -> Result<PgPool, AppError> {
    Ok(state()?.pool.clone())
}

/// An extension of the request being served (the actor, the session, the
/// request's connection), read in place: taking the request's parts from
/// the context would copy every header and extension for one of them.
pub fn request_extension<T: Clone + Send + Sync + 'static>() -> Option<T> {
    leptos::reactive::owner::with_context::<axum::http::request::Parts, _>(|parts| {
        parts.extensions.get::<T>().cloned()
    })
    .flatten()
}

/// One pooled connection for all the reads of one request: a page reads
/// its list, its counts and the bell one after the other on it, and gives
/// it back once when the request ends. Every connection that goes back to
/// the pool costs a round trip (the pool tests it), so a page that took one
/// per read paid that three or four times.
///
/// The sign-in gate creates it, looks the session up on it and hands it on
/// in the request's extensions; it goes back to the pool when the request
/// is done with it. Taken at the first read, not before: a request that
/// reads nothing holds nothing. Writes go through transactions of their own
/// ([`crate::db::begin`]).
#[derive(Clone)]
pub struct RequestDb {
    pool: PgPool,
    conn: Arc<Mutex<Option<PoolConnection<Postgres>>>>,
}

impl RequestDb {
    pub fn new(pool: PgPool) -> RequestDb {
        RequestDb {
            pool,
            conn: Arc::new(Mutex::new(None)),
        }
    }

    /// Returns the connection to the pool now (if one is held and not lent
    /// out): before the request waits on anything that takes a connection
    /// of its own, such as the session store.
    pub fn give_back(&self) {
        if let Ok(mut held) = self.conn.try_lock() {
            held.take();
        }
    }

    /// The connection for the reads of one call; the request's other reads
    /// wait for it.
    pub async fn lend(&self) -> Result<Db, AppError> {
        let mut held = self.conn.clone().lock_owned().await;
        if held.is_none() {
            *held = Some(self.pool.acquire().await.map_err(AppError::from)?);
        }
        OwnedMutexGuard::try_map(held, Option::as_mut)
            .map(Db::Request)
            .map_err(|_| AppError::internal())
    }
}

/// A connection lent for one read: the request's own when there is one,
/// otherwise one from the pool for this read alone.
pub enum Db {
    Request(OwnedMappedMutexGuard<Option<PoolConnection<Postgres>>, PoolConnection<Postgres>>),
    Pooled(PoolConnection<Postgres>),
}

impl Deref for Db {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            Db::Request(conn) => conn,
            Db::Pooled(conn) => conn,
        }
    }
}

impl DerefMut for Db {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            Db::Request(conn) => conn,
            Db::Pooled(conn) => conn,
        }
    }
}

/// A connection for the reads of one server function: the request's own
/// when it renders a page (hold it for the call, `&mut *context::db().await?`;
/// the page's other reads wait for it), else one from the pool.
pub async fn db() -> Result<Db, AppError> {
    match request_extension::<RequestDb>() {
        Some(request) => request.lend().await,
        None => Ok(Db::Pooled(pool()?.acquire().await.map_err(AppError::from)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn backend(conn: &mut PgConnection) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(conn)
            .await
            .unwrap()
    }

    #[sqlx::test]
    async fn a_requests_reads_take_turns_on_one_connection_until_it_is_given_back(pool: PgPool) {
        let request = RequestDb::new(pool.clone());
        let first = backend(&mut request.lend().await.unwrap()).await;
        assert_eq!(backend(&mut request.lend().await.unwrap()).await, first);
        // Held between reads: nobody else gets it meanwhile.
        assert_ne!(backend(&mut pool.acquire().await.unwrap()).await, first);
        // One read at a time: the next waits while one is lent out.
        let lent = request.lend().await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(100), request.lend())
                .await
                .is_err(),
            "a second read ran while the first held the connection"
        );
        drop(lent);
        // Given back, it goes to the pool (after the pool's own check).
        let idle = pool.num_idle();
        request.give_back();
        let returned = async {
            while pool.num_idle() == idle {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), returned)
            .await
            .expect("given back to the pool");
        assert_eq!(pool.num_idle(), idle + 1);
    }
}
