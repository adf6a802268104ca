//! The one error type of the app's boundary: safe to show to users, carried
//! through server functions, and mapped to an HTTP status.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The request is malformed: a bad id, an oversized or invalid field.
    #[error("{0}")]
    BadRequest(String),
    /// The thing does not exist for the current tenant (or at all).
    #[error("{0}")]
    NotFound(String),
    /// The caller is not signed in.
    #[error("sign in to continue")]
    Unauthorized,
    /// The email and password do not match an account.
    #[error("{0}")]
    SignInFailed(String),
    /// Signed in, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts (failed sign-ins); try again later.
    #[error("{0}")]
    TooManyRequests(String),
    /// Something failed on our side; details are in the server log only.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized | AppError::SignInFailed(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests(_) => 429,
            AppError::Internal(_) => 500,
        }
    }

    /// A short title for error pages.
    pub fn title(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "Bad request",
            AppError::Unauthorized => "Sign-in required",
            AppError::SignInFailed(_) => "Sign-in failed",
            AppError::Forbidden(_) => "Not allowed",
            AppError::NotFound(_) => "Not found",
            AppError::Conflict(_) => "Conflict",
            AppError::TooManyRequests(_) => "Too many attempts",
            AppError::Internal(_) => "Something went wrong",
        }
    }

    /// The error of a page being rendered (a malformed URL, say): on the
    /// server it also becomes the page's status, as a server function's
    /// error does.
    pub fn on_page(self) -> AppError {
        #[cfg(feature = "ssr")]
        return self.respond();
        #[cfg(not(feature = "ssr"))]
        self
    }

    pub fn internal() -> AppError {
        AppError::Internal("an internal error occurred; it has been logged".into())
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg)
            | ServerFnErrorErr::MissingArg(msg)
            | ServerFnErrorErr::Deserialization(msg) => {
                AppError::BadRequest(format!("malformed request: {msg}"))
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => {
                AppError::Internal("the server could not be reached; try again".into())
            }
            _ => AppError::internal(),
        }
    }
}

#[cfg(feature = "ssr")]
pub(crate) use server::READING_FOR_PAGE;

#[cfg(feature = "ssr")]
mod server {
    use super::AppError;

    tokio::task_local! {
        /// Set while a page reads data in-process (see
        /// [`crate::api::read_for_page`]): the page's status is the page's.
        pub(crate) static READING_FOR_PAGE: ();
    }

    impl AppError {
        /// Records the error on the current response (status code) and logs
        /// server faults. Call on every error a server function returns.
        pub fn respond(self) -> AppError {
            if READING_FOR_PAGE.try_with(|_| ()).is_ok() {
                return self;
            }
            if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                if let Ok(code) = axum::http::StatusCode::from_u16(self.status_code()) {
                    opts.set_status(code);
                }
            }
            self
        }
    }

    /// An error answered outside a server function: its status and the same
    /// JSON body a server function would send.
    impl axum::response::IntoResponse for AppError {
        fn into_response(self) -> axum::response::Response {
            let code = axum::http::StatusCode::from_u16(self.status_code())
                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            (code, axum::Json(self)).into_response()
        }
    }

    impl From<sqlx::Error> for AppError {
        fn from(err: sqlx::Error) -> Self {
            // Values the database cannot hold, which only input brings in:
            // a NUL character, a character with no UTF-8 form, a time or a
            // number out of range. Validation refuses each before it gets
            // here; should one slip through, it is still the caller's.
            if let Some(code) = err.as_database_error().and_then(|e| e.code()) {
                if matches!(code.as_ref(), "22021" | "22P05" | "22008" | "22003") {
                    tracing::warn!(error = %err, "input the database cannot hold");
                    return AppError::BadRequest(
                        "a value in the request cannot be stored (out of range, or a NUL \
                         character); correct it and try again"
                            .into(),
                    );
                }
            }
            tracing::error!(error = %err, "database error");
            AppError::internal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_maps_to_client_errors() {
        assert_eq!(AppError::BadRequest("x".into()).status_code(), 400);
        assert_eq!(AppError::NotFound("x".into()).status_code(), 404);
        let from_args = AppError::from_server_fn_error(ServerFnErrorErr::Args("id".into()));
        assert_eq!(from_args.status_code(), 400);
        assert_eq!(AppError::internal().status_code(), 500);
    }

    #[test]
    fn internal_errors_say_nothing_about_the_cause() {
        let err = AppError::from_server_fn_error(ServerFnErrorErr::ServerError(
            "password=hunter2 at db.internal".into(),
        ));
        assert!(!err.to_string().contains("hunter2"));
    }
}
