//! `aws_config_from_env` / `S3Store::from_env` honour `AWS_ENDPOINT_URL` and address a custom
//! endpoint path-style. Its own test binary with a single test, because it sets process
//! environment variables (before any runtime thread exists).

use bytes::Bytes;
use hps_aws::{S3Store, aws_config_from_env, s3_client};
use hps_storage::ObjectStore;
use hps_testkit::moto::MotoServer;

#[test]
fn environment_configuration_reaches_a_custom_endpoint() {
    let moto = MotoServer::start();
    for (k, v) in moto.env() {
        // SAFETY: the only test of this binary; no other thread reads the environment now.
        unsafe { std::env::set_var(k, v) };
    }
    for (k, v) in [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent/hps-config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/hps-credentials",
        ),
    ] {
        // SAFETY: as above.
        unsafe { std::env::set_var(k, v) };
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = aws_config_from_env(None).await;
        assert_eq!(config.endpoint_url(), Some(moto.endpoint().as_str()));
        // the bucket name has a dot: only path-style addressing reaches it on 127.0.0.1
        s3_client(&config)
            .create_bucket()
            .bucket("lake.dev")
            .send()
            .await
            .unwrap();
        let store = S3Store::from_env("s3://lake.dev/warehouse/t")
            .await
            .unwrap();
        store
            .put("a.txt", Bytes::from_static(b"hello"))
            .await
            .unwrap();
        assert_eq!(
            store.get("a.txt").await.unwrap(),
            Bytes::from_static(b"hello")
        );

        // an explicit endpoint wins over the environment
        let other = aws_config_from_env(Some("http://127.0.0.1:9")).await;
        assert_eq!(other.endpoint_url(), Some("http://127.0.0.1:9"));
    });
}
