//! The real intermediaries' connectors against their strict fakes (`tests/fakes`): each passes
//! the conformance suite through the test-kit protocol, sends exactly the requests of its golden
//! files (rewritten with `CASSA_BLESS=1`), and tells transient failures from permanent ones.
//! Those three suites are generated for every row of [`connector_suites!`] from what its
//! [`Case`] says of the connector and its fake. The fakes themselves are checked to refuse what
//! the real services refuse.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::PathBuf;

use cassa::conformance::{self, Fake, RemoteFake};
use cassa::runtime::{CallError, CallScope, Connector, wit};
use cassa_fakes::govpay::{Govpay, GovpaySettings};
use cassa_fakes::gpd::{GPD_BASE, Gpd, GpdSettings, NOTICE_BASE, RECEIPTS_BASE};
use cassa_fakes::iris::{Iris, IrisSettings};
use cassa_fakes::mypay::{Mypay, MypaySettings};
use cassa_fakes::xsd::{MypaySchema, Xsd, serialize};
use cassa_fakes::{Recorded, Running};
use cassa_tests::*;
use serde_json::{Value, json};

const GPD: &[u8] = GpdCase::CONNECTOR;

async fn gpd_fake() -> Running<Gpd> {
    serve(GpdCase::fake()).await
}

/// The call scope of the configuration a fake hands out.
async fn scope_of(base_url: &str) -> CallScope {
    let fake = RemoteFake::connect(base_url).await.unwrap().unwrap();
    CallScope {
        tenant_id: TENANT.into(),
        service_id: SERVICE.into(),
        payment_id: None,
        tenant_config: fake.tenant_config(),
        service_config: fake.service_config(),
        allowed_hosts: fake.allowed_hosts(),
        ..CallScope::default()
    }
}

/// The debt position of the golden files: fixed ids, dates and people.
fn golden_position(iud_seed: &str, amount: u64) -> wit::DebtPosition {
    let mut position = conformance::sample_position(amount);
    let payment_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, iud_seed.as_bytes());
    position.payment_id = payment_id.to_string();
    position.iud = payment_id.simple().to_string();
    position.reason = "Diritti di segreteria - CLNVTR76P01G822Q".into();
    position.expire_at = Some("2036-06-08T08:14:58Z".into());
    position
}

/// One request as a golden file shows it: method, path and query, the headers that matter
/// (secrets shown as the placeholder they were sent as), and the body, JSON pretty-printed.
fn render(request: &Recorded, secrets: &[(&str, &str)]) -> String {
    let mut out = format!("{} {}", request.method, request.path);
    if !request.query.is_empty() {
        out.push('?');
        out.push_str(&request.query);
    }
    out.push('\n');
    let mut headers: Vec<&(String, String)> = request
        .headers
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "host" | "content-length" | "user-agent" | "accept-encoding"))
        .collect();
    headers.sort();
    for (name, value) in headers {
        let mut value = value.clone();
        for (field, secret) in secrets {
            value = value.replace(secret, &format!("{{{{secret:{field}}}}}"));
        }
        out.push_str(&format!("{name}: {value}\n"));
    }
    if !request.body.is_empty() {
        out.push('\n');
        match serde_json::from_str::<Value>(&request.body) {
            Ok(json) => out.push_str(&serde_json::to_string_pretty(&json).unwrap()),
            Err(_) => {
                let mut body = request.body.clone();
                for (field, secret) in secrets {
                    body = body.replace(secret, &format!("{{{{secret:{field}}}}}"));
                }
                out.push_str(&body);
            }
        }
        out.push('\n');
        // Base64-embedded documents (MyPay's `dovuto`), decoded for review.
        if let Some(start) = request.body.find("<dovuto>") {
            let rest = &request.body[start + "<dovuto>".len()..];
            let b64 = &rest[..rest.find("</dovuto>").unwrap_or(rest.len())];
            out.push_str("\n# dovuto, decoded\n");
            out.push_str(&cassa_sdk::soap::decode_embedded(b64).unwrap());
            out.push('\n');
        }
    }
    out
}

/// Compares `actual` with `tests/golden/<name>`, or rewrites the file when `CASSA_BLESS` is set.
fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden").join(name);
    if std::env::var_os("CASSA_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with CASSA_BLESS=1 to write it)", path.display()));
    assert!(
        expected == actual,
        "{} differs from what the connector sent (CASSA_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

// ---- the suites every connector gets, generated from one table ----

/// What the generated suites need to know of one connector and its fake: a new connector is its
/// folder, its fake, an implementation of this and one row of [`connector_suites!`].
trait Case {
    /// The fake of its intermediary.
    type Fake: cassa_fakes::Intermediary;
    /// The component.
    const CONNECTOR: &'static [u8];
    /// Its folder under `tests/golden`, and the name of each request of the golden cycle.
    const GOLDEN: (&'static str, &'static [&'static str]);
    /// Whether the connector implements `find` (the lookup by IUD), checked by the suite.
    const FINDS: bool;
    /// Statuses of the intermediary that must make `create` fail as transient.
    const OUTAGES: &'static [u16];
    /// Configurations the intermediary refuses: the fields changed (`tenant.<key>` or
    /// `service.<key>`, and the value) and what the refusal must name.
    const REFUSALS: &'static [(&'static [(&'static str, &'static str)], &'static str)];
    /// The fake, not started.
    fn fake() -> Self::Fake;
    /// The debt positions the fake holds.
    fn positions(fake: &Self::Fake) -> usize;
    /// The secrets of its configuration, by field: shown as their placeholders in golden files.
    fn secrets(_fake: &Self::Fake) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// What else the golden cycle must show, and do (`other`: its second, cancelled position).
    async fn after_cycle(
        _connector: &Connector,
        _scope: &CallScope,
        _running: &Running<Self::Fake>,
        _other: &wit::DebtPosition,
    ) {
    }
    /// Judges every request by the official documents (OpenAPI, WSDL, XSD).
    fn judge(requests: &[Recorded]);
    /// A request as its golden file shows it (times masked, credentials decoded …).
    fn shown(request: Recorded) -> Recorded {
        request
    }
    /// The effects the conformance suite must have had at the fake.
    fn after_suite(_running: &Running<Self::Fake>) {}
}

/// Every connector row: `<row>::passes_the_whole_conformance_suite_against_its_fake`,
/// `<row>::sends_exactly_the_golden_requests_each_valid_against_the_official_documents` and
/// `<row>::tells_transient_failures_from_permanent_ones`.
macro_rules! connector_suites {
    ($($row:ident: $case:ty),+ $(,)?) => {$(
        mod $row {
            use super::*;

            #[tokio::test]
            async fn passes_the_whole_conformance_suite_against_its_fake() {
                passes_the_conformance_suite::<$case>().await;
            }

            #[tokio::test]
            async fn sends_exactly_the_golden_requests_each_valid_against_the_official_documents() {
                sends_exactly_the_golden_requests::<$case>().await;
            }

            #[tokio::test]
            async fn tells_transient_failures_from_permanent_ones() {
                tells_transient_from_permanent::<$case>().await;
            }
        }
    )+};
}

connector_suites! {
    pagopa_gpd: GpdCase,
    mypay: MypayCase,
    govpay: GovpayCase,
    iris: IrisCase,
}

async fn serve<F: cassa_fakes::Intermediary>(fake: F) -> Running<F> {
    cassa_fakes::serve(fake, ([127, 0, 0, 1], 0).into()).await.unwrap()
}

async fn passes_the_conformance_suite<C: Case>() {
    let runtime = runtime(tight_limits(), false);
    let running = serve(C::fake()).await;
    let fake = RemoteFake::connect(&running.base_url).await.unwrap().expect("the fake speaks the test-kit protocol");
    let mut lines = Vec::new();
    let report = conformance::run(&runtime, C::CONNECTOR, &fake, &mut |c| lines.push(c.to_string())).await;
    assert_eq!(report.failed(), 0, "{lines:#?}");
    // None of these intermediaries has a portal of its own: online payment goes through Checkout.
    // MyPay and IRIS cannot be asked for a due's IUV by IUD alone (their connectors create
    // again instead: `create` is idempotent by IUD), so they skip the lookup.
    assert_eq!(report.skipped(), if C::FINDS { 1 } else { 2 }, "{lines:#?}");
    let find = report.checks.iter().find(|c| c.name.starts_with("find answers")).expect("the lookup check");
    assert_eq!(matches!(find.outcome, Ok(None)), C::FINDS, "{lines:#?}");
    assert!(report.passed() >= 12, "{}", report.summary());
    assert_eq!(report.summary(), format!("{} passed, 0 failed", report.passed()));
    C::after_suite(&running);
}

async fn sends_exactly_the_golden_requests<C: Case>() {
    let runtime = runtime(tight_limits(), false);
    let running = serve(C::fake()).await;
    let connector = runtime.load(C::CONNECTOR).await.unwrap();
    let scope = scope_of(&running.base_url).await;
    let secrets = C::secrets(&running.fake);
    let position = golden_position("golden-1", 1600);

    let other = golden_cycle(&connector, &scope, &running, &position).await;
    C::after_cycle(&connector, &scope, &running, &other).await;

    let requests = running.requests();
    C::judge(&requests);
    let (folder, names) = C::GOLDEN;
    assert_eq!(requests.len(), names.len(), "{requests:#?}");
    let secrets: Vec<(&str, &str)> = secrets.iter().map(|(field, value)| (*field, value.as_str())).collect();
    for (name, request) in names.iter().zip(requests) {
        golden(&format!("{folder}/{name}.http"), &render(&C::shown(request), &secrets));
    }
}

async fn tells_transient_from_permanent<C: Case>() {
    let runtime = runtime(tight_limits(), false);
    let running = serve(C::fake()).await;
    let connector = runtime.load(C::CONNECTOR).await.unwrap();
    let scope = scope_of(&running.base_url).await;
    assert_outages_are_transient(&connector, &scope, &running, C::OUTAGES).await;
    // Refusals: retrying cannot help.
    for (changes, named) in C::REFUSALS {
        let mut wrong = scope.clone();
        for (field, value) in *changes {
            let (document, key) = field.split_once('.').unwrap();
            let target = if document == "tenant" { &mut wrong.tenant_config } else { &mut wrong.service_config };
            target[key] = json!(value);
        }
        let error = create_error(&connector, &wrong).await;
        assert!(
            matches!(error, CallError::Connector(wit::Error::Rejected(ref why)) if why.contains(named)),
            "{changes:?}: {error}"
        );
    }
    assert_eq!(C::positions(&running.fake), 0, "the failed attempts created nothing");
    // A position the intermediary does not hold: not-found.
    let error = connector.status(&scope, unknown_debt()).await.unwrap_err();
    assert!(matches!(error, CallError::Connector(wit::Error::NotFound(_))), "{error}");
}

/// Judged by xmllint, which CI installs; elsewhere skipped, saying so.
fn with_xmllint(judge: impl FnOnce()) {
    if cassa_fakes::xsd::xmllint_available() {
        judge();
    } else {
        assert!(std::env::var_os("CI").is_none(), "xmllint is missing in CI");
        eprintln!("SKIPPED: xmllint is not installed (apt-get install libxml2-utils)");
    }
}

/// Every request judged by `spec`, with nothing wrong in it.
fn judge_by(specs: &[cassa_fakes::openapi::Spec], requests: &[Recorded]) {
    for request in requests {
        let spec = specs.iter().find(|s| s.serves(&request.path)).expect("a document for every path");
        let judged = spec
            .judge(&request.method, &request.path, &request.query, &request.headers, request.body.as_bytes())
            .unwrap_or_else(|e| panic!("{} {}: {e:?}", request.method, request.path));
        assert!(judged.violations.is_empty(), "{} {}: {:?}", request.method, request.path, judged.violations);
    }
}

/// pagoPA GPD, with its receipts and notices services.
struct GpdCase;

impl Case for GpdCase {
    type Fake = Gpd;
    const CONNECTOR: &'static [u8] = cassa::embedded::bundled("pagopa-gpd");
    const GOLDEN: (&'static str, &'static [&'static str]) =
        ("pagopa-gpd", &["create", "status", "notice-position", "notice", "receipt", "create-2", "cancel"]);
    const FINDS: bool = true;
    const OUTAGES: &'static [u16] = &[500, 503, 429];
    // A wrong key, and a segregation code the key may not use.
    const REFUSALS: &'static [(&'static [(&'static str, &'static str)], &'static str)] =
        &[(&[("tenant.subscription_key", "not-the-key")], "401"), (&[("tenant.segregation_code", "47")], "403")];
    fn fake() -> Gpd {
        Gpd::new(GpdSettings::default()).unwrap()
    }
    fn positions(fake: &Gpd) -> usize {
        fake.position_count()
    }
    fn secrets(fake: &Gpd) -> Vec<(&'static str, String)> {
        vec![("subscription_key", fake.subscription_key().to_owned())]
    }
    fn judge(requests: &[Recorded]) {
        let specs = [
            cassa_fakes::openapi::Spec::from_json(cassa_fakes::gpd::GPD_SPEC, GPD_BASE).unwrap(),
            cassa_fakes::openapi::Spec::from_json(cassa_fakes::gpd::RECEIPTS_SPEC, RECEIPTS_BASE).unwrap(),
            cassa_fakes::openapi::Spec::from_json(cassa_fakes::gpd::NOTICE_SPEC, NOTICE_BASE).unwrap(),
        ];
        judge_by(&specs, requests);
    }
    fn after_suite(running: &Running<Gpd>) {
        // One position per IUD, one paid, one invalidated.
        let requests = running.requests();
        assert!(requests.iter().any(|r| r.path.ends_with("/invalidate")));
        assert!(requests.iter().any(|r| r.path.starts_with(RECEIPTS_BASE)));
        assert!(requests.iter().any(|r| r.path.starts_with(NOTICE_BASE)));
    }
}

/// MyPay (Regione Veneto), over SOAP.
struct MypayCase;

impl Case for MypayCase {
    type Fake = Mypay;
    const CONNECTOR: &'static [u8] = cassa::embedded::bundled("mypay");
    const GOLDEN: (&'static str, &'static [&'static str]) =
        ("mypay", &["create", "status", "notice", "receipt", "create-2", "cancel"]);
    const FINDS: bool = false;
    const OUTAGES: &'static [u16] = &[502, 503];
    // Wrong password, unknown type of due, an IUV outside the ente's application code.
    const REFUSALS: &'static [(&'static [(&'static str, &'static str)], &'static str)] = &[
        (&[("tenant.password", "wrong-pass")], "PAA_ENTE_NON_VALIDO"),
        (&[("service.tipo_dovuto", "NON_ESISTE")], "PAA_IDENTIFICATIVO_TIPO_DOVUTO_NON_VALIDO"),
        (&[("tenant.application_code", "47")], "PAA_IUV_NON_VALIDO"),
    ];
    fn fake() -> Mypay {
        Mypay::new(MypaySettings::default())
    }
    fn positions(fake: &Mypay) -> usize {
        fake.dovuti_count()
    }
    fn secrets(fake: &Mypay) -> Vec<(&'static str, String)> {
        vec![("password", fake.password().to_owned())]
    }
    fn judge(requests: &[Recorded]) {
        with_xmllint(|| assert_every_request_follows_the_mypay_schemas(requests));
    }
}

/// GovPay (Link.it), API Pendenze v2.
struct GovpayCase;

impl Case for GovpayCase {
    type Fake = Govpay;
    const CONNECTOR: &'static [u8] = cassa::embedded::bundled("govpay");
    const GOLDEN: (&'static str, &'static [&'static str]) =
        ("govpay", &["create", "status", "notice", "receipt-pendenza", "receipt", "create-2", "cancel"]);
    const FINDS: bool = true;
    const OUTAGES: &'static [u16] = &[500, 503];
    const REFUSALS: &'static [(&'static [(&'static str, &'static str)], &'static str)] = &[
        (&[("tenant.password", "wrong-password")], "401"),
        (&[("tenant.id_a2a", "SOMEONE_ELSE")], "403"),
        (&[("service.id_tipo_pendenza", "NON_ESISTE")], "422"),
    ];
    fn fake() -> Govpay {
        Govpay::new(GovpaySettings::default()).unwrap()
    }
    fn positions(fake: &Govpay) -> usize {
        fake.pendenze_count()
    }
    fn secrets(fake: &Govpay) -> Vec<(&'static str, String)> {
        vec![("password", fake.password().to_owned())]
    }
    async fn after_cycle(_: &Connector, _: &CallScope, running: &Running<Govpay>, other: &wit::DebtPosition) {
        assert_eq!(running.fake.stato_of(&other.iud).as_deref(), Some("ANNULLATA"));
    }
    fn judge(requests: &[Recorded]) {
        let mut document: Value = serde_yaml_ng::from_str(cassa_fakes::govpay::GOVPAY_SPEC).unwrap();
        *document.pointer_mut("/components/schemas/PatchOp/properties/value").unwrap() =
            json!({"anyOf": [{"type": "string"}, {"type": "object"}]});
        judge_by(&[cassa_fakes::openapi::Spec::from_value(document, cassa_fakes::govpay::BASE).unwrap()], requests);
    }
    fn shown(mut request: Recorded) -> Recorded {
        // The Basic credentials, decoded: the user in clear, the password as its placeholder.
        for (name, value) in &mut request.headers {
            if name == "authorization" {
                use base64::Engine as _;
                let encoded = value.trim_start_matches("Basic ");
                let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
                *value = format!("Basic base64({})", String::from_utf8(decoded).unwrap());
            }
        }
        request
    }
}

/// IRIS (Regione Toscana), over SOAP.
struct IrisCase;

impl Case for IrisCase {
    type Fake = Iris;
    const CONNECTOR: &'static [u8] = cassa::embedded::bundled("iris");
    const GOLDEN: (&'static str, &'static [&'static str]) =
        ("iris", &["create", "status", "notice", "receipt", "create-2", "cancel", "generate-iuv", "create-3"]);
    const FINDS: bool = false;
    const OUTAGES: &'static [u16] = &[502, 503];
    // Another ente's sender code; another creditor asking IRIS for an IUV.
    const REFUSALS: &'static [(&'static [(&'static str, &'static str)], &'static str)] = &[
        (&[("tenant.ente", "C_X000")], "PEN_ENTE"),
        (&[("tenant.iuv_source", "iris"), ("tenant.fiscal_code", "00000000000")], "DOMINIO"),
    ];
    fn fake() -> Iris {
        Iris::new(IrisSettings::default())
    }
    fn positions(fake: &Iris) -> usize {
        fake.pendenze_count()
    }
    async fn after_cycle(connector: &Connector, scope: &CallScope, running: &Running<Iris>, other: &wit::DebtPosition) {
        assert!(running.fake.is_closed(&other.iud));
        // With the IUV from IRIS (GeneraIUV) instead.
        let mut iris_iuv = scope.clone();
        iris_iuv.tenant_config["iuv_source"] = json!("iris");
        let third = golden_position("golden-3", 700);
        let created_third = connector.create(&iris_iuv, third.clone()).await.unwrap();
        assert_eq!(created_third.notice_code, format!("3{}", created_third.iuv));
    }
    fn judge(requests: &[Recorded]) {
        with_xmllint(|| {
            let xsd = Xsd::iris().unwrap();
            let schemas = [
                (cassa_fakes::iris::PATH_ALLINEAMENTO, "ComunicazionePosizioniDebitorie.xsd"),
                (cassa_fakes::iris::PATH_VERIFICA, "InvioNotificaPagamento.xsd"),
                (cassa_fakes::iris::PATH_IUV, "GenerazioneIUV.xsd"),
                (cassa_fakes::iris::PATH_AVVISI, "GenerazioneAvvisi.xsd"),
            ];
            for request in requests {
                let schema = schemas.iter().find(|(path, _)| *path == request.path).map(|(_, s)| *s).unwrap();
                let body = cassa_sdk::soap::parse_envelope(&request.body).unwrap();
                xsd.validate_file(schema, &serialize(&body))
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{e}\n{}", request.body));
            }
        });
    }
    fn shown(mut request: Recorded) -> Recorded {
        request.body = mask_times(&request.body);
        request
    }
}

/// The cycle every golden file records: create, status, notice, the citizen pays, receipt; then
/// a second payment created and cancelled, which is returned.
async fn golden_cycle<F: cassa_fakes::Intermediary>(
    connector: &Connector,
    scope: &CallScope,
    running: &Running<F>,
    position: &wit::DebtPosition,
) -> wit::DebtPosition {
    let created = connector.create(scope, position.clone()).await.unwrap();
    let debt = conformance::debt_ref(position, &created);
    connector.status(scope, debt.clone()).await.unwrap();
    connector.notice(scope, debt.clone()).await.unwrap();
    fake_pay(running, &debt).await;
    connector.receipt(scope, debt.clone()).await.unwrap();
    let other = golden_position("golden-2", 2500);
    let created_other = connector.create(scope, other.clone()).await.unwrap();
    connector.cancel(scope, conformance::debt_ref(&other, &created_other)).await.unwrap();
    other
}

/// A debt position no intermediary holds.
fn unknown_debt() -> wit::DebtRef {
    wit::DebtRef {
        payment_id: "p".into(),
        iud: "unknown_iud".into(),
        iuv: "01000000000123468".into(),
        notice_code: "301000000000123468".into(),
        remote_ref: None,
    }
}

/// Outages of the intermediary (`statuses`, one request each) make `create` fail as transient.
async fn assert_outages_are_transient<F>(
    connector: &Connector,
    scope: &CallScope,
    running: &Running<F>,
    statuses: &[u16],
) {
    for &status in statuses {
        running.fail(status, 1);
        let error = create_error(connector, scope).await;
        assert!(error.is_transient(), "{status}: {error}");
    }
}

async fn fake_pay<F: cassa_fakes::Intermediary>(running: &Running<F>, debt: &wit::DebtRef) {
    let reply = reqwest::Client::new()
        .post(format!("{}/_fake/pay", running.base_url))
        .json(&json!({"iud": debt.iud, "iuv": debt.iuv, "notice_code": debt.notice_code}))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.text().await.unwrap());
}

async fn create_error(connector: &Connector, scope: &CallScope) -> CallError {
    connector.create(scope, conformance::sample_position(100)).await.unwrap_err()
}

#[tokio::test]
async fn a_create_whose_iuv_is_taken_moves_to_the_next_candidate_and_a_retry_finds_it() {
    let runtime = runtime(tight_limits(), false);
    let running = gpd_fake().await;
    let connector = runtime.load(GPD).await.unwrap();
    let scope = scope_of(&running.base_url).await;
    let position = golden_position("iuv-clash", 1600);
    // Another position (another IUPD) holds the IUV the connector derives first.
    let first = connector.create(&scope, position.clone()).await.unwrap();
    let client = reqwest::Client::new();
    let iupd_url = format!("{}{GPD_BASE}/organizations/80001234568/debtpositions/{}", running.base_url, position.iud);
    let key = running.fake.subscription_key().to_owned();
    let stored: Value =
        client.get(&iupd_url).header("Ocp-Apim-Subscription-Key", &key).send().await.unwrap().json().await.unwrap();
    assert_eq!(stored["paymentOption"][0]["iuv"], first.iuv);
    let reply = client.delete(&iupd_url).header("Ocp-Apim-Subscription-Key", &key).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let body = json!({
        "iupd": "someone-else", "type": "F", "fiscalCode": "CLNVTR76P01G822Q", "fullName": "Altro Debitore",
        "companyName": "Comune di Prova", "switchToExpired": false,
        "paymentOption": [{"iuv": first.iuv, "amount": 100, "description": "x", "isPartialPayment": false,
            "dueDate": "2036-01-01T00:00:00Z", "transfer": [{"idTransfer": "1", "amount": 100,
            "remittanceInformation": "x", "category": "9/0101108TS/", "iban": "IT60X0542811101000000123456"}]}]
    });
    let reply = client
        .post(format!("{}{GPD_BASE}/organizations/80001234568/debtpositions?toPublish=true", running.base_url))
        .header("Ocp-Apim-Subscription-Key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201, "{}", reply.text().await.unwrap());

    let second = connector.create(&scope, position.clone()).await.unwrap();
    assert_ne!(second.iuv, first.iuv);
    let again = connector.create(&scope, position.clone()).await.unwrap();
    assert_eq!(again.iuv, second.iuv);
    assert_eq!(cassa_fakes::Intermediary::positions_for(running.fake.as_ref(), &position.iud), 1);
}

// ---- MyPay ----

async fn mypay_fake() -> Running<Mypay> {
    serve(MypayCase::fake()).await
}

/// Every SOAP request `running` received: body element, header and embedded documents, each
/// judged by xmllint against the WSDL's schemas and the XSD.
fn assert_every_request_follows_the_mypay_schemas(requests: &[Recorded]) {
    let xsd = Xsd::mypay().unwrap();
    let mut documents = 0;
    for request in requests.iter().filter(|r| r.method == "POST") {
        let (header, body) = cassa_sdk::soap::parse_envelope_with_header(&request.body).unwrap();
        xsd.validate(MypaySchema::Body, &serialize(&body)).unwrap().unwrap_or_else(|e| panic!("{e}\n{}", request.body));
        for h in &header {
            xsd.validate(MypaySchema::Header, &serialize(h)).unwrap().unwrap();
        }
        if let Some(dovuto) = body.text_of(&["dovuto"]) {
            let xml = cassa_sdk::soap::decode_embedded(dovuto).unwrap();
            xsd.validate(MypaySchema::Document, &xml).unwrap().unwrap_or_else(|e| panic!("{e}\n{xml}"));
            documents += 1;
        }
    }
    assert!(documents > 0, "no Versamento was sent");
}

/// A SOAP request to the MyPay fake as a client would send it.
async fn mypay_soap(running: &Running<Mypay>, action: &str, envelope: &str) -> (u16, String) {
    let reply = reqwest::Client::new()
        .post(format!("{}{}", running.base_url, cassa_fakes::mypay::PATH))
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", format!("\"{action}\""))
        .body(envelope.to_owned())
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

fn importa_envelope(ente: &str, password: &str, versamento: &str) -> String {
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:ppt=\"http://www.regione.veneto.it/pagamenti/ente/ppthead\" xmlns:ente=\"http://www.regione.veneto.it/pagamenti/ente/\">\
         <soapenv:Header><ppt:intestazionePPT><codIpaEnte>{ente}</codIpaEnte></ppt:intestazionePPT></soapenv:Header>\
         <soapenv:Body><ente:paaSILImportaDovuto><password>{password}</password><dovuto>{}</dovuto>\
         <flagGeneraIuv>true</flagGeneraIuv></ente:paaSILImportaDovuto></soapenv:Body></soapenv:Envelope>",
        cassa_sdk::soap::encode_embedded(versamento)
    )
}

fn versamento(iud: &str, importo: &str) -> String {
    format!(
        "<Versamento xmlns=\"http://www.regione.veneto.it/schemas/2012/Pagamenti/Ente/\"><versioneOggetto>6.0</versioneOggetto>\
         <datiVersamento><identificativoUnivocoDovuto>{iud}</identificativoUnivocoDovuto>\
         <importoSingoloVersamento>{importo}</importoSingoloVersamento><identificativoTipoDovuto>DIRITTI_SEGRETERIA</identificativoTipoDovuto>\
         <causaleVersamento>Diritti</causaleVersamento><datiSpecificiRiscossione>9/0101108TS/</datiSpecificiRiscossione>\
         </datiVersamento><azione>I</azione></Versamento>"
    )
}

#[tokio::test]
async fn the_mypay_fake_refuses_what_mypay_refuses() {
    let running = mypay_fake().await;
    let password = running.fake.password().to_owned();
    let good = importa_envelope("c_b885", &password, &versamento("IUD-1", "16.00"));
    // The SOAPAction must name the operation; the header is required; the body follows the WSDL.
    let (status, reply) = mypay_soap(&running, "paaSILChiediPagati", &good).await;
    assert_eq!(status, 500);
    assert!(reply.contains("SOAP-ENV:Client") && reply.contains("SOAPAction"), "{reply}");
    let headless = good.replace(
        "<soapenv:Header><ppt:intestazionePPT><codIpaEnte>c_b885</codIpaEnte></ppt:intestazionePPT></soapenv:Header>",
        "",
    );
    let (status, reply) = mypay_soap(&running, "paaSILImportaDovuto", &headless).await;
    assert_eq!(status, 500, "{reply}");
    assert!(reply.contains("intestazionePPT"), "{reply}");
    let qualified = good.replace("<password>", "<ente:password>").replace("</password>", "</ente:password>");
    let (status, reply) = mypay_soap(&running, "paaSILImportaDovuto", &qualified).await;
    assert_eq!(status, 500, "a qualified child is not what the WSDL describes: {reply}");
    // Business faults inside the reply, esito KO.
    for (envelope, code) in [
        (importa_envelope("c_b885", "wrong-pass", &versamento("IUD-1", "16.00")), "PAA_ENTE_NON_VALIDO"),
        (importa_envelope("c_x000", &password, &versamento("IUD-1", "16.00")), "PAA_ENTE_NON_VALIDO"),
        (importa_envelope("c_b885", &password, &versamento("IUD-1", "16.0")), "PAA_XML_NON_VALIDO"),
        (importa_envelope("c_b885", &password, &versamento("000IUD", "16.00")), "PAA_IUD_NON_VALIDO"),
        (
            importa_envelope("c_b885", &password, &versamento("IUD-1", "16.00").replace("DIRITTI_SEGRETERIA", "NOPE")),
            "PAA_IDENTIFICATIVO_TIPO_DOVUTO_NON_VALIDO",
        ),
    ] {
        let (status, reply) = mypay_soap(&running, "paaSILImportaDovuto", &envelope).await;
        assert_eq!(status, 200, "{reply}");
        assert!(
            reply.contains(&format!("<faultCode>{code}</faultCode>")) && reply.contains("<esito>KO</esito>"),
            "{code}: {reply}"
        );
    }
    assert_eq!(running.fake.dovuti_count(), 0);
    // Created with a generated IUV and a notice link; the same IUD again is a duplicate.
    let (_, reply) = mypay_soap(&running, "paaSILImportaDovuto", &good).await;
    assert!(reply.contains("<esito>OK</esito>") && reply.contains("<urlFileAvviso>"), "{reply}");
    let (_, reply) = mypay_soap(&running, "paaSILImportaDovuto", &good).await;
    assert!(reply.contains("<faultCode>PAA_IMPORT_IUD_DUPLICATO</faultCode>"), "{reply}");
    assert_eq!(running.fake.tipo_of("IUD-1").as_deref(), Some("DIRITTI_SEGRETERIA"));
}

// ---- GovPay ----

async fn govpay_fake() -> Running<Govpay> {
    serve(GovpayCase::fake()).await
}

#[tokio::test]
async fn the_govpay_fake_refuses_what_govpay_refuses() {
    let running = govpay_fake().await;
    let client = reqwest::Client::new();
    let url = format!("{}{}/pendenze/CASSA/P1", running.base_url, cassa_fakes::govpay::BASE);
    let password = running.fake.password().to_owned();
    let good = json!({"idTipoPendenza": "DIRITTI_SEGRETERIA", "idDominio": "80001234568", "causale": "Diritti",
        "soggettoPagatore": {"tipo": "F", "identificativo": "CLNVTR76P01G822Q", "anagrafica": "Vittorino Coliandro"},
        "importo": 16.0, "voci": [{"idVocePendenza": "1", "importo": 16.0, "descrizione": "Diritti", "codEntrata": "SEGRETERIA"}]});
    let put = |body: Value, user: &'static str, pass: String| {
        client.put(&url).basic_auth(user, Some(pass)).json(&body).send()
    };
    assert_eq!(put(good.clone(), "cassa-a2a", "wrong".into()).await.unwrap().status(), 401);
    // Missing and mistyped fields; a voce that is both a revenue code and an inline IBAN.
    let mut broken = good.clone();
    broken.as_object_mut().unwrap().remove("causale");
    broken["importo"] = json!("16.00");
    let reply = put(broken, "cassa-a2a", password.clone()).await.unwrap();
    assert_eq!(reply.status(), 400);
    let fault: Value = reply.json().await.unwrap();
    assert_eq!(fault["codice"], "SINTASSI");
    let detail = fault["dettaglio"].as_str().unwrap();
    assert!(detail.contains("/causale") && detail.contains("/importo"), "{detail}");
    let mut both = good.clone();
    both["voci"][0]["ibanAccredito"] = json!("IT60X0542811101000000123456");
    both["voci"][0]["tipoContabilita"] = json!("ALTRO");
    both["voci"][0]["codiceContabilita"] = json!("X");
    assert_eq!(put(both, "cassa-a2a", password.clone()).await.unwrap().status(), 400);
    // Three decimals; voci that do not add up; an unknown type.
    let mut decimals = good.clone();
    decimals["importo"] = json!(16.001);
    decimals["voci"][0]["importo"] = json!(16.001);
    assert_eq!(put(decimals, "cassa-a2a", password.clone()).await.unwrap().status(), 400);
    let mut sum = good.clone();
    sum["importo"] = json!(20.0);
    assert_eq!(put(sum, "cassa-a2a", password.clone()).await.unwrap().status(), 422);
    assert_eq!(running.fake.pendenze_count(), 0);
    // Created (201), the same PUT again updates it (200), a cancelled one cannot be paid.
    assert_eq!(put(good.clone(), "cassa-a2a", password.clone()).await.unwrap().status(), 201);
    assert_eq!(put(good.clone(), "cassa-a2a", password.clone()).await.unwrap().status(), 200);
    assert_eq!(running.fake.pendenze_count(), 1);
    let patch = |body: &'static str, content_type: &'static str| {
        client
            .patch(&url)
            .basic_auth("cassa-a2a", Some(password.clone()))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cancel = r#"[{"op": "REPLACE", "path": "/stato", "value": "ANNULLATA"}]"#;
    assert_eq!(patch(cancel, "application/json").await.unwrap().status(), 400, "the document wants json-patch+json");
    assert_eq!(patch(cancel, "application/json-patch+json").await.unwrap().status(), 200);
    assert_eq!(running.fake.stato_of("P1").as_deref(), Some("ANNULLATA"));
    assert_eq!(patch(cancel, "application/json-patch+json").await.unwrap().status(), 422);
}

// ---- IRIS ----

const IRIS: &[u8] = IrisCase::CONNECTOR;

async fn iris_fake() -> Running<Iris> {
    serve(IrisCase::fake()).await
}

#[tokio::test]
async fn an_iris_create_that_finds_its_pendenza_already_there_with_iuvs_from_iris_is_refused_not_guessed() {
    let runtime = runtime(tight_limits(), false);
    let running = iris_fake().await;
    let connector = runtime.load(IRIS).await.unwrap();
    let scope = scope_of(&running.base_url).await;
    let mut iris_iuv = scope.clone();
    iris_iuv.tenant_config["iuv_source"] = json!("iris");
    let position = golden_position("twice", 100);
    connector.create(&iris_iuv, position.clone()).await.unwrap();
    let error = connector.create(&iris_iuv, position.clone()).await.unwrap_err();
    assert!(
        matches!(error, CallError::Connector(wit::Error::Rejected(ref why)) if why.contains("resolve it")),
        "{error}"
    );
    assert_eq!(cassa_fakes::Intermediary::positions_for(running.fake.as_ref(), &position.iud), 1);
}

/// The text of elements whose value is the time of sending, masked for golden files.
fn mask_times(body: &str) -> String {
    let mut out = body.to_owned();
    for element in ["h:XMLCrtDt", "ap:DataCreazione", "ap:DataEmissione", "ap:DataModificaEnte", "ap:AnnoRiferimento"] {
        let (open, close) = (format!("<{element}>"), format!("</{element}>"));
        let mut from = 0;
        while let Some(start) = out[from..].find(&open).map(|i| i + from + open.len()) {
            let Some(end) = out[start..].find(&close).map(|i| i + start) else { break };
            out.replace_range(start..end, "<now>");
            from = start + "<now>".len() + close.len();
        }
    }
    out
}

#[tokio::test]
async fn the_iris_fake_refuses_what_the_schemas_refuse() {
    let running = iris_fake().await;
    let client = reqwest::Client::new();
    let send = |path: &'static str, action: &'static str, body: String| {
        let url = format!("{}{path}", running.base_url);
        let envelope = format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
        );
        client
            .post(url)
            .header("content-type", "text/xml; charset=utf-8")
            .header("SOAPAction", action)
            .body(envelope)
            .send()
    };
    let iuv = "<t:GeneraIUVRequest xmlns:t=\"http://idp.tasgroup.it/GenerazioneIUV/\"><IdentificativoDominio>80001234568</IdentificativoDominio><TipoDebito>DIRITTI</TipoDebito></t:GeneraIUVRequest>";
    let action = "http://idp.tasgroup.it/GenerazioneIUV/GeneraIUV";
    let reply = send(cassa_fakes::iris::PATH_IUV, action, iuv.to_owned()).await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(reply.text().await.unwrap().contains("<NumeroAvviso>3"));
    // Wrong SOAPAction; qualified children where TAS's schema wants them unqualified.
    assert_eq!(send(cassa_fakes::iris::PATH_IUV, "GeneraIUV", iuv.to_owned()).await.unwrap().status(), 500);
    if cassa_fakes::xsd::xmllint_available() {
        let qualified = iuv
            .replace("<IdentificativoDominio>", "<t:IdentificativoDominio>")
            .replace("</IdentificativoDominio>", "</t:IdentificativoDominio>");
        let reply = send(cassa_fakes::iris::PATH_IUV, action, qualified).await.unwrap();
        assert_eq!(reply.status(), 500);
        assert!(reply.text().await.unwrap().contains("schema"));
        let missing = iuv.replace("<TipoDebito>DIRITTI</TipoDebito>", "");
        assert_eq!(send(cassa_fakes::iris::PATH_IUV, action, missing).await.unwrap().status(), 500);
    }
    // A notice for an IUV IRIS does not hold is a TAS fault.
    let avviso = "<t:GeneraAvvisoRequest xmlns:t=\"http://idp.tasgroup.it/GenerazioneAvvisi/\"><IdentificativoDominio>80001234568</IdentificativoDominio><IdentificativoUnivocoVersamento>01000000000123468</IdentificativoUnivocoVersamento></t:GeneraAvvisoRequest>";
    let reply = send(
        cassa_fakes::iris::PATH_AVVISI,
        "http://idp.tasgroup.it/GenerazioneAvvisi/GeneraAvviso",
        avviso.to_owned(),
    )
    .await
    .unwrap();
    assert!(reply.text().await.unwrap().contains("<FaultCode>IUV</FaultCode>"));
}

#[tokio::test]
async fn a_connector_scaffolded_from_the_template_builds_and_passes_the_suite() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("cassa-scaffold-{}", uuid::Uuid::new_v4().simple()));
    let written = cassa::scaffold::new_connector(&dir, "comune-pay", Some(&root.join("sdk"))).unwrap();
    assert!(written.iter().any(|p| p.ends_with("comune-pay/src/lib.rs")), "{written:?}");
    // A second scaffold of the same name is refused; another name joins the workspace.
    assert!(cassa::scaffold::new_connector(&dir, "comune-pay", None).is_err());
    // One target directory for every run keeps the build incremental.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("guests-scaffold");
    let workspace = dir.clone();
    let built = tokio::task::spawn_blocking(move || cassa_guest_build::build_workspace(&workspace, &target))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(built.len(), 1);
    let wasm = std::fs::read(&built[0].path).unwrap();

    let runtime = runtime(tight_limits(), false);
    let fake = cassa::conformance::SandboxFake::start().await.unwrap();
    let mut lines = Vec::new();
    let report = conformance::run(&runtime, &wasm, &fake, &mut |c| lines.push(c.to_string())).await;
    assert_eq!(report.failed(), 0, "{lines:#?}");
    assert_eq!(runtime.load(&wasm).await.unwrap().info().name, "comune-pay");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- the fake refuses what GPD refuses ----

struct Gpdc {
    running: Running<Gpd>,
    client: reqwest::Client,
}

impl Gpdc {
    async fn start() -> Self {
        Self { running: gpd_fake().await, client: reqwest::Client::new() }
    }

    async fn send(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let own = self.running.fake.subscription_key().to_owned();
        let mut request = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.running.base_url))
            .header("Ocp-Apim-Subscription-Key", key.unwrap_or(&own));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        let text = reply.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

fn valid_position(iupd: &str, iuv: &str) -> Value {
    json!({
        "iupd": iupd, "type": "F", "fiscalCode": "CLNVTR76P01G822Q", "fullName": "Vittorino Coliandro",
        "companyName": "Comune di Prova", "switchToExpired": false,
        "paymentOption": [{"iuv": iuv, "amount": 1600, "description": "Diritti", "isPartialPayment": false,
            "dueDate": "2036-01-01T00:00:00Z", "transfer": [{"idTransfer": "1", "amount": 1600,
            "remittanceInformation": "Diritti", "category": "9/0101108TS/", "iban": "IT60X0542811101000000123456"}]}]
    })
}

const CREATE: &str = "/gpd/debt-positions-service/v1/organizations/80001234568/debtpositions?toPublish=true";

#[tokio::test]
async fn the_gpd_fake_refuses_what_gpd_refuses() {
    let gpd = Gpdc::start().await;
    let ok = valid_position("P1", "01000000000123468");
    // Bad credentials, before anything else.
    assert_eq!(gpd.send("POST", CREATE, Some("wrong"), Some(ok.clone())).await.0, 401);
    // Missing and mistyped fields, named one by one.
    let mut broken = ok.clone();
    broken.as_object_mut().unwrap().remove("fullName");
    broken["type"] = json!("X");
    broken["paymentOption"][0]["amount"] = json!("16.00");
    let (status, problem) = gpd.send("POST", CREATE, None, Some(broken)).await;
    assert_eq!(status, 400);
    let detail = problem["detail"].as_str().unwrap();
    for field in ["/fullName", "/type", "/paymentOption/0/amount"] {
        assert!(detail.contains(field), "{field} not in {detail}");
    }
    // A query parameter that is not a boolean, an undescribed one.
    let (status, _) =
        gpd.send("POST", &CREATE.replace("toPublish=true", "toPublish=yes"), None, Some(ok.clone())).await;
    assert_eq!(status, 400);
    // Wrong check digits.
    let (status, problem) = gpd.send("POST", CREATE, None, Some(valid_position("P2", "01000000000123467"))).await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("check digits"), "{problem}");
    // Transfers that do not add up; a past due date; IBAN and stamp together.
    let mut sum = valid_position("P3", "01000000000123468");
    sum["paymentOption"][0]["transfer"][0]["amount"] = json!(1500);
    assert_eq!(gpd.send("POST", CREATE, None, Some(sum)).await.0, 400);
    let mut past = valid_position("P4", "01000000000123468");
    past["paymentOption"][0]["dueDate"] = json!("2020-01-01T00:00:00Z");
    assert_eq!(gpd.send("POST", CREATE, None, Some(past)).await.0, 400);
    let mut both = valid_position("P5", "01000000000123468");
    both["paymentOption"][0]["transfer"][0]["stamp"] =
        json!({"hashDocument": "abc", "stampType": "01", "provincialResidence": "PI"});
    assert_eq!(gpd.send("POST", CREATE, None, Some(both)).await.0, 400);
    // A segregation code the key may not use.
    let foreign = cassa_sdk::iuv::new_iuv(47, 123).unwrap();
    assert_eq!(gpd.send("POST", CREATE, None, Some(valid_position("P6", &foreign))).await.0, 403);
    // Nothing of that was stored.
    assert_eq!(gpd.running.fake.position_count(), 0);

    // Created, then duplicates by IUPD and by IUV.
    let (status, created) = gpd.send("POST", CREATE, None, Some(ok.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["status"].as_str(), created["paymentOption"][0]["nav"].as_str()),
        (Some("VALID"), Some("301000000000123468"))
    );
    assert_eq!(gpd.send("POST", CREATE, None, Some(ok.clone())).await.0, 409);
    assert_eq!(gpd.send("POST", CREATE, None, Some(valid_position("P7", "01000000000123468"))).await.0, 409);
    // Unknown positions, undescribed paths and methods.
    let base = "/gpd/debt-positions-service/v1/organizations/80001234568/debtpositions";
    assert_eq!(gpd.send("GET", &format!("{base}/NOPE"), None, None).await.0, 404);
    assert_eq!(gpd.send("GET", "/gpd/debt-positions-service/v1/nowhere", None, None).await.0, 404);
    assert_eq!(gpd.send("PATCH", &format!("{base}/P1"), None, None).await.0, 405);
    // No receipt before the payment; invalidate, and a second invalidate is a conflict.
    let receipt = "/gpd/payments-receipts-service/v1/payments/80001234568/receipts/01000000000123468";
    assert_eq!(gpd.send("GET", receipt, None, None).await.0, 404);
    assert_eq!(gpd.send("POST", &format!("{base}/P1/invalidate"), None, None).await.0, 200);
    assert_eq!(gpd.send("POST", &format!("{base}/P1/invalidate"), None, None).await.0, 409);
    assert_eq!(gpd.running.fake.status_of("80001234568", "P1").as_deref(), Some("INVALID"));
    // The notice service wants a known template and a valid notice code.
    let notice = json!({"templateId": "Nope", "data": {"notice": {"subject": "x", "code": "301000000000123468"},
        "creditorInstitution": {"taxCode": "80001234568"}, "debtor": {"fullName": "x", "address": "x",
        "buildingNumber": "1", "postalCode": "56100", "city": "x", "province": "PI"}}});
    let generate = "/print-payment-notice-service/external/v1/notices/generate";
    assert_eq!(gpd.send("POST", generate, None, Some(notice.clone())).await.0, 400);
    let mut no_subject = notice.clone();
    no_subject["templateId"] = json!("TemplateSingleInstalment");
    no_subject["data"]["notice"].as_object_mut().unwrap().remove("subject");
    assert_eq!(gpd.send("POST", generate, None, Some(no_subject)).await.0, 400);
}

#[tokio::test]
async fn the_gpd_fake_keeps_state_from_creation_to_receipt() {
    let gpd = Gpdc::start().await;
    let base = "/gpd/debt-positions-service/v1/organizations/80001234568/debtpositions";
    assert_eq!(gpd.send("POST", CREATE, None, Some(valid_position("P1", "01000000000123468"))).await.0, 201);
    let (_, unpaid) = gpd.send("GET", &format!("{base}/P1"), None, None).await;
    assert_eq!(unpaid["paymentOption"][0]["status"], "PO_UNPAID");
    // The read model leaves the debtor out, as GPD's does.
    assert!(unpaid.get("fiscalCode").is_none(), "{unpaid}");
    let debt = wit::DebtRef {
        payment_id: "p".into(),
        iud: "P1".into(),
        iuv: "01000000000123468".into(),
        notice_code: "301000000000123468".into(),
        remote_ref: None,
    };
    fake_pay(&gpd.running, &debt).await;
    let (_, paid) = gpd.send("GET", &format!("{base}/P1"), None, None).await;
    assert_eq!((paid["status"].as_str(), paid["paymentOption"][0]["status"].as_str()), (Some("PAID"), Some("PO_PAID")));
    assert!(paid["paymentOption"][0]["idReceipt"].as_str().is_some());
    let receipt = "/gpd/payments-receipts-service/v1/payments/80001234568/receipts/01000000000123468";
    let (status, xml) = gpd.send("GET", receipt, None, None).await;
    assert_eq!(status, 200);
    assert!(xml.as_str().unwrap().contains("<creditorReferenceId>01000000000123468</creditorReferenceId>"));
    // Paid: neither invalidated nor deleted.
    assert_eq!(gpd.send("POST", &format!("{base}/P1/invalidate"), None, None).await.0, 409);
    assert_eq!(gpd.send("DELETE", &format!("{base}/P1"), None, None).await.0, 409);
}
