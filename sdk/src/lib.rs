//! `cassa-sdk`: what a cassa connector author depends on.
//!
//! A connector is a WebAssembly component that speaks one payment intermediary's dialect. With
//! this crate an author implements the [`Connector`] trait and calls [`export_connector!`]; the
//! crate builds with `cargo build --release --target wasm32-wasip2`.
//!
//! | module | what it gives |
//! |---|---|
//! | (root) | the contract's types, [`Connector`] (configuration read once per call, `unsupported` defaults), [`export_connector!`] |
//! | [`http`] | a small client over the host-mediated `http` import, status → [`Error`] mapping |
//! | [`log`] | log lines into the host's tracing, tagged with tenant, connector and payment |
//! | [`soap`] | SOAP 1.1 envelopes, SOAPAction, fault parsing, base64-embedded XML documents |
//! | [`xml`] | a small owned element tree for reading replies and an escaping writer |
//! | [`money`] | euro cents ⇄ decimal euro strings |
//! | [`iuv`] | IUV, notice code (NAV, mod 93) and RF creditor reference (mod 97) |
//! | [`config`] | reading tenant and service configuration documents, collecting field errors; fiscal code and IBAN checks |
//! | [`time`] | any date-time an intermediary writes → the contract's UTC timestamps (Rome time aware) |
//! | [`zip`] | the ZIP archives some intermediaries wrap documents in |
//! | [`pdf`] | a minimal one-page PDF of text lines |
//!
//! The pure modules (`soap`, `xml`, `money`, `iuv`) compile natively too, so a
//! connector's mapping logic is unit-tested with plain `cargo test`. The bindings (feature
//! `guest`, on by default) compile natively as well, but calling an import outside a component
//! aborts.

// The bindings name their runtime by the path a connector sees: `cassa_sdk::…`.
extern crate self as cassa_sdk;

#[cfg(feature = "guest")]
pub mod config;
pub mod iuv;
pub mod money;
pub mod pdf;
pub mod soap;
pub mod time;
pub mod xml;
pub mod zip;

#[cfg(feature = "guest")]
pub mod http;
#[cfg(feature = "guest")]
pub mod log;

/// The WIT bindings of the `connector-with-lookup` world (the `connector` world and the
/// optional `lookup`), generated from `wit/`.
#[cfg(feature = "guest")]
#[doc(hidden)]
pub mod bindings {
    #![allow(missing_docs, clippy::all, reason = "generated code")]
    wit_bindgen::generate!({
        path: "../wit",
        world: "connector-with-lookup",
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
        default_bindings_module: "cassa_sdk::bindings",
        runtime_path: "cassa_sdk::__private::wit_bindgen::rt",
        bitflags_path: "cassa_sdk::__private::wit_bindgen::rt::bitflags",
    });
}

#[cfg(feature = "guest")]
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

#[cfg(feature = "guest")]
pub use bindings::cassa::connector::types::{
    CallbackOutcome, CallbackRequest, Capabilities, ConnectorInfo, Context, Created, DebtPosition, DebtRef, Document,
    Error, FieldError, PaidDetails, Party, PartyKind, PaymentKind, PaymentStatus, Receiver, ReturnUrls, SplitItem,
};

/// The version of the WIT contract this SDK implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// What a connector implements. Every call reads the tenant's and the service's configuration
/// first, through [`Connector::read_config`] (which is also the contract's `validate-config`), and
/// hands the operation what it read. Optional operations default to [`Error::Unsupported`];
/// declare the ones you implement in [`ConnectorInfo::capabilities`].
#[cfg(feature = "guest")]
pub trait Connector {
    /// What the connector reads from the tenant's and the service's configuration.
    type Config;

    /// Describes the connector; must not do I/O.
    fn info() -> ConnectorInfo;

    /// Reads a tenant and a service configuration (JSON; secrets are placeholders) without
    /// calling upstream: every wrong field in one [`Error::InvalidConfig`].
    fn read_config(tenant_config: &str, service_config: &str) -> Result<Self::Config, Error>;

    /// Opens a debt position; the same `iud` twice must give the same position.
    fn create(config: Self::Config, position: DebtPosition) -> Result<Created, Error>;

    /// Asks where a debt position stands.
    fn status(config: Self::Config, debt: DebtRef) -> Result<PaymentStatus, Error>;

    /// Starts an online payment on the intermediary's portal; returns where to send the citizen.
    fn begin_online(config: Self::Config, debt: DebtRef, urls: ReturnUrls) -> Result<String, Error> {
        let _ = (config, debt, urls);
        Err(unsupported("begin-online"))
    }

    /// Returns the printable pagoPA notice.
    fn notice(config: Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let _ = (config, debt);
        Err(unsupported("notice"))
    }

    /// Returns the receipt of a paid position.
    fn receipt(config: Self::Config, debt: DebtRef) -> Result<Document, Error> {
        let _ = (config, debt);
        Err(unsupported("receipt"))
    }

    /// Annuls an unpaid position.
    fn cancel(config: Self::Config, debt: DebtRef) -> Result<(), Error> {
        let _ = (config, debt);
        Err(unsupported("cancel"))
    }

    /// Interprets a notification the intermediary pushed.
    fn callback(config: Self::Config, request: CallbackRequest) -> Result<CallbackOutcome, Error> {
        let _ = (config, request);
        Err(unsupported("callback"))
    }

    /// Finds the position the intermediary holds for `iud` (of cassa's payment `payment_id`)
    /// without creating one: `Ok(None)` when it holds none. The host asks after a `create` that
    /// got no readable answer and before giving a payment up; implement it whenever the
    /// intermediary can be asked by IUD, so a payment is never failed while its position exists.
    fn find(config: Self::Config, payment_id: String, iud: String) -> Result<Option<Created>, Error> {
        let _ = (config, payment_id, iud);
        Err(unsupported("find"))
    }
}

/// The `unsupported` error for an operation this connector does not implement.
#[cfg(feature = "guest")]
pub fn unsupported(operation: &str) -> Error {
    Error::Unsupported(format!("this connector does not implement `{operation}`"))
}

/// One field error, for [`Error::InvalidConfig`].
#[cfg(feature = "guest")]
pub fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

#[cfg(feature = "guest")]
#[doc(hidden)]
pub struct Exported<T>(core::marker::PhantomData<T>);

#[cfg(feature = "guest")]
impl<T: Connector> Exported<T> {
    /// What `T` reads from a call's configuration.
    fn config(ctx: &Context) -> Result<T::Config, Error> {
        T::read_config(&ctx.tenant_config, &ctx.service_config)
    }
}

#[cfg(feature = "guest")]
impl<T: Connector> bindings::exports::cassa::connector::gateway::Guest for Exported<T> {
    fn info() -> ConnectorInfo {
        T::info()
    }
    fn validate_config(tenant_config: String, service_config: String) -> Result<(), Error> {
        T::read_config(&tenant_config, &service_config).map(|_| ())
    }
    fn create(ctx: Context, position: DebtPosition) -> Result<Created, Error> {
        T::create(Self::config(&ctx)?, position)
    }
    fn status(ctx: Context, debt: DebtRef) -> Result<PaymentStatus, Error> {
        T::status(Self::config(&ctx)?, debt)
    }
    fn begin_online(ctx: Context, debt: DebtRef, urls: ReturnUrls) -> Result<String, Error> {
        T::begin_online(Self::config(&ctx)?, debt, urls)
    }
    fn notice(ctx: Context, debt: DebtRef) -> Result<Document, Error> {
        T::notice(Self::config(&ctx)?, debt)
    }
    fn receipt(ctx: Context, debt: DebtRef) -> Result<Document, Error> {
        T::receipt(Self::config(&ctx)?, debt)
    }
    fn cancel(ctx: Context, debt: DebtRef) -> Result<(), Error> {
        T::cancel(Self::config(&ctx)?, debt)
    }
    fn callback(ctx: Context, request: CallbackRequest) -> Result<CallbackOutcome, Error> {
        T::callback(Self::config(&ctx)?, request)
    }
}

#[cfg(feature = "guest")]
impl<T: Connector> bindings::exports::cassa::connector::lookup::Guest for Exported<T> {
    fn find(ctx: Context, payment_id: String, iud: String) -> Result<Option<Created>, Error> {
        T::find(Self::config(&ctx)?, payment_id, iud)
    }
}

/// The [`ConnectorInfo`] of a connector crate: its `name`, one-line `description` and
/// `capabilities`; the schemas of its `src/tenant.schema.json` and `src/service.schema.json`;
/// its crate version and the contract version; and the hosts it needs — `*` unless given: the
/// hosts of the URLs in the tenant's configuration, which the host enforces.
///
/// ```ignore
/// fn info() -> ConnectorInfo {
///     cassa_sdk::connector_info!(name: "mypay", description: "MyPay over SOAP", capabilities: Capabilities::NOTICE)
/// }
/// ```
#[cfg(feature = "guest")]
#[macro_export]
macro_rules! connector_info {
    (name: $name:expr, description: $description:expr, capabilities: $capabilities:expr $(,)?) => {
        $crate::connector_info!(name: $name, description: $description, capabilities: $capabilities, hosts: ["*"])
    };
    (name: $name:expr, description: $description:expr, capabilities: $capabilities:expr, hosts: [$($host:expr),* $(,)?] $(,)?) => {
        $crate::ConnectorInfo {
            name: ::std::string::String::from($name),
            version: ::std::string::String::from(env!("CARGO_PKG_VERSION")),
            contract_version: ::std::string::String::from($crate::CONTRACT_VERSION),
            description: ::std::string::String::from($description),
            capabilities: $capabilities,
            tenant_schema: ::std::string::String::from(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/tenant.schema.json"
            ))),
            service_schema: ::std::string::String::from(include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/service.schema.json"
            ))),
            hosts: ::std::vec![$(::std::string::String::from($host)),*],
        }
    };
}

/// Exports a type implementing [`Connector`] as the component's `gateway`.
///
/// ```ignore
/// struct MyPay;
/// impl cassa_sdk::Connector for MyPay { /* ... */ }
/// cassa_sdk::export_connector!(MyPay);
/// ```
#[cfg(feature = "guest")]
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        type __CassaExported = $crate::Exported<$connector>;
        $crate::bindings::__export_connector_world!(__CassaExported with_types_in $crate::bindings);
    };
}
