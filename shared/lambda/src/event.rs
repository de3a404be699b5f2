//! The detector's input events, deserialized tolerantly.
//!
//! Accepted shapes:
//! - S3 notifications (`{"Records": [{"eventSource": "aws:s3", "s3": {...}}]}`), as real S3 and
//!   emulators send them. Keys are URL-encoded (`+` for space, `%XX`); emulators encode `/` as
//!   `%2F` and omit `userIdentity`, `requestParameters`, `responseElements`, `sequencer`.
//! - The same notification wrapped in SNS records (`Records[].Sns.Message`).
//! - EventBridge S3 events (`"detail-type": "Object Created"`, key *not* URL-encoded).
//! - EventBridge scheduled events (`"detail-type": "Scheduled Event"`): a sweep of every table.
//! - A manual sweep request: `{"sweep": true}` or `{"sweep": ["table-id", ...]}`.
//!
//! Individual records that cannot be read are returned as [`ObjectEvent`] errors rather than
//! failing the whole event: retrying would not fix them, and the sweep recovers what they named.

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;

use crate::error::EventError;

/// One object-level notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// Bucket name.
    pub bucket: String,
    /// The object key, decoded.
    pub key: String,
    /// Whether this is an object creation (`ObjectCreated:*`; missing event names count as
    /// created: the notifications are configured for creations only).
    pub created: bool,
    /// The S3 `sequencer` (orders events of one key), when present.
    pub sequencer: Option<String>,
}

/// Which tables a sweep covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SweepScope {
    /// Every configured table.
    All,
    /// These table ids.
    Tables(Vec<String>),
}

/// A decoded detector input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectorEvent {
    /// Object notifications; each record decoded or the reason it could not be.
    Objects(Vec<Result<ObjectEvent, String>>),
    /// Enqueue tables unconditionally (`id` makes the dedup ids of a retried event stable).
    Sweep {
        /// Which tables.
        scope: SweepScope,
        /// Id of the triggering event (EventBridge event id), if any.
        id: Option<String>,
    },
}

/// Decode an S3 event key: `+` is a space, then `%XX` escapes (UTF-8).
pub fn decode_s3_key(raw: &str) -> Result<String, String> {
    let plus_decoded = raw.replace('+', " ");
    percent_decode_str(&plus_decoded)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| format!("key {raw:?} is not valid URL-encoded UTF-8: {e}"))
}

#[derive(Deserialize)]
struct S3Entity {
    #[serde(default)]
    bucket: Option<S3Bucket>,
    #[serde(default)]
    object: Option<S3Object>,
}

#[derive(Deserialize)]
struct S3Bucket {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct S3Object {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

fn is_created(event_name: Option<&str>) -> bool {
    match event_name {
        None => true,
        Some(n) => {
            let n = n.strip_prefix("s3:").unwrap_or(n);
            n.starts_with("ObjectCreated:") || n == "ObjectCreated" || n == "Object Created"
        }
    }
}

/// One S3 notification record (the element of `Records`).
fn s3_record(rec: &Value) -> Result<ObjectEvent, String> {
    let entity: S3Entity = serde_json::from_value(rec.get("s3").cloned().unwrap_or(Value::Null))
        .map_err(|e| format!("record has no readable `s3` entity: {e}"))?;
    let bucket = entity
        .bucket
        .and_then(|b| b.name)
        .filter(|n| !n.is_empty())
        .ok_or("record has no s3.bucket.name")?;
    let object = entity.object.ok_or("record has no s3.object")?;
    let raw_key = object
        .key
        .filter(|k| !k.is_empty())
        .ok_or("record has no s3.object.key")?;
    let key = decode_s3_key(&raw_key)?;
    Ok(ObjectEvent {
        bucket,
        key,
        created: is_created(rec.get("eventName").and_then(Value::as_str)),
        sequencer: object.sequencer,
    })
}

fn records_of(v: &Value, out: &mut Vec<Result<ObjectEvent, String>>) -> Result<(), EventError> {
    let records = v
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| EventError::Unrecognised(truncate(v)))?;
    for rec in records {
        let source = rec
            .get("eventSource")
            .or_else(|| rec.get("EventSource"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if source == "aws:sns" {
            // SNS fan-out: the message is an S3 notification as a JSON string
            let inner = rec
                .get("Sns")
                .and_then(|s| s.get("Message"))
                .and_then(Value::as_str)
                .map(serde_json::from_str::<Value>);
            match inner {
                Some(Ok(inner)) if inner.get("Records").is_some() => records_of(&inner, out)?,
                // s3:TestEvent and other non-record messages carry nothing to do
                Some(Ok(_)) => {}
                Some(Err(e)) => out.push(Err(format!("SNS message is not JSON: {e}"))),
                None => out.push(Err("SNS record without Sns.Message".into())),
            }
        } else if rec.get("s3").is_some() || source == "aws:s3" {
            out.push(s3_record(rec));
        } else {
            out.push(Err(format!(
                "record is not an S3 notification: {}",
                truncate(rec)
            )));
        }
    }
    Ok(())
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s
    }
}

/// Decode a detector input event.
pub fn parse_detector_event(v: &Value) -> Result<DetectorEvent, EventError> {
    // manual sweep
    if let Some(sweep) = v.get("sweep") {
        let scope = match sweep {
            Value::Bool(true) => SweepScope::All,
            Value::Array(ids) => SweepScope::Tables(
                ids.iter()
                    .map(|i| {
                        i.as_str()
                            .map(String::from)
                            .ok_or_else(|| EventError::Unrecognised(truncate(v)))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(EventError::Unrecognised(truncate(v))),
        };
        let id = v.get("id").and_then(Value::as_str).map(String::from);
        return Ok(DetectorEvent::Sweep { scope, id });
    }
    // EventBridge
    if let Some(detail_type) = v.get("detail-type").and_then(Value::as_str) {
        let id = v.get("id").and_then(Value::as_str).map(String::from);
        return match detail_type {
            "Scheduled Event" => Ok(DetectorEvent::Sweep {
                scope: SweepScope::All,
                id,
            }),
            "Object Created" => {
                let detail = v.get("detail").unwrap_or(&Value::Null);
                let bucket = detail.pointer("/bucket/name").and_then(Value::as_str);
                let key = detail.pointer("/object/key").and_then(Value::as_str);
                let rec = match (bucket, key) {
                    // EventBridge keys are not URL-encoded
                    (Some(b), Some(k)) if !b.is_empty() && !k.is_empty() => Ok(ObjectEvent {
                        bucket: b.to_string(),
                        key: k.to_string(),
                        created: true,
                        sequencer: detail
                            .pointer("/object/sequencer")
                            .and_then(Value::as_str)
                            .map(String::from),
                    }),
                    _ => Err(format!(
                        "EventBridge S3 event without bucket/key: {}",
                        truncate(v)
                    )),
                };
                Ok(DetectorEvent::Objects(vec![rec]))
            }
            _ => Err(EventError::Unrecognised(truncate(v))),
        };
    }
    // S3 sends `{"Service": "Amazon S3", "Event": "s3:TestEvent", ...}` when a notification
    // configuration is saved: nothing to do
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(DetectorEvent::Objects(Vec::new()));
    }
    let mut out = Vec::new();
    records_of(v, &mut out)?;
    Ok(DetectorEvent::Objects(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_keys_like_s3() {
        assert_eq!(
            decode_s3_key("a%2Fb%2F.hoodie%2F1.commit").unwrap(),
            "a/b/.hoodie/1.commit"
        );
        assert_eq!(
            decode_s3_key("db%3Dsales/my+table/x").unwrap(),
            "db=sales/my table/x"
        );
        // a literal plus is %2B, a space is +
        assert_eq!(decode_s3_key("a%2Bb+c").unwrap(), "a+b c");
        assert_eq!(decode_s3_key("caf%C3%A9").unwrap(), "café");
        assert!(decode_s3_key("bad%FF%FE").is_err());
        // stray percent signs pass through as percent-encoding allows
        assert_eq!(decode_s3_key("100%").unwrap(), "100%");
    }

    #[test]
    fn tolerates_emulator_records() {
        let ev = json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-03-07T22:24:38.653Z", "eventName": "ObjectCreated:Put",
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                   "bucket": {"name": "lake", "arn": "arn:aws:s3:::lake"},
                   "object": {"key": "wh%2Ft%2F.hoodie%2F1.commit", "size": 1, "eTag": "x"}}
        }]});
        let DetectorEvent::Objects(recs) = parse_detector_event(&ev).unwrap() else {
            panic!()
        };
        assert_eq!(
            recs,
            vec![Ok(ObjectEvent {
                bucket: "lake".into(),
                key: "wh/t/.hoodie/1.commit".into(),
                created: true,
                sequencer: None
            })]
        );
    }

    #[test]
    fn bad_records_do_not_sink_the_event() {
        let ev = json!({"Records": [
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "lake"}, "object": {"key": "k"}}},
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "lake"}}},
            {"eventSource": "aws:s3", "s3": {"bucket": {}, "object": {"key": "k"}}},
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "lake"}, "object": {"key": "%FF"}}},
            {"eventSource": "aws:kinesis"},
            {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
             "s3": {"bucket": {"name": "lake"}, "object": {"key": "k2", "sequencer": "00AB"}}},
        ]});
        let DetectorEvent::Objects(recs) = parse_detector_event(&ev).unwrap() else {
            panic!()
        };
        assert_eq!(recs.len(), 6);
        assert!(recs[0].as_ref().is_ok_and(|r| r.created));
        assert!(recs[1].is_err() && recs[2].is_err() && recs[3].is_err() && recs[4].is_err());
        let r5 = recs[5].as_ref().unwrap();
        assert!(!r5.created);
        assert_eq!(r5.sequencer.as_deref(), Some("00AB"));
    }

    #[test]
    fn unwraps_sns_and_eventbridge() {
        let inner = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "lake"}, "object": {"key": "a+b/.hoodie/1.commit"}}}]});
        let sns = json!({"Records": [
            {"EventSource": "aws:sns", "Sns": {"Message": inner.to_string()}},
            {"EventSource": "aws:sns", "Sns": {"Message": "{\"Event\":\"s3:TestEvent\"}"}},
        ]});
        let DetectorEvent::Objects(recs) = parse_detector_event(&sns).unwrap() else {
            panic!()
        };
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].as_ref().unwrap().key, "a b/.hoodie/1.commit");

        let eb = json!({"version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "lake"}, "object": {"key": "a+b/.hoodie/1.commit", "sequencer": "01"}}});
        let DetectorEvent::Objects(recs) = parse_detector_event(&eb).unwrap() else {
            panic!()
        };
        // EventBridge keys are literal
        assert_eq!(recs[0].as_ref().unwrap().key, "a+b/.hoodie/1.commit");
    }

    #[test]
    fn sweeps() {
        let sched = json!({"version": "0", "id": "53dc", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert_eq!(
            parse_detector_event(&sched).unwrap(),
            DetectorEvent::Sweep {
                scope: SweepScope::All,
                id: Some("53dc".into())
            }
        );
        assert_eq!(
            parse_detector_event(&json!({"sweep": ["a", "b"]})).unwrap(),
            DetectorEvent::Sweep {
                scope: SweepScope::Tables(vec!["a".into(), "b".into()]),
                id: None
            }
        );
        assert_eq!(
            parse_detector_event(&json!({"sweep": true})).unwrap(),
            DetectorEvent::Sweep {
                scope: SweepScope::All,
                id: None
            }
        );
        let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-03-07T22:24:38.653Z",
            "Bucket": "lake", "RequestId": "x", "HostId": "y"});
        assert_eq!(
            parse_detector_event(&test_event).unwrap(),
            DetectorEvent::Objects(Vec::new())
        );
        assert!(parse_detector_event(&json!({"sweep": 1})).is_err());
        assert!(parse_detector_event(&json!({"hello": 1})).is_err());
        assert!(
            parse_detector_event(&json!({"detail-type": "Object Deleted", "detail": {}})).is_err()
        );
    }
}
