//! The `sandbox` connector: talks to the sandbox intermediary the cassa host can serve
//! (`cassa sandbox`, and part of `cassa run` on embedded defaults) over real HTTP through the
//! host's sandbox — the same path every real connector takes.
//!
//! The sandbox intermediary's API, under the tenant's `base_url`:
//!
//! | request | reply |
//! |---|---|
//! | `POST /organizations/{fc}/debt-positions` | 201 position; 409 when the `iud` exists |
//! | `GET /organizations/{fc}/debt-positions/{iud}` | 200 position; 404 |
//! | `POST /organizations/{fc}/debt-positions/{iud}/cancel` | 200 position; 409 when paid |
//! | `GET /organizations/{fc}/debt-positions/{iud}/notice` | 200 `application/pdf` |
//! | `GET /organizations/{fc}/debt-positions/{iud}/receipt` | 200 `application/xml`; 404 unpaid |
//! | `GET /pay/{fc}/{iud}?ok=&cancel=` | the page where a citizen "pays" |
//!
//! Every API request carries the header `X-Api-Key` with the tenant's secret `api_key`, sent as a
//! placeholder the host fills in.

use cassa_sdk::config::{ConfigReader, check_body_fiscal_code};
use cassa_sdk::http::{Request, percent_encode, secret};
use cassa_sdk::{
    Capabilities, ConnectorInfo, Created, DebtPosition, DebtRef, Document, Error, PaidDetails, PaymentStatus,
    ReturnUrls,
};
use serde::{Deserialize, Serialize};

/// The connector.
pub struct Sandbox;

cassa_sdk::export_connector!(Sandbox);

/// The tenant configuration, read from the context.
pub struct Tenant {
    base_url: String,
    fiscal_code: String,
}

/// The service configuration, read from the context.
pub struct Service {
    reason_prefix: Option<String>,
}

fn read_config(tenant_json: &str, service_json: &str) -> Result<(Tenant, Service), Error> {
    let mut tenant = ConfigReader::parse("tenant", tenant_json);
    let base_url = tenant.required_url("base_url");
    let fiscal_code = tenant.required_checked("fiscal_code", check_body_fiscal_code);
    // The key itself is a secret: here it is only its placeholder, but it must be configured.
    tenant.required_str("api_key");
    let mut service = ConfigReader::parse("service", service_json);
    let reason_prefix = service.optional_str("reason_prefix");
    tenant.finish([service])?;
    Ok((Tenant { base_url, fiscal_code }, Service { reason_prefix }))
}

/// A debt position as the sandbox intermediary shows it.
#[derive(Debug, Deserialize)]
struct Position {
    iud: String,
    iuv: String,
    notice_code: String,
    status: String,
    amount: u64,
    paid_at: Option<String>,
    transaction_id: Option<String>,
    pay_url: Option<String>,
}

/// The body of a create request.
#[derive(Debug, Serialize)]
struct NewPosition<'a> {
    iud: &'a str,
    amount: u64,
    description: String,
    due_date: Option<&'a str>,
    debtor_fiscal_code: &'a str,
    debtor_name: String,
}

fn api(tenant: &Tenant, path: &str) -> String {
    format!("{}/organizations/{}/debt-positions{path}", tenant.base_url, tenant.fiscal_code)
}

fn authed(request: Request) -> Request {
    request.header("X-Api-Key", &secret("api_key")).header("Accept", "application/json")
}

fn fetch(tenant: &Tenant, iud: &str) -> Result<Position, Error> {
    authed(Request::get(&api(tenant, &format!("/{iud}")))).send()?.error_for_status()?.json()
}

/// Maps the sandbox intermediary's statuses onto cassa's: the one table of this connector.
fn map_status(position: &Position) -> Result<PaymentStatus, Error> {
    Ok(match position.status.as_str() {
        "UNPAID" => PaymentStatus::Pending,
        "PAYING" => PaymentStatus::Started,
        "PAID" => PaymentStatus::Paid(PaidDetails {
            paid_at: position.paid_at.clone().ok_or_else(|| Error::Protocol("PAID position without paid_at".into()))?,
            transaction_id: position
                .transaction_id
                .clone()
                .ok_or_else(|| Error::Protocol("PAID position without transaction_id".into()))?,
            amount: position.amount,
        }),
        "CANCELED" => PaymentStatus::Canceled,
        "EXPIRED" => PaymentStatus::Expired,
        other => return Err(Error::Protocol(format!("unknown position status `{other}`"))),
    })
}

fn created(position: Position) -> Result<Created, Error> {
    // Never hand the host a notice code that fails its check digits.
    let iuv = cassa_sdk::iuv::iuv_from_notice_code(&position.notice_code)
        .map_err(|e| Error::Protocol(format!("intermediary returned an invalid notice code: {e}")))?;
    if iuv != position.iuv {
        return Err(Error::Protocol(format!(
            "IUV {} does not match notice code {}",
            position.iuv, position.notice_code
        )));
    }
    Ok(Created {
        iuv: position.iuv,
        notice_code: position.notice_code,
        remote_ref: Some(position.iud),
        online_url: position.pay_url,
    })
}

fn document(
    tenant: &Tenant,
    debt: &DebtRef,
    kind: &str,
    content_type: &str,
    filename: String,
) -> Result<Document, Error> {
    let reply = authed(Request::get(&api(tenant, &format!("/{}/{kind}", debt.iud)))).send()?.error_for_status()?;
    let got = reply.header("content-type").unwrap_or_default();
    if !got.starts_with(content_type) {
        return Err(Error::Protocol(format!("expected {content_type}, got `{got}`")));
    }
    Ok(Document { content_type: content_type.to_owned(), filename, body: reply.body })
}

impl cassa_sdk::Connector for Sandbox {
    type Config = (Tenant, Service);

    fn info() -> ConnectorInfo {
        cassa_sdk::connector_info!(
            name: "sandbox",
            description: "The cassa sandbox intermediary: debt positions and a page where a citizen pays, for demos and tests",
            capabilities: Capabilities::BEGIN_ONLINE | Capabilities::NOTICE | Capabilities::RECEIPT | Capabilities::CANCEL,
        )
    }

    fn read_config(tenant_config: &str, service_config: &str) -> Result<Self::Config, Error> {
        read_config(tenant_config, service_config)
    }

    fn create((tenant, service): Self::Config, position: DebtPosition) -> Result<Created, Error> {
        let debtor = position.debtor.as_ref().unwrap_or(&position.payer);
        let debtor_name = match &debtor.family_name {
            Some(family) => format!("{} {family}", debtor.name),
            None => debtor.name.clone(),
        };
        let description = match service.reason_prefix {
            Some(prefix) => format!("{prefix} {}", position.reason),
            None => position.reason.clone(),
        };
        let body = NewPosition {
            iud: &position.iud,
            amount: position.amount,
            description: description.chars().take(140).collect(),
            due_date: position.expire_at.as_deref(),
            debtor_fiscal_code: &debtor.tax_id,
            debtor_name,
        };
        let reply = authed(Request::post(&api(&tenant, ""))).json(&body)?.send()?;
        if reply.status == 409 {
            // Created before (a retry after a lost reply): the same IUD is the same position.
            cassa_sdk::log::info("debt position exists already; reusing it");
            return created(fetch(&tenant, &position.iud)?);
        }
        created(reply.error_for_status()?.json()?)
    }

    fn status((tenant, _): Self::Config, debt: DebtRef) -> Result<PaymentStatus, Error> {
        map_status(&fetch(&tenant, &debt.iud)?)
    }

    fn begin_online((tenant, _): Self::Config, debt: DebtRef, urls: ReturnUrls) -> Result<String, Error> {
        let position = fetch(&tenant, &debt.iud)?;
        let pay_url = position.pay_url.ok_or_else(|| Error::Protocol("position has no pay_url".into()))?;
        Ok(format!("{pay_url}?ok={}&cancel={}", percent_encode(&urls.ok), percent_encode(&urls.cancel)))
    }

    fn notice((tenant, _): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        document(&tenant, &debt, "notice", "application/pdf", format!("avviso-{}.pdf", debt.notice_code))
    }

    fn receipt((tenant, _): Self::Config, debt: DebtRef) -> Result<Document, Error> {
        document(&tenant, &debt, "receipt", "application/xml", format!("ricevuta-{}.xml", debt.notice_code))
    }

    fn find((tenant, _): Self::Config, _payment_id: String, iud: String) -> Result<Option<Created>, Error> {
        let reply = authed(Request::get(&api(&tenant, &format!("/{iud}")))).send()?;
        if reply.status == 404 {
            return Ok(None);
        }
        created(reply.error_for_status()?.json()?).map(Some)
    }

    fn cancel((tenant, _): Self::Config, debt: DebtRef) -> Result<(), Error> {
        authed(Request::post(&api(&tenant, &format!("/{}/cancel", debt.iud)))).send()?.error_for_status()?;
        Ok(())
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn position(status: &str) -> Position {
        Position {
            iud: "abc".into(),
            iuv: "01000000000123468".into(),
            notice_code: "301000000000123468".into(),
            status: status.into(),
            amount: 1600,
            paid_at: Some("2026-11-28T10:00:00Z".into()),
            transaction_id: Some("T1".into()),
            pay_url: None,
        }
    }

    #[test]
    fn maps_every_intermediary_status() {
        assert!(matches!(map_status(&position("UNPAID")).unwrap(), PaymentStatus::Pending));
        assert!(matches!(map_status(&position("PAYING")).unwrap(), PaymentStatus::Started));
        assert!(matches!(map_status(&position("PAID")).unwrap(), PaymentStatus::Paid(p) if p.amount == 1600));
        assert!(matches!(map_status(&position("CANCELED")).unwrap(), PaymentStatus::Canceled));
        assert!(matches!(map_status(&position("EXPIRED")).unwrap(), PaymentStatus::Expired));
        assert!(matches!(map_status(&position("WEIRD")), Err(Error::Protocol(_))));
    }

    #[test]
    fn refuses_a_notice_code_with_wrong_check_digits() {
        let mut bad = position("UNPAID");
        bad.notice_code = "311111111112222222".into();
        assert!(matches!(created(bad), Err(Error::Protocol(_))));
        assert_eq!(created(position("UNPAID")).unwrap().iuv, "01000000000123468");
    }

    #[test]
    fn validates_configuration_field_by_field() {
        let Err(Error::InvalidConfig(errors)) = read_config(r#"{"base_url": "x"}"#, "{}") else { panic!() };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["tenant.base_url", "tenant.fiscal_code", "tenant.api_key"]);
        read_config(
            r#"{"base_url": "http://127.0.0.1:1/", "fiscal_code": "80001234568", "api_key": "{{secret:api_key}}"}"#,
            r#"{"reason_prefix": "TARI"}"#,
        )
        .unwrap();
    }
}
