//! Key-partitioned decoding: which worker of a process decodes which record.
//!
//! A rule on the keyed window path ([`crate::keyed`]) whose GROUP BY keys are
//! plain columns of its stream would otherwise decode each record on
//! whichever worker its batch reached and then move the row, through the
//! exchange, to the worker its key hashes to: on two cores, every row was
//! written by one core and folded by the other, and the first read of each
//! moved row missed the cache. Such a rule has a [`KeyPartition`]: the
//! rule's feed (the runtime's `SourceFeed`, on the source's thread) reads
//! just the key fields of each record with a [`KeyRouter`] (the JSON up to
//! them), hashes them and finds their worker in the rule's
//! [`KeyPlacement`] as the exchange does, and splits every batch into one
//! part per worker of the process (the router is the split's
//! [`RecordOwner`]: its usual record's read is inlined into the split's
//! loop). Each worker decodes only its part, and rows then stay on the core
//! that decoded them.
//! The exchange stays in the dataflow and still decides where a row is
//! folded, so the router only has to be right almost always, not always: a
//! record whose key reads differently in full (a repeated key, a value the
//! stream's strict schema refuses) is decoded by one worker and moved like
//! before. Each record is read once by the router and decoded by exactly
//! one worker.

use crate::json_scan;
use crate::key_placement::KeyPlacement;
use crate::keyed;
use crate::source::{PayloadRef, RecordOwner, SourceDecoder, SourceRecord};
use crate::value::recycle_slots;
use crate::window::PlanShape;
use oort_compiler::catalog::{FieldType, Format};
use oort_compiler::plan::{RulePlan, ScalarExpr};
use std::sync::Arc;

/// The stream input of a rule that decodes key-partitioned, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPartition {
    /// The plan source (input) whose records are partitioned.
    pub source: usize,
    /// The global slots of the GROUP BY key, in key order.
    pub slots: Vec<usize>,
}

impl KeyPartition {
    /// The partition of a plan that takes the keyed window path with an
    /// exchange by key, when its keys are plain columns of its stream.
    pub fn of(plan: &Arc<RulePlan>) -> Option<Self> {
        let shape = PlanShape::of(plan).ok()?;
        if !keyed::exchanges_by_key(plan, &shape) {
            return None;
        }
        let source = plan.sources.first()?;
        let (keys, _) = shape.aggregate.as_ref()?;
        let slots = keys
            .iter()
            .map(|k| match k {
                ScalarExpr::Column(c)
                    if c.source == 0
                        && c.slot >= source.offset
                        && c.slot < source.offset + source.slots.len()
                        && Some(c.slot) != source.rest_slot =>
                {
                    Some(c.slot)
                }
                _ => None,
            })
            .collect::<Option<Vec<usize>>>()?;
        Some(Self { source: 0, slots })
    }
}

/// Which worker of this process a record belongs to.
#[derive(Debug, Clone)]
pub struct KeyRouter {
    decoder: Option<SourceDecoder>,
    /// The key's field name when the key is one string field of a JSON
    /// stream: its raw text is then the key ([`json_scan::leading_string`]),
    /// with no decoding.
    string_field: Option<Box<[u8]>>,
    /// `{"field":"`: how a record whose first field is the key starts.
    string_prefix: Box<[u8]>,
    /// [`KeyRouter::string_prefix`] as words, when it is short enough.
    short_prefix: Option<json_scan::ShortPrefix>,
    slots: Vec<usize>,
    /// The process's workers.
    locals: usize,
    /// Global index of the process's first worker.
    first: usize,
    /// The worker of each key, among the workers of the whole computation
    /// (the rule's, shared with its workers).
    placement: Arc<KeyPlacement>,
    key: Vec<u8>,
}

/// A batch split with the router ([`crate::source::SourceBatch::split`])
/// has the router's usual path inlined into the split's loop: no call per
/// record.
impl RecordOwner for KeyRouter {
    #[inline(always)]
    fn part_of(&mut self, payload: PayloadRef<'_>) -> usize {
        self.owner_of(payload)
    }
}

impl KeyRouter {
    /// The router of a process of `locals` workers, the first of which is
    /// worker `first`, for `partition` of `plan`, whose keys `placement`
    /// places on the workers.
    pub fn new(
        plan: &RulePlan,
        partition: &KeyPartition,
        locals: usize,
        first: usize,
        placement: Arc<KeyPlacement>,
    ) -> Self {
        // A partition names a source of its plan ([`KeyPartition::of`]); were
        // it not so, the first worker would take every record.
        let decoder = plan.sources.get(partition.source).map(|source| {
            let mut decoder = SourceDecoder::new(source, plan.width, false);
            let mut used = vec![false; plan.width];
            for s in &partition.slots {
                if let Some(u) = used.get_mut(*s) {
                    *u = true;
                }
            }
            decoder.restrict_to(&used);
            decoder
        });
        let string_field = match (plan.sources.get(partition.source), partition.slots.as_slice()) {
            (Some(source), [slot]) if source.def.options.format == Format::Json => source
                .slots
                .get(slot.wrapping_sub(source.offset))
                .filter(|s| matches!(s.ty, None | Some(FieldType::String)))
                .map(|s| Box::<[u8]>::from(s.name.as_bytes())),
            _ => None,
        };
        let string_prefix = match &string_field {
            Some(name) => [b"{\"".as_slice(), name, b"\":\""].concat().into_boxed_slice(),
            None => Box::default(),
        };
        let short_prefix = string_field.as_ref().and_then(|_| json_scan::ShortPrefix::new(&string_prefix));
        Self {
            decoder,
            string_field,
            string_prefix,
            short_prefix,
            slots: partition.slots.clone(),
            locals: locals.max(1),
            first,
            placement,
            key: Vec::new(),
        }
    }

    /// The local index of the worker that decodes `rec`: the worker the
    /// exchange sends its key to when that worker is in this process, else a
    /// fixed one of this process (the exchange then moves the row).
    pub fn owner(&mut self, rec: &SourceRecord) -> usize {
        self.owner_of(rec.payload.as_ref())
    }

    /// [`KeyRouter::owner`] of a record with `payload`.
    #[inline(always)]
    pub fn owner_of(&mut self, payload: PayloadRef<'_>) -> usize {
        // The usual record: the key first, a short id, read as two words.
        if let (Some(prefix), PayloadRef::Bytes(b)) = (&self.short_prefix, payload)
            && let Some((lo, hi, n)) = prefix.short_string_after(b)
        {
            return self.local_of(keyed::short_string_key_hash(lo, hi, n));
        }
        self.owner_the_long_way(payload)
    }

    /// [`KeyRouter::owner_of`] of a record whose key is not a short string
    /// at its start: kept out of line, so the usual record's path saves and
    /// restores few registers.
    #[cold]
    #[inline(never)]
    fn owner_the_long_way(&mut self, payload: PayloadRef<'_>) -> usize {
        let text = match (&self.string_field, payload) {
            (Some(name), PayloadRef::Bytes(b)) => json_scan::leading_string(b, &self.string_prefix, name),
            _ => None,
        };
        let hash = if let Some(text) = text {
            keyed::string_key_hash(text)
        } else {
            let Some(decoder) = &self.decoder else { return 0 };
            let slots = decoder.decode_leading(payload);
            let hash = keyed::columns_route_hash(&slots, &self.slots, &mut self.key);
            recycle_slots(slots);
            hash
        };
        self.local_of(hash)
    }

    /// The local worker of a record whose key hashes to `hash`.
    #[inline]
    fn local_of(&self, hash: u64) -> usize {
        let target = self.placement.of(hash) as usize;
        match target.checked_sub(self.first) {
            Some(local) if local < self.locals => local,
            _ => target % self.locals,
        }
    }

    /// Workers of the process (the parts [`KeyRouter::owner`] picks from).
    pub fn locals(&self) -> usize {
        self.locals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Item, Payload, RecordBlock, SourceBatch};
    use crate::value::Value;
    use oort_compiler::catalog::StreamDef;
    use std::collections::BTreeMap;

    fn plan(sql: &str) -> Arc<RulePlan> {
        let mut streams = BTreeMap::new();
        let def: StreamDef = oort_compiler::parse_stream_ddl(
            r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT, ts BIGINT) WITH (DATASOURCE="d", FORMAT="JSON", TIMESTAMP="ts")"#,
        )
        .expect("parses");
        streams.insert(def.name.clone(), def);
        Arc::new(oort_compiler::compile_rule(sql, &streams, Default::default()).expect("compiles"))
    }

    fn rec(json: &str) -> SourceRecord {
        SourceRecord { payload: Payload::Bytes(bytes::Bytes::copy_from_slice(json.as_bytes())), meta: None, ts: 0 }
    }

    #[test]
    fn only_plain_column_keys_of_a_keyed_window_partition() {
        let keyed = plan("SELECT deviceId, count(*) FROM demo GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)");
        let p = KeyPartition::of(&keyed).expect("a keyed window on a column");
        assert_eq!(p.source, 0);
        assert_eq!(p.slots.len(), 1);
        for sql in [
            "SELECT deviceId FROM demo",
            "SELECT lower(deviceId), count(*) FROM demo GROUP BY lower(deviceId), TUMBLINGWINDOW(ss, 10)",
            "SELECT count(*) FROM demo GROUP BY TUMBLINGWINDOW(ss, 10)",
        ] {
            assert_eq!(KeyPartition::of(&plan(sql)), None, "{sql}");
        }
    }

    /// Every record has exactly one owner among the process's workers, and
    /// the owner is the worker the exchange sends the decoded row's key to.
    #[test]
    fn each_record_has_one_owner_which_the_exchange_agrees_with() {
        let p = plan("SELECT deviceId, count(*) FROM demo GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)");
        let part = KeyPartition::of(&p).expect("partitioned");
        let full = SourceDecoder::new(&p.sources[0], p.width, true);
        for (workers, balanced) in [2usize, 3, 4].into_iter().flat_map(|w| [(w, false), (w, true)]) {
            let placement =
                Arc::new(if balanced { KeyPlacement::balanced(workers) } else { KeyPlacement::by_hash(workers) });
            let mut router = KeyRouter::new(&p, &part, workers, 0, placement.clone());
            for i in 0..200 {
                let r = rec(&format!(r#"{{"deviceId":"d{i}","temperature":{i}.5,"ts":{}}}"#, 1000 + i));
                let owner = router.owner(&r);
                assert!(owner < workers, "record {i} on {workers} workers: {owner}");
                let Item::Row(row) = full.decode(&r) else { panic!("decodes") };
                let hash = keyed::columns_route_hash(&row.slots, &part.slots, &mut Vec::new());
                let target = match balanced {
                    true => placement.of(hash),
                    false if workers.is_power_of_two() => hash & (workers as u64 - 1),
                    false => hash % workers as u64,
                };
                assert_eq!(owner as u64, target, "record {i}");
            }
        }
    }

    /// A batch split by the router holds, in each worker's part, the records
    /// `owner_of` gives that worker, in order: as a block (the inlined loop)
    /// and as records alike.
    #[test]
    fn a_split_batch_gives_each_worker_the_records_it_owns_in_order() {
        let p = plan("SELECT deviceId, count(*) FROM demo GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)");
        let part = KeyPartition::of(&p).expect("partitioned");
        let texts: Vec<String> = (0..300)
            .map(|i| match i % 10 {
                // Not the usual layout: the long way, inside the same loop.
                3 => format!(r#"{{"ts":{i},"deviceId":"d{}"}}"#, i % 37),
                7 => format!(r#"{{"deviceId":"a-much-longer-device-id-{}","ts":{i}}}"#, i % 37),
                9 => "not json".to_string(),
                _ => format!(r#"{{"deviceId":"d{}","temperature":{i}.5,"ts":{i}}}"#, i % 37),
            })
            .collect();
        for workers in [2usize, 3] {
            let mut router = KeyRouter::new(&p, &part, workers, 0, Arc::new(KeyPlacement::balanced(workers)));
            let expected: Vec<Vec<String>> =
                (0..workers).map(|w| texts.iter().filter(|t| router.owner(&rec(t)) == w).cloned().collect()).collect();
            assert!(expected.iter().all(|e| !e.is_empty()), "every worker owns some keys");
            let mut buf = Vec::new();
            let mut spans = Vec::new();
            for t in &texts {
                spans.push(buf.len()..buf.len() + t.len());
                buf.extend_from_slice(t.as_bytes());
                buf.push(b'\n');
            }
            let mut block = RecordBlock::new(bytes::Bytes::from(buf), None, 0);
            for s in spans {
                assert!(block.push(s));
            }
            let records = SourceBatch::Records(texts.iter().map(|t| rec(t)).collect());
            for batch in [SourceBatch::Block(block), records] {
                let parts = batch.split(workers, &mut router);
                assert_eq!(parts.len(), workers);
                for (w, part) in parts.iter().enumerate() {
                    let got: Vec<String> = (0..part.len())
                        .map(|i| match part.record(i).map(|r| r.payload) {
                            Some(PayloadRef::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                            _ => panic!("bytes"),
                        })
                        .collect();
                    assert_eq!(got, expected[w], "worker {w} of {workers}");
                }
            }
        }
    }

    #[test]
    fn key_anywhere_in_the_record_and_bad_records_still_have_one_owner() {
        let p = plan("SELECT deviceId, count(*) FROM demo GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)");
        let part = KeyPartition::of(&p).expect("partitioned");
        let mut router = KeyRouter::new(&p, &part, 2, 0, Arc::new(KeyPlacement::balanced(2)));
        let first = rec(r#"{"deviceId":"d7","ts":1}"#);
        let last = rec(r#"{"ts":1,"temperature":2.0,"deviceId":"d7"}"#);
        let escaped = rec(r#"{"deviceId":"\u0064\u0037","ts":1}"#);
        assert_eq!(router.owner(&first), router.owner(&last));
        assert_eq!(router.owner(&first), router.owner(&escaped));
        for bad in [r#"{"deviceId":"#, "[1,2]", "", r#"{"deviceId":7}"#] {
            assert!(router.owner(&rec(bad)) < 2, "{bad}");
        }
        let obj = SourceRecord {
            payload: Payload::Object(Arc::new([("deviceId".to_string(), Value::str("d7"))].into_iter().collect())),
            meta: None,
            ts: 0,
        };
        assert_eq!(router.owner(&obj), router.owner(&first));
    }
}

#[cfg(test)]
mod cost {
    use super::*;
    use crate::source::Payload;
    use oort_compiler::catalog::StreamDef;
    use std::collections::BTreeMap;

    /// Run under callgrind to count a router's instructions per record.
    #[test]
    #[ignore]
    fn router_cost() {
        let mut streams = BTreeMap::new();
        let def: StreamDef = oort_compiler::parse_stream_ddl(
            r#"CREATE STREAM demo (deviceId STRING, temperature FLOAT, humidity BIGINT, ts BIGINT) WITH (DATASOURCE="d", FORMAT="JSON", TIMESTAMP="ts")"#,
        )
        .expect("parses");
        streams.insert(def.name.clone(), def);
        let p = Arc::new(
            oort_compiler::compile_rule(
                "SELECT deviceId, count(*), max(humidity) FROM demo GROUP BY deviceId, TUMBLINGWINDOW(ss, 10)",
                &streams,
                Default::default(),
            )
            .expect("compiles"),
        );
        let part = KeyPartition::of(&p).expect("partitioned");
        let mut r = KeyRouter::new(&p, &part, 2, 0, Arc::new(KeyPlacement::balanced(2)));
        let recs: Vec<SourceRecord> = (0..1000)
            .map(|i| SourceRecord {
                payload: Payload::Bytes(bytes::Bytes::from(format!(
                    r#"{{"deviceId":"d{}","temperature":{}.25,"humidity":{},"ts":{}}}"#,
                    i % 200,
                    i % 40,
                    i % 100,
                    1_700_000_000_000u64 + i
                ))),
                meta: None,
                ts: 0,
            })
            .collect();
        let mut owned = 0;
        for _ in 0..100 {
            for rec in &recs {
                owned += usize::from(r.owner(rec) == 0);
            }
        }
        assert!(owned > 0);
    }
}
