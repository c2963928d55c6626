//! A connector that misbehaves on request, for the containment tests. The service
//! configuration's `mode` picks the misbehaviour of `status`:
//!
//! | mode | what `status` does |
//! |---|---|
//! | `noop` (default) | answers `pending` without I/O (also the benchmark's no-I/O call) |
//! | `loop` | spins forever |
//! | `memory` | allocates 1 MiB blocks until it cannot |
//! | `egress` | sends `GET` to the service configuration's `url` and reports what happened |
//! | `upload` | sends a 64 KiB `POST` to `url` and reports what happened |
//! | `panic` | panics |
//! | `secret` | reports the tenant `api_key` it sees, posts it to `url` and reports the echo |
//! | `flood` | writes 5000 log lines and 5000 stdout lines, then answers `pending` |
//! | `stdout` | prints one line to stdout and one to stderr, then answers `pending` |
//! | `refused_flood` | sends 400 `GET`s to `url` followed by a 4 MiB path, then reports how many failed |

use cassa_sdk::http::Request;
use cassa_sdk::{Capabilities, ConnectorInfo, Created, DebtPosition, DebtRef, Error, PaymentStatus};
use serde_json::Value;

struct Hostile;

cassa_sdk::export_connector!(Hostile);

fn field(json: &str, name: &str) -> String {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.get(name).and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// The configuration documents as given: the guest reads its fields itself.
struct Raw {
    tenant_config: String,
    service_config: String,
}

impl cassa_sdk::Connector for Hostile {
    type Config = Raw;

    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "hostile".into(),
            version: "0.0.1".into(),
            contract_version: cassa_sdk::CONTRACT_VERSION.into(),
            description: "misbehaves on request (tests only)".into(),
            capabilities: Capabilities::empty(),
            tenant_schema: r#"{"type":"object","properties":{"api_key":{"type":"string","x-secret":true}}}"#.into(),
            service_schema: r#"{"type":"object","properties":{"mode":{"type":"string"},"url":{"type":"string"}}}"#
                .into(),
            hosts: vec!["*".into()],
        }
    }

    fn read_config(tenant: &str, service: &str) -> Result<Self::Config, Error> {
        Ok(Raw { tenant_config: tenant.to_owned(), service_config: service.to_owned() })
    }

    fn create(_config: Raw, _position: DebtPosition) -> Result<Created, Error> {
        Err(cassa_sdk::unsupported("create"))
    }

    fn status(ctx: Raw, _debt: DebtRef) -> Result<PaymentStatus, Error> {
        match field(&ctx.service_config, "mode").as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![7u8; 1 << 20]));
                }
            }
            "egress" => {
                let url = field(&ctx.service_config, "url");
                match Request::get(&url).send_raw() {
                    Ok(reply) => Err(Error::Rejected(format!("reached {url}: HTTP {}", reply.status))),
                    Err(e) => Err(cassa_sdk::http::transport_error(e)),
                }
            }
            "upload" => {
                let url = field(&ctx.service_config, "url");
                match Request::post(&url).body(vec![b'u'; 64 * 1024]).send_raw() {
                    Ok(reply) => Err(Error::Rejected(format!("uploaded to {url}: HTTP {}", reply.status))),
                    Err(e) => Err(cassa_sdk::http::transport_error(e)),
                }
            }
            "refused_flood" => {
                let url = format!("{}/{}", field(&ctx.service_config, "url"), "a".repeat(4 << 20));
                let mut failed = 0;
                let mut last = None;
                for _ in 0..400 {
                    if let Err(e) = Request::get(&url).send_raw() {
                        failed += 1;
                        last = Some(e);
                    }
                }
                match last {
                    Some(e) => Err(cassa_sdk::http::transport_error(e)),
                    None => Err(Error::Rejected(format!("{failed} of 400 failed"))),
                }
            }
            "panic" => panic!("hostile guest panics on purpose"),
            "secret" => {
                let seen = field(&ctx.tenant_config, "api_key");
                let url = field(&ctx.service_config, "url");
                let echoed = Request::post(&url)
                    .header("X-Key", &seen)
                    .body(format!("key={seen}"))
                    .send()
                    .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                    .unwrap_or_else(|e| format!("{e:?}"));
                Err(Error::Rejected(format!("seen={seen} echoed={echoed}")))
            }
            "flood" => {
                for i in 0..5000 {
                    cassa_sdk::log::info(&format!("flood line {i}"));
                    println!("stdout flood line {i}");
                }
                Ok(PaymentStatus::Pending)
            }
            "stdout" => {
                println!("hello from the guest's stdout");
                eprintln!("hello from the guest's stderr");
                cassa_sdk::log::warn("hello from the guest's log");
                Ok(PaymentStatus::Pending)
            }
            _ => Ok(PaymentStatus::Pending),
        }
    }
}
