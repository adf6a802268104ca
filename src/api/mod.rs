//! Server functions: the only data path from the UI. Each is thin: take the
//! signed-in actor (tenant, user, role) from the session, call the storage or
//! domain layer, return a safe error.

pub mod backup_sets;
pub mod findings;
pub mod notifications;
pub mod operations;
pub mod overview;
pub mod runs;
pub mod session;

use crate::error::AppError;

/// Reads what every page shows (who is signed in, the bell) through its
/// server function. In the browser that is a request; on the server it runs
/// in-process, and its error leaves the rendered page's status alone: a
/// signed-out visitor of the sign-in page gets the page, not a 401.
pub async fn read_for_page<T>(
    call: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    #[cfg(feature = "ssr")]
    return crate::error::READING_FOR_PAGE.scope((), call).await;
    #[cfg(not(feature = "ssr"))]
    call.await
}

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod list_query_tests;
