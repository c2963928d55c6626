//! Replicas: two `cassa run` processes on one PostgreSQL database, where a connector activated
//! through one is used by the other within a second, and a rollback through the other comes
//! back just as fast, and so does a tenant's pin. (A suite of its own, so that no other test loads the machine meanwhile.)

#![expect(clippy::unwrap_used, reason = "tests")]

use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::{CASSA, host_with};

#[path = "../../tests/common/wasm.rs"]
mod wasm;

/// A fresh PostgreSQL database on the local server (or `CASSA_TEST_POSTGRES_URL`'s), or `None`
/// with a message when there is none; in CI an unreachable server is a failure.
async fn fresh_postgres() -> Option<String> {
    use sqlx::Connection as _;
    let admin = std::env::var("CASSA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL at {admin} is not reachable in CI: {error}")
        }
        Err(error) => {
            eprintln!("SKIPPED: PostgreSQL at {admin} is not reachable ({error})");
            return None;
        }
    };
    let name = format!("cassa_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    Some(url.to_string())
}

#[test]
fn an_activation_on_one_host_process_is_used_by_another_within_a_second() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(database) = rt.block_on(fresh_postgres()) else { return };
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (port_a, port_b) = (free(), free());
    let data = std::env::temp_dir().join(format!("cassa-cli-replicas-{port_a}"));
    let env = [("CASSA_DATABASE_URL", database.as_str()), ("CASSA_ADMIN_TOKENS", "replica-operator")];
    let mut a = host_with(&data.join("a"), port_a, "a", &env);
    // The second host runs no pipeline stage of its own: it serves and follows the registry.
    let mut b = host_with(&data.join("b"), port_b, "b", &[env[0], env[1], ("CASSA_STAGES", "poller")]);
    let (base_a, base_b) = (format!("http://127.0.0.1:{port_a}"), format!("http://127.0.0.1:{port_b}"));
    let client = reqwest::Client::new();
    // The `sandbox` entry of a host's `GET /connectors`.
    let sandbox_entry = |base: String| {
        let client = client.clone();
        async move {
            let list: serde_json::Value = client
                .get(format!("{base}/connectors"))
                .bearer_auth("replica-operator")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list.as_array().unwrap().iter().find(|c| c["name"] == "sandbox").cloned().unwrap()
        }
    };
    let running = |base: String| {
        let entry = sandbox_entry(base);
        async move { entry.await["running"].as_str().unwrap().to_owned() }
    };
    let result = rt.block_on(async {
        for base in [&base_a, &base_b] {
            let started = Instant::now();
            while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                assert!(started.elapsed() < Duration::from_secs(60), "{base} did not come up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let old = running(base_b.clone()).await;
        let file = data.join("sandbox-rebuilt.wasm");
        let wasm = wasm::with_custom_section(cassa::embedded::SANDBOX_CONNECTOR, "cassa-test-build", b"replicas");
        std::fs::write(&file, &wasm).unwrap();
        let new = cassa::registry::digest_of(&wasm);
        let cli = |args: &[&str], base: &str| {
            Command::new(CASSA)
                .args(args)
                .args(["--url", base])
                .env("CASSA_ADMIN_TOKEN", "replica-operator")
                .output()
                .unwrap()
        };

        // Pushed and activated on A: B serves it within a second.
        let pushed = cli(&["connector", "push", file.to_str().unwrap(), "--activate"], &base_a);
        let activated = Instant::now();
        let stdout = String::from_utf8_lossy(&pushed.stdout).into_owned();
        assert!(pushed.status.success(), "{stdout}{}", String::from_utf8_lossy(&pushed.stderr));
        assert!(stdout.contains(&format!("sandbox 0.1.0  sha256:{new}  stored, active")), "{stdout}");
        assert_eq!(running(base_a.clone()).await, new, "A runs it at once");
        while running(base_b.clone()).await != new {
            assert!(activated.elapsed() < Duration::from_secs(5), "B never ran the new version");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reached = activated.elapsed();

        // Rolled back through B: A follows.
        let listed = cli(&["connector", "list"], &base_b);
        let listing = String::from_utf8_lossy(&listed.stdout).into_owned();
        assert!(listing.contains(&format!("sha256:{new}")) && listing.contains("active, running here"), "{listing}");
        let back = cli(&["connector", "rollback", "sandbox"], &base_b);
        assert!(back.status.success(), "{}", String::from_utf8_lossy(&back.stderr));
        let rolled = Instant::now();
        while running(base_a.clone()).await != old {
            assert!(rolled.elapsed() < Duration::from_secs(5), "A never rolled back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let rolled = rolled.elapsed();

        // A tenant pinned through A to the version just left: B applies the pin as fast.
        let tenant = "2b6e1a54-0d1c-4f76-9f1e-1c3a2f0b9e11";
        // Timed from before the command: its own start-up counts too.
        let pin_started = Instant::now();
        let pinned = cli(&["connector", "pin", "sandbox", &new[..12], "--tenant", tenant], &base_a);
        assert!(pinned.status.success(), "{}", String::from_utf8_lossy(&pinned.stderr));
        let pins_running = |base: String| {
            let entry = sandbox_entry(base);
            async move { entry.await["pins_running"].clone() }
        };
        let subject = format!("tenant:{tenant}");
        while pins_running(base_b.clone()).await != serde_json::json!([subject]) {
            assert!(pin_started.elapsed() < Duration::from_secs(5), "B never applied the pin");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pin_reached = pin_started.elapsed();
        let listing = String::from_utf8_lossy(&cli(&["connector", "list"], &base_b).stdout).into_owned();
        assert!(listing.contains(&format!("pinned by tenant {tenant}")), "{listing}");
        Ok::<_, String>((reached, rolled, pin_reached))
    });
    for child in [&mut a, &mut b] {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (reached, rolled, pinned) = result.unwrap();
    eprintln!("activation reached the other host in {reached:?}; rollback in {rolled:?}; a pin in {pinned:?}");
    assert!(pinned < Duration::from_secs(1), "a pin took {pinned:?} to reach the other host");
    assert!(reached < Duration::from_secs(1), "activation took {reached:?} to reach the other host");
    assert!(rolled < Duration::from_secs(1), "rollback took {rolled:?} to reach the other host");
}
