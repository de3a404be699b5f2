//! The shared contract test suite for [`BookmarkStore`] + [`LeaseStore`] implementations.
//!
//! Compiled for this crate's tests and, with the `contract-tests` feature, for other crates'
//! tests (hps-aws runs it against DynamoDB on moto), so every store provably has the same
//! semantics. Each check uses its own random pipeline name, so one store instance can run
//! the whole suite. Panics on violation: test-only code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Barrier;

use crate::bookmark::{
    Bookmark, BookmarkError, BookmarkState, BookmarkStore, LastError, Position, SliceCursor,
};
use crate::lease::{Acquire, LeaseError, LeaseStore};

/// A store the suite can run against.
pub trait ContractStore: BookmarkStore + LeaseStore + 'static {}
impl<T: BookmarkStore + LeaseStore + 'static> ContractStore for T {}

fn pipeline(name: &str) -> String {
    format!(
        "ct-{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

const TABLE: &str = "s3://lake/warehouse/db/orders";

/// Run every check.
pub async fn run_all<S: ContractStore>(store: Arc<S>) {
    create_get_list(&*store).await;
    conditional_update_and_stale_writer(&*store).await;
    never_backwards_and_rewind(&*store).await;
    state_changes_and_reset(&*store).await;
    invalid_input(&*store).await;
    concurrent_writers_one_winner_per_version(store.clone()).await;
    concurrent_increments_lose_nothing(store.clone()).await;
    lease_exclusive_under_contention(store.clone()).await;
    lease_renew_release_and_expiry(&*store).await;
}

/// Create, read back, list in table order, and creation is exclusive.
pub async fn create_get_list<S: ContractStore>(store: &S) {
    let p = pipeline("create");
    assert!(store.get(&p, TABLE).await.unwrap().is_none());
    assert!(store.list(&p).await.unwrap().is_empty());

    let mut b = Bookmark::new(&p, TABLE);
    b.position = Some(Position::completed(
        "20240101000000000",
        "20240101000001000",
    ));
    b.table_version = 8;
    b.rows_applied = 42;
    b.cursor = Some(SliceCursor {
        window_end: Position::completed("20240102000000000", "20240102000001000"),
        plan_id: "plan-1".into(),
        next_slice: 3,
        next_slice_id: Some("fg-3".into()),
        total_slices: Some(9),
    });
    b.properties.insert("schema_hash".into(), "abc".into());
    b.version = 77; // ignored: the store assigns versions
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let stored = store.put_if_version(&b, 0).await.unwrap();
    assert_eq!(stored.version, 1);
    assert!(stored.updated_at >= before);
    let got = store.get(&p, TABLE).await.unwrap().unwrap();
    assert_eq!(got, stored);
    assert_eq!(got.cursor, b.cursor);
    assert_eq!(
        got.properties.get("schema_hash").map(String::as_str),
        Some("abc")
    );

    // a second create loses
    match store.put_if_version(&Bookmark::new(&p, TABLE), 0).await {
        Err(BookmarkError::StaleVersion {
            expected: 0,
            found: Some(1),
            ..
        }) => {}
        other => panic!("second create: {other:?}"),
    }
    // updating something that does not exist loses too
    match store
        .put_if_version(&Bookmark::new(&p, "s3://lake/other"), 4)
        .await
    {
        Err(BookmarkError::StaleVersion {
            expected: 4,
            found: None,
            ..
        }) => {}
        other => panic!("update of absent: {other:?}"),
    }

    for t in ["s3://lake/z", "s3://lake/a", "s3://lake/m"] {
        store
            .put_if_version(&Bookmark::new(&p, t), 0)
            .await
            .unwrap();
    }
    let other = pipeline("create-other");
    store
        .put_if_version(&Bookmark::new(&other, "s3://lake/a"), 0)
        .await
        .unwrap();
    let tables: Vec<String> = store
        .list(&p)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.table)
        .collect();
    assert_eq!(
        tables,
        vec!["s3://lake/a", "s3://lake/m", TABLE, "s3://lake/z"]
    );
    assert_eq!(store.list(&other).await.unwrap().len(), 1);

    store.delete(&p, "s3://lake/m").await.unwrap();
    store.delete(&p, "s3://lake/m").await.unwrap();
    assert!(store.get(&p, "s3://lake/m").await.unwrap().is_none());
    assert_eq!(store.list(&p).await.unwrap().len(), 3);
}

/// Versions advance by one per write; a writer holding an old version is refused.
pub async fn conditional_update_and_stale_writer<S: ContractStore>(store: &S) {
    let p = pipeline("cond");
    let v1 = store
        .put_if_version(&Bookmark::new(&p, TABLE), 0)
        .await
        .unwrap();
    let mut a = v1.clone();
    a.position = Some(Position::requested("001"));
    a.rows_applied = 10;
    let v2 = store.save(&a).await.unwrap();
    assert_eq!(v2.version, 2);
    assert!(v2.updated_at >= v1.updated_at);

    // a writer that read v1 is stale now
    let mut stale = v1.clone();
    stale.position = Some(Position::requested("005"));
    match store.save(&stale).await {
        Err(BookmarkError::StaleVersion {
            expected: 1,
            found: Some(2),
            ..
        }) => {}
        other => panic!("stale writer: {other:?}"),
    }
    // and nothing changed
    assert_eq!(store.get(&p, TABLE).await.unwrap().unwrap(), v2);

    // same position, other fields: allowed
    let mut same = v2.clone();
    same.rows_applied = 20;
    same.last_error = Some(LastError {
        at: chrono::Utc::now(),
        message: "boom".into(),
        transient: true,
        consecutive_failures: 1,
    });
    let v3 = store.save(&same).await.unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(v3.rows_applied, 20);
    assert_eq!(
        v3.last_error.as_ref().map(|e| e.message.as_str()),
        Some("boom")
    );
}

/// Ordinary writes never move the position back; rewind does, and fences old writers.
pub async fn never_backwards_and_rewind<S: ContractStore>(store: &S) {
    let p = pipeline("back");
    let mut b = Bookmark::new(&p, TABLE);
    b.position = Some(Position::completed(
        "20240105000000000",
        "20240105000009000",
    ));
    let v1 = store.put_if_version(&b, 0).await.unwrap();

    let mut back = v1.clone();
    back.position = Some(Position::completed(
        "20240104000000000",
        "20240104000009000",
    ));
    match store.save(&back).await {
        Err(BookmarkError::Backwards { from, to, .. }) => {
            assert_eq!(Some(*from), v1.position);
            assert_eq!(to.map(|p| *p), back.position);
        }
        other => panic!("backwards: {other:?}"),
    }
    let mut none = v1.clone();
    none.position = None;
    assert!(matches!(
        store.save(&none).await,
        Err(BookmarkError::Backwards { .. })
    ));

    // requested earlier but completed later is forward on v8/v9
    let mut fwd = v1.clone();
    fwd.position = Some(Position::completed(
        "20240104500000000",
        "20240105000010000",
    ));
    let v2 = store.save(&fwd).await.unwrap();
    assert_eq!(v2.version, 2);
    // same completion time, earlier requested time: backwards
    let mut tie = v2.clone();
    tie.position = Some(Position::completed(
        "20240104000000000",
        "20240105000010000",
    ));
    assert!(matches!(
        store.save(&tie).await,
        Err(BookmarkError::Backwards { .. })
    ));
    assert_eq!(store.get(&p, TABLE).await.unwrap().unwrap(), v2);

    // explicit rewind
    let mut with_cursor = v2.clone();
    with_cursor.cursor = Some(SliceCursor {
        window_end: Position::completed("20240106000000000", "20240106000001000"),
        plan_id: "p".into(),
        next_slice: 1,
        next_slice_id: None,
        total_slices: None,
    });
    let v3 = store.save(&with_cursor).await.unwrap();
    let to = Position::completed("20240101000000000", "20240101000001000");
    let r = store.rewind(&p, TABLE, Some(to.clone())).await.unwrap();
    assert_eq!(r.version, v3.version + 1);
    assert_eq!(r.position, Some(to));
    assert!(r.cursor.is_none());
    // the writer that read v3 is fenced off
    assert!(store.save(&v3).await.unwrap_err().is_stale());
    // rewind to the beginning
    let r2 = store.rewind(&p, TABLE, None).await.unwrap();
    assert_eq!(r2.version, r.version + 1);
    assert!(r2.position.is_none());
    match store.rewind(&p, "s3://lake/absent", None).await {
        Err(BookmarkError::NotFound { .. }) => {}
        other => panic!("rewind absent: {other:?}"),
    }
}

/// Pause/resume/needs-resync and reset.
pub async fn state_changes_and_reset<S: ContractStore>(store: &S) {
    let p = pipeline("state");
    let mut b = Bookmark::new(&p, TABLE);
    b.position = Some(Position::requested("009"));
    b.rows_applied = 5;
    b.properties.insert("k".into(), "v".into());
    let v1 = store.put_if_version(&b, 0).await.unwrap();
    let paused = store
        .pause(&p, TABLE, Some("maintenance".into()))
        .await
        .unwrap();
    assert_eq!(paused.version, 2);
    assert_eq!(
        paused.state,
        BookmarkState::Paused {
            reason: Some("maintenance".into())
        }
    );
    assert_eq!(paused.position, v1.position);
    assert_eq!(
        store.get(&p, TABLE).await.unwrap().unwrap().state.name(),
        "paused"
    );
    let resumed = store.resume(&p, TABLE).await.unwrap();
    assert_eq!(resumed.state, BookmarkState::Active);
    let flagged = store
        .update_state(
            &p,
            TABLE,
            BookmarkState::NeedsResync {
                reason: "archived".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(flagged.version, 4);
    let reset = store.reset(&p, TABLE).await.unwrap();
    assert_eq!(reset.version, 5);
    assert_eq!(reset.state, BookmarkState::Active);
    assert!(reset.position.is_none());
    assert_eq!(reset.rows_applied, 0);
    assert_eq!(reset.properties.get("k").map(String::as_str), Some("v"));
    assert!(matches!(
        store.pause(&p, "s3://absent", None).await,
        Err(BookmarkError::NotFound { .. })
    ));
}

/// Bad names are refused before touching the backend.
pub async fn invalid_input<S: ContractStore>(store: &S) {
    assert!(matches!(
        store.get("bad/name", TABLE).await,
        Err(BookmarkError::Invalid { .. })
    ));
    assert!(matches!(
        store.get("ok", "").await,
        Err(BookmarkError::Invalid { .. })
    ));
    assert!(matches!(
        store.put_if_version(&Bookmark::new("a#b", TABLE), 0).await,
        Err(BookmarkError::Invalid { .. })
    ));
    assert!(matches!(
        store.list("").await,
        Err(BookmarkError::Invalid { .. })
    ));
    assert!(matches!(
        store.acquire("ok", TABLE, "", Duration::from_secs(5)).await,
        Err(LeaseError::Invalid { .. })
    ));
}

/// Many writers that all read the same version: exactly one wins each round.
pub async fn concurrent_writers_one_winner_per_version<S: ContractStore>(store: Arc<S>) {
    const WRITERS: usize = 12;
    const ROUNDS: usize = 4;
    let p = pipeline("race");
    store
        .put_if_version(&Bookmark::new(&p, TABLE), 0)
        .await
        .unwrap();
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(WRITERS));
        let wins = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (store, barrier, wins, p) =
                (store.clone(), barrier.clone(), wins.clone(), p.clone());
            tasks.push(tokio::spawn(async move {
                let mut b = store.get(&p, TABLE).await.unwrap().unwrap();
                barrier.wait().await;
                b.properties.insert("winner".into(), format!("{round}-{w}"));
                match store.save(&b).await {
                    Ok(s) => {
                        wins.fetch_add(1, Ordering::SeqCst);
                        Some(s)
                    }
                    Err(e) if e.is_stale() => None,
                    Err(e) => panic!("writer {w}: {e}"),
                }
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            if let Some(s) = t.await.unwrap() {
                winners.push(s);
            }
        }
        assert_eq!(
            wins.load(Ordering::SeqCst),
            1,
            "round {round}: exactly one writer wins"
        );
        let stored = store.get(&p, TABLE).await.unwrap().unwrap();
        assert_eq!(stored.version, round as u64 + 2);
        assert_eq!(stored, winners[0]);
    }
}

/// Read-modify-write loops retrying on stale versions lose no update.
pub async fn concurrent_increments_lose_nothing<S: ContractStore>(store: Arc<S>) {
    const TASKS: usize = 8;
    const EACH: usize = 5;
    let p = pipeline("incr");
    store
        .put_if_version(&Bookmark::new(&p, TABLE), 0)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, p) = (store.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0usize;
            for _ in 0..EACH {
                loop {
                    let mut b = store.get(&p, TABLE).await.unwrap().unwrap();
                    b.rows_applied += 1;
                    match store.save(&b).await {
                        Ok(_) => break,
                        Err(e) if e.is_stale() => conflicts += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let b = store.get(&p, TABLE).await.unwrap().unwrap();
    assert_eq!(b.rows_applied, (TASKS * EACH) as u64);
    assert_eq!(b.version, (TASKS * EACH) as u64 + 1);
}

/// Many contenders for one lease: exactly one gets it.
pub async fn lease_exclusive_under_contention<S: ContractStore>(store: Arc<S>) {
    const CONTENDERS: usize = 12;
    let p = pipeline("lease-race");
    let barrier = Arc::new(Barrier::new(CONTENDERS));
    let mut tasks = Vec::new();
    for i in 0..CONTENDERS {
        let (store, barrier, p) = (store.clone(), barrier.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .acquire(&p, TABLE, &format!("worker-{i}"), Duration::from_secs(60))
                .await
                .unwrap()
        }));
    }
    let mut holders = Vec::new();
    let mut busy_owners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Acquire::Acquired(l) => holders.push(l),
            Acquire::Busy { owner, .. } => busy_owners.push(owner),
        }
    }
    assert_eq!(holders.len(), 1, "exactly one contender holds the lease");
    let holder = &holders[0];
    assert_eq!(holder.generation, 1);
    assert!(
        busy_owners.iter().all(|o| o == &holder.owner),
        "{busy_owners:?} vs {}",
        holder.owner
    );
    assert_eq!(
        store.current(&p, TABLE).await.unwrap().as_ref(),
        Some(holder)
    );
    // another table of the same pipeline is independent
    assert!(matches!(
        store
            .acquire(&p, "s3://lake/other", "x", Duration::from_secs(60))
            .await
            .unwrap(),
        Acquire::Acquired(_)
    ));
}

/// Renew extends, release frees, an expired lease can be taken over and the old holder is
/// then locked out.
pub async fn lease_renew_release_and_expiry<S: ContractStore>(store: &S) {
    let p = pipeline("lease");
    let ttl = Duration::from_secs(1);
    let a = store
        .acquire(&p, TABLE, "a", ttl)
        .await
        .unwrap()
        .into_lease()
        .unwrap();
    assert!(
        store
            .acquire(&p, TABLE, "b", ttl)
            .await
            .unwrap()
            .into_lease()
            .is_none()
    );
    // not re-entrant
    assert!(
        store
            .acquire(&p, TABLE, "a", ttl)
            .await
            .unwrap()
            .into_lease()
            .is_none()
    );

    // renew pushes the expiry out
    let a2 = store.renew(&a, Duration::from_secs(30)).await.unwrap();
    assert_eq!(a2.token, a.token);
    assert!(a2.expires_at > a.expires_at);
    // release, then someone else gets it at once, with a higher generation
    assert!(store.release(&a2).await.unwrap());
    assert!(
        !store.release(&a2).await.unwrap(),
        "second release is a no-op"
    );
    assert!(
        store.current(&p, TABLE).await.unwrap().is_none(),
        "released lease is free"
    );
    assert!(matches!(
        store.renew(&a2, ttl).await,
        Err(LeaseError::Lost { .. })
    ));
    let b = store
        .acquire(&p, TABLE, "b", ttl)
        .await
        .unwrap()
        .into_lease()
        .unwrap();
    assert!(b.generation > a.generation);

    // b crashes: after the TTL, c takes over
    match store.acquire(&p, TABLE, "c", ttl).await.unwrap() {
        Acquire::Busy { owner, .. } => assert_eq!(owner, "b"),
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(1_150)).await;
    let c = store
        .acquire(&p, TABLE, "c", Duration::from_secs(30))
        .await
        .unwrap()
        .into_lease()
        .unwrap();
    assert_eq!(c.generation, b.generation + 1);
    // the crashed holder wakes up: it can neither renew nor release c's lease
    match store.renew(&b, ttl).await {
        Err(LeaseError::Lost { current_owner, .. }) => {
            assert_eq!(current_owner.as_deref(), Some("c"))
        }
        other => panic!("{other:?}"),
    }
    assert!(!store.release(&b).await.unwrap());
    assert_eq!(
        store.current(&p, TABLE).await.unwrap().map(|l| l.owner),
        Some("c".to_string())
    );
    // an expired lease that nobody took over can still be renewed by its holder
    let d = store
        .acquire(&p, "s3://lake/t2", "d", ttl)
        .await
        .unwrap()
        .into_lease()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_150)).await;
    assert!(store.renew(&d, Duration::from_secs(30)).await.is_ok());
}
