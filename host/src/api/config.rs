//! The configuration API the core's back office calls (DOMAIN.md §7.1): form.io schemas from
//! the connector's `info`, and tenant and service configurations validated by the connector's
//! `validate-config`. `PUT {…, "active": true}` saves; `DELETE` is a soft delete. Secret fields
//! are never returned; a save that leaves one empty keeps the stored value.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::auth::Caller;
use super::openapi::{BadRequest, Conflict, Forbidden, Internal, Invalid, NotFound, TooLarge, Unauthorized, Upstream};
use super::{ApiError, ApiQuery, Body, FieldProblem};
use crate::pipeline::{Pipeline, connector_view};
use crate::runtime::{CallError, CallScope, Connector, ConnectorInfo, wit};
use crate::store::StoredConfig;

/// Which connector a schema is asked for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SchemaQuery {
    /// Connector name; the only installed one when omitted.
    connector: Option<String>,
    /// `formio` (default) or `json-schema`.
    #[param(pattern = "^(formio|json-schema)$")]
    format: Option<String>,
}

/// The `{id}` of a tenant or service.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConfigId {
    /// The tenant's or service's id (the core's).
    pub id: Uuid,
}

/// A configuration document, for the OpenAPI document: its fixed fields, then whatever the
/// connector's schema (`GET /tenants/schema?format=json-schema`) asks for.
fn document_schema(
    owner: &str,
    owner_doc: &str,
    owner_format: Option<utoipa::openapi::KnownFormat>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaFormat, Type};
    let uuid = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid)));
    ObjectBuilder::new()
        .property("id", uuid.description(Some("The core's id")))
        .property("active", ObjectBuilder::new().schema_type(Type::Boolean).description(Some("false once deleted")))
        .property(
            owner,
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(owner_format.map(SchemaFormat::KnownFormat))
                .description(Some(owner_doc)),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .description(Some("The fields of the connector's schema besides these; secret fields are never shown"))
        .into()
}

/// A tenant's configuration, as sent and as shown.
pub struct TenantDocument;

impl utoipa::PartialSchema for TenantDocument {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        document_schema("connector", "The connector (intermediary) of the tenant", None)
    }
}

impl utoipa::ToSchema for TenantDocument {}

/// A service's configuration, as sent and as shown.
pub struct ServiceDocument;

impl utoipa::PartialSchema for ServiceDocument {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        document_schema("tenant_id", "The service's tenant", Some(utoipa::openapi::KnownFormat::Uuid))
    }
}

impl utoipa::ToSchema for ServiceDocument {}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Tenant,
    Service,
}

fn connector_named(p: &Pipeline, name: Option<&str>) -> Result<Connector, ApiError> {
    let name = match name {
        Some(n) if !n.is_empty() => n.to_owned(),
        _ => p
            .connectors
            .default_name()
            .ok_or_else(|| ApiError::bad_request("several connectors are installed: name one with `connector`"))?,
    };
    p.connectors
        .get(&name)
        .map(|(c, _)| c)
        .ok_or_else(|| ApiError::not_found(format!("no connector `{name}` is installed")))
}

/// Turns a JSON Schema object into a form.io form the core's UI renders.
pub fn formio(schema: &Value, kind: &str) -> Value {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut components = vec![json!({"type": "hidden", "key": "id", "input": true})];
    if kind == "tenant" {
        components.push(json!({"type": "textfield", "key": "name", "label": "Nome dell'ente", "input": true, "validate": {"required": true, "maxLength": 255}}));
        components.push(json!({"type": "textfield", "key": "tax_identification_number", "label": "Codice fiscale dell'ente", "input": true, "validate": {"required": true}}));
    } else {
        components.push(json!({"type": "hidden", "key": "tenant_id", "input": true}));
        components.push(json!({"type": "select", "key": "online_payment", "label": "Pagamento online", "input": true,
            "description": "Dove il cittadino paga online: pagoPA Checkout o il portale dell'intermediario. Vuoto: il portale quando c'è, altrimenti Checkout.",
            "data": {"values": [{"label": "pagoPA Checkout", "value": "checkout"},
                                {"label": "Portale dell'intermediario", "value": "intermediary"}]},
            "validate": {"required": false}}));
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (key, prop) in props {
            let secret = prop.get("x-secret").and_then(Value::as_bool) == Some(true)
                || prop.get("writeOnly").and_then(Value::as_bool) == Some(true);
            let kind = match (prop.get("type").and_then(Value::as_str), prop.get("format").and_then(Value::as_str)) {
                _ if secret => "password",
                _ if prop.get("enum").is_some() => "select",
                (Some("boolean"), _) => "checkbox",
                (Some("integer" | "number"), _) => "number",
                (_, Some("uri")) => "url",
                (_, Some("email")) => "email",
                _ => "textfield",
            };
            let label = prop.get("title").and_then(Value::as_str).unwrap_or(key);
            let mut component = json!({"type": kind, "key": key, "label": label, "input": true,
                "validate": {"required": required.contains(&key.as_str())}});
            if let Some(titles) = prop.get("x-title") {
                component["x-title"] = titles.clone();
            }
            if let Some(pattern) = prop.get("pattern") {
                component["validate"]["pattern"] = pattern.clone();
            }
            if let Some(max) = prop.get("maxLength") {
                component["validate"]["maxLength"] = max.clone();
            }
            if let Some(options) = prop.get("enum").and_then(Value::as_array) {
                component["data"] =
                    json!({"values": options.iter().map(|o| json!({"label": o, "value": o})).collect::<Vec<_>>()});
            }
            components.push(component);
        }
    }
    components.push(json!({"type": "button", "key": "submit", "label": "Salva", "action": "submit", "input": true}));
    json!({"display": "form", "components": components})
}

async fn schema(p: Pipeline, q: SchemaQuery, kind: Kind) -> Result<Json<Value>, ApiError> {
    let connector = connector_named(&p, q.connector.as_deref())?;
    let info = connector.info();
    let (schema, name) = match kind {
        Kind::Tenant => (&info.tenant_schema, "tenant"),
        Kind::Service => (&info.service_schema, "service"),
    };
    Ok(Json(match q.format.as_deref() {
        None | Some("formio") => formio(schema, name),
        Some("json-schema") => schema.clone(),
        Some(other) => return Err(ApiError::bad_request(format!("unknown format `{other}`: formio or json-schema"))),
    }))
}

fn secret_fields(connector: &Connector, kind: Kind) -> Vec<String> {
    let info = connector.info();
    ConnectorInfo::secret_fields(if kind == Kind::Tenant { &info.tenant_schema } else { &info.service_schema })
}

/// The stored document as the API shows it: secrets removed, `id` and `active` present.
fn shown(stored: &StoredConfig, secrets: &[String], kind: Kind) -> Value {
    let mut doc = match &stored.config {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for secret in secrets {
        doc.remove(secret);
    }
    doc.insert("id".into(), stored.id.to_string().into());
    doc.insert("active".into(), stored.active.into());
    if kind == Kind::Service {
        doc.insert("tenant_id".into(), stored.owner.clone().into());
    } else {
        doc.insert("connector".into(), stored.owner.clone().into());
    }
    Value::Object(doc)
}

async fn load(p: &Pipeline, kind: Kind, id: Uuid) -> Result<Option<StoredConfig>, ApiError> {
    Ok(match kind {
        Kind::Tenant => p.store.tenant(id).await?,
        Kind::Service => p.store.service(id).await?,
    })
}

/// The connector of a tenant (or of a service's tenant).
async fn connector_of(
    p: &Pipeline,
    kind: Kind,
    doc: &Map<String, Value>,
    id: Uuid,
) -> Result<(Connector, Option<StoredConfig>), ApiError> {
    match kind {
        Kind::Tenant => {
            let existing = p.store.tenant(id).await?;
            let name = doc
                .get("connector")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| existing.as_ref().map(|e| e.owner.clone()));
            // The version the tenant's calls use: its pin's, else the active one.
            let active = connector_named(p, name.as_deref())?;
            let pinned = p.connectors.pinned(&active.info().name, &id.to_string(), "");
            Ok((pinned.unwrap_or(active), None))
        }
        Kind::Service => {
            let tenant_id =
                doc.get("tenant_id").and_then(Value::as_str).and_then(|t| Uuid::parse_str(t).ok()).ok_or_else(
                    || {
                        ApiError::invalid(
                            "the service is not valid",
                            vec![FieldProblem { field: "tenant_id".into(), message: "is required (a UUID)".into() }],
                        )
                    },
                )?;
            let tenant = p.store.tenant(tenant_id).await?.filter(|t| t.active).ok_or_else(|| {
                ApiError::invalid(
                    "the service is not valid",
                    vec![FieldProblem { field: "tenant_id".into(), message: "no active tenant with this id".into() }],
                )
            })?;
            let active = connector_named(p, Some(&tenant.owner))?;
            let pinned = p.connectors.pinned(&active.info().name, &tenant_id.to_string(), &id.to_string());
            Ok((pinned.unwrap_or(active), Some(tenant)))
        }
    }
}

fn host_checks(kind: Kind, doc: &Map<String, Value>, connector: &Connector) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    if kind == Kind::Service {
        match doc.get("online_payment") {
            None | Some(Value::Null) => {}
            Some(Value::String(route)) if route == "checkout" => {}
            Some(Value::String(route)) if route == "intermediary" && connector.info().can("begin-online") => {}
            Some(Value::String(route)) if route == "intermediary" => problems.push(FieldProblem {
                field: "online_payment".into(),
                message: format!(
                    "connector `{}` has no portal of its own (no begin-online): use `checkout`",
                    connector.info().name
                ),
            }),
            Some(_) => problems.push(FieldProblem {
                field: "online_payment".into(),
                message: "must be `checkout` (pagoPA Checkout) or `intermediary` (the intermediary's portal)".into(),
            }),
        }
    }
    if kind == Kind::Tenant {
        match doc.get("name").and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() && n.chars().count() <= 255 => {}
            _ => problems
                .push(FieldProblem { field: "name".into(), message: "is required, at most 255 characters".into() }),
        }
        match doc.get("tax_identification_number").and_then(Value::as_str) {
            Some(t)
                if (t.len() == 11 && t.bytes().all(|b| b.is_ascii_digit()))
                    || (t.len() == 16 && t.bytes().all(|b| b.is_ascii_alphanumeric())) => {}
            _ => problems.push(FieldProblem {
                field: "tax_identification_number".into(),
                message: "is required: 11 digits (partita IVA) or a 16-character codice fiscale".into(),
            }),
        }
    }
    problems
}

/// Validates and stores a configuration document for `id`.
async fn save(
    p: &Pipeline,
    caller: Caller,
    kind: Kind,
    id: Uuid,
    mut doc: Map<String, Value>,
    creating: bool,
) -> Result<Response, ApiError> {
    if let Some(given) = doc.get("id").and_then(Value::as_str)
        && given != id.to_string()
    {
        return Err(ApiError::bad_request(format!("the body's id {given} differs from the path's {id}")));
    }
    if kind == Kind::Tenant {
        caller.check(id)?;
    }
    let existing = load(p, kind, id).await?;
    if kind == Kind::Service {
        // Neither another tenant's service, nor a service moved into another tenant.
        if let Some(tenant) = existing.as_ref().and_then(|e| Uuid::parse_str(&e.owner).ok())
            && !caller.may(tenant)
        {
            // Another tenant's service is as good as absent, as for GET.
            return Err(ApiError::not_found(format!("{id} is not configured")));
        }
        if let Some(tenant) = doc.get("tenant_id").and_then(Value::as_str).and_then(|t| Uuid::parse_str(t).ok()) {
            caller.check(tenant)?;
        }
    }
    if creating && existing.as_ref().is_some_and(|e| e.active) {
        return Err(ApiError::new(StatusCode::CONFLICT, "exists", format!("{id} exists already; use PUT or PATCH")));
    }
    let (connector, tenant) = connector_of(p, kind, &doc, id).await?;
    // A secret left out or empty keeps its stored value: the API never shows secrets, so a form
    // saved again does not carry them.
    for secret in secret_fields(&connector, kind) {
        let empty = doc.get(&secret).is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if empty && let Some(old) = existing.as_ref().and_then(|e| e.config.get(&secret)) {
            doc.insert(secret, old.clone());
        }
    }
    let active = doc.get("active").and_then(Value::as_bool).unwrap_or(true);
    let mut problems = host_checks(kind, &doc, &connector);
    for key in ["id", "active", "connector", "tenant_id"] {
        doc.remove(key);
    }
    let config = Value::Object(doc.clone());
    let (tenant_config, service_config) = match (&kind, &tenant) {
        (Kind::Tenant, _) => (connector_view(&config), json!({})),
        (Kind::Service, Some(t)) => (connector_view(&t.config), connector_view(&config)),
        (Kind::Service, None) => return Err(ApiError::internal("service without tenant")),
    };
    let tenant_id = tenant.as_ref().map_or(id, |t| t.id).to_string();
    // The tenant's limits, but not its gate: the tenant may not exist yet, and saving a form
    // is not its payments' traffic.
    let (limits, _) = p.connectors.limits_for(&connector, &tenant_id);
    let scope = CallScope {
        tenant_id,
        service_id: if kind == Kind::Service { id.to_string() } else { String::new() },
        payment_id: None,
        tenant_config,
        service_config,
        allowed_hosts: Vec::new(),
        limits: Some(limits),
        ..CallScope::default()
    };
    match connector.validate_config(&scope).await {
        Ok(()) => {}
        Err(CallError::Connector(wit::Error::InvalidConfig(fields))) => {
            let prefix = if kind == Kind::Tenant { "tenant." } else { "service." };
            let relevant = fields.into_iter().filter(|f| f.field.starts_with(prefix) || !f.field.contains('.'));
            problems.extend(relevant.map(|f| FieldProblem {
                field: f.field.strip_prefix(prefix).unwrap_or(&f.field).to_owned(),
                message: f.message,
            }));
        }
        Err(error) => return Err(ApiError::upstream(&error)),
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid("the configuration is not valid", problems));
    }
    let owner = match (&kind, &tenant) {
        (Kind::Service, Some(t)) => t.id.to_string(),
        _ => connector.info().name.clone(),
    };
    let stored = StoredConfig { id, owner, config, active };
    match kind {
        Kind::Tenant => p.store.put_tenant(&stored).await?,
        Kind::Service => p.store.put_service(&stored).await?,
    }
    p.forget_configs();
    let status = if existing.is_none() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(shown(&stored, &secret_fields(&connector, kind), kind))).into_response())
}

fn object(body: &bytes::Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("the body is not JSON: {e}"))),
    }
}

fn path_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::bad_request(format!("`{id}` is not a UUID")))
}

/// The stored configuration `id` if the caller may see it (another tenant's is absent for it).
async fn visible(p: &Pipeline, caller: Caller, kind: Kind, id: Uuid) -> Result<StoredConfig, ApiError> {
    let stored = load(p, kind, id).await?.filter(|stored| {
        let tenant = if kind == Kind::Tenant { Some(id) } else { Uuid::parse_str(&stored.owner).ok() };
        tenant.is_some_and(|t| caller.may(t))
    });
    stored.ok_or_else(|| ApiError::not_found(format!("{id} is not configured")))
}

async fn get(p: Pipeline, caller: Caller, kind: Kind, id: String) -> Result<Json<Value>, ApiError> {
    let id = path_id(&id)?;
    let stored = visible(&p, caller, kind, id).await?;
    let secrets = match kind {
        Kind::Tenant => p.connectors.get(&stored.owner).map(|(c, _)| secret_fields(&c, kind)).unwrap_or_default(),
        Kind::Service => match p.store.tenant(stored.owner.parse().unwrap_or_default()).await? {
            Some(t) => p.connectors.get(&t.owner).map(|(c, _)| secret_fields(&c, kind)).unwrap_or_default(),
            None => Vec::new(),
        },
    };
    Ok(Json(shown(&stored, &secrets, kind)))
}

async fn patch(p: Pipeline, caller: Caller, kind: Kind, id: String, body: bytes::Bytes) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let stored = visible(&p, caller, kind, id).await?;
    let mut doc = match stored.config {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    doc.insert(if kind == Kind::Tenant { "connector" } else { "tenant_id" }.into(), stored.owner.into());
    doc.insert("active".into(), stored.active.into());
    for (key, value) in object(&body)? {
        doc.insert(key, value);
    }
    save(&p, caller, kind, id, doc, false).await
}

async fn delete(p: Pipeline, caller: Caller, kind: Kind, id: String) -> Result<StatusCode, ApiError> {
    let id = path_id(&id)?;
    let mut stored = visible(&p, caller, kind, id).await?;
    stored.active = false;
    match kind {
        Kind::Tenant => p.store.put_tenant(&stored).await?,
        Kind::Service => p.store.put_service(&stored).await?,
    }
    p.forget_configs();
    Ok(StatusCode::NO_CONTENT)
}

async fn post(p: Pipeline, caller: Caller, kind: Kind, body: bytes::Bytes) -> Result<Response, ApiError> {
    let doc = object(&body)?;
    let id = match doc.get("id").and_then(Value::as_str) {
        Some(id) => path_id(id)?,
        None => {
            return Err(ApiError::invalid(
                "id is required",
                vec![FieldProblem { field: "id".into(), message: "is required (a UUID)".into() }],
            ));
        }
    };
    save(&p, caller, kind, id, doc, true).await
}

/// The endpoints of one kind of configuration document: its schema (`/tenants/schema`), `$item`
/// (`/tenants/{id}`) and `$list` (`/tenants`); written once for tenants and services.
macro_rules! configuration_endpoints {
    (
        $kind:expr, $doc:ident, $item:tt, $list:tt, $schema_path:tt, $schema_description:tt,
        $schema:ident, $get:ident, $put:ident, $patch:ident, $delete:ident, $post:ident
    ) => {
        #[doc = concat!("`GET ", $schema_path, "`.")]
        #[utoipa::path(get, path = $schema_path, tag = "configuration", params(SchemaQuery), responses(
            (status = 200, description = $schema_description, body = Object),
            BadRequest, NotFound,
        ))]
        pub async fn $schema(State(p): State<Pipeline>, ApiQuery(q): ApiQuery<SchemaQuery>) -> Result<Json<Value>, ApiError> {
            schema(p, q, $kind).await
        }

        #[doc = concat!("`GET ", $item, "`: 404 when not configured yet.")]
        #[utoipa::path(get, path = $item, tag = "configuration", security(("core_jwt" = []), ("admin_token" = [])), params(ConfigId), responses(
            (status = 200, description = "The configuration, without secrets", body = $doc),
            BadRequest, Unauthorized, Forbidden, NotFound, Internal,
        ))]
        pub async fn $get(State(p): State<Pipeline>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
            get(p, caller, $kind, id).await
        }

        #[doc = concat!("`PUT ", $item, "`: creates or replaces, after the connector validated it.")]
        #[utoipa::path(put, path = $item, tag = "configuration", security(("core_jwt" = []), ("admin_token" = [])), params(ConfigId), request_body = $doc, responses(
            (status = 200, description = "Replaced; shown without secrets", body = $doc),
            (status = 201, description = "Created; shown without secrets", body = $doc),
            BadRequest, Unauthorized, Forbidden, NotFound, TooLarge, Invalid, Upstream, Internal,
        ))]
        pub async fn $put(
            State(p): State<Pipeline>,
            caller: Caller,
            Path(id): Path<String>,
            Body(body): Body,
        ) -> Result<Response, ApiError> {
            let id = path_id(&id)?;
            save(&p, caller, $kind, id, object(&body)?, false).await
        }

        #[doc = concat!("`PATCH ", $item, "`: changes the fields given, after the connector validated the result.")]
        #[utoipa::path(patch, path = $item, tag = "configuration", security(("core_jwt" = []), ("admin_token" = [])), params(ConfigId), request_body = $doc, responses(
            (status = 200, description = "Changed; shown without secrets", body = $doc),
            BadRequest, Unauthorized, Forbidden, NotFound, TooLarge, Invalid, Upstream, Internal,
        ))]
        pub async fn $patch(
            State(p): State<Pipeline>,
            caller: Caller,
            Path(id): Path<String>,
            Body(body): Body,
        ) -> Result<Response, ApiError> {
            patch(p, caller, $kind, id, body).await
        }

        #[doc = concat!("`DELETE ", $item, "`: soft delete.")]
        #[utoipa::path(delete, path = $item, tag = "configuration", security(("core_jwt" = []), ("admin_token" = [])), params(ConfigId), responses(
            (status = 204, description = "Deactivated"),
            BadRequest, Unauthorized, Forbidden, NotFound, Internal,
        ))]
        pub async fn $delete(State(p): State<Pipeline>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
            delete(p, caller, $kind, id).await
        }

        #[doc = concat!("`POST ", $list, "`: creates, after the connector validated it; `id` is required.")]
        #[utoipa::path(post, path = $list, tag = "configuration", security(("core_jwt" = []), ("admin_token" = [])), request_body = $doc, responses(
            (status = 201, description = "Created; shown without secrets", body = $doc),
            (status = 200, description = "A deleted one with this id configured again; shown without secrets", body = $doc),
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, Invalid, Upstream, Internal,
        ))]
        pub async fn $post(State(p): State<Pipeline>, caller: Caller, Body(body): Body) -> Result<Response, ApiError> {
            post(p, caller, $kind, body).await
        }
    };
}

configuration_endpoints!(
    Kind::Tenant,
    TenantDocument,
    "/tenants/{id}",
    "/tenants",
    "/tenants/schema",
    "The form.io form (or the JSON Schema) of a tenant's configuration",
    tenant_schema,
    get_tenant,
    put_tenant,
    patch_tenant,
    delete_tenant,
    post_tenant
);
configuration_endpoints!(
    Kind::Service,
    ServiceDocument,
    "/services/{id}",
    "/services",
    "/services/schema",
    "The form.io form (or the JSON Schema) of a service's configuration",
    service_schema,
    get_service,
    put_service,
    patch_service,
    delete_service,
    post_service
);
