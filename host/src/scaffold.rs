//! `cassa connector new <name>`: a new connector crate, from a template that works as it is.
//!
//! The template is the `sandbox` connector itself (`connectors/sandbox/`), renamed: a new
//! connector starts by passing the whole conformance suite against the sandbox intermediary,
//! and its author changes it request by request into their intermediary's dialect, keeping the
//! suite green. Inside a connector workspace (a `Cargo.toml` with `[workspace]`) the crate joins
//! it; elsewhere a workspace of its own is created around it, with the SDK taken from `sdk`.

use std::path::{Path, PathBuf};

/// The template's files, as the `sandbox` connector has them.
const LIB: &str = include_str!("../../connectors/sandbox/src/lib.rs");
const TENANT_SCHEMA: &str = include_str!("../../connectors/sandbox/src/tenant.schema.json");
const SERVICE_SCHEMA: &str = include_str!("../../connectors/sandbox/src/service.schema.json");
const CARGO_CONFIG: &str = include_str!("../../connectors/.cargo/config.toml");
const RUSTFMT: &str = include_str!("../../connectors/rustfmt.toml");

/// Why a connector cannot be scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not a valid connector name.
    #[error("`{0}` is not a connector name: use lower-case letters, digits and `-`, starting with a letter")]
    BadName(String),
    /// The crate's directory exists.
    #[error("{0} exists already")]
    Exists(PathBuf),
    /// Outside a workspace the SDK's path is needed.
    #[error("{0} is not a connector workspace: name the cassa SDK with --sdk <path to cassa's sdk/>")]
    NoSdk(PathBuf),
    /// The template no longer matches what the scaffold replaces.
    #[error("the connector template changed: `{0}` not found")]
    Template(&'static str),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ScaffoldError + '_ {
    move |source| ScaffoldError::Io { path: path.to_owned(), source }
}

/// `my-gateway` → `MyGateway`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok { Ok(()) } else { Err(ScaffoldError::BadName(name.to_owned())) }
}

/// The template's `lib.rs` for a connector called `name`.
pub fn lib_rs(name: &str) -> Result<String, ScaffoldError> {
    let camel = camel(name);
    let mut lib = LIB.to_owned();
    for (from, to) in [
        ("pub struct Sandbox;", format!("pub struct {camel};")),
        ("export_connector!(Sandbox);", format!("export_connector!({camel});")),
        ("impl cassa_sdk::Connector for Sandbox {", format!("impl cassa_sdk::Connector for {camel} {{")),
        ("name: \"sandbox\",", format!("name: \"{name}\",")),
        (
            "//! The `sandbox` connector: talks",
            format!("//! The `{name}` connector, scaffolded from the `sandbox` one: talks"),
        ),
    ] {
        if !lib.contains(from) {
            return Err(ScaffoldError::Template(from));
        }
        lib = lib.replace(from, &to);
    }
    Ok(lib)
}

fn package_manifest(name: &str, in_workspace: bool) -> String {
    let common = if in_workspace {
        "version.workspace = true\nedition.workspace = true\nrust-version.workspace = true\nlicense.workspace = true\n"
    } else {
        "version = \"0.1.0\"\nedition = \"2024\"\n"
    };
    format!(
        "[package]\nname = \"{name}\"\ndescription = \"cassa connector for <the intermediary>\"\n{common}publish = false\n\n\
         [lib]\nname = \"{}\"\ncrate-type = [\"cdylib\", \"rlib\"]\n\n\
         [dependencies]\ncassa-sdk.workspace = true\nserde.workspace = true\nserde_json.workspace = true\n",
        name.replace('-', "_")
    )
}

fn workspace_manifest(name: &str, sdk: &Path) -> String {
    format!(
        "# A cassa connector workspace: build with `cassa connector build --workspace <this directory>`.\n\
         [workspace]\nresolver = \"3\"\nmembers = [\"{name}\"]\n\n\
         [workspace.dependencies]\ncassa-sdk = {{ path = {sdk:?} }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n\n\
         [profile.release]\nopt-level = 3\ncodegen-units = 1\nlto = true\nstrip = \"debuginfo\"\npanic = \"abort\"\n",
        sdk = sdk.display().to_string()
    )
}

/// Adds `name` to the `members` of a workspace manifest; `None` when it has no `members` list.
fn add_member(manifest: &str, name: &str) -> Option<String> {
    let start = manifest.find("members = [")? + "members = [".len();
    let end = start + manifest[start..].find(']')?;
    let mut members: Vec<String> =
        manifest[start..end].split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect();
    members.push(format!("\"{name}\""));
    members.sort();
    Some(format!("{}{}{}", &manifest[..start], members.join(", "), &manifest[end..]))
}

/// Creates the connector `name` under the workspace directory `dir` (created when missing),
/// with the SDK at `sdk` when `dir` is not a workspace yet. Returns the files written.
pub fn new_connector(dir: &Path, name: &str, sdk: Option<&Path>) -> Result<Vec<PathBuf>, ScaffoldError> {
    check_name(name)?;
    let crate_dir = dir.join(name);
    if crate_dir.exists() {
        return Err(ScaffoldError::Exists(crate_dir));
    }
    let workspace = dir.join("Cargo.toml");
    let existing = match std::fs::read_to_string(&workspace) {
        Ok(text) if text.contains("[workspace]") => Some(text),
        _ => None,
    };
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    match &existing {
        Some(text) => {
            let updated = add_member(text, name).ok_or_else(|| ScaffoldError::NoSdk(dir.to_owned()))?;
            files.push((workspace.clone(), updated));
        }
        None => {
            let sdk = sdk.ok_or_else(|| ScaffoldError::NoSdk(dir.to_owned()))?;
            let sdk = std::path::absolute(sdk).map_err(io(sdk))?;
            files.push((workspace.clone(), workspace_manifest(name, &sdk)));
            files.push((dir.join(".cargo/config.toml"), CARGO_CONFIG.to_owned()));
            files.push((dir.join("rustfmt.toml"), RUSTFMT.to_owned()));
        }
    }
    files.push((crate_dir.join("Cargo.toml"), package_manifest(name, existing.is_some())));
    files.push((crate_dir.join("src/lib.rs"), lib_rs(name)?));
    files.push((crate_dir.join("src/tenant.schema.json"), TENANT_SCHEMA.to_owned()));
    files.push((crate_dir.join("src/service.schema.json"), SERVICE_SCHEMA.to_owned()));
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(path, text).map_err(io(path))?;
    }
    Ok(files.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn the_template_renames_the_sandbox_connector() {
        let lib = lib_rs("comune-pay").unwrap();
        assert!(lib.contains("pub struct ComunePay;"));
        assert!(lib.contains("export_connector!(ComunePay);"));
        assert!(lib.contains("name: \"comune-pay\","));
        assert!(!lib.contains("for Sandbox"));
    }

    #[test]
    fn refuses_names_cargo_or_the_host_would_not_take() {
        for bad in ["", "Pay", "9pay", "my_pay", "pay-", "a--b", "pay!"] {
            assert!(matches!(check_name(bad), Err(ScaffoldError::BadName(_))), "{bad}");
        }
        check_name("my-pay2").unwrap();
    }

    #[test]
    fn joins_an_existing_workspace_keeping_members_sorted() {
        let manifest = "[workspace]\nresolver = \"3\"\nmembers = [\"pagopa-gpd\", \"sandbox\"]\n";
        assert_eq!(
            add_member(manifest, "mypay").unwrap(),
            "[workspace]\nresolver = \"3\"\nmembers = [\"mypay\", \"pagopa-gpd\", \"sandbox\"]\n"
        );
    }
}
