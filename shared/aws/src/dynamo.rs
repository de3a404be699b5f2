//! [`DynamoBookmarkStore`]: bookmarks and leases in one DynamoDB table, with conditional
//! writes.
//!
//! # Table schema
//!
//! | key | attribute | type |
//! |---|---|---|
//! | partition (HASH) | `pk` | S |
//! | sort (RANGE) | `sk` | S |
//!
//! Billing mode: on demand (`PAY_PER_REQUEST`). No secondary indexes, no TTL attribute
//! (lease records must survive, their generation is a fencing token).
//!
//! # Items
//!
//! **Bookmark**: `pk` = pipeline name, `sk` = table id.
//! - `version` (N): the bookmark's version, the optimistic-concurrency counter.
//! - `doc` (S): the whole [`Bookmark`] as JSON (the source of truth when reading).
//! - `pos_ord` (S), `pos_req` (S): the position's ordering time (completion time, else
//!   requested time) and requested time; absent when there is no position. Used by the
//!   "never backwards" condition.
//! - `state` (S), `updated_at` (S, RFC 3339): for humans and the console.
//!
//! **Lease**: `pk` = `lease#` + pipeline name (pipeline names cannot contain `#`), `sk` =
//! table id. Attributes `owner` (S), `token` (S), `generation` (N), `acquired_at_ms` (N),
//! `expires_at_ms` (N, epoch milliseconds). A released lease keeps its item with token
//! `released`.
//!
//! # Conditional writes
//!
//! - create (expected version 0): `attribute_not_exists(pk)`;
//! - update: `version = :expected`, plus for ordinary (forward) writes
//!   `attribute_not_exists(pos_ord) OR pos_ord < :ord OR (pos_ord = :ord AND pos_req <= :req)`
//!   (or `attribute_not_exists(pos_ord)` when the new bookmark has no position);
//! - `ConditionalCheckFailedException` is classified by re-reading the item into
//!   `StaleVersion` or `Backwards`.
//! - lease acquire: `attribute_not_exists(pk)` or `token = :token_read` (the expired or
//!   released record that was read); renew/release: `token = :my_token`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TableStatus,
};
use chrono::{DateTime, Utc};
use hps_sync::bookmark::{
    Bookmark, BookmarkError, BookmarkResult, BookmarkStore, Position, WriteMode, validate_key,
    validate_pipeline,
};
use hps_sync::lease::{
    Acquire, Lease, LeaseError, LeaseResult, LeaseStore, RELEASED_TOKEN, decide_acquire,
    lease_expiry, validate_lease_key,
};
use tracing::{debug, instrument};

use crate::sdk_error::{SdkFailure, classify};

const PK: &str = "pk";
const SK: &str = "sk";
const VERSION: &str = "version";
const DOC: &str = "doc";
const POS_ORD: &str = "pos_ord";
const POS_REQ: &str = "pos_req";
const STATE: &str = "state";
const UPDATED_AT: &str = "updated_at";
const OWNER: &str = "owner";
const TOKEN: &str = "token";
const GENERATION: &str = "generation";
const ACQUIRED_AT_MS: &str = "acquired_at_ms";
const EXPIRES_AT_MS: &str = "expires_at_ms";
/// Partition-key prefix of lease items.
const LEASE_PREFIX: &str = "lease#";
const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailedException";
/// How often acquire re-reads after losing a race for an expired lease.
const ACQUIRE_ATTEMPTS: u32 = 5;

/// Bookmarks and leases in one DynamoDB table (see the module docs for the schema).
#[derive(Debug, Clone)]
pub struct DynamoBookmarkStore {
    client: Client,
    table_name: String,
}

impl DynamoBookmarkStore {
    /// A store over `table_name` using an existing client.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    /// A store over `table_name` with a client built from `config`.
    pub fn from_config(config: &SdkConfig, table_name: impl Into<String>) -> Self {
        Self::new(Client::new(config), table_name)
    }

    /// The SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The DynamoDB table name.
    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// Create the table with the documented key schema (on-demand billing) unless it exists,
    /// and wait until it is active. For tests and local use; deployments create it from the
    /// SAM template.
    pub async fn create_table_if_missing(&self) -> BookmarkResult<()> {
        let exists = match self
            .client
            .describe_table()
            .table_name(&self.table_name)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.code() == Some("ResourceNotFoundException") => false,
            Err(e) => return Err(self.backend("describe table", e)),
        };
        if !exists {
            let attr = |name: &str| {
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
            };
            let key = |name: &str, kt: KeyType| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kt)
                    .build()
            };
            let invalid = |e: aws_sdk_dynamodb::error::BuildError| BookmarkError::Invalid {
                reason: format!("table definition: {e}"),
            };
            let created = self
                .client
                .create_table()
                .table_name(&self.table_name)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(attr(PK).map_err(invalid)?)
                .attribute_definitions(attr(SK).map_err(invalid)?)
                .key_schema(key(PK, KeyType::Hash).map_err(invalid)?)
                .key_schema(key(SK, KeyType::Range).map_err(invalid)?)
                .send()
                .await;
            match created {
                Ok(_) => {}
                // someone else created it concurrently
                Err(e) if e.code() == Some("ResourceInUseException") => {}
                Err(e) => return Err(self.backend("create table", e)),
            }
        }
        for _ in 0..300 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table_name)
                .send()
                .await
                .map_err(|e| self.backend("describe table", e))?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(BookmarkError::Backend {
            location: self.location(None, None),
            message: "table did not become ACTIVE within 60 s".into(),
            transient: true,
        })
    }

    fn location(&self, pk: Option<&str>, sk: Option<&str>) -> String {
        match (pk, sk) {
            (Some(p), Some(s)) => format!("dynamodb://{}/{p}/{s}", self.table_name),
            (Some(p), None) => format!("dynamodb://{}/{p}", self.table_name),
            _ => format!("dynamodb://{}", self.table_name),
        }
    }

    fn backend<E>(&self, what: &str, err: SdkError<E, HttpResponse>) -> BookmarkError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let f = classify(&err);
        BookmarkError::Backend {
            location: self.location(None, None),
            message: format!("{what}: {}", f.message),
            transient: f.transient,
        }
    }

    fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), AttributeValue::S(pk.to_string())),
            (SK.to_string(), AttributeValue::S(sk.to_string())),
        ])
    }

    /// Consistent read of one item.
    async fn get_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, SdkFailure> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.item)
    }

    fn decode_bookmark(
        &self,
        pipeline: &str,
        table: &str,
        item: &HashMap<String, AttributeValue>,
    ) -> BookmarkResult<Bookmark> {
        let location = self.location(Some(pipeline), Some(table));
        let corrupt = |reason: String| BookmarkError::Corrupt {
            location: location.clone(),
            reason,
        };
        let doc = item
            .get(DOC)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| corrupt(format!("attribute `{DOC}` (S) missing")))?;
        let b: Bookmark =
            serde_json::from_str(doc).map_err(|e| corrupt(format!("`{DOC}`: {e}")))?;
        if b.pipeline != pipeline || b.table != table {
            return Err(corrupt(format!(
                "document is for {}/{}, stored under {pipeline}/{table}",
                b.pipeline, b.table
            )));
        }
        let version = item
            .get(VERSION)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok());
        if version != Some(b.version) {
            return Err(corrupt(format!(
                "attribute `{VERSION}` {version:?} disagrees with the document's version {}",
                b.version
            )));
        }
        Ok(b)
    }

    /// Why a conditional bookmark write failed, from a fresh read.
    async fn explain_conflict(&self, new: &Bookmark, expected: u64) -> BookmarkError {
        let stale = |found: Option<u64>| BookmarkError::StaleVersion {
            pipeline: new.pipeline.clone(),
            table: new.table.clone(),
            expected,
            found,
        };
        let current = match self.get(&new.pipeline, &new.table).await {
            Ok(c) => c,
            Err(e) => return e,
        };
        match current {
            None => stale(None),
            Some(c) if expected == 0 || c.version != expected => stale(Some(c.version)),
            Some(c) => match c.position {
                Some(from) if Position::is_backwards(Some(&from), new.position.as_ref()) => {
                    BookmarkError::Backwards {
                        pipeline: new.pipeline.clone(),
                        table: new.table.clone(),
                        from: Box::new(from),
                        to: new.position.clone().map(Box::new),
                    }
                }
                // it changed and changed back between our write and our read
                _ => stale(Some(c.version)),
            },
        }
    }

    fn lease_location(&self, pipeline: &str, table: &str) -> String {
        self.location(Some(&format!("{LEASE_PREFIX}{pipeline}")), Some(table))
    }

    fn lease_backend(&self, pipeline: &str, table: &str, f: SdkFailure) -> LeaseError {
        LeaseError::Backend {
            location: self.lease_location(pipeline, table),
            message: f.message,
            transient: f.transient,
        }
    }

    fn decode_lease(
        &self,
        pipeline: &str,
        table: &str,
        item: &HashMap<String, AttributeValue>,
    ) -> LeaseResult<Lease> {
        let location = self.lease_location(pipeline, table);
        let corrupt = |reason: String| LeaseError::Corrupt {
            location: location.clone(),
            reason,
        };
        let s = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .ok_or_else(|| corrupt(format!("attribute `{name}` (S) missing")))
        };
        let n = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| corrupt(format!("attribute `{name}` (N) missing or not an integer")))
        };
        let time = |name: &str| {
            let ms = n(name)?;
            DateTime::<Utc>::from_timestamp_millis(ms)
                .ok_or_else(|| corrupt(format!("attribute `{name}` = {ms} is not a valid time")))
        };
        let generation = u64::try_from(n(GENERATION)?)
            .map_err(|_| corrupt(format!("attribute `{GENERATION}` is negative")))?;
        Ok(Lease {
            pipeline: pipeline.to_string(),
            table: table.to_string(),
            owner: s(OWNER)?,
            token: s(TOKEN)?,
            generation,
            acquired_at: time(ACQUIRED_AT_MS)?,
            expires_at: time(EXPIRES_AT_MS)?,
        })
    }

    async fn read_lease(&self, pipeline: &str, table: &str) -> LeaseResult<Option<Lease>> {
        let pk = format!("{LEASE_PREFIX}{pipeline}");
        let item = self
            .get_item(&pk, table)
            .await
            .map_err(|f| self.lease_backend(pipeline, table, f))?;
        item.map(|i| self.decode_lease(pipeline, table, &i))
            .transpose()
    }

    /// The owner to report in `Lost`: the current holder, if any.
    async fn current_owner(&self, pipeline: &str, table: &str) -> Option<String> {
        match self.read_lease(pipeline, table).await {
            Ok(Some(l)) if !l.is_released() => Some(l.owner),
            _ => None,
        }
    }
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn is_conditional_failure(f: &SdkFailure) -> bool {
    f.code.as_deref() == Some(CONDITIONAL_CHECK_FAILED)
}

#[async_trait]
impl BookmarkStore for DynamoBookmarkStore {
    #[instrument(level = "debug", skip(self), fields(ddb_table = %self.table_name))]
    async fn get(&self, pipeline: &str, table: &str) -> BookmarkResult<Option<Bookmark>> {
        validate_key(pipeline, table)?;
        let item = self
            .get_item(pipeline, table)
            .await
            .map_err(|f| BookmarkError::Backend {
                location: self.location(Some(pipeline), Some(table)),
                message: f.message,
                transient: f.transient,
            })?;
        item.map(|i| self.decode_bookmark(pipeline, table, &i))
            .transpose()
    }

    #[instrument(level = "debug", skip(self), fields(ddb_table = %self.table_name))]
    async fn list(&self, pipeline: &str) -> BookmarkResult<Vec<Bookmark>> {
        validate_pipeline(pipeline)?;
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table_name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pipeline))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| {
                    let f = classify(&e);
                    BookmarkError::Backend {
                        location: self.location(Some(pipeline), None),
                        message: f.message,
                        transient: f.transient,
                    }
                })?;
            for item in page.items() {
                let table = item.get(SK).and_then(|v| v.as_s().ok()).ok_or_else(|| {
                    BookmarkError::Corrupt {
                        location: self.location(Some(pipeline), None),
                        reason: format!("an item has no `{SK}` (S)"),
                    }
                })?;
                out.push(self.decode_bookmark(pipeline, table, item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    #[instrument(level = "debug", skip(self, bookmark), fields(ddb_table = %self.table_name, pipeline = %bookmark.pipeline, table = %bookmark.table))]
    async fn write(
        &self,
        bookmark: &Bookmark,
        expected_version: u64,
        mode: WriteMode,
    ) -> BookmarkResult<Bookmark> {
        validate_key(&bookmark.pipeline, &bookmark.table)?;
        let mut stored = bookmark.clone();
        stored.version = expected_version
            .checked_add(1)
            .ok_or_else(|| BookmarkError::Invalid {
                reason: format!(
                    "bookmark {}/{}: version counter overflow",
                    bookmark.pipeline, bookmark.table
                ),
            })?;
        stored.updated_at = Utc::now();
        let doc = serde_json::to_string(&stored).map_err(|e| BookmarkError::Invalid {
            reason: format!(
                "cannot encode bookmark {}/{}: {e}",
                bookmark.pipeline, bookmark.table
            ),
        })?;

        let mut item = Self::key(&stored.pipeline, &stored.table);
        item.insert(VERSION.into(), n(stored.version));
        item.insert(DOC.into(), s(doc));
        item.insert(STATE.into(), s(stored.state.name()));
        item.insert(UPDATED_AT.into(), s(stored.updated_at.to_rfc3339()));
        if let Some(p) = &stored.position {
            item.insert(POS_ORD.into(), s(p.ordering_time()));
            item.insert(POS_REQ.into(), s(p.requested_time.clone()));
        }

        let mut req = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .set_item(Some(item));
        if expected_version == 0 {
            req = req
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK);
        } else {
            req = req
                .expression_attribute_names("#v", VERSION)
                .expression_attribute_values(":expected", n(expected_version));
            req = match (mode, &stored.position) {
                (WriteMode::Rewind, _) => req.condition_expression("#v = :expected"),
                (WriteMode::Forward, None) => req
                    .condition_expression("#v = :expected AND attribute_not_exists(#po)")
                    .expression_attribute_names("#po", POS_ORD),
                (WriteMode::Forward, Some(p)) => req
                    .condition_expression(
                        "#v = :expected AND (attribute_not_exists(#po) OR #po < :ord \
                         OR (#po = :ord AND #pr <= :req))",
                    )
                    .expression_attribute_names("#po", POS_ORD)
                    .expression_attribute_names("#pr", POS_REQ)
                    .expression_attribute_values(":ord", s(p.ordering_time()))
                    .expression_attribute_values(":req", s(p.requested_time.clone())),
            };
        }
        match req.send().await {
            Ok(_) => {
                debug!(version = stored.version, "bookmark written");
                Ok(stored)
            }
            Err(e) => {
                let f = classify(&e);
                if is_conditional_failure(&f) {
                    Err(self.explain_conflict(bookmark, expected_version).await)
                } else {
                    Err(BookmarkError::Backend {
                        location: self.location(Some(&bookmark.pipeline), Some(&bookmark.table)),
                        message: f.message,
                        transient: f.transient,
                    })
                }
            }
        }
    }

    #[instrument(level = "debug", skip(self), fields(ddb_table = %self.table_name))]
    async fn delete(&self, pipeline: &str, table: &str) -> BookmarkResult<()> {
        validate_key(pipeline, table)?;
        self.client
            .delete_item()
            .table_name(&self.table_name)
            .set_key(Some(Self::key(pipeline, table)))
            .send()
            .await
            .map_err(|e| {
                let f = classify(&e);
                BookmarkError::Backend {
                    location: self.location(Some(pipeline), Some(table)),
                    message: f.message,
                    transient: f.transient,
                }
            })?;
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for DynamoBookmarkStore {
    #[instrument(level = "debug", skip(self), fields(ddb_table = %self.table_name))]
    async fn acquire(
        &self,
        pipeline: &str,
        table: &str,
        owner: &str,
        ttl: Duration,
    ) -> LeaseResult<Acquire> {
        validate_lease_key(pipeline, table)?;
        lease_expiry(owner, ttl, Utc::now())?;
        let pk = format!("{LEASE_PREFIX}{pipeline}");
        for attempt in 0..ACQUIRE_ATTEMPTS {
            let current = self.read_lease(pipeline, table).await?;
            let lease =
                match decide_acquire(current.as_ref(), pipeline, table, owner, ttl, Utc::now())? {
                    Acquire::Acquired(l) => l,
                    busy @ Acquire::Busy { .. } => return Ok(busy),
                };
            let mut item = Self::key(&pk, table);
            item.insert(OWNER.into(), s(lease.owner.clone()));
            item.insert(TOKEN.into(), s(lease.token.clone()));
            item.insert(GENERATION.into(), n(lease.generation));
            item.insert(
                ACQUIRED_AT_MS.into(),
                n(lease.acquired_at.timestamp_millis()),
            );
            item.insert(EXPIRES_AT_MS.into(), n(lease.expires_at.timestamp_millis()));
            let mut req = self
                .client
                .put_item()
                .table_name(&self.table_name)
                .set_item(Some(item));
            req = match &current {
                None => req
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK),
                Some(c) => req
                    .condition_expression("#tok = :seen")
                    .expression_attribute_names("#tok", TOKEN)
                    .expression_attribute_values(":seen", s(c.token.clone())),
            };
            match req.send().await {
                Ok(_) => return Ok(Acquire::Acquired(lease)),
                Err(e) => {
                    let f = classify(&e);
                    if !is_conditional_failure(&f) {
                        return Err(self.lease_backend(pipeline, table, f));
                    }
                    debug!(attempt, "lost the race for a free lease; re-reading");
                }
            }
        }
        Err(LeaseError::Backend {
            location: self.lease_location(pipeline, table),
            message: format!(
                "gave up acquiring after {ACQUIRE_ATTEMPTS} conflicting concurrent writes"
            ),
            transient: true,
        })
    }

    #[instrument(level = "debug", skip(self, lease), fields(ddb_table = %self.table_name, pipeline = %lease.pipeline, table = %lease.table))]
    async fn renew(&self, lease: &Lease, ttl: Duration) -> LeaseResult<Lease> {
        validate_lease_key(&lease.pipeline, &lease.table)?;
        let expires_at = lease_expiry(&lease.owner, ttl, Utc::now())?;
        let lost = |current_owner| LeaseError::Lost {
            pipeline: lease.pipeline.clone(),
            table: lease.table.clone(),
            current_owner,
        };
        if lease.is_released() {
            return Err(lost(
                self.current_owner(&lease.pipeline, &lease.table).await,
            ));
        }
        let pk = format!("{LEASE_PREFIX}{}", lease.pipeline);
        let res = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(Self::key(&pk, &lease.table)))
            .update_expression("SET #exp = :exp")
            .condition_expression("#tok = :tok")
            .expression_attribute_names("#exp", EXPIRES_AT_MS)
            .expression_attribute_names("#tok", TOKEN)
            .expression_attribute_values(":exp", n(expires_at.timestamp_millis()))
            .expression_attribute_values(":tok", s(lease.token.clone()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => match out.attributes {
                Some(attrs) => self.decode_lease(&lease.pipeline, &lease.table, &attrs),
                None => Ok(Lease {
                    expires_at,
                    ..lease.clone()
                }),
            },
            Err(e) => {
                let f = classify(&e);
                if is_conditional_failure(&f) {
                    Err(lost(
                        self.current_owner(&lease.pipeline, &lease.table).await,
                    ))
                } else {
                    Err(self.lease_backend(&lease.pipeline, &lease.table, f))
                }
            }
        }
    }

    #[instrument(level = "debug", skip(self, lease), fields(ddb_table = %self.table_name, pipeline = %lease.pipeline, table = %lease.table))]
    async fn release(&self, lease: &Lease) -> LeaseResult<bool> {
        validate_lease_key(&lease.pipeline, &lease.table)?;
        if lease.is_released() {
            return Ok(false);
        }
        let released = lease.released_at(Utc::now());
        let pk = format!("{LEASE_PREFIX}{}", lease.pipeline);
        let res = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .set_key(Some(Self::key(&pk, &lease.table)))
            .update_expression("SET #tok = :released, #exp = :exp")
            .condition_expression("#tok = :tok")
            .expression_attribute_names("#exp", EXPIRES_AT_MS)
            .expression_attribute_names("#tok", TOKEN)
            .expression_attribute_values(":exp", n(released.expires_at.timestamp_millis()))
            .expression_attribute_values(":released", s(RELEASED_TOKEN))
            .expression_attribute_values(":tok", s(lease.token.clone()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let f = classify(&e);
                if is_conditional_failure(&f) {
                    Ok(false)
                } else {
                    Err(self.lease_backend(&lease.pipeline, &lease.table, f))
                }
            }
        }
    }

    #[instrument(level = "debug", skip(self), fields(ddb_table = %self.table_name))]
    async fn current(&self, pipeline: &str, table: &str) -> LeaseResult<Option<Lease>> {
        validate_lease_key(pipeline, table)?;
        Ok(self
            .read_lease(pipeline, table)
            .await?
            .filter(|l| !l.is_released()))
    }
}
