//! Loading the configuration from a file, an S3 object and an SSM parameter (moto).

use hps_config::{ConfigError, ConfigSource};
use hps_testkit::moto::MotoServer;

const TEXT: &str = r#"
[defaults]
delete_mode = "soft"

[tables.orders]
location = "s3://lake/wh/orders"
table = "orders_eu"
"#;

fn check(config: &hps_config::PipelineConfig, origin: &str) {
    assert_eq!(config.origin, origin);
    let t = config.table("orders").expect("orders");
    assert_eq!(t.target.staging.as_deref(), Some("orders_eu"));
    assert_eq!(
        t.target.delete_policy,
        Some(hps_postgres::DeletePolicy::Soft)
    );
}

#[tokio::test]
async fn from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hps.toml");
    std::fs::write(&path, TEXT).unwrap();
    let src = ConfigSource::parse(path.to_str().unwrap()).unwrap();
    check(&src.load(None).await.unwrap(), path.to_str().unwrap());
    let missing = ConfigSource::parse(dir.path().join("none.toml").to_str().unwrap()).unwrap();
    let e = missing.load(None).await.unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Read {
                transient: false,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn from_s3_and_ssm_on_moto() {
    let moto = MotoServer::start();
    let aws = hps_aws::local_aws_config(&moto.endpoint()).await;
    let s3 = hps_aws::s3_client(&aws);
    s3.create_bucket().bucket("cfg").send().await.unwrap();
    s3.put_object()
        .bucket("cfg")
        .key("hps/pipeline.toml")
        .body(TEXT.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let src = ConfigSource::parse("s3://cfg/hps/pipeline.toml").unwrap();
    check(
        &src.load(Some(&aws)).await.unwrap(),
        "s3://cfg/hps/pipeline.toml",
    );

    let ssm = aws_sdk_ssm::Client::new(&aws);
    ssm.put_parameter()
        .name("/hps/prod")
        .value(TEXT)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let src = ConfigSource::parse("ssm:/hps/prod").unwrap();
    check(&src.load(Some(&aws)).await.unwrap(), "ssm:/hps/prod");

    // absent object and parameter: permanent read errors naming the source
    for missing in ["s3://cfg/none.toml", "ssm:/hps/none"] {
        let e = ConfigSource::parse(missing)
            .unwrap()
            .load(Some(&aws))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ConfigError::Read { transient: false, origin, .. } if origin == missing),
            "{e}"
        );
    }
    // a hostile configuration in SSM is refused before anything runs
    ssm.put_parameter()
        .name("/hps/bad")
        .value("[tables.t]\nlocation = \"s3://lake/t\"\ntable = \"t; drop table x\"\n")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let e = ConfigSource::parse("ssm:/hps/bad")
        .unwrap()
        .load(Some(&aws))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("ssm:/hps/bad") && e.to_string().contains("key `table`"),
        "{e}"
    );
}
