//! What goes over the wire: compression, caching and prompt delivery, over a
//! real socket.

use super::test_client::demo_operator;
use crate::server::assets::{IMMUTABLE, NEVER_STORE, REVALIDATE};
use sqlx::PgPool;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
    enc.write_all(bytes).unwrap();
    drop(enc);
    out
}

/// A raw GET: (status, headers, body bytes as sent).
async fn raw_get(
    http: &reqwest::Client,
    url: String,
    accept_encoding: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let res = http
        .get(url)
        .header("accept-encoding", accept_encoding)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A site folder as a release build writes it: a hashed WASM with its
/// brotli and gzip variants, and a stylesheet without a hash.
fn release_like_site() -> (std::path::PathBuf, String, Vec<u8>) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let root = std::env::temp_dir().join(format!("opshub-site-{}-{n}", std::process::id()));
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let wasm: Vec<u8> = (0..50_000u32)
        .flat_map(|i| {
            format!("(func $f{} (result i32) i32.const {})\n", i % 97, i % 13).into_bytes()
        })
        .collect();
    let name = "opshub.Qx3bA9_-c0ZyXwVuTsRqPo.wasm".to_string();
    std::fs::write(pkg.join(&name), &wasm).unwrap();
    std::fs::write(pkg.join(format!("{name}.br")), brotli(&wasm)).unwrap();
    std::fs::write(pkg.join(format!("{name}.gz")), gzip(&wasm)).unwrap();
    std::fs::write(
        pkg.join("opshub.css"),
        "body { color: black; }\n".repeat(100),
    )
    .unwrap();
    (root, name, wasm)
}

async fn spawn_with_site(pool: PgPool, root: &std::path::Path) -> SocketAddr {
    let mut config = super::HubConfig::local();
    config.leptos_options.site_root = root.to_string_lossy().to_string().into();
    super::Application::build(pool, config)
        .await
        .expect("a local hub")
        .spawn()
        .0
}

#[sqlx::test]
async fn hashed_assets_are_sent_precompressed_and_cached_for_a_year(pool: PgPool) {
    let (root, name, wasm) = release_like_site();
    let addr = spawn_with_site(pool, &root).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/pkg/{name}");

    let (status, headers, body) = raw_get(&http, url.clone(), "gzip, deflate, br, zstd").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), "br");
    assert_eq!(header(&headers, "cache-control"), IMMUTABLE);
    assert!(header(&headers, "vary")
        .to_ascii_lowercase()
        .contains("accept-encoding"));
    assert!(
        body.len() * 5 < wasm.len(),
        "{} of {} bytes",
        body.len(),
        wasm.len()
    );
    assert_eq!(unbrotli(&body), wasm);

    let (_, headers, body) = raw_get(&http, url.clone(), "gzip").await;
    assert_eq!(header(&headers, "content-encoding"), "gzip");
    assert_eq!(header(&headers, "cache-control"), IMMUTABLE);
    assert_eq!(gunzip(&body), wasm);

    let (_, headers, body) = raw_get(&http, url, "identity").await;
    assert_eq!(header(&headers, "content-encoding"), "");
    assert_eq!(body, wasm);

    // A name without a hash may change content: checked on every use.
    let (status, headers, _) =
        raw_get(&http, format!("http://{addr}/pkg/opshub.css"), "identity").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), REVALIDATE);
    let _ = std::fs::remove_dir_all(root);
}

#[sqlx::test]
async fn pages_and_server_functions_are_compressed_and_never_cached_stale(pool: PgPool) {
    let c = demo_operator(pool).await;

    let page = c.get_raw("/runs", &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-encoding"), Some("br"));
    assert_eq!(page.header("cache-control"), Some(REVALIDATE));
    assert!(page
        .header("vary")
        .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    let html = String::from_utf8(unbrotli(&page.bytes)).unwrap();
    assert!(html.contains("<table class=\"runs-table\""), "{html}");
    assert!(
        page.bytes.len() * 4 < html.len(),
        "{} of {}",
        page.bytes.len(),
        html.len()
    );

    let list = c
        .post_with("/api/runs/list", &[], &[("accept-encoding", "gzip")])
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.header("content-encoding"), Some("gzip"));
    assert_eq!(list.header("cache-control"), Some(NEVER_STORE));
    let json = String::from_utf8(gunzip(&list.bytes)).unwrap();
    assert!(json.contains("\"status\""), "{json}");

    // Without Accept-Encoding the same answers come as they are.
    let plain = c.get_raw("/runs", &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.body.contains("<table class=\"runs-table\""));
}

#[sqlx::test]
async fn the_event_stream_is_not_compressed_and_its_first_event_arrives_at_once(pool: PgPool) {
    let c = demo_operator(pool).await;
    let mut res = c
        .stream_with("/api/events", &[("accept-encoding", "br, gzip, zstd")])
        .await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().get("content-encoding").is_none());
    let chunk = tokio::time::timeout(Duration::from_secs(2), res.chunk())
        .await
        .expect("the first event within 2 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.contains("event: ready"), "{text}");
}

#[tokio::test]
async fn every_accepted_connection_sends_without_waiting_for_acks() {
    use axum::serve::Listener as _;
    // Without TCP_NODELAY the kernel holds a response's second write (the
    // body after the head, the next small event of a stream) until the
    // client's delayed ACK: about 40 ms per request on a kept-alive
    // connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut listener = super::http::without_nagle(listener);
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (accepted, _) = listener.accept().await;
    assert!(accepted.nodelay().unwrap());
}

/// A page's reads share the connection its request looked the session up
/// on, and nothing in a page waits for a second one: on a hub whose pool
/// has one connection for requests (the other is the event listener's),
/// every page renders. A read that took a connection of its own while its
/// request held one would wait out the pool's timeout instead.
#[sqlx::test]
async fn every_page_renders_while_its_request_holds_the_pools_one_free_connection(pool: PgPool) {
    use super::test_client::Client;
    crate::seed::demo::run(&pool, chrono::Utc::now())
        .await
        .unwrap();
    let (run, set, finding): (i64, i64, i64) = sqlx::query_as(
        "WITH t AS (SELECT id FROM tenants WHERE slug = 'contoso') \
         SELECT (SELECT max(id) FROM bulk_operation_runs WHERE tenant_id = (SELECT id FROM t)), \
                (SELECT max(id) FROM backup_sets WHERE tenant_id = (SELECT id FROM t)), \
                (SELECT max(id) FROM findings WHERE tenant_id = (SELECT id FROM t))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let two = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy_with((*pool.connect_options()).clone());
    let addr = super::Application::spawn_local(two).await.unwrap().0;
    let c = Client::new(addr);
    c.sign_in("olivia@contoso.example", crate::seed::demo::DEMO_PASSWORD)
        .await;
    for path in [
        "/runs".to_string(),
        "/overview".to_string(),
        format!("/runs/{run}"),
        format!("/backup-sets/{set}"),
        "/start".to_string(),
        "/findings".to_string(),
        format!("/findings/{finding}"),
        "/notifications".to_string(),
        "/no-such-page".to_string(),
    ] {
        let page = c.get(&path).await;
        let expected = if path == "/no-such-page" { 404 } else { 200 };
        assert_eq!(page.status, expected, "{path}: {}", page.body);
        assert!(
            page.body.contains("data-testid=\"user-name\""),
            "{path} rendered signed in"
        );
    }
}
