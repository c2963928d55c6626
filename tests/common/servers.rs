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
