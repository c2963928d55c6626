//! The payments API: create payments directly (one, a batch, a CSV file) on the same event path
//! as the dispatcher, read them back, and the ingest endpoint that appends application events
//! to `applications` for cores that cannot speak Kafka.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::auth::Caller;
use super::openapi::{BadRequest, Forbidden, Internal, Invalid, NotFound, TooLarge, Unauthorized};
use super::{ApiError, ApiQuery, Body, parse_id};
use crate::domain::payment::{Amount, Party, PartyType, PaymentEvent, PaymentStatus, Timestamp};
use crate::domain::request::PaymentRequest;
use crate::pipeline::Pipeline;
use crate::store::PaymentFilter;

/// `POST /applications`: appends one application event (a JSON object), or several (a JSON
/// array of objects, written together), to `applications`, keyed by `service_id` as the core's
/// relay does. Validation is the dispatcher's: a malformed event is accepted here and ends up in
/// the DLQ with its reason; only a body that is not JSON is refused.
#[utoipa::path(post, path = "/applications", tag = "payments", security(("core_jwt" = []), ("admin_token" = [])), 
    request_body(description = "One application event (DOMAIN.md) or an array of them", content_type = "application/json", content = Value),
    responses(
        (status = 202, description = "Appended to `applications`", body = Accepted),
        BadRequest, Unauthorized, Forbidden, TooLarge, Internal,
    ))]
pub async fn ingest_application(
    State(p): State<Pipeline>,
    caller: Caller,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    // A caller limited to one tenant sends only that tenant's applications (all or none).
    if let Some(own) = caller.tenant() {
        let events = match &value {
            Value::Array(events) => events.iter().collect(),
            single => vec![single],
        };
        for event in events {
            let tenant = event.get("tenant_id").and_then(Value::as_str).and_then(|t| Uuid::parse_str(t).ok());
            match tenant {
                Some(tenant) => caller.check(tenant)?,
                None => {
                    return Err(ApiError::bad_request(format!(
                        "an application names no tenant_id (the token is for {own})"
                    )));
                }
            }
        }
    }
    let key_of = |v: &Value| v.get("service_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let topic = &p.config.topics.applications;
    let accepted = match &value {
        Value::Array(events) => {
            let messages: Vec<(String, Vec<u8>)> =
                events.iter().map(|e| (key_of(e), e.to_string().into_bytes())).collect();
            p.bus.publish_batch(topic, &messages).await.map_err(ApiError::internal)?;
            messages.len()
        }
        single => {
            p.bus.publish(topic, &key_of(single), &body).await.map_err(ApiError::internal)?;
            1
        }
    };
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted })).into_response())
}

/// Application events appended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// How many.
    pub accepted: usize,
}

/// The outcome of creating one payment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Created {
    /// The payment id.
    pub id: Uuid,
    /// Whether this request created it (false: it existed for this `remote_id`).
    pub created: bool,
}

async fn create_one(p: &Pipeline, request: PaymentRequest) -> Result<Created, Result<Vec<String>, ApiError>> {
    // The tenant and the service must be configured, and the service must be the tenant's own:
    // a payment nobody can create is refused here rather than left waiting.
    let tenant = p.store.tenant(request.tenant_id).await.map_err(|e| Err(e.into()))?;
    let service = p.store.service(request.service_id).await.map_err(|e| Err(e.into()))?;
    let mut reasons = Vec::new();
    match tenant {
        None => reasons.push(format!("tenant_id {} is not a configured tenant", request.tenant_id)),
        Some(t) if !t.active => reasons.push(format!("tenant_id {} is not active", request.tenant_id)),
        Some(_) => {}
    }
    match service {
        None => reasons.push(format!("service_id {} is not a configured service", request.service_id)),
        Some(s) if s.owner != request.tenant_id.to_string() => {
            reasons.push(format!("service_id {} is not a service of tenant {}", request.service_id, request.tenant_id))
        }
        Some(s) if !s.active => reasons.push(format!("service_id {} is not active", request.service_id)),
        Some(_) => {}
    }
    if !reasons.is_empty() {
        return Err(Ok(reasons));
    }
    let event = request.into_event(Timestamp::now()).map_err(Ok)?;
    let key = p.key_of(&event);
    let created = p.store.insert_payment(&event, &p.config.topics.payments, &key).await.map_err(|e| Err(e.into()))?;
    if created {
        p.outbox_written();
        return Ok(Created { id: event.id, created });
    }
    // Same remote_id as an existing payment: idempotent, answer with that one, if it is this
    // tenant's; another tenant's is neither shown nor named.
    let existing = p.store.payment_by_remote_id(event.remote_id).await.map_err(|e| Err(e.into()))?;
    match existing {
        Some(s) if s.event.tenant_id != event.tenant_id => {
            Err(Ok(vec![format!("remote_id {} is already used by another payment", event.remote_id)]))
        }
        existing => Ok(Created { id: existing.map_or(event.id, |s| s.event.id), created: false }),
    }
}

fn problems(messages: Vec<String>) -> ApiError {
    let fields = messages
        .into_iter()
        .map(|m| super::FieldProblem { field: m.split_whitespace().next().unwrap_or("request").to_owned(), message: m })
        .collect();
    ApiError::invalid("the payment request is not valid", fields)
}

/// `POST /payments`: 201 with the payment, or 200 when it existed for the `remote_id`.
#[utoipa::path(post, operation_id = "create_payment", path = "/payments", tag = "payments", security(("core_jwt" = []), ("admin_token" = [])), request_body = PaymentRequest,
    responses(
        (status = 201, description = "Created, `CREATION_PENDING`", body = PaymentEvent),
        (status = 200, description = "A payment existed for this `remote_id`: that one", body = PaymentEvent),
        BadRequest, Unauthorized, Forbidden, TooLarge, Invalid, Internal,
    ))]
pub async fn create(State(p): State<Pipeline>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
    let request: PaymentRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("not a payment request: {e}")))?;
    caller.check(request.tenant_id)?;
    let outcome = match create_one(&p, request).await {
        Ok(outcome) => outcome,
        Err(Ok(messages)) => return Err(problems(messages)),
        Err(Err(error)) => return Err(error),
    };
    let stored = p.store.payment(outcome.id).await?.ok_or_else(|| ApiError::internal("payment vanished"))?;
    let status = if outcome.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(stored.event)).into_response())
}

/// One item of a batch: its index (or CSV line) and the request, or why it is not one.
pub type BatchItem = (usize, Result<PaymentRequest, String>);

/// A rejected item of a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rejected {
    /// Index in the batch (CSV: line number, header = 1).
    pub index: usize,
    /// Why.
    pub reasons: Vec<String>,
}

/// The outcome of a batch.
#[derive(Debug, Serialize, Default, utoipa::ToSchema)]
pub struct BatchOutcome {
    /// Items that created a payment.
    pub created: usize,
    /// Items whose payment existed already.
    pub existing: usize,
    /// Items refused, with reasons.
    pub rejected: Vec<Rejected>,
    /// Payment ids of accepted items, in order.
    pub payments: Vec<Uuid>,
}

async fn run_batch(
    p: &Pipeline,
    caller: Caller,
    items: Vec<(usize, Result<PaymentRequest, String>)>,
) -> Result<BatchOutcome, ApiError> {
    let mut outcome = BatchOutcome::default();
    for (index, item) in items {
        let request = match item {
            Ok(request) if !caller.may(request.tenant_id) => {
                let reason = format!("the token does not allow tenant {}", request.tenant_id);
                outcome.rejected.push(Rejected { index, reasons: vec![reason] });
                continue;
            }
            Ok(request) => request,
            Err(reason) => {
                outcome.rejected.push(Rejected { index, reasons: vec![reason] });
                continue;
            }
        };
        match create_one(p, request).await {
            Ok(created) => {
                if created.created {
                    outcome.created += 1;
                } else {
                    outcome.existing += 1;
                }
                outcome.payments.push(created.id);
            }
            Err(Ok(reasons)) => outcome.rejected.push(Rejected { index, reasons }),
            Err(Err(error)) => return Err(error),
        }
    }
    Ok(outcome)
}

/// `POST /payments/bulk`: a JSON array of payment requests; each is accepted or rejected on its
/// own.
#[utoipa::path(post, operation_id = "create_payments_bulk", path = "/payments/bulk", tag = "payments", security(("core_jwt" = []), ("admin_token" = [])), request_body = Vec<PaymentRequest>,
    responses(
        (status = 200, description = "Each item created, found existing or rejected (another tenant's too)", body = BatchOutcome),
        BadRequest, Unauthorized, TooLarge, Internal,
    ))]
pub async fn bulk(State(p): State<Pipeline>, caller: Caller, Body(body): Body) -> Result<Json<BatchOutcome>, ApiError> {
    let items: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body must be a JSON array: {e}")))?;
    let items = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            (i, serde_json::from_value::<PaymentRequest>(v).map_err(|e| format!("not a payment request: {e}")))
        })
        .collect();
    Ok(Json(run_batch(&p, caller, items).await?))
}

/// The columns of a CSV import, in any order (header names).
pub const CSV_COLUMNS: [&str; 14] = [
    "remote_id",
    "tenant_id",
    "service_id",
    "reason",
    "amount",
    "expire_at",
    "payer_type",
    "payer_tax_id",
    "payer_name",
    "payer_family_name",
    "payer_email",
    "notify_url",
    "landing_url",
    "pagopa_category",
];

/// Parses a CSV import into requests (or per-row errors), numbered by line.
pub fn parse_csv(text: &str) -> Result<Vec<BatchItem>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| format!("cannot read the header line: {e}"))?.clone();
    for required in
        ["remote_id", "tenant_id", "service_id", "reason", "amount", "expire_at", "payer_tax_id", "payer_name"]
    {
        if !headers.iter().any(|h| h == required) {
            return Err(format!("the header line lacks the column `{required}`"));
        }
    }
    if let Some(unknown) = headers.iter().find(|h| !CSV_COLUMNS.contains(h)) {
        return Err(format!("unknown column `{unknown}` (known: {})", CSV_COLUMNS.join(", ")));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let row = record.map_err(|e| format!("line {line}: {e}")).and_then(|record| {
            let get = |name: &str| {
                headers.iter().position(|h| h == name).and_then(|i| record.get(i)).filter(|v| !v.is_empty())
            };
            let uuid = |name: &str| -> Result<Uuid, String> {
                get(name).ok_or(format!("{name} is missing"))?.parse().map_err(|_| format!("{name} is not a UUID"))
            };
            let opt = |name: &str| get(name).map(str::to_owned);
            let amount = get("amount").ok_or("amount is missing")?;
            let amount: Amount =
                serde_json::from_value(Value::String(amount.to_owned())).map_err(|e| format!("amount: {e}"))?;
            let expire_at = Timestamp::parse(get("expire_at").ok_or("expire_at is missing")?)?;
            let kind = match get("payer_type").unwrap_or("human") {
                "human" => PartyType::Human,
                "legal" => PartyType::Legal,
                other => return Err(format!("payer_type `{other}` is neither human nor legal")),
            };
            Ok(PaymentRequest {
                remote_id: uuid("remote_id")?,
                tenant_id: uuid("tenant_id")?,
                service_id: uuid("service_id")?,
                user_id: None,
                reason: opt("reason").unwrap_or_default(),
                amount,
                expire_at,
                payer: Party {
                    kind,
                    tax_identification_number: opt("payer_tax_id").unwrap_or_default(),
                    name: opt("payer_name").unwrap_or_default(),
                    family_name: opt("payer_family_name"),
                    street_name: None,
                    building_number: None,
                    postal_code: None,
                    town_name: None,
                    country_subdivision: None,
                    country: Some("IT".into()),
                    email: opt("payer_email"),
                },
                debtor: None,
                split: Vec::new(),
                notify_url: opt("notify_url"),
                landing_url: opt("landing_url"),
                receiver: None,
                pagopa_category: opt("pagopa_category"),
                due_type: None,
                locale: None,
            })
        });
        rows.push((line, row));
    }
    Ok(rows)
}

/// `POST /payments/import`: a CSV file (header line with the names of [`CSV_COLUMNS`]); each
/// row is accepted or rejected on its own, rejections name the line.
#[utoipa::path(post, operation_id = "import_payments_csv", path = "/payments/import", tag = "payments", security(("core_jwt" = []), ("admin_token" = [])), 
    request_body(description = "CSV, a header line naming the columns", content_type = "text/csv", content = String),
    responses(
        (status = 200, description = "Each row created, found existing or rejected (by line; another tenant's too)", body = BatchOutcome),
        BadRequest, Unauthorized, TooLarge, Internal,
    ))]
pub async fn import(
    State(p): State<Pipeline>,
    caller: Caller,
    Body(body): Body,
) -> Result<Json<BatchOutcome>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the CSV file is not UTF-8"))?;
    let rows = parse_csv(text).map_err(ApiError::bad_request)?;
    Ok(Json(run_batch(&p, caller, rows).await?))
}

/// `GET /payments/{id}`.
#[utoipa::path(get, operation_id = "get_payment", path = "/payments/{id}", tag = "payments", security(("core_jwt" = []), ("admin_token" = [])), params(PaymentId),
    responses((status = 200, description = "The payment's current event", body = PaymentEvent), Unauthorized, NotFound, Internal))]
pub async fn get_one(
    State(p): State<Pipeline>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PaymentEvent>, ApiError> {
    Ok(Json(visible_payment(&p, caller, &id).await?.event))
}

/// The payment `id` if the caller may see it (another tenant's is absent for it).
pub async fn visible_payment(p: &Pipeline, caller: Caller, id: &str) -> Result<crate::store::StoredPayment, ApiError> {
    let id = parse_id(id)?;
    let stored = p.store.payment(id).await?.filter(|s| caller.may(s.event.tenant_id));
    stored.ok_or_else(|| ApiError::not_found(format!("no payment {id}")))
}

/// The `{id}` of a payment.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PaymentId {
    /// The payment's id.
    pub id: Uuid,
}

/// Filters of `GET /payments`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// What the payment is for (the application).
    remote_id: Option<Uuid>,
    /// One status (`PAYMENT_PENDING` …).
    #[param(inline)]
    status: Option<PaymentStatus>,
    /// The municipality.
    tenant_id: Option<Uuid>,
    /// The service.
    service_id: Option<Uuid>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// `GET /payments?remote_id=&status=&tenant_id=&service_id=&limit=`.
#[utoipa::path(get, operation_id = "list_payments", path = "/payments", tag = "payments", security(("core_jwt" = []), ("admin_token" = [])), params(ListQuery),
    responses((status = 200, description = "Payments, newest first (a tenant's token: that tenant's)", body = Vec<PaymentEvent>),
        BadRequest, Unauthorized, Forbidden, Internal))]
pub async fn list(
    State(p): State<Pipeline>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<PaymentEvent>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit} is not between 1 and 1000")));
    }
    if let Some(tenant) = q.tenant_id {
        caller.check(tenant)?;
    }
    let filter = PaymentFilter {
        remote_id: q.remote_id,
        status: q.status,
        tenant_id: q.tenant_id.or(caller.tenant()),
        service_id: q.service_id,
        limit,
    };
    Ok(Json(p.store.payments(&filter).await?.into_iter().map(|s| s.event).collect()))
}

/// `GET /payments/{id}/history`: every state with its status and note.
#[utoipa::path(get, operation_id = "payment_history", path = "/payments/{id}/history", tag = "payments", security(("core_jwt" = []), ("admin_token" = [])), params(PaymentId),
    responses((status = 200, description = "Every state, oldest first", body = Vec<HistoryEntry>), Unauthorized, NotFound, Internal))]
pub async fn history(
    State(p): State<Pipeline>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let id = visible_payment(&p, caller, &id).await?.event.id;
    let rows = p.store.history(id).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("no payment {id}")));
    }
    Ok(Json(rows.into_iter().map(|(version, status, note)| HistoryEntry { version, status, note }).collect()))
}

/// One state of a payment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// 1 for the first state, then one more for each change.
    pub version: i64,
    /// The status it had.
    pub status: String,
    /// Why it changed, when known.
    pub note: Option<String>,
}
