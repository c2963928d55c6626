//! Stores to run against: a fresh SQLite file, a fresh PostgreSQL database (when reachable).

use serde_json::Value;

/// The JSON of a value, for assertions on configuration.
pub fn to_json(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

/// A fresh SQLite database file in the temp directory.
pub fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join("cassa-tests");
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}?mode=rwc", dir.join(format!("{}.db", uuid::Uuid::new_v4().simple())).display())
}

/// The PostgreSQL server tests use: `CASSA_TEST_POSTGRES_URL`, else the local server.
fn postgres_admin_url() -> String {
    std::env::var("CASSA_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, uniquely named PostgreSQL database, or `None` (with a message saying the tests were
/// skipped) when no server is reachable. In CI (`CI` set) an unreachable server is a failure.
pub async fn postgres_url() -> Option<String> {
    use sqlx::Connection as _;
    let admin = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(error) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL at {admin} is not reachable in CI: {error}");
            }
            eprintln!("SKIPPED: PostgreSQL at {admin} is not reachable ({error}); PostgreSQL tests did not run");
            return None;
        }
    };
    let name = format!("cassa_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let mut url = url::Url::parse(&admin).expect("postgres URL");
    url.set_path(&name);
    Some(url.to_string())
}

/// Stores to run a test against: SQLite always, PostgreSQL when reachable.
pub async fn stores() -> Vec<cassa::store::Store> {
    let mut urls = vec![sqlite_url()];
    urls.extend(postgres_url().await);
    let mut stores = Vec::new();
    for url in urls {
        stores.push(cassa::store::Store::connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e:#}")));
    }
    stores
}
