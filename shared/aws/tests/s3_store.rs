//! `S3Store` against a local moto server.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hps_aws::{S3Store, local_aws_config, s3_client};
use hps_storage::{ObjectStore, StorageError};
use hps_testkit::moto::MotoServer;

async fn setup(prefix: &str) -> (MotoServer, S3Store) {
    let moto = MotoServer::start();
    let config = local_aws_config(&moto.endpoint()).await;
    let client = s3_client(&config);
    client
        .create_bucket()
        .bucket("lake")
        .send()
        .await
        .expect("create bucket");
    let store = S3Store::from_uri(&config, &format!("s3://lake/{prefix}")).expect("store");
    (moto, store)
}

/// Records the `Content-Length` of every response, to prove ranged reads transfer only the range.
#[derive(Debug, Default, Clone)]
struct ResponseSizes(Arc<Mutex<Vec<u64>>>);

impl Intercept for ResponseSizes {
    fn name(&self) -> &'static str {
        "ResponseSizes"
    }
    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let len = context
            .response()
            .headers()
            .get("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        self.0.lock().unwrap().push(len);
        Ok(())
    }
}

#[tokio::test]
async fn put_get_head_range_delete() {
    let (_moto, store) = setup("warehouse/t1/").await;
    assert_eq!(store.root_uri(), "s3://lake/warehouse/t1");
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    store
        .put("a/b/data.bin", Bytes::from(data.clone()))
        .await
        .unwrap();

    assert_eq!(
        store.get("a/b/data.bin").await.unwrap(),
        Bytes::from(data.clone())
    );
    let meta = store.head("a/b/data.bin").await.unwrap();
    assert_eq!(meta.path, "a/b/data.bin");
    assert_eq!(meta.size, 100_000);
    assert!(meta.last_modified.is_some());

    // the object really lives under the prefix
    let raw = store
        .client()
        .head_object()
        .bucket("lake")
        .key("warehouse/t1/a/b/data.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.content_length(), Some(100_000));

    // ranges: middle, first byte, last bytes, clamped past the end, past the end, empty
    let r = store.get_range("a/b/data.bin", 1000..1010).await.unwrap();
    assert_eq!(&r[..], &data[1000..1010]);
    assert_eq!(
        &store.get_range("a/b/data.bin", 0..1).await.unwrap()[..],
        &data[0..1]
    );
    assert_eq!(
        &store
            .get_range("a/b/data.bin", 99_990..100_000)
            .await
            .unwrap()[..],
        &data[99_990..]
    );
    assert_eq!(
        &store
            .get_range("a/b/data.bin", 99_990..200_000)
            .await
            .unwrap()[..],
        &data[99_990..]
    );
    assert!(
        store
            .get_range("a/b/data.bin", 100_000..100_010)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .get_range("a/b/data.bin", 500_000..600_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .get_range("a/b/data.bin", 10..10)
            .await
            .unwrap()
            .is_empty()
    );

    // not found everywhere
    assert!(store.head("a/b/nope.bin").await.unwrap_err().is_not_found());
    assert!(store.get("a/b/nope.bin").await.unwrap_err().is_not_found());
    assert!(
        store
            .get_range("a/b/nope.bin", 0..10)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        store
            .get_range("a/b/nope.bin", 5..5)
            .await
            .unwrap_err()
            .is_not_found()
    );
    match store.get("a/b/nope.bin").await.unwrap_err() {
        StorageError::NotFound { uri } => assert_eq!(uri, "s3://lake/warehouse/t1/a/b/nope.bin"),
        other => panic!("unexpected {other:?}"),
    }

    // overwrite, delete, delete again
    store
        .put("a/b/data.bin", Bytes::from_static(b"short"))
        .await
        .unwrap();
    assert_eq!(
        store.get("a/b/data.bin").await.unwrap(),
        Bytes::from_static(b"short")
    );
    store.delete("a/b/data.bin").await.unwrap();
    store.delete("a/b/data.bin").await.unwrap();
    assert!(store.get("a/b/data.bin").await.unwrap_err().is_not_found());

    // escaping the root is refused before any request
    assert!(matches!(
        store.get("../t2/x").await,
        Err(StorageError::InvalidPath { .. })
    ));
}

#[tokio::test]
async fn ranged_reads_transfer_only_the_range() {
    let moto = MotoServer::start();
    let config = local_aws_config(&moto.endpoint()).await;
    let sizes = ResponseSizes::default();
    let conf = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(true)
        .interceptor(sizes.clone())
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    client.create_bucket().bucket("lake").send().await.unwrap();
    let store = S3Store::new(client, "lake", "big").unwrap();
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
    store
        .put("f.parquet", Bytes::from(data.clone()))
        .await
        .unwrap();
    sizes.0.lock().unwrap().clear();

    let r = store
        .get_range("f.parquet", 3_999_000..4_000_000)
        .await
        .unwrap();
    assert_eq!(&r[..], &data[3_999_000..]);
    let r = store
        .get_range("f.parquet", 1_234_567..1_334_567)
        .await
        .unwrap();
    assert_eq!(&r[..], &data[1_234_567..1_334_567]);
    assert_eq!(*sizes.0.lock().unwrap(), vec![1_000, 100_000]);
}

#[tokio::test]
async fn listing_is_non_recursive_paginated_and_confined_to_the_root() {
    let (_moto, store) = setup("tables/orders").await;
    let client = store.client().clone();
    // a sibling prefix sharing the name's beginning must not leak into the listing
    client
        .put_object()
        .bucket("lake")
        .key("tables/orders_v2/x.txt")
        .body(Bytes::from_static(b"x").into())
        .send()
        .await
        .unwrap();
    // a directory marker object is not a file
    client
        .put_object()
        .bucket("lake")
        .key("tables/orders/.hoodie/")
        .body(Bytes::new().into())
        .send()
        .await
        .unwrap();

    const N: usize = 1_105;
    futures::stream::iter(0..N)
        .map(|i| {
            let store = store.clone();
            async move {
                store
                    .put(
                        &format!("dt=2024-01-01/f{i:05}.parquet"),
                        Bytes::from(vec![7u8; i % 17]),
                    )
                    .await
            }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    store
        .put(".hoodie/hoodie.properties", Bytes::from_static(b"p"))
        .await
        .unwrap();
    store
        .put(".hoodie/timeline/1.commit", Bytes::from_static(b"c"))
        .await
        .unwrap();
    store
        .put("dt=2024-01-01/sub/deep.parquet", Bytes::from_static(b"d"))
        .await
        .unwrap();
    for d in ["dt=2024-01-02", "dt=2024-01-03"] {
        store
            .put(&format!("{d}/a.parquet"), Bytes::from_static(b"a"))
            .await
            .unwrap();
    }

    let root = store.list("").await.unwrap();
    assert!(root.objects.is_empty(), "{:?}", root.objects);
    assert_eq!(
        root.directories,
        vec![".hoodie", "dt=2024-01-01", "dt=2024-01-02", "dt=2024-01-03"]
    );

    let hoodie = store.list(".hoodie").await.unwrap();
    assert_eq!(hoodie.objects.len(), 1);
    assert_eq!(hoodie.objects[0].path, ".hoodie/hoodie.properties");
    assert_eq!(hoodie.objects[0].file_name(), "hoodie.properties");
    assert_eq!(hoodie.directories, vec![".hoodie/timeline"]);

    let part = store.list("dt=2024-01-01/").await.unwrap();
    assert_eq!(part.objects.len(), N);
    assert_eq!(part.directories, vec!["dt=2024-01-01/sub"]);
    for (i, o) in part.objects.iter().enumerate() {
        assert_eq!(o.path, format!("dt=2024-01-01/f{i:05}.parquet"));
        assert_eq!(o.size, (i % 17) as u64);
    }

    assert_eq!(store.list("no/such/dir").await.unwrap(), Default::default());
    // a child store sees the same objects relative to its own root
    let child = store.child("dt=2024-01-01").unwrap();
    assert_eq!(child.root_uri(), "s3://lake/tables/orders/dt=2024-01-01");
    assert_eq!(
        child.list("sub").await.unwrap().objects[0].path,
        "sub/deep.parquet"
    );
}

#[tokio::test]
async fn odd_keys_round_trip() {
    let (_moto, store) = setup("").await;
    assert_eq!(store.root_uri(), "s3://lake");
    let names = [
        "p/a b+c%20d.parquet",
        "p/ü ñ 日本.txt",
        "p/a&b=c?x#y.txt",
        "p/semi;colon,comma'quote\"(paren).bin",
        "p/tilde~star*!@$.bin",
    ];
    for (i, n) in names.iter().enumerate() {
        store.put(n, Bytes::from(format!("v{i}"))).await.unwrap();
    }
    for (i, n) in names.iter().enumerate() {
        assert_eq!(
            store.get(n).await.unwrap(),
            Bytes::from(format!("v{i}")),
            "{n}"
        );
        assert_eq!(store.head(n).await.unwrap().size, 2, "{n}");
        assert_eq!(
            &store.get_range(n, 1..2).await.unwrap()[..],
            format!("{i}").as_bytes(),
            "{n}"
        );
    }
    let mut listed: Vec<String> = store
        .list("p")
        .await
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.path)
        .collect();
    listed.sort();
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn errors_are_classified() {
    let (_moto, store) = setup("x").await;
    // a missing bucket is a permanent remote error, not "object not found" and not transient
    let cfg_store = S3Store::new(store.client().clone(), "no-such-bucket", "x").unwrap();
    match cfg_store.list("").await.unwrap_err() {
        StorageError::Remote { transient, .. } => assert!(!transient),
        other => panic!("unexpected {other:?}"),
    }

    // nothing listens on the endpoint: a dispatch failure, transient
    let port = hps_testkit::net::free_port();
    let config = local_aws_config(&format!("http://127.0.0.1:{port}")).await;
    let conf = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let dead = S3Store::new(aws_sdk_s3::Client::from_conf(conf), "lake", "").unwrap();
    let err = dead.get("a").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, StorageError::Remote { .. }));
}
