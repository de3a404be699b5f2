//! `SqsFifoQueue` against moto.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use hps_aws::{SqsFifoQueue, local_aws_config};
use hps_sync::queue::{Queue, QueueError, SyncMessage, SyncReason};
use hps_testkit::moto::MotoServer;

async fn fifo_queue(moto: &MotoServer) -> (aws_sdk_sqs::Client, String) {
    let config = local_aws_config(&moto.endpoint()).await;
    let client = aws_sdk_sqs::Client::new(&config);
    let out = client
        .create_queue()
        .queue_name("hps-sync.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .send()
        .await
        .unwrap();
    (client, out.queue_url().unwrap().to_string())
}

/// Drain the queue: receive, record, delete (FIFO groups stay locked until deleted).
async fn drain(client: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, SyncMessage)> {
    let mut got = Vec::new();
    let mut empty_polls = 0;
    while empty_polls < 2 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        let msgs = out.messages();
        if msgs.is_empty() {
            empty_polls += 1;
            continue;
        }
        for m in msgs {
            let group =
                m.attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId].clone();
            got.push((group, SyncMessage::from_json(m.body().unwrap()).unwrap()));
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    got
}

#[tokio::test]
async fn batches_groups_dedup_and_per_message_results() {
    let moto = MotoServer::start();
    let (client, url) = fifo_queue(&moto).await;
    let q = SqsFifoQueue::new(client.clone(), &url).unwrap();

    let tables = ["s3://lake/a", "s3://lake/b", "s3://lake/c"];
    let mut msgs = Vec::new();
    for i in 0..8 {
        for t in tables {
            msgs.push(SyncMessage::event(t, Some(format!("2024010100000{i}000"))));
        }
    }
    // a duplicate event (same table + instant) and an invalid message in the middle
    msgs.insert(
        5,
        SyncMessage::event("s3://lake/a", Some("20240101000000000".into())),
    );
    msgs.insert(7, SyncMessage::event("", None));
    msgs.push(SyncMessage::continuation(
        "s3://lake/a",
        Some("20240101000007000".into()),
        "v9",
    ));
    assert_eq!(msgs.len(), 27); // 3 batches

    let results = q.send_batch(&msgs).await;
    assert_eq!(results.len(), msgs.len());
    for (i, r) in results.iter().enumerate() {
        if i == 7 {
            assert!(matches!(r, Err(QueueError::Invalid { .. })), "{r:?}");
        } else {
            assert!(r.is_ok(), "message {i}: {r:?}");
        }
    }
    // the duplicate is accepted (SQS reports success) but delivered once: see below

    let got = drain(&client, &url).await;
    assert_eq!(
        got.len(),
        25,
        "24 events + 1 continuation; the duplicate and the invalid one are gone"
    );
    let mut per_table: BTreeMap<String, Vec<SyncMessage>> = BTreeMap::new();
    for (group, m) in &got {
        assert_eq!(group, &m.group_id());
        per_table
            .entry(m.table.clone())
            .or_default()
            .push(m.clone());
    }
    assert_eq!(per_table.len(), 3);
    for (t, ms) in &per_table {
        let instants: Vec<&str> = ms
            .iter()
            .filter(|m| m.reason == SyncReason::Event)
            .map(|m| m.instant.as_deref().unwrap())
            .collect();
        let mut sorted = instants.clone();
        sorted.sort();
        assert_eq!(instants, sorted, "FIFO order within {t}");
        assert_eq!(instants.len(), 8);
    }
    assert_eq!(
        per_table["s3://lake/a"].last().unwrap().reason,
        SyncReason::Continuation
    );
    let groups: std::collections::BTreeSet<&String> = got.iter().map(|(g, _)| g).collect();
    assert_eq!(groups.len(), 3);

    // continuations for the same instant are told apart by their token (sent while the
    // first is still queued: moto forgets dedup ids of deleted messages, SQS does not)
    let k =
        |tok: &str| SyncMessage::continuation("s3://lake/a", Some("20240101000007000".into()), tok);
    for r in q.send_batch(&[k("v10"), k("v10"), k("v11")]).await {
        assert!(r.is_ok(), "{r:?}");
    }
    let got = drain(&client, &url).await;
    let tokens: Vec<&str> = got
        .iter()
        .map(|(_, m)| m.token.as_deref().unwrap())
        .collect();
    assert_eq!(tokens, vec!["v10", "v11"]);
}

#[tokio::test]
async fn whole_batch_failures_reach_every_message() {
    let moto = MotoServer::start();
    let (client, url) = fifo_queue(&moto).await;
    assert!(SqsFifoQueue::new(client.clone(), url.trim_end_matches(".fifo")).is_err());
    let gone = url.replace("hps-sync.fifo", "missing.fifo");
    let q = SqsFifoQueue::new(client, gone).unwrap();
    let msgs: Vec<SyncMessage> = (0..12)
        .map(|i| SyncMessage::event(format!("s3://lake/t{i}"), None))
        .collect();
    let results = q.send_batch(&msgs).await;
    assert_eq!(results.len(), 12);
    for r in results {
        match r {
            Err(e @ QueueError::Send { .. }) => assert!(!e.is_transient(), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}
