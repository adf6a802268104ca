//! A real server on a real socket and a browser-like HTTP client (cookie
//! jar, no automatic redirects) for tests of the HTTP surface and the hub
//! benchmark.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ORIGIN};
use reqwest::redirect::Policy;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::Duration;

/// The longest any one request may take: a handler that never answers fails
/// its test with this instead of holding up the whole run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A pool of its own on the test's database, as `opshub serve` gives the
/// hub and the workers.
/// A test's pool (five connections, drawn from a budget of twenty that the
/// tests running at once share) is left to the test itself: a hub serving
/// a page's several reads on it could wait on other tests for longer than
/// a request may take.
pub fn own_pool(pool: &PgPool, max_connections: u32) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .idle_timeout(Duration::from_secs(1))
        .connect_lazy_with((*pool.connect_options()).clone())
}

/// The hub's pool in tests: ten connections of its own.
pub fn hub_pool(pool: &PgPool) -> PgPool {
    own_pool(pool, 10)
}

pub async fn spawn_server(pool: PgPool) -> SocketAddr {
    super::Application::spawn_local(hub_pool(&pool))
        .await
        .expect("a local hub")
        .0
}

/// A hub over the demo data, and a client signed in to it as Contoso's
/// operator.
pub async fn demo_operator(pool: PgPool) -> Client {
    crate::seed::demo::run(&pool, chrono::Utc::now())
        .await
        .unwrap();
    let c = Client::new(spawn_server(pool).await);
    c.sign_in("olivia@contoso.example", crate::seed::demo::DEMO_PASSWORD)
        .await;
    c
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as text (lossy when it is compressed).
    pub body: String,
    /// The body as sent.
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One browser: its own cookie jar.
pub struct Client {
    addr: SocketAddr,
    base: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
        }
    }

    /// The address of the hub this client talks to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn get(&self, path: &str) -> Response {
        Self::read(self.http.get(format!("{}{path}", self.base))).await
    }

    /// A GET with extra request headers.
    pub async fn get_raw(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        Self::read(
            self.http
                .get(format!("{}{path}", self.base))
                .headers(header_map(headers)),
        )
        .await
    }

    /// A GET whose body is read as it arrives (event streams).
    pub async fn stream(&self, path: &str) -> reqwest::Response {
        self.stream_with(path, &[]).await
    }

    /// The event stream, once the hub has said it is ready.
    pub async fn ready_events(&self) -> reqwest::Response {
        let mut stream = self.stream("/api/events").await;
        let (seen, _) = read_events(&mut stream, "event: ready", Duration::from_secs(10)).await;
        assert!(seen.contains("event: ready"), "no ready event: {seen}");
        stream
    }

    pub async fn stream_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let url = format!("{}{path}", self.base);
        self.http
            .get(&url)
            .headers(header_map(headers))
            // Streams stay open as long as the test reads them.
            .timeout(Duration::from_secs(3600))
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: no answer: {err}"))
    }

    /// A server function call as the hydrated app makes it: a same-origin
    /// form-encoded POST.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_with(path, form, &[]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Response {
        self.try_post_with(path, form, headers)
            .await
            .expect("request")
    }

    /// [`Client::post_with`], returning a failed request as an error.
    pub async fn try_post_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> reqwest::Result<Response> {
        let mut all = HeaderMap::new();
        all.insert(ORIGIN, HeaderValue::from_str(&self.base).unwrap());
        all.extend(header_map(headers));
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .headers(all);
        Self::try_read(req).await
    }

    /// A form POST with only the given headers: no `Origin`, unlike the
    /// browser's.
    pub async fn post_bare(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Response {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .headers(header_map(headers));
        Self::read(req).await
    }

    /// A same-origin upload of one file as the multipart field `field`.
    pub async fn post_file(
        &self,
        path: &str,
        field: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Response {
        let form = reqwest::multipart::Form::new().part(
            field.to_string(),
            reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()),
        );
        self.send_multipart(path, form).await
    }

    /// A multipart form POST; the field named `file_field` is sent as a file.
    pub async fn post_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file_field: &str,
    ) -> Response {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = if *k == file_field {
                form.part(
                    k.to_string(),
                    reqwest::multipart::Part::bytes(v.as_bytes().to_vec())
                        .file_name("snapshot.json"),
                )
            } else {
                form.text(k.to_string(), v.to_string())
            };
        }
        self.send_multipart(path, form).await
    }

    /// A same-origin multipart POST of `form`.
    async fn send_multipart(&self, path: &str, form: reqwest::multipart::Form) -> Response {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(ORIGIN, self.base.as_str())
            .multipart(form);
        Self::read(req).await
    }

    /// Signs in (asserting it worked).
    pub async fn sign_in(&self, email: &str, password: &str) {
        let res = self.try_sign_in(email, password).await;
        assert_eq!(res.status, 200, "sign-in of {email} failed: {}", res.body);
    }

    pub async fn try_sign_in(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/sign_in",
            &[("email", email), ("password", password)],
        )
        .await
    }

    async fn read(req: reqwest::RequestBuilder) -> Response {
        let described = match req.try_clone().and_then(|r| r.build().ok()) {
            // Long URLs cut: the failure stays readable.
            Some(r) => format!("{} {}", r.method(), r.url())
                .chars()
                .take(300)
                .collect::<String>(),
            None => "a request".to_string(),
        };
        Self::try_read(req).await.unwrap_or_else(|err| {
            panic!("{described}: no answer within {REQUEST_TIMEOUT:?} (or the connection failed, or the body did not arrive): {err}")
        })
    }

    /// The answer, or why none came (for callers that count failures).
    async fn try_read(req: reqwest::RequestBuilder) -> reqwest::Result<Response> {
        let res = req.send().await?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await?.to_vec();
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        })
    }
}

fn header_map(headers: &[(&str, &str)]) -> HeaderMap {
    let mut all = HeaderMap::new();
    for (k, v) in headers {
        all.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    all
}

/// Reads an event stream until `want` appears, the stream ends, or
/// `within` passes; returns what was read and whether the stream ended.
pub async fn read_events(
    res: &mut reqwest::Response,
    want: &str,
    within: Duration,
) -> (String, bool) {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    while !seen.contains(want) {
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Ok(None)) | Ok(Err(_)) => return (seen, true),
            Err(_) => break,
        }
    }
    (seen, false)
}
