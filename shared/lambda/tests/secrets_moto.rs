//! The loader's credentials against a real Secrets Manager API (moto server).

use std::time::Duration;

use hps_lambda::config::{PasswordSource, PgSettings, SslMode};
use hps_lambda::pg::Credentials;
use hps_testkit::moto::MotoServer;

fn settings(password: PasswordSource) -> PgSettings {
    PgSettings {
        host: "db.example".into(),
        port: 5432,
        database: "analytics".into(),
        user: "fallback".into(),
        password,
        ssl_mode: SslMode::VerifyFull,
        ssl_root_cert: None,
        connect_timeout: Duration::from_secs(3),
        schema: "hudi".into(),
    }
}

#[tokio::test]
async fn reads_rds_json_and_plain_secrets_and_reports_missing_ones() {
    let moto = MotoServer::start();
    let conf = hps_aws::local_aws_config(&moto.endpoint()).await;
    let client = aws_sdk_secretsmanager::Client::new(&conf);
    let json = client
        .create_secret()
        .name("db/json")
        .secret_string(r#"{"username":"loader","password":"s3cr3t!"}"#)
        .send()
        .await
        .unwrap();
    client
        .create_secret()
        .name("db/plain")
        .secret_string("just-the-password")
        .send()
        .await
        .unwrap();

    let creds = Credentials::new(
        settings(PasswordSource::Secret(json.arn().unwrap().to_string())),
        Some(client.clone()),
    );
    let login = creds.refresh().await.unwrap();
    assert_eq!(
        (login.user.as_str(), login.password.expose()),
        ("loader", "s3cr3t!")
    );
    let opts = creds.connect_options(&login);
    assert_eq!(
        (
            opts.host.as_str(),
            opts.user.as_str(),
            opts.dbname.as_deref()
        ),
        ("db.example", "loader", Some("analytics"))
    );
    assert_eq!(opts.sslmode, Some(SslMode::VerifyFull));
    assert!(
        !format!("{opts:?}").contains("s3cr3t!"),
        "options Debug leaks the password"
    );

    let plain = Credentials::new(
        settings(PasswordSource::Secret("db/plain".into())),
        Some(client.clone()),
    );
    let login = plain.refresh().await.unwrap();
    assert_eq!(
        (login.user.as_str(), login.password.expose()),
        ("fallback", "just-the-password")
    );

    // a rotated secret is seen by the next refresh
    client
        .put_secret_value()
        .secret_id("db/plain")
        .secret_string("rotated")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.refresh().await.unwrap().password.expose(), "rotated");

    let missing = Credentials::new(
        settings(PasswordSource::Secret("db/none".into())),
        Some(client),
    );
    let err = missing.refresh().await.unwrap_err();
    assert!(
        err.to_string().contains("db/none") && !err.is_transient(),
        "{err}"
    );
}
