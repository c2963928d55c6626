//! The conformance suite every connector must pass (`cassa connector test`).
//!
//! It drives a connector through the runtime — the same sandbox and egress path production uses
//! — against a fake intermediary that implements [`Fake`]: create → status pending → pay →
//! status paid → receipt; the notice is a PDF; cancel → canceled; an invalid configuration →
//! `invalid-config`; the intermediary down → `unavailable`; the same create twice → one
//! position; a host outside the allow-list → refused. Optional operations the connector does not
//! declare are skipped, not failed.

use std::future::Future;

use serde_json::Value;

use crate::runtime::{CallError, CallScope, Connector, Runtime, wit};

/// A fake intermediary the suite can run a connector against.
pub trait Fake {
    /// A short name for the report.
    fn name(&self) -> String;
    /// A valid tenant configuration pointing at the fake, with real secret values.
    fn tenant_config(&self) -> Value;
    /// A valid service configuration.
    fn service_config(&self) -> Value;
    /// The host patterns a tenant using the fake allows.
    fn allowed_hosts(&self) -> Vec<String>;
    /// The tenant configuration with the intermediary's address replaced by `base_url`.
    fn tenant_config_at(&self, base_url: &str) -> Value;
    /// Pays a debt position the way a citizen would.
    fn pay(&self, debt: &wit::DebtRef) -> impl Future<Output = Result<(), String>> + Send;
    /// How many positions the fake holds for `iud`, when it can tell.
    fn positions_for(&self, iud: &str) -> impl Future<Output = Option<usize>> + Send;
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `Ok(None)` passed, `Ok(Some(why))` skipped, `Err(why)` failed.
    pub outcome: Result<Option<String>, String>,
}

/// The whole report.
#[derive(Debug, Default)]
pub struct Report {
    /// Every check in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Checks that passed.
    pub fn passed(&self) -> usize {
        self.checks.iter().filter(|c| matches!(c.outcome, Ok(None))).count()
    }

    /// Checks that failed.
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| c.outcome.is_err()).count()
    }

    /// Checks that were skipped.
    pub fn skipped(&self) -> usize {
        self.checks.iter().filter(|c| matches!(c.outcome, Ok(Some(_)))).count()
    }

    /// The closing line, `N passed, M failed`; skipped checks are counted apart
    /// ([`Report::skipped_line`]).
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed(), self.failed())
    }

    /// `K skipped (…)` when optional checks were skipped, printed before the summary.
    pub fn skipped_line(&self) -> Option<String> {
        let skipped = self.skipped();
        (skipped > 0).then(|| format!("{skipped} skipped (optional operations the connector does not declare)"))
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(None) => write!(f, "ok    {}", self.name),
            Ok(Some(why)) => write!(f, "skip  {} ({why})", self.name),
            Err(why) => write!(f, "FAIL  {}: {why}", self.name),
        }
    }
}

struct Suite<'a, F: Fake> {
    connector: &'a Connector,
    fake: &'a F,
    report: Report,
    on_check: &'a mut dyn FnMut(&Check),
}

impl<F: Fake> Suite<'_, F> {
    fn record(&mut self, name: &str, outcome: Result<Option<String>, String>) {
        let check = Check { name: name.to_owned(), outcome };
        (self.on_check)(&check);
        self.report.checks.push(check);
    }

    fn pass(&mut self, name: &str, outcome: Result<(), String>) {
        self.record(name, outcome.map(|()| None));
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.record(name, Ok(Some(why.to_owned())));
    }

    fn scope(&self, tenant_config: Value) -> CallScope {
        CallScope {
            tenant_id: "00000000-0000-4000-8000-00000000c0de".into(),
            service_id: "00000000-0000-4000-8000-0000000005e7".into(),
            payment_id: None,
            tenant_config,
            service_config: self.fake.service_config(),
            allowed_hosts: self.fake.allowed_hosts(),
            ..CallScope::default()
        }
    }
}

/// A debt position for the suite: a fresh IUD each run, so runs against a shared fake or a
/// real test installation do not collide.
pub fn sample_position(amount: u64) -> wit::DebtPosition {
    let payment_id = uuid::Uuid::new_v4();
    wit::DebtPosition {
        payment_id: payment_id.to_string(),
        iud: payment_id.simple().to_string(),
        amount,
        reason: format!("{payment_id} - CLNVTR76P01G822Q"),
        expire_at: Some(
            (chrono::Utc::now() + chrono::Duration::days(90)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        payer: wit::Party {
            kind: wit::PartyKind::Human,
            tax_id: "CLNVTR76P01G822Q".into(),
            name: "Vittorino".into(),
            family_name: Some("Coliandro".into()),
            street_name: Some("Via Roma".into()),
            building_number: Some("1".into()),
            postal_code: Some("56100".into()),
            town_name: Some("Bugliano".into()),
            country_subdivision: Some("PI".into()),
            country: Some("IT".into()),
            email: Some("vittorino@example.org".into()),
        },
        debtor: None,
        receiver: Some(wit::Receiver { tax_id: "80001234568".into(), name: "Comune di Bugliano".into(), iban: None }),
        pagopa_category: Some("9/0101108TS/".into()),
        due_type: None,
        split: Vec::new(),
        kind: wit::PaymentKind::Pagopa,
        document_hash: None,
        locale: Some("it".into()),
    }
}

/// How later calls name the debt position `create` opened for `position`.
pub fn debt_ref(position: &wit::DebtPosition, created: &wit::Created) -> wit::DebtRef {
    wit::DebtRef {
        payment_id: position.payment_id.clone(),
        iud: position.iud.clone(),
        iuv: created.iuv.clone(),
        notice_code: created.notice_code.clone(),
        remote_ref: created.remote_ref.clone(),
    }
}

fn status_name(status: &wit::PaymentStatus) -> String {
    match status {
        wit::PaymentStatus::Pending => "pending".into(),
        wit::PaymentStatus::Started => "started".into(),
        wit::PaymentStatus::Paid(p) => format!("paid({} cents at {})", p.amount, p.paid_at),
        wit::PaymentStatus::Expired => "expired".into(),
        wit::PaymentStatus::Canceled => "canceled".into(),
        wit::PaymentStatus::Failed(why) => format!("failed({why})"),
    }
}

fn call_error(e: CallError) -> String {
    format!("{e} (blame {})", e.blame())
}

/// A `base_url` where nothing listens: a port just bound and released on loopback.
async fn closed_port_url() -> String {
    match tokio::net::TcpListener::bind("127.0.0.1:0").await.and_then(|l| l.local_addr()) {
        Ok(addr) => format!("http://{addr}"),
        Err(_) => "http://127.0.0.1:9".into(),
    }
}

/// Loads `wasm` in `runtime` and runs the suite against `fake`, calling `on_check` after each
/// check.
pub async fn run<F: Fake + Sync>(runtime: &Runtime, wasm: &[u8], fake: &F, on_check: &mut dyn FnMut(&Check)) -> Report {
    let connector = match runtime.load(wasm).await {
        Ok(c) => c,
        Err(e) => {
            let check =
                Check { name: "the component is admitted and info() answers".into(), outcome: Err(e.to_string()) };
            on_check(&check);
            return Report { checks: vec![check] };
        }
    };
    let mut suite = Suite { connector: &connector, fake, report: Report::default(), on_check };
    suite.pass("the component is admitted and info() answers", Ok(()));
    run_checks(&mut suite).await;
    suite.report
}

async fn run_checks<F: Fake + Sync>(s: &mut Suite<'_, F>) {
    let info = s.connector.info().clone();
    let schemas_ok = (|| {
        for (which, schema) in [("tenant", &info.tenant_schema), ("service", &info.service_schema)] {
            if schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(format!("{which} schema is not an object schema"));
            }
        }
        Ok(())
    })();
    s.pass("info() publishes object schemas for tenant and service configuration", schemas_ok);

    let good = s.scope(s.fake.tenant_config());
    let r = s.connector.validate_config(&good).await.map_err(call_error);
    s.pass("validate-config accepts a valid configuration", r);

    let bad = s.scope(Value::Object(Default::default()));
    let r = match s.connector.validate_config(&bad).await {
        Err(CallError::Connector(wit::Error::InvalidConfig(fields))) if !fields.is_empty() => Ok(()),
        Err(CallError::Connector(wit::Error::InvalidConfig(_))) => Err("invalid-config without field errors".into()),
        Ok(()) => Err("an empty tenant configuration was accepted".into()),
        Err(e) => Err(format!("expected invalid-config, got {}", call_error(e))),
    };
    s.pass("validate-config rejects an invalid configuration with field errors", r);

    let position = sample_position(1600);
    let created = match s.connector.create(&good, position.clone()).await {
        Ok(c) => c,
        Err(e) => {
            s.pass("create opens a debt position with a valid notice code", Err(call_error(e)));
            return;
        }
    };
    let r = cassa_sdk::iuv::iuv_from_notice_code(&created.notice_code)
        .map_err(|e| format!("notice code {}: {e}", created.notice_code))
        .and_then(|iuv| {
            if iuv == created.iuv {
                Ok(())
            } else {
                Err(format!("IUV {} does not match notice code {}", created.iuv, created.notice_code))
            }
        });
    s.pass("create opens a debt position with a valid notice code", r);
    let debt = debt_ref(&position, &created);

    let r = match s.connector.status(&good, debt.clone()).await {
        Ok(wit::PaymentStatus::Pending) => Ok(()),
        Ok(other) => Err(format!("expected pending, got {}", status_name(&other))),
        Err(e) => Err(call_error(e)),
    };
    s.pass("status of a new debt position is pending", r);

    let r = match s.connector.create(&good, position.clone()).await {
        Ok(again) if again.iuv == created.iuv && again.notice_code == created.notice_code => {
            match s.fake.positions_for(&position.iud).await {
                Some(1) | None => Ok(()),
                Some(n) => Err(format!("the intermediary holds {n} positions for one IUD")),
            }
        }
        Ok(again) => Err(format!("second create gave IUV {} instead of {}", again.iuv, created.iuv)),
        Err(e) => Err(call_error(e)),
    };
    s.pass("the same create sent twice yields the same debt position", r);

    let name = "find answers the position of a created IUD and none for an unknown one, creating nothing";
    let found = if s.connector.can_find() {
        Some(s.connector.find(&good, &position.payment_id, &position.iud).await)
    } else {
        None
    };
    if let Some(Err(CallError::Connector(wit::Error::Unsupported(_)))) | None = found {
        s.skip(name, "no lookup (find) implemented");
    } else if let Some(found) = found {
        let unknown = sample_position(1600);
        let r = match found {
            Ok(Some(found)) if found.iuv == created.iuv && found.notice_code == created.notice_code => {
                match s.connector.find(&good, &unknown.payment_id, &unknown.iud).await {
                    Ok(None) => match s.fake.positions_for(&unknown.iud).await {
                        Some(0) | None => Ok(()),
                        Some(n) => Err(format!("find of an unknown IUD left {n} position(s) behind")),
                    },
                    Ok(Some(other)) => Err(format!("find of an unknown IUD found IUV {}", other.iuv)),
                    Err(e) => Err(format!("find of an unknown IUD: {}", call_error(e))),
                }
            }
            Ok(Some(other)) => Err(format!("find gave IUV {} instead of {}", other.iuv, created.iuv)),
            Ok(None) => Err("find did not find the position create opened".into()),
            Err(e) => Err(call_error(e)),
        };
        s.pass(name, r);
    }

    if info.can("begin-online") {
        let urls = wit::ReturnUrls {
            ok: "https://cassa.example/landing/ok".into(),
            cancel: "https://cassa.example/landing/cancel".into(),
            error: "https://cassa.example/landing/error".into(),
        };
        let r = match s.connector.begin_online(&good, debt.clone(), urls).await {
            Ok(url) if url.starts_with("https://") || url.starts_with("http://") => Ok(()),
            Ok(url) => Err(format!("`{url}` is not an http(s) URL")),
            Err(e) => Err(call_error(e)),
        };
        s.pass("begin-online returns the URL of the payment page", r);
    } else {
        s.skip("begin-online returns the URL of the payment page", "not declared");
    }

    if info.can("notice") {
        let r = match s.connector.notice(&good, debt.clone()).await {
            Ok(doc) if doc.body.starts_with(b"%PDF-") && doc.content_type == "application/pdf" => Ok(()),
            Ok(doc) => Err(format!("got {} of {} bytes, not a PDF", doc.content_type, doc.body.len())),
            Err(e) => Err(call_error(e)),
        };
        s.pass("the notice is a PDF", r);
    } else {
        s.skip("the notice is a PDF", "not declared");
    }

    let r = match s.fake.pay(&debt).await {
        Err(why) => Err(format!("the fake could not pay: {why}")),
        Ok(()) => match s.connector.status(&good, debt.clone()).await {
            Ok(wit::PaymentStatus::Paid(p)) if p.amount == position.amount && !p.transaction_id.is_empty() => {
                chrono::DateTime::parse_from_rfc3339(&p.paid_at)
                    .map(|_| ())
                    .map_err(|e| format!("paid-at `{}`: {e}", p.paid_at))
            }
            Ok(other) => Err(format!("expected paid({} cents), got {}", position.amount, status_name(&other))),
            Err(e) => Err(call_error(e)),
        },
    };
    s.pass("after the citizen pays, status is paid with the amount and a transaction id", r);

    if info.can("receipt") {
        let r = match s.connector.receipt(&good, debt.clone()).await {
            Ok(doc) if !doc.body.is_empty() => Ok(()),
            Ok(_) => Err("empty receipt".into()),
            Err(e) => Err(call_error(e)),
        };
        s.pass("the receipt of a paid position is available", r);
    } else {
        s.skip("the receipt of a paid position is available", "not declared");
    }

    if info.can("cancel") {
        let position = sample_position(2500);
        let r = match s.connector.create(&good, position.clone()).await {
            Err(e) => Err(call_error(e)),
            Ok(created) => {
                let debt = debt_ref(&position, &created);
                match s.connector.cancel(&good, debt.clone()).await {
                    Err(e) => Err(call_error(e)),
                    Ok(()) => match s.connector.status(&good, debt).await {
                        Ok(wit::PaymentStatus::Canceled) => Ok(()),
                        Ok(other) => Err(format!("expected canceled, got {}", status_name(&other))),
                        Err(e) => Err(call_error(e)),
                    },
                }
            }
        };
        s.pass("cancel annuls a debt position and status says canceled", r);
    } else {
        s.skip("cancel annuls a debt position and status says canceled", "not declared");
    }

    let down = s.scope(s.fake.tenant_config_at(&closed_port_url().await));
    let r = match s.connector.create(&down, sample_position(100)).await {
        Err(e @ CallError::Connector(wit::Error::Unavailable(_))) if e.is_transient() => Ok(()),
        Ok(_) => Err("create succeeded against a closed port".into()),
        Err(e) => Err(format!("expected unavailable, got {}", call_error(e))),
    };
    s.pass("the intermediary down gives unavailable", r);

    let outside = s.scope(s.fake.tenant_config_at("http://intermediary.outside-the-allow-list.invalid"));
    let r = match s.connector.create(&outside, sample_position(100)).await {
        Err(CallError::EgressDenied { .. }) => Ok(()),
        Ok(_) => Err("create succeeded against a host outside the allow-list".into()),
        Err(e) => Err(format!("expected the request to be refused, got {}", call_error(e))),
    };
    s.pass("a request to a host outside the allow-list is refused", r);
}

/// The sandbox intermediary as a [`Fake`]: in this process (with its state visible) or at a URL.
pub struct SandboxFake {
    /// Where it is.
    pub base_url: String,
    /// The API key it expects.
    pub api_key: String,
    /// Its state, when it runs in this process.
    pub local: Option<crate::sandbox_intermediary::SandboxIntermediary>,
    client: reqwest::Client,
}

/// The fiscal code of the conformance suite's creditor.
pub const SUITE_FISCAL_CODE: &str = "80001234568";

impl SandboxFake {
    /// Starts a sandbox intermediary on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let api_key = format!("sbx-{}", uuid::Uuid::new_v4().simple());
        let settings = crate::sandbox_intermediary::SandboxSettings {
            api_key: api_key.clone(),
            segregation_code: 1,
            public_url: String::new(),
        };
        let (local, addr) =
            crate::sandbox_intermediary::SandboxIntermediary::start(settings, ([127, 0, 0, 1], 0).into()).await?;
        Ok(Self { base_url: format!("http://{addr}"), api_key, local: Some(local), client: reqwest::Client::new() })
    }

    /// A sandbox intermediary somebody else runs.
    pub fn remote(base_url: &str, api_key: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            local: None,
            client: reqwest::Client::new(),
        }
    }
}

impl Fake for SandboxFake {
    fn name(&self) -> String {
        format!("sandbox intermediary at {}", self.base_url)
    }

    fn tenant_config(&self) -> Value {
        self.tenant_config_at(&self.base_url)
    }

    fn service_config(&self) -> Value {
        serde_json::json!({ "reason_prefix": "Conformance" })
    }

    fn allowed_hosts(&self) -> Vec<String> {
        // The closed-port check needs loopback ports besides the fake's own.
        vec![origin(&self.base_url).unwrap_or_default(), "127.0.0.1".into()]
    }

    fn tenant_config_at(&self, base_url: &str) -> Value {
        serde_json::json!({ "base_url": base_url, "fiscal_code": SUITE_FISCAL_CODE, "api_key": self.api_key })
    }

    async fn pay(&self, debt: &wit::DebtRef) -> Result<(), String> {
        // Through the citizen's page, as a browser would submit it.
        let url = format!("{}/pay/{SUITE_FISCAL_CODE}/{}", self.base_url, debt.iud);
        let reply = self.client.post(&url).form(&[("action", "pay")]).send().await.map_err(|e| e.to_string())?;
        if reply.status().is_success() { Ok(()) } else { Err(format!("payment page answered {}", reply.status())) }
    }

    async fn positions_for(&self, iud: &str) -> Option<usize> {
        self.local.as_ref().map(|l| l.positions_for(iud))
    }
}

/// The origin (`host:port`) of an http(s) URL.
fn origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(format!("{}:{}", url.host_str()?, url.port_or_known_default()?))
}

/// What a test-kit fake says about itself at `GET /_fake/conformance`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Descriptor {
    /// A short name for reports.
    pub name: String,
    /// A working tenant configuration, secrets in clear.
    pub tenant_config: Value,
    /// A working service configuration.
    pub service_config: Value,
}

/// Any fake intermediary that speaks the test-kit protocol (`tests/fakes`, and docs/CONNECTORS.md
/// for authors of new ones): `GET /_fake/conformance` describes a working configuration,
/// `POST /_fake/pay` pays a position as a citizen would, `GET /_fake/positions?iud=` counts the
/// positions held for an IUD.
pub struct RemoteFake {
    base_url: String,
    descriptor: Descriptor,
    client: reqwest::Client,
}

impl RemoteFake {
    /// Asks `base_url` for its descriptor; `Ok(None)` when it does not speak the protocol.
    pub async fn connect(base_url: &str) -> anyhow::Result<Option<Self>> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let client = reqwest::Client::new();
        let reply = client.get(format!("{base_url}/_fake/conformance")).send().await?;
        if !reply.status().is_success() {
            return Ok(None);
        }
        let descriptor: Descriptor = reply.json().await?;
        Ok(Some(Self { base_url, descriptor, client }))
    }
}

impl Fake for RemoteFake {
    fn name(&self) -> String {
        self.descriptor.name.clone()
    }

    fn tenant_config(&self) -> Value {
        self.descriptor.tenant_config.clone()
    }

    fn service_config(&self) -> Value {
        self.descriptor.service_config.clone()
    }

    fn allowed_hosts(&self) -> Vec<String> {
        // The closed-port check needs loopback ports besides the fake's own.
        vec![origin(&self.base_url).unwrap_or_default(), "127.0.0.1".into()]
    }

    fn tenant_config_at(&self, base_url: &str) -> Value {
        // Every address of the fake in the configuration moves to `base_url`.
        let mut config = self.descriptor.tenant_config.clone();
        if let Value::Object(map) = &mut config {
            for value in map.values_mut() {
                if let Value::String(text) = value
                    && let Some(rest) = text.strip_prefix(&self.base_url)
                {
                    *text = format!("{}{rest}", base_url.trim_end_matches('/'));
                }
            }
        }
        config
    }

    async fn pay(&self, debt: &wit::DebtRef) -> Result<(), String> {
        let body = serde_json::json!({"iud": debt.iud, "iuv": debt.iuv, "notice_code": debt.notice_code});
        let reply = self
            .client
            .post(format!("{}/_fake/pay", self.base_url))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if reply.status().is_success() {
            Ok(())
        } else {
            Err(format!("the fake answered {}: {}", reply.status(), reply.text().await.unwrap_or_default()))
        }
    }

    async fn positions_for(&self, iud: &str) -> Option<usize> {
        let reply = self.client.get(format!("{}/_fake/positions", self.base_url)).query(&[("iud", iud)]).send().await;
        let body: Value = reply.ok()?.json().await.ok()?;
        body["positions"].as_u64().and_then(|n| usize::try_from(n).ok())
    }
}
