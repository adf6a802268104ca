//! The gate in front of every page, server function and stream: who is
//! signed in, cross-site request refusal, and the security headers.

use crate::error::AppError;
use crate::server::auth;
use crate::server::context::RequestDb;
use crate::server::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use tower_sessions::Session;

/// The page where users sign in.
pub const SIGN_IN_PAGE: &str = "/signin";
/// The server function that signs in: the only API reachable signed out.
pub const SIGN_IN_FN: &str = "/api/auth/sign_in";

/// Paths served to anyone: static assets and the probes operators scrape.
fn is_public(path: &str) -> bool {
    path.starts_with("/pkg/")
        || matches!(path, "/favicon.ico" | "/healthz" | "/readyz" | "/metrics")
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// Whether the request renders a page of the hub: its reads (nothing but
/// reads) then share the connection the sign-in gate looked the session up
/// on. Server functions, the event stream and the exports take connections
/// of their own, so that no long or writing request holds one it does not use.
fn renders_page(method: &Method, path: &str) -> bool {
    *method == Method::GET && !is_api(path) && !path.ends_with(".csv") && !path.ends_with(".json")
}

/// Percent-encodes a path and query for use as one query parameter value.
pub fn encode_component(s: &str) -> String {
    crate::model::url::encode_path(s)
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, Json(AppError::Unauthorized)).into_response()
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/runs")]).into_response(),
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Lets a request through only for a signed-in user (whose `Actor` it then
/// carries), except static assets, probes, and the sign-in page and function.
/// Signed out, pages redirect to sign-in and APIs answer 401.
pub async fn require_sign_in(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        return next.run(req).await;
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        tracing::error!("no session layer in front of the sign-in gate");
        return AppError::internal().into_response();
    };
    let db = RequestDb::new(state.pool.clone());
    let actor = match auth::resolve(&db, &session).await {
        Ok(actor) => actor,
        Err(err) => return err.into_response(),
    };
    if renders_page(req.method(), &path) {
        req.extensions_mut().insert(db);
    }
    let signing_in = path == SIGN_IN_PAGE || path == SIGN_IN_FN;
    match actor {
        Some(_) if path == SIGN_IN_PAGE => {
            let next = query_param(req.uri().query(), "next");
            see_other(&crate::model::safe_next(next.as_deref()))
        }
        Some(actor) => {
            req.extensions_mut().insert(actor);
            next.run(req).await
        }
        None if signing_in => next.run(req).await,
        None if is_api(&path) => unauthorized(),
        None => {
            let wanted = match req.uri().query() {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            if wanted == "/" || wanted == "/runs" {
                see_other(SIGN_IN_PAGE)
            } else {
                see_other(&format!(
                    "{SIGN_IN_PAGE}?next={}",
                    encode_component(&wanted)
                ))
            }
        }
    }
}

/// Refuses state-changing requests (anything but GET, HEAD and OPTIONS)
/// that do not show they come from the hub's own pages: a same-origin
/// `Origin` header, or, without one, `Sec-Fetch-Site: same-origin`. Every
/// browser the hub supports sends one of them on its own requests (server
/// functions called by the app, plain form posts and uploads); a request
/// another site makes a browser send carries a foreign `Origin` or
/// `Sec-Fetch-Site: cross-site`, and one that says neither is refused too,
/// rather than trusting the cookie's SameSite alone.
pub async fn same_origin_writes(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    match write_origin(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(reason) => AppError::Forbidden(reason.to_string()).into_response(),
    }
}

/// Whether a state-changing request's headers show it comes from this site.
fn write_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let value = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = value(header::ORIGIN) {
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return match (origin_host, value(header::HOST)) {
            (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(host) => Ok(()),
            _ => Err("cross-site requests are refused: this request came from another site"),
        };
    }
    match value(HeaderName::from_static("sec-fetch-site")) {
        Some("same-origin") => Ok(()),
        Some(_) => Err("cross-site requests are refused: this request came from another site"),
        None => Err(
            "changes are accepted only from the hub's own pages, and this request did not say \
             where it came from (no Origin or Sec-Fetch-Site header)",
        ),
    }
}

/// The Content-Security-Policy of the hub's pages: scripts only from this
/// site or inline with this response's nonce (the hydration bootstrap and
/// resource data), WebAssembly allowed, no inline styles, no framing.
pub fn page_csp(nonce: Option<&str>) -> String {
    let scripts = match nonce {
        Some(n) => format!("'self' 'nonce-{n}' 'wasm-unsafe-eval'"),
        None => "'self' 'wasm-unsafe-eval'".to_string(),
    };
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// Headers on every response. Pages set their own CSP with the nonce; any
/// response without one gets the policy without a nonce.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(value) = HeaderValue::from_str(&page_csp(None)) {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    res
}

/// Sets this page's CSP with the nonce Leptos put on its inline scripts.
/// Called while rendering, before the response head is sent.
pub fn set_page_csp() {
    use leptos::prelude::use_context;
    let nonce = leptos::nonce::use_nonce();
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(value) = HeaderValue::from_str(&page_csp(nonce.as_deref())) {
            opts.insert_header(header::CONTENT_SECURITY_POLICY, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_and_assets_are_public_and_nothing_else() {
        for p in [
            "/pkg/opshub.wasm",
            "/favicon.ico",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in [
            "/",
            "/runs",
            "/runs/1",
            "/api/runs/list",
            "/signin",
            "/pkgx",
        ] {
            assert!(!is_public(p), "{p}");
        }
    }

    #[test]
    fn writes_must_show_they_come_from_this_site() {
        fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
            pairs
                .iter()
                .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
                .collect()
        }
        let host = ("host", "hub.example:3000");
        for ok in [
            headers(&[host, ("origin", "http://hub.example:3000")]),
            headers(&[host, ("origin", "https://HUB.example:3000")]),
            headers(&[host, ("sec-fetch-site", "same-origin")]),
        ] {
            assert_eq!(write_origin(&ok), Ok(()), "{ok:?}");
        }
        for refused in [
            headers(&[host]),
            headers(&[]),
            headers(&[("origin", "http://hub.example:3000")]),
            headers(&[host, ("origin", "null")]),
            headers(&[host, ("origin", "http://hub.example:3000.evil.example")]),
            headers(&[host, ("origin", "http://evil.example")]),
            headers(&[host, ("origin", "hub.example:3000")]),
            headers(&[host, ("sec-fetch-site", "same-site")]),
            headers(&[host, ("sec-fetch-site", "cross-site")]),
            headers(&[host, ("sec-fetch-site", "none")]),
            headers(&[host, ("referer", "http://hub.example:3000/runs")]),
        ] {
            assert!(write_origin(&refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn sign_in_redirect_targets_round_trip() {
        let wanted = "/runs/7?status=failed&q=a b";
        let encoded = encode_component(wanted);
        assert!(!encoded.contains('&') && !encoded.contains('?'));
        let query = format!("next={encoded}&x=1");
        assert_eq!(query_param(Some(&query), "next").as_deref(), Some(wanted));
        assert_eq!(query_param(Some("x=1"), "next"), None);
        assert_eq!(
            query_param(Some("next=%zz%4"), "next").as_deref(),
            Some("%zz%4")
        );
    }

    #[test]
    fn the_page_policy_allows_only_nonced_inline_scripts() {
        let csp = page_csp(Some("abc"));
        assert!(csp.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!page_csp(None).contains("nonce"));
    }
}
