use hps_testkit::postgres::{PgCluster, PgOptions};

#[tokio::test]
async fn postgres_cluster_starts_answers_and_stops() {
    let pg = PgCluster::start();
    let c = pg.connect().await;
    let row = c.query_one("select 40 + 2", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    assert_eq!(pg.psql("select 1").trim(), "1");
}

#[test]
fn tls_cluster_starts() {
    let pg = PgCluster::start_with(PgOptions {
        tls: true,
        ..Default::default()
    });
    let tls = pg.tls.as_ref().unwrap();
    assert!(tls.ca_cert.exists());
    assert_eq!(pg.psql("show ssl").trim(), "on");
}
