//! A connector as every one built against contract 0.1.0 before `lookup` existed: it exports
//! the `gateway` alone (the `connector` world, through wit-bindgen directly). The host must
//! still load and call it, and know it cannot find positions.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "connector",
});

use cassa::connector::types::{
    CallbackOutcome, CallbackRequest, Capabilities, ConnectorInfo, Context, Created, DebtPosition, DebtRef, Document,
    Error, PaymentStatus, ReturnUrls,
};
use exports::cassa::connector::gateway::Guest;

struct GatewayOnly;

const SCHEMA: &str = r#"{"type": "object", "properties": {}}"#;

impl Guest for GatewayOnly {
    fn info() -> ConnectorInfo {
        ConnectorInfo {
            name: "gateway-only".into(),
            version: "0.1.0".into(),
            contract_version: "0.1.0".into(),
            description: "A contract 0.1.0 connector without lookup".into(),
            capabilities: Capabilities::empty(),
            tenant_schema: SCHEMA.into(),
            service_schema: SCHEMA.into(),
            hosts: vec![],
        }
    }
    fn validate_config(_tenant: String, _service: String) -> Result<(), Error> {
        Ok(())
    }
    fn create(_ctx: Context, position: DebtPosition) -> Result<Created, Error> {
        Ok(Created {
            iuv: "01000000000000014".into(),
            notice_code: "301000000000000014".into(),
            remote_ref: Some(position.iud),
            online_url: None,
        })
    }
    fn status(_ctx: Context, _debt: DebtRef) -> Result<PaymentStatus, Error> {
        Ok(PaymentStatus::Pending)
    }
    fn begin_online(_ctx: Context, _debt: DebtRef, _urls: ReturnUrls) -> Result<String, Error> {
        Err(Error::Unsupported("begin-online".into()))
    }
    fn notice(_ctx: Context, _debt: DebtRef) -> Result<Document, Error> {
        Err(Error::Unsupported("notice".into()))
    }
    fn receipt(_ctx: Context, _debt: DebtRef) -> Result<Document, Error> {
        Err(Error::Unsupported("receipt".into()))
    }
    fn cancel(_ctx: Context, _debt: DebtRef) -> Result<(), Error> {
        Err(Error::Unsupported("cancel".into()))
    }
    fn callback(_ctx: Context, _request: CallbackRequest) -> Result<CallbackOutcome, Error> {
        Err(Error::Unsupported("callback".into()))
    }
}

export!(GatewayOnly);
