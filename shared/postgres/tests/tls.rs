//! TLS for real: a cluster with a throwaway CA, `ssl=on` and hostssl-only `pg_hba`;
//! `verify-full` succeeds with the CA and fails without it, with another CA or with a wrong
//! host name; passwords from settings, file or environment, never in errors.

mod common;

use std::path::Path;
use std::time::Duration;

use hps_postgres::{
    Applier, ConnectOptions, ConnectionManager, Connector, PgError, Secret, SslMode,
};
use hps_testkit::postgres::{PgCluster, PgOptions};

fn opts(pg: &PgCluster, host: &str, mode: Option<SslMode>, ca: Option<&Path>) -> ConnectOptions {
    let mut o = ConnectOptions::new(host, pg.port, "app");
    o.dbname = Some("app".into());
    o.sslmode = mode;
    o.sslrootcert = ca.map(Path::to_path_buf);
    // inline (unused by trust auth): keeps these connections from reading PGPASSWORD
    o.password = Some(Secret::new("unused"));
    o
}

/// Connect and report whether the session is encrypted.
async fn try_connect(o: ConnectOptions) -> Result<bool, PgError> {
    let c = Connector::new(o)?.connect().await?;
    let r = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .expect("pg_stat_ssl");
    Ok(r.get(0))
}

fn tls_cluster() -> PgCluster {
    PgCluster::start_with(PgOptions {
        tls: true,
        ..Default::default()
    })
}

#[tokio::test]
async fn sslmodes_against_a_tls_cluster() {
    let pg = tls_cluster();
    let tls = pg.tls.clone().expect("tls files");
    let ca = tls.ca_cert.as_path();
    let other = tls.other_ca_cert.as_path();

    // verify-full succeeds with the CA, by IP and by name
    assert!(
        try_connect(opts(&pg, "127.0.0.1", Some(SslMode::VerifyFull), Some(ca)))
            .await
            .unwrap()
    );
    assert!(
        try_connect(opts(&pg, "localhost", Some(SslMode::VerifyFull), Some(ca)))
            .await
            .unwrap()
    );

    // ... and fails without it (public roots), with another CA, or for another host name
    for (what, o) in [
        (
            "no CA",
            opts(&pg, "127.0.0.1", Some(SslMode::VerifyFull), None),
        ),
        (
            "other CA",
            opts(&pg, "127.0.0.1", Some(SslMode::VerifyFull), Some(other)),
        ),
        (
            "other CA, verify-ca",
            opts(&pg, "127.0.0.1", Some(SslMode::VerifyCa), Some(other)),
        ),
        ("wrong host name", {
            let mut o = opts(
                &pg,
                "db.example.invalid",
                Some(SslMode::VerifyFull),
                Some(ca),
            );
            o.hostaddr = Some("127.0.0.1".parse().unwrap());
            o
        }),
    ] {
        let e = try_connect(o).await.expect_err(what);
        assert!(!e.is_transient(), "{what}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("TLS") && msg.contains("certificate"),
            "{what}: {msg}"
        );
        if what == "wrong host name" {
            assert!(
                msg.contains("NotValidForName") || msg.contains("not valid for name"),
                "{msg}"
            );
        }
    }

    // a wrong host name when only the chain is verified (verify-ca)
    let mut o = opts(&pg, "db.example.invalid", Some(SslMode::VerifyCa), Some(ca));
    o.hostaddr = Some("127.0.0.1".parse().unwrap());
    assert!(try_connect(o).await.unwrap());

    // require: encrypted, unverified; default on loopback (prefer): encrypted when offered
    assert!(
        try_connect(opts(&pg, "127.0.0.1", Some(SslMode::Require), None))
            .await
            .unwrap()
    );
    assert!(
        try_connect(opts(&pg, "127.0.0.1", None, None))
            .await
            .unwrap()
    );

    // disable: the hostssl-only server refuses
    let e = try_connect(opts(&pg, "127.0.0.1", Some(SslMode::Disable), None))
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert_eq!(e.sqlstate(), Some("28000"), "{e}");

    // the whole apply path (COPY included) over verify-full
    let url = format!(
        "postgresql://app:unused@127.0.0.1:{}/app?sslmode=verify-full&sslrootcert={}",
        pg.port,
        ca.display()
    );
    let mut a = Applier::new(ConnectionManager::from_settings(&url).unwrap());
    let spec = common::spec("over_tls");
    let rows: Vec<common::Row> = (0..2000)
        .map(|i| common::up("20240101000000000", 0, i as u64, i, i, "x"))
        .collect();
    let s = common::apply(&mut a, &spec, "L1", &rows).await.unwrap();
    assert_eq!(s.inserted, 2000);
    let c = a.connection().client().await.unwrap();
    let ssl: bool = c
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
}

#[tokio::test]
async fn passwords_from_settings_file_and_env_never_leak() {
    let pg = tls_cluster();
    let ca = pg.tls.clone().unwrap().ca_cert;
    let secret = "pw-Secret-42/%";
    let wrong = "hunter2-WRONG-pw";
    pg.psql_db("app", &format!("ALTER ROLE app PASSWORD '{secret}'"));
    let hba = pg.psql("SHOW hba_file");
    std::fs::write(
        hba.trim(),
        "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n",
    )
    .unwrap();
    pg.psql("SELECT pg_reload_conf()");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let base = || {
        let mut o = ConnectOptions::new("127.0.0.1", pg.port, "app");
        o.dbname = Some("app".into());
        o.sslmode = Some(SslMode::VerifyFull);
        o.sslrootcert = Some(ca.clone());
        o
    };

    // wrong password: permanent, and neither password appears anywhere
    let mut o = base();
    o.password = Some(Secret::new(wrong));
    let dbg_opts = format!("{o:?}");
    let mgr = ConnectionManager::new(Connector::new(o).unwrap());
    let dbg_mgr = format!("{mgr:?}");
    let mut mgr = mgr;
    let e = mgr.client().await.map(|_| ()).unwrap_err();
    assert_eq!(e.sqlstate(), Some("28P01"), "{e}");
    assert!(!e.is_transient());
    for text in [e.to_string(), format!("{e:?}"), dbg_opts, dbg_mgr] {
        assert!(
            !text.contains(wrong) && !text.contains(secret),
            "password leaked: {text}"
        );
    }

    // from a file (trailing newline ignored)
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let mut o = base();
    o.password_file = Some(file);
    assert!(try_connect(o).await.unwrap());

    // from a named environment variable
    let var = "HPS_PG_TEST_PASSWORD_VAR";
    // SAFETY: this test binary's other test never reads environment variables (its options
    // carry inline passwords), and nothing else here runs concurrently with this write
    unsafe { std::env::set_var(var, secret) };
    let mut o = base();
    o.password_env = Some(var.into());
    assert!(try_connect(o).await.unwrap());

    // from the URL (percent-encoded)
    let url = format!(
        "postgresql://app:{}@127.0.0.1:{}/app?sslmode=verify-full&sslrootcert={}",
        "pw-Secret-42%2F%25",
        pg.port,
        ca.display()
    );
    let mut a = Applier::new(ConnectionManager::from_settings(&url).unwrap());
    common::apply(
        &mut a,
        &common::spec("pw"),
        "L1",
        &[common::up("20240101000000000", 0, 1, 1, 1, "a")],
    )
    .await
    .unwrap();
    assert!(!format!("{a:?}").contains("pw-Secret-42"));

    // no password at all: a clear, permanent error
    let mut o = base();
    o.password_env = Some("HPS_PG_TEST_UNSET_VAR".into());
    let e = try_connect(o).await.unwrap_err();
    assert!(matches!(e, PgError::Config(_)), "{e:?}");
}
