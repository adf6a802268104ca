//! Sign-in attempts: the throttle's record (`sign_in_failures`).
//!
//! An attempt is reserved before the password is checked, under an advisory
//! lock per email and per client address, so any number of parallel attempts
//! for one email get at most the allowed number of checks: a reserved
//! attempt counts as a failure until the sign-in succeeds and clears it.

use sqlx::PgPool;

/// Limits of the throttle.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub per_email: i64,
    pub per_client: i64,
    pub window_minutes: i32,
}

/// Whether an attempt may go ahead.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reservation {
    /// Reserved: counted as a failure until [`clear`] is called.
    Granted,
    /// Refused: too many recent failures; the email's oldest one leaves the
    /// window in about this many seconds (unknown when only the client's
    /// count is over).
    Refused { retry_secs: Option<f64> },
}

/// Reserves one attempt for `email` from `client`, unless either has failed
/// too often within the window.
pub async fn reserve(
    pool: &PgPool,
    email: &str,
    client: Option<&str>,
    limits: Limits,
) -> Result<Reservation, sqlx::Error> {
    let mut tx = crate::db::begin(pool).await?;
    // Always the email's lock first, then the client's: two attempts never
    // wait on each other in opposite orders.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('sign-in email ' || $1, 0))")
        .bind(email)
        .execute(&mut *tx)
        .await?;
    if let Some(client) = client {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('sign-in client ' || $1, 0))")
            .bind(client)
            .execute(&mut *tx)
            .await?;
    }
    let (per_email, per_client, retry_secs): (i64, i64, Option<f64>) = sqlx::query_as(
        "WITH recent AS ( \
             SELECT email, client, failed_at FROM sign_in_failures \
             WHERE failed_at > now() - make_interval(mins => $3) AND (email = $1 OR client = $2)) \
         SELECT count(*) FILTER (WHERE email = $1), \
                count(*) FILTER (WHERE client = $2), \
                extract(epoch FROM min(failed_at) FILTER (WHERE email = $1) \
                    + make_interval(mins => $3) - now())::float8 \
         FROM recent",
    )
    .bind(email)
    .bind(client)
    .bind(limits.window_minutes)
    .fetch_one(&mut *tx)
    .await?;
    if per_email >= limits.per_email || per_client >= limits.per_client {
        tx.rollback().await?;
        return Ok(Reservation::Refused { retry_secs });
    }
    sqlx::query(
        "WITH purge AS (DELETE FROM sign_in_failures WHERE failed_at < now() - interval '1 day') \
         INSERT INTO sign_in_failures (email, client) VALUES ($1, $2)",
    )
    .bind(email)
    .bind(client)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Reservation::Granted)
}

/// A successful sign-in: the email's failures from this client (and the
/// attempt it reserved) are forgotten. Failures from other addresses stay:
/// the owner signing in must not reset the count of someone guessing the
/// same account from elsewhere.
pub async fn clear(pool: &PgPool, email: &str, client: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sign_in_failures WHERE email = $1 AND client IS NOT DISTINCT FROM $2")
        .bind(email)
        .bind(client)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        per_email: 10,
        per_client: 10,
        window_minutes: 15,
    };

    async fn failures(pool: &PgPool, client: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM sign_in_failures WHERE email = 'ann@acme.example' AND client = $1",
        )
        .bind(client)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    #[sqlx::test]
    async fn a_sign_in_forgets_its_own_clients_failures_and_keeps_other_addresses(pool: PgPool) {
        for client in ["203.0.113.7", "203.0.113.7", "203.0.113.7", "198.51.100.2"] {
            let granted = reserve(&pool, "ann@acme.example", Some(client), LIMITS)
                .await
                .unwrap();
            assert_eq!(granted, Reservation::Granted);
        }
        clear(&pool, "ann@acme.example", Some("198.51.100.2"))
            .await
            .unwrap();
        assert_eq!(failures(&pool, "198.51.100.2").await, 0);
        assert_eq!(
            failures(&pool, "203.0.113.7").await,
            3,
            "another address's guesses still count"
        );
    }
}
