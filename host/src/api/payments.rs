//! The payments API: create payments directly (one, a batch, a CSV file) on the same event path
//! as the dispatcher, read them back, and the ingest endpoint that appends application events
//! to `applications` for cores that cannot speak Kafka.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{ApiError, parse_id};
use crate::domain::payment::{Amount, Party, PartyType, PaymentEvent, PaymentStatus, Timestamp};
use crate::domain::request::PaymentRequest;
use crate::pipeline::Pipeline;
use crate::store::PaymentFilter;

/// `POST /applications`: appends one application event (a JSON object), or several (a JSON
/// array of objects, written together), to `applications`, keyed by `service_id` as the core's
/// relay does. Validation is the dispatcher's: a malformed event is accepted here and ends up in
/// the DLQ with its reason; only a body that is not JSON is refused.
pub async fn ingest_application(State(p): State<Pipeline>, body: Bytes) -> Result<Response, ApiError> {
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
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
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"accepted": accepted}))).into_response())
}

/// The outcome of creating one payment.
#[derive(Debug, Serialize)]
pub struct Created {
    /// The payment id.
    pub id: Uuid,
    /// Whether this request created it (false: it existed for this `remote_id`).
    pub created: bool,
}

async fn create_one(p: &Pipeline, request: PaymentRequest) -> Result<Created, Result<Vec<String>, ApiError>> {
    let event = request.into_event(Timestamp::now()).map_err(Ok)?;
    let key = p.key_of(&event);
    let created = p.store.insert_payment(&event, &p.config.topics.payments, &key).await.map_err(|e| Err(e.into()))?;
    if created {
        p.outbox_written();
        return Ok(Created { id: event.id, created });
    }
    // Same remote_id as an existing payment: idempotent, answer with that one.
    let existing = p.store.payment_by_remote_id(event.remote_id).await.map_err(|e| Err(e.into()))?;
    Ok(Created { id: existing.map_or(event.id, |s| s.event.id), created: false })
}

fn problems(messages: Vec<String>) -> ApiError {
    let fields = messages
        .into_iter()
        .map(|m| super::FieldProblem { field: m.split_whitespace().next().unwrap_or("request").to_owned(), message: m })
        .collect();
    ApiError::invalid("the payment request is not valid", fields)
}

/// `POST /payments`: 201 with the payment, or 200 when it existed for the `remote_id`.
pub async fn create(State(p): State<Pipeline>, body: Bytes) -> Result<Response, ApiError> {
    let request: PaymentRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("not a payment request: {e}")))?;
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
#[derive(Debug, Serialize)]
pub struct Rejected {
    /// Index in the batch (CSV: line number, header = 1).
    pub index: usize,
    /// Why.
    pub reasons: Vec<String>,
}

/// The outcome of a batch.
#[derive(Debug, Serialize, Default)]
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
    items: Vec<(usize, Result<PaymentRequest, String>)>,
) -> Result<BatchOutcome, ApiError> {
    let mut outcome = BatchOutcome::default();
    for (index, item) in items {
        let request = match item {
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
pub async fn bulk(State(p): State<Pipeline>, body: Bytes) -> Result<Json<BatchOutcome>, ApiError> {
    let items: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body must be a JSON array: {e}")))?;
    let items = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            (i, serde_json::from_value::<PaymentRequest>(v).map_err(|e| format!("not a payment request: {e}")))
        })
        .collect();
    Ok(Json(run_batch(&p, items).await?))
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
pub async fn import(State(p): State<Pipeline>, body: Bytes) -> Result<Json<BatchOutcome>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the CSV file is not UTF-8"))?;
    let rows = parse_csv(text).map_err(ApiError::bad_request)?;
    Ok(Json(run_batch(&p, rows).await?))
}

/// `GET /payments/{id}`.
pub async fn get_one(State(p): State<Pipeline>, Path(id): Path<String>) -> Result<Json<PaymentEvent>, ApiError> {
    let id = parse_id(&id)?;
    let stored = p.store.payment(id).await?.ok_or_else(|| ApiError::not_found(format!("no payment {id}")))?;
    Ok(Json(stored.event))
}

/// Filters of `GET /payments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    remote_id: Option<Uuid>,
    status: Option<String>,
    tenant_id: Option<Uuid>,
    service_id: Option<Uuid>,
    limit: Option<i64>,
}

/// `GET /payments?remote_id=&status=&tenant_id=&service_id=&limit=`.
pub async fn list(State(p): State<Pipeline>, Query(q): Query<ListQuery>) -> Result<Json<Vec<PaymentEvent>>, ApiError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(PaymentStatus::parse(s).ok_or_else(|| ApiError::bad_request(format!("unknown status `{s}`")))?),
    };
    let filter = PaymentFilter {
        remote_id: q.remote_id,
        status,
        tenant_id: q.tenant_id,
        service_id: q.service_id,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(p.store.payments(&filter).await?.into_iter().map(|s| s.event).collect()))
}

/// `GET /payments/{id}/history`: every state with its status and note.
pub async fn history(State(p): State<Pipeline>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let rows = p.store.history(id).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("no payment {id}")));
    }
    Ok(Json(Value::Array(
        rows.into_iter()
            .map(|(version, status, note)| serde_json::json!({"version": version, "status": status, "note": note}))
            .collect(),
    )))
}
