//! `DynamoBookmarkStore` against moto: the shared contract suite plus the on-table layout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use hps_aws::{DynamoBookmarkStore, local_aws_config};
use hps_sync::bookmark::{Bookmark, BookmarkError, BookmarkStore, Position};
use hps_sync::lease::LeaseStore;
use hps_testkit::moto::MotoServer;

async fn store(moto: &MotoServer, table: &str) -> DynamoBookmarkStore {
    let config = local_aws_config(&moto.endpoint()).await;
    DynamoBookmarkStore::from_config(&config, table)
}

#[tokio::test]
async fn contract_suite() {
    let moto = MotoServer::start();
    let s = store(&moto, "hps-bookmarks").await;
    s.create_table_if_missing().await.unwrap();
    // idempotent
    s.create_table_if_missing().await.unwrap();
    hps_sync::contract::run_all(Arc::new(s)).await;
}

fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("sk".to_string(), AttributeValue::S(sk.into())),
    ])
}

#[tokio::test]
async fn item_layout_matches_the_documented_schema() {
    let moto = MotoServer::start();
    let s = store(&moto, "layout").await;
    s.create_table_if_missing().await.unwrap();

    let desc = s
        .client()
        .describe_table()
        .table_name("layout")
        .send()
        .await
        .unwrap();
    let t = desc.table().unwrap();
    let keys: Vec<(String, String)> = t
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]
    );

    let mut b = Bookmark::new("prod", "s3://lake/t");
    b.position = Some(Position::completed(
        "20240101000000000",
        "20240101000002000",
    ));
    s.put_if_version(&b, 0).await.unwrap();
    let item = s
        .client()
        .get_item()
        .table_name("layout")
        .set_key(Some(key("prod", "s3://lake/t")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["version"].as_n().unwrap(), "1");
    assert_eq!(item["pos_ord"].as_s().unwrap(), "20240101000002000");
    assert_eq!(item["pos_req"].as_s().unwrap(), "20240101000000000");
    assert_eq!(item["state"].as_s().unwrap(), "active");
    let doc: Bookmark = serde_json::from_str(item["doc"].as_s().unwrap()).unwrap();
    assert_eq!(doc.version, 1);
    assert_eq!(doc.position, b.position);

    let lease = s
        .acquire("prod", "s3://lake/t", "me", Duration::from_secs(30))
        .await
        .unwrap()
        .into_lease()
        .unwrap();
    let item = s
        .client()
        .get_item()
        .table_name("layout")
        .set_key(Some(key("lease#prod", "s3://lake/t")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["owner"].as_s().unwrap(), "me");
    assert_eq!(item["token"].as_s().unwrap(), &lease.token);
    assert_eq!(item["generation"].as_n().unwrap(), "1");
    assert_eq!(
        item["expires_at_ms"].as_n().unwrap(),
        &lease.expires_at.timestamp_millis().to_string()
    );
    // lease items do not show up as bookmarks
    assert_eq!(s.list("prod").await.unwrap().len(), 1);
}

#[tokio::test]
async fn corrupt_items_and_missing_tables_are_reported() {
    let moto = MotoServer::start();
    let s = store(&moto, "corrupt").await;
    s.create_table_if_missing().await.unwrap();
    let mut item = key("prod", "s3://lake/t");
    item.insert("version".into(), AttributeValue::N("3".into()));
    item.insert("doc".into(), AttributeValue::S("{not json".into()));
    s.client()
        .put_item()
        .table_name("corrupt")
        .set_item(Some(item.clone()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        s.get("prod", "s3://lake/t").await,
        Err(BookmarkError::Corrupt { .. })
    ));
    assert!(matches!(
        s.list("prod").await,
        Err(BookmarkError::Corrupt { .. })
    ));

    // a document stored under the wrong key
    let other = serde_json::to_string(&Bookmark {
        version: 3,
        ..Bookmark::new("prod", "s3://lake/u")
    })
    .unwrap();
    item.insert("doc".into(), AttributeValue::S(other));
    s.client()
        .put_item()
        .table_name("corrupt")
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        s.get("prod", "s3://lake/t").await,
        Err(BookmarkError::Corrupt { .. })
    ));

    let missing = store(&moto, "no-such-table").await;
    match missing.get("prod", "s3://lake/t").await {
        Err(e @ BookmarkError::Backend { .. }) => assert!(!e.is_transient(), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unreachable_endpoint_is_transient() {
    let port = hps_testkit::net::free_port();
    let config = local_aws_config(&format!("http://127.0.0.1:{port}")).await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&config)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let s = DynamoBookmarkStore::new(aws_sdk_dynamodb::Client::from_conf(conf), "t");
    let err = s.get("prod", "s3://lake/t").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let err = s
        .acquire("prod", "s3://lake/t", "me", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}
