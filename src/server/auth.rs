//! Signing in and out, and who is asking.
//!
//! Sessions live in Postgres (`user_sessions`, through `tower-sessions`); the
//! browser holds only an opaque, HttpOnly, SameSite cookie. A session carries
//! the user id and the current tenant id; every request resolves both against
//! `tenant_memberships` (one query, which also lists the tenants the user
//! may switch to), so a removed membership or user loses access at once. Server functions take the tenant and the user from here
//! only, never from anything the browser sends.

use crate::db::sessions::{IfStored, SessionLookup};
use crate::error::AppError;
use crate::model::SessionInfo;
use crate::server::context::RequestDb;
use sqlx::PgPool;
use std::sync::OnceLock;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

pub const SESSION_COOKIE: &str = "opshub_session";
/// A session ends this long after sign-in.
pub const SESSION_HOURS: i64 = 12;
/// Failed sign-ins for one email within the window before it is locked.
pub const MAX_FAILURES_PER_EMAIL: i64 = 5;
/// Failed sign-ins from one client address within the window.
pub const MAX_FAILURES_PER_CLIENT: i64 = 30;
/// The window failed sign-ins are counted in.
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

const USER_KEY: &str = "user_id";
const TENANT_KEY: &str = "tenant_id";

/// The signed-in user in their current tenant, with every tenant they may
/// switch to (read by [`crate::db::users::member`]).
pub type Actor = crate::db::users::Member;

impl Actor {
    /// Refuses viewers: for every path that changes state.
    pub fn require_operator(&self) -> Result<(), AppError> {
        if self.role.can_operate() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "viewers of {} can look but not change anything; ask an operator",
                self.tenant.name
            )))
        }
    }
}

pub fn session_store(pool: PgPool) -> PostgresStore {
    PostgresStore::new(pool)
        .with_schema_name("public")
        .and_then(|s| s.with_table_name("user_sessions"))
        .expect("static, valid identifiers")
}

/// The sessions' store as requests use it: `PostgresStore`'s layout and
/// encoding, writing beside each record the user and the tenant its data
/// names, so that a request finds its session and checks the membership in
/// one statement ([`crate::db::sessions::lookup`]). Each write is one
/// statement: a request dropped midway leaves no transaction behind.
#[derive(Clone, Debug)]
pub struct Sessions {
    pool: PgPool,
    store: PostgresStore,
}

impl Sessions {
    pub fn new(pool: PgPool) -> Self {
        Sessions {
            store: session_store(pool.clone()),
            pool,
        }
    }

    async fn write(&self, record: &Record, if_stored: IfStored) -> session_store::Result<bool> {
        let data = rmp_serde::to_vec(record)
            .map_err(|err| session_store::Error::Encode(err.to_string()))?;
        let named = |key: &str| record.data.get(key).and_then(serde_json::Value::as_i64);
        let expiry = record.expiry_date;
        let stored = crate::db::sessions::StoredSession {
            id: &record.id.to_string(),
            data: &data,
            expiry: chrono::DateTime::from_timestamp(expiry.unix_timestamp(), expiry.nanosecond())
                .ok_or_else(|| session_store::Error::Encode("expiry out of range".into()))?,
            user_id: named(USER_KEY),
            tenant_id: named(TENANT_KEY),
        };
        crate::db::sessions::store(&self.pool, &stored, if_stored)
            .await
            .map_err(|err| session_store::Error::Backend(err.to_string()))
    }
}

#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new id until one is free (ids are random; a clash is a freak).
        while !self.write(record, IfStored::Keep).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.write(record, IfStored::Replace).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.store.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store.delete(id).await
    }
}

/// The session cookie: HttpOnly, SameSite=Lax (sent when following a link to
/// the hub, never on another site's POST), `Secure` when served over HTTPS.
pub fn session_layer(pool: PgPool, secure: bool) -> SessionManagerLayer<Sessions> {
    SessionManagerLayer::new(Sessions::new(pool))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
}

fn session_failed(err: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %err, "session store failed");
    AppError::internal()
}

/// Who this session belongs to, checked against the database on the
/// request's connection (one statement for a session that names its user).
/// `None` when nobody is signed in, or the user lost every membership (the
/// session is then ended).
pub async fn resolve(db: &RequestDb, session: &Session) -> Result<Option<Actor>, AppError> {
    let Some(id) = session.id() else {
        return Ok(None);
    };
    let mut found = crate::db::sessions::lookup(&mut *db.lend().await?, &id.to_string()).await?;
    if let SessionLookup::Unnamed = found {
        db.give_back();
        found = lookup_by_data(db, session).await?;
    }
    // Every session call below may use the store, which takes a connection
    // of its own: the request gives its one back first.
    match found {
        SessionLookup::Member {
            member,
            remembered_tenant,
        } => {
            if remembered_tenant != Some(member.tenant.id) {
                // The membership of the remembered tenant is gone.
                db.give_back();
                session
                    .insert(TENANT_KEY, member.tenant.id)
                    .await
                    .map_err(session_failed)?;
            }
            Ok(Some(member))
        }
        SessionLookup::NoMembership => {
            db.give_back();
            session.flush().await.map_err(session_failed)?;
            Ok(None)
        }
        SessionLookup::Missing | SessionLookup::Unnamed => {
            // Loading finds nothing, which tells the session layer to clear
            // the browser's cookie.
            db.give_back();
            session.get::<i64>(USER_KEY).await.map_err(session_failed)?;
            Ok(None)
        }
    }
}

/// The lookup for a session stored before sessions named their user: its
/// data says who it is (written again, it names them).
async fn lookup_by_data(db: &RequestDb, session: &Session) -> Result<SessionLookup, AppError> {
    let Some(user_id) = session.get::<i64>(USER_KEY).await.map_err(session_failed)? else {
        return Ok(SessionLookup::Missing);
    };
    let remembered_tenant = session
        .get::<i64>(TENANT_KEY)
        .await
        .map_err(session_failed)?;
    let member =
        crate::db::users::member(&mut *db.lend().await?, user_id, remembered_tenant).await?;
    Ok(match member {
        Some(member) => SessionLookup::Member {
            member,
            remembered_tenant,
        },
        None => SessionLookup::NoMembership,
    })
}

/// The signed-in actor of the current request, as resolved by the sign-in
/// gate. Every server function that touches tenant data starts here.
pub fn actor() -> Result<Actor, AppError> {
    crate::server::context::request_extension::<Actor>().ok_or(AppError::Unauthorized)
}

/// The session of the current request.
pub fn session() -> Result<Session, AppError> {
    crate::server::context::request_extension::<Session>().ok_or_else(|| {
        tracing::error!("no session layer in front of the app");
        AppError::internal()
    })
}

/// Password checks (Argon2, 19 MiB each) running at once; more wait their
/// turn, so a burst of sign-ins queues instead of taking memory.
pub const PASSWORD_CHECKS_AT_ONCE: usize = 2;

static PASSWORD_CHECKS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(PASSWORD_CHECKS_AT_ONCE);

/// A hash to verify against when the email is unknown, so that a wrong email
/// takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        crate::server::password::hash("decoy password, never valid").unwrap_or_default()
    })
}

async fn verify_password(password: String, hash: Option<String>) -> Result<bool, AppError> {
    let _turn = PASSWORD_CHECKS.acquire().await.map_err(|err| {
        tracing::error!(error = %err, "password checks closed");
        AppError::internal()
    })?;
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| decoy_hash().to_string());
        crate::server::password::verify(&password, &hash) && known
    })
    .await
    .map_err(|err| {
        tracing::error!(error = %err, "password check failed");
        AppError::internal()
    })
}

/// Reserves this attempt, or refuses when the email or the client address
/// has failed too often lately.
async fn reserve_attempt(pool: &PgPool, email: &str, client: Option<&str>) -> Result<(), AppError> {
    use crate::db::sign_in_attempts::{reserve, Limits, Reservation};
    let limits = Limits {
        per_email: MAX_FAILURES_PER_EMAIL,
        per_client: MAX_FAILURES_PER_CLIENT,
        window_minutes: FAILURE_WINDOW_MINUTES as i32,
    };
    match reserve(pool, email, client, limits).await? {
        Reservation::Granted => Ok(()),
        Reservation::Refused { retry_secs } => {
            let minutes = retry_secs
                .map(|s| (s / 60.0).ceil().max(1.0) as i64)
                .unwrap_or(FAILURE_WINDOW_MINUTES);
            Err(AppError::TooManyRequests(format!(
                "too many failed sign-ins; try again in {minutes} minute{}",
                if minutes == 1 { "" } else { "s" }
            )))
        }
    }
}

/// Checks the credentials and, when they match, starts a fresh session (a
/// new id: whatever id the browser had before is never reused).
pub async fn sign_in(
    pool: &PgPool,
    session: &Session,
    email: &str,
    password: &str,
    client: Option<&str>,
) -> Result<Actor, AppError> {
    let wrong = || AppError::SignInFailed("that email and password do not match an account".into());
    if password.len() > 1024 || email.len() > 254 {
        return Err(AppError::BadRequest(
            "the email or the password is too long".into(),
        ));
    }
    let email = crate::model::Email::parse(email)
        .map_err(|_| AppError::BadRequest("enter your email address".into()))?;
    // Reserved before the password is checked (and counted as a failure
    // unless it succeeds), so parallel guesses cannot outrun the limit.
    reserve_attempt(pool, email.as_str(), client).await?;
    let user = crate::db::users::password_hash_by_email(pool, &email).await?;
    let (user_id, hash) = match user {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    let matched = verify_password(password.to_string(), hash).await?;
    let Some(user_id) = user_id.filter(|_| matched) else {
        tracing::info!(client = client.unwrap_or("unknown"), "failed sign-in");
        return Err(wrong());
    };
    crate::db::sign_in_attempts::clear(pool, email.as_str(), client).await?;
    let actor = crate::db::users::member(pool, user_id, None)
        .await?
        .ok_or_else(|| {
            AppError::Forbidden("this account is not a member of any tenant yet".into())
        })?;
    session.cycle_id().await.map_err(session_failed)?;
    session
        .insert(USER_KEY, actor.user_id)
        .await
        .map_err(session_failed)?;
    session
        .insert(TENANT_KEY, actor.tenant.id)
        .await
        .map_err(session_failed)?;
    let ends = time::OffsetDateTime::now_utc() + time::Duration::hours(SESSION_HOURS);
    session.set_expiry(Some(Expiry::AtDateTime(ends)));
    tracing::info!(user_id = actor.user_id, "signed in");
    Ok(actor)
}

/// Ends the session: removed from the store, the cookie cleared.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_failed)
}

/// Makes `slug` the session's current tenant, if the user is a member; any
/// other tenant is "not found", whether it exists or not.
pub async fn switch_tenant(
    pool: &PgPool,
    session: &Session,
    actor: &Actor,
    slug: &str,
) -> Result<Actor, AppError> {
    let tenant_id = crate::db::tenants::id_if_member(pool, slug, actor.user_id).await?;
    let tenant_id = tenant_id.ok_or_else(|| {
        AppError::NotFound(format!(
            "tenant '{}' does not exist",
            slug.chars().take(63).collect::<String>()
        ))
    })?;
    session
        .insert(TENANT_KEY, tenant_id)
        .await
        .map_err(session_failed)?;
    crate::db::users::member(pool, actor.user_id, Some(tenant_id))
        .await?
        .ok_or(AppError::Unauthorized)
}

/// What the hub shows about the signed-in user (read with the actor: no
/// query of its own).
pub fn session_info(actor: &Actor) -> SessionInfo {
    SessionInfo {
        email: actor.email.clone(),
        name: actor.name.clone(),
        role: actor.role,
        current: actor.tenant.choice(),
        choices: actor.tenants.clone(),
    }
}
