//! The static assets (WASM, JS, CSS under `/pkg`) and how every response
//! may be cached.
//!
//! Release builds name the assets after a hash of their content and write
//! them precompressed beside the originals (`.br`, `.gz`); a hashed name never
//! changes content, so browsers keep it for a year without asking again,
//! and a deploy can never mix an old WASM with a new server. Pages are
//! revalidated on every visit, and server functions' answers are never
//! stored.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use leptos::config::LeptosOptions;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tower_http::services::ServeDir;

/// Where the assets are served.
pub const ASSETS_PREFIX: &str = "/pkg";

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Kept, but checked with the server before each use (pages; assets whose
/// names carry no hash).
pub const REVALIDATE: &str = "no-cache";
/// Never kept: answers with the signed-in user's data.
pub const NEVER_STORE: &str = "no-store";

/// The `/pkg` folder of the site, serving the precompressed variant a
/// browser accepts (brotli before gzip) when the build wrote one.
pub fn pkg_service(options: &LeptosOptions) -> ServeDir {
    let dir = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    ServeDir::new(dir).precompressed_br().precompressed_gzip()
}

/// Whether a file name carries a content hash as cargo-leptos writes it:
/// `name.<22 characters of URL-safe base64>.ext`.
pub fn is_content_hashed(file_name: &str) -> bool {
    let mut parts = file_name.rsplit('.');
    let (Some(_ext), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !stem.is_empty()
        && hash.len() == 22
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The `Cache-Control` of a response to `path` with this content type.
fn cache_control(path: &str, content_type: Option<&str>) -> Option<&'static str> {
    if let Some(file) = path
        .strip_prefix(ASSETS_PREFIX)
        .and_then(|p| p.strip_prefix('/'))
    {
        let name = file.rsplit('/').next().unwrap_or(file);
        return Some(if is_content_hashed(name) {
            IMMUTABLE
        } else {
            REVALIDATE
        });
    }
    if path.starts_with("/api/") && content_type != Some("text/event-stream") {
        return Some(NEVER_STORE);
    }
    if content_type.is_some_and(|t| t.starts_with("text/html")) {
        return Some(REVALIDATE);
    }
    None
}

/// Sets `Cache-Control` (unless the handler did) and, on assets, `Vary:
/// Accept-Encoding`: the same URL answers brotli, gzip or plain bytes.
pub async fn cache_policy(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let policy = cache_control(&path, content_type);
    let headers = res.headers_mut();
    if let Some(policy) = policy {
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        }
    }
    if path.starts_with(ASSETS_PREFIX) && !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// The file in which the build lists the assets' hashes, beside the server
/// binary (where Leptos looks for it).
fn hash_file(options: &LeptosOptions) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(options.hash_file.as_ref()))
}

/// The stylesheet's address as the pages link it: the content-hashed name
/// the build listed, read from the hash file once per process (a link made
/// per page read the file on every render).
pub fn stylesheet_href(options: &LeptosOptions) -> &'static str {
    static HREF: OnceLock<String> = OnceLock::new();
    HREF.get_or_init(|| {
        let listed = options
            .hash_files
            .then(|| hash_file(options))
            .flatten()
            .and_then(|file| std::fs::read_to_string(file).ok());
        css_href(options, listed.as_deref())
    })
}

/// `/pkg/<name>.<css hash>.css` when `hashes` (the hash file's text) lists
/// one, else `/pkg/<name>.css`.
fn css_href(options: &LeptosOptions, hashes: Option<&str>) -> String {
    let hash = hashes.and_then(|text| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix("css:").map(str::trim))
    });
    let (pkg, name) = (&options.site_pkg_dir, &options.output_name);
    match hash {
        Some(hash) if !hash.is_empty() => format!("/{pkg}/{name}.{hash}.css"),
        _ => format!("/{pkg}/{name}.css"),
    }
}

/// Links the pages to the hashed asset names when the build wrote them.
pub fn use_hashed_names_if_built(options: &mut LeptosOptions) {
    if let Some(file) = hash_file(options) {
        if file.is_file() {
            options.hash_files = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_link_names_the_css_hash_the_build_listed() {
        let options = LeptosOptions::builder().output_name("opshub").build();
        let listed = "js: AAAAAAAAAAAAAAAAAAAAAA\ncss: Qx3bA9_-c0ZyXwVuTsRqPo\nwasm: BBBBBBBBBBBBBBBBBBBBBB\n";
        assert_eq!(
            css_href(&options, Some(listed)),
            "/pkg/opshub.Qx3bA9_-c0ZyXwVuTsRqPo.css"
        );
        assert_eq!(css_href(&options, None), "/pkg/opshub.css");
        assert_eq!(css_href(&options, Some("js: AAAA\n")), "/pkg/opshub.css");
    }

    #[test]
    fn only_names_with_a_content_hash_count_as_hashed() {
        assert!(is_content_hashed("opshub.Qx3bA9_-c0ZyXwVuTsRqPo.wasm"));
        assert!(is_content_hashed("opshub.Qx3bA9_-c0ZyXwVuTsRqPo.css"));
        assert!(!is_content_hashed("opshub.wasm"));
        assert!(!is_content_hashed("opshub_bg.wasm"));
        assert!(!is_content_hashed("opshub.short.js"));
        assert!(!is_content_hashed(".Qx3bA9_-c0ZyXwVuTsRqPo.js"));
        assert!(!is_content_hashed("opshub.Qx3bA9_+c0ZyXwVuTsRqPo.js"));
    }

    #[test]
    fn hashed_assets_are_immutable_and_everything_else_is_checked_or_never_stored() {
        let hashed = "/pkg/opshub.Qx3bA9_-c0ZyXwVuTsRqPo.wasm";
        assert_eq!(cache_control(hashed, None), Some(IMMUTABLE));
        assert_eq!(cache_control("/pkg/opshub.css", None), Some(REVALIDATE));
        assert_eq!(
            cache_control("/runs", Some("text/html; charset=utf-8")),
            Some(REVALIDATE)
        );
        assert_eq!(
            cache_control("/api/runs/list", Some("application/json")),
            Some(NEVER_STORE)
        );
        assert_eq!(
            cache_control("/api/events", Some("text/event-stream")),
            None
        );
        assert_eq!(cache_control("/healthz", Some("text/plain")), None);
    }
}
