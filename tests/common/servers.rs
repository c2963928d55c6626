//! An HTTP server on loopback that records what reaches it: the core's notify endpoint, an allowed host.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request the echo server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method and path.
    pub line: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

/// An HTTP server on loopback that records every request and answers with its body; `/big`
/// answers 64 KiB, `/slow` answers after two seconds, `/moved-on/…` answers 422 as the core does
/// for an application no longer waiting for its payment.
pub struct EchoServer {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl EchoServer {
    /// Starts one on a free port.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let log = log.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                let body = String::from_utf8_lossy(&body).into_owned();
                let headers = parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                log.lock().unwrap().push(Received {
                    line: format!("{} {}", parts.method, parts.uri),
                    headers,
                    body: body.clone(),
                });
                use axum::response::IntoResponse as _;
                match parts.uri.path() {
                    "/big" => "x".repeat(64 * 1024).into_response(),
                    "/slow" => {
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                        body.into_response()
                    }
                    // The core's answer when the application already left the payment states.
                    path if path.starts_with("/moved-on/") => {
                        (axum::http::StatusCode::UNPROCESSABLE_ENTITY, "[\"Application isn't in correct state\"]")
                            .into_response()
                    }
                    _ => body.into_response(),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, received }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// What a [`FaultyProxy`] did to each request, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Answered 503 without passing the request on.
    pub failed_before: usize,
    /// Passed on (the work done upstream), then answered 502.
    pub failed_after: usize,
    /// Held until the client gave up, never passed on.
    pub hung: usize,
    /// Passed on, then answered 200 with a body nobody can read.
    pub garbage: usize,
    /// Passed on faithfully.
    pub passed: usize,
}

/// A fault-injecting HTTP proxy in front of an intermediary: each request, by a fixed
/// pseudo-random sequence, is failed with a 503 before reaching it, passed on and then failed
/// with a 502 (the work done, the answer lost), held for `hang` and dropped, passed on and
/// answered with garbage under a 200, or passed on faithfully.
pub struct FaultyProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
}

impl FaultyProxy {
    /// Starts one on a free port in front of `upstream`, failing each kind at the share given
    /// (percent): before, after, hang, garbage.
    pub async fn start(upstream: &str, shares: [u64; 4], hang: std::time::Duration) -> Self {
        Self::start_slow(upstream, shares, hang, std::time::Duration::ZERO).await
    }

    /// [`Self::start`], every request also held `delay` before it is passed on (an
    /// intermediary answering slowly).
    pub async fn start_slow(
        upstream: &str,
        shares: [u64; 4],
        hang: std::time::Duration,
        delay: std::time::Duration,
    ) -> Self {
        let faults = Arc::new(Mutex::new(Faults::default()));
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let client = reqwest::Client::new();
        let upstream = upstream.trim_end_matches('/').to_owned();
        let tally = faults.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (tally, counter, client, upstream) = (tally.clone(), counter.clone(), client.clone(), upstream.clone());
            async move {
                use axum::response::IntoResponse as _;
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // A fixed, well-spread sequence (splitmix64) decides each request's fate.
                let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                let roll = (z ^ (z >> 31)) % 100;
                let [before, after, hang_share, garbage] = shares;
                let kind = if roll < before {
                    0
                } else if roll < before + after {
                    1
                } else if roll < before + after + hang_share {
                    2
                } else if roll < before + after + hang_share + garbage {
                    3
                } else {
                    4
                };
                match kind {
                    0 => {
                        tally.lock().unwrap().failed_before += 1;
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "try later").into_response();
                    }
                    2 => {
                        tally.lock().unwrap().hung += 1;
                        tokio::time::sleep(hang).await;
                        return (axum::http::StatusCode::GATEWAY_TIMEOUT, "").into_response();
                    }
                    _ => {}
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
                let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let mut forward = client.request(parts.method.clone(), format!("{upstream}{path}")).body(body);
                for (name, value) in &parts.headers {
                    if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
                        forward = forward.header(name, value);
                    }
                }
                let reply = match forward.send().await {
                    Ok(reply) => reply,
                    Err(error) => return (axum::http::StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
                };
                match kind {
                    1 => {
                        tally.lock().unwrap().failed_after += 1;
                        (axum::http::StatusCode::BAD_GATEWAY, "upstream went away").into_response()
                    }
                    3 => {
                        tally.lock().unwrap().garbage += 1;
                        (axum::http::StatusCode::OK, [("content-type", "application/json")], "<html>{{{ not it")
                            .into_response()
                    }
                    _ => {
                        tally.lock().unwrap().passed += 1;
                        let status = reply.status();
                        let headers = reply.headers().clone();
                        let bytes = reply.bytes().await.unwrap_or_default();
                        let mut response = (status, bytes).into_response();
                        for (name, value) in &headers {
                            if name != axum::http::header::CONTENT_LENGTH
                                && name != axum::http::header::TRANSFER_ENCODING
                            {
                                response.headers_mut().insert(name, value.clone());
                            }
                        }
                        response
                    }
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, faults }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it did so far.
    pub fn faults(&self) -> Faults {
        *self.faults.lock().unwrap()
    }
}
