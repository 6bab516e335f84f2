//! Turning source payloads into rows.
//!
//! Connectors hand the dataflow [`SourceRecord`]s (raw JSON bytes, an already
//! decoded object, or binary bytes) with metadata and a timestamp, or, when
//! they read records in blocks (lines of a file), a [`RecordBlock`]: byte
//! ranges of one buffer, with no refcounted slice per record. The
//! [`SourceDecoder`] of each rule input decodes only the fields the rule reads
//! into their slots and applies the stream's schema: converting what eKuiper
//! converts, and, under `STRICT_VALIDATION`, refusing what does not match with
//! eKuiper's message (`field size type mismatch: cannot convert string(red) to int64`).
//! A record that cannot be decoded becomes an error item, never a panic.

use crate::value::{Map, Meta, Row, RowDecoder, Value};
use oort_compiler::catalog::{FieldType, Format};
use oort_compiler::plan::SourcePlan;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A payload as a connector delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    /// Raw bytes in the stream's FORMAT: a refcounted slice, so a
    /// connector can hand out records that share one read buffer.
    Bytes(bytes::Bytes),
    /// An already decoded object (memory topics, test vectors, plugins).
    Object(Arc<Map>),
}

/// One record from a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The payload.
    pub payload: Payload,
    /// Metadata (`topic`, …), shared by the records of one message.
    pub meta: Option<Arc<Meta>>,
    /// Arrival (processing) time in ms; event time is read from the payload.
    pub ts: u64,
}

impl Payload {
    /// The payload, borrowed.
    pub fn as_ref(&self) -> PayloadRef<'_> {
        match self {
            Payload::Bytes(b) => PayloadRef::Bytes(b),
            Payload::Object(m) => PayloadRef::Object(m),
        }
    }
}

impl SourceRecord {
    /// The record, borrowed.
    pub fn as_ref(&self) -> RecordRef<'_> {
        RecordRef { payload: self.payload.as_ref(), meta: &self.meta, ts: self.ts }
    }
}

/// A payload, borrowed from a [`SourceRecord`] or a [`RecordBlock`].
#[derive(Debug, Clone, Copy)]
pub enum PayloadRef<'a> {
    /// Raw bytes in the stream's FORMAT.
    Bytes(&'a [u8]),
    /// An already decoded object.
    Object(&'a Arc<Map>),
}

/// One record, borrowed: what a decoder reads.
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// The payload.
    pub payload: PayloadRef<'a>,
    /// Metadata.
    pub meta: &'a Option<Arc<Meta>>,
    /// Arrival (processing) time in ms.
    pub ts: u64,
}

/// Records that are byte ranges of one buffer, read at one time with the same
/// metadata: the lines of a block read from a file, messages framed in one
/// read. Handing the engine a block rather than a [`SourceRecord`] per
/// record saves a refcounted slice per record (an atomic increment where it
/// is made and a decrement where it is dropped, on a counter every record of
/// the buffer shares) and the record's 56 bytes; a key-partitioned feed then
/// splits a block into blocks of the same buffer, each with its records'
/// ranges.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordBlock {
    buf: bytes::Bytes,
    spans: Vec<(u32, u32)>,
    meta: Option<Arc<Meta>>,
    ts: u64,
}

impl RecordBlock {
    /// An empty block of records in `buf`, arrived at `ts`, with `meta`.
    pub fn new(buf: bytes::Bytes, meta: Option<Arc<Meta>>, ts: u64) -> Self {
        Self { buf, spans: Vec::new(), meta, ts }
    }

    /// An empty block like this one (same buffer, metadata and time) with
    /// room for `n` records.
    pub fn empty_like(&self, n: usize) -> Self {
        Self { buf: self.buf.clone(), spans: Vec::with_capacity(n), meta: self.meta.clone(), ts: self.ts }
    }

    /// Adds the record at `range` of the buffer; `false` (and nothing added)
    /// when the range is not within the buffer or past 4 GiB.
    pub fn push(&mut self, range: std::ops::Range<usize>) -> bool {
        let fits = range.start <= range.end && range.end <= self.buf.len();
        match (u32::try_from(range.start), u32::try_from(range.end)) {
            (Ok(s), Ok(e)) if fits => {
                self.spans.push((s, e));
                true
            }
            _ => false,
        }
    }

    /// Records in the block.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the block holds no record.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The payload of record `i`.
    pub fn payload(&self, i: usize) -> Option<&[u8]> {
        self.span_bytes(*self.spans.get(i)?)
    }

    /// The bytes of the buffer a span covers.
    #[inline]
    fn span_bytes(&self, (s, e): (u32, u32)) -> Option<&[u8]> {
        self.buf.get(s as usize..e as usize)
    }

    /// Record `i`.
    pub fn record(&self, i: usize) -> Option<RecordRef<'_>> {
        Some(RecordRef { payload: PayloadRef::Bytes(self.payload(i)?), meta: &self.meta, ts: self.ts })
    }

    /// Splits the block by `owner` of each record's payload into `parts`
    /// blocks of the same buffer (record order kept within each); records
    /// whose owner is `parts` or more go to the last.
    #[inline]
    fn split<O: RecordOwner + ?Sized>(&self, parts: usize, owner: &mut O) -> Vec<RecordBlock> {
        let parts = parts.max(1);
        let mut out: Vec<RecordBlock> = (0..parts).map(|_| self.empty_like(part_capacity(self.len(), parts))).collect();
        for &(s, e) in &self.spans {
            let w = owner.part_of(PayloadRef::Bytes(self.span_bytes((s, e)).unwrap_or_default())).min(parts - 1);
            if let Some(part) = out.get_mut(w) {
                part.spans.push((s, e));
            }
        }
        out
    }
}

/// Room to reserve for one of `parts` parts of `len` records split by key:
/// an even share and an eighth more, so uneven keys seldom grow a part.
fn part_capacity(len: usize, parts: usize) -> usize {
    len / parts + len / 8
}

/// Which part of a split batch a record goes to ([`SourceBatch::split`]):
/// any `FnMut(PayloadRef) -> usize`, or a type of its own. A type whose
/// `part_of` is `#[inline(always)]` has it inlined into the split's loop,
/// which a closure with a large body is not (the key router's is).
pub trait RecordOwner {
    /// The part of the record with `payload`.
    fn part_of(&mut self, payload: PayloadRef<'_>) -> usize;
}

impl<F: FnMut(PayloadRef<'_>) -> usize> RecordOwner for F {
    #[inline]
    fn part_of(&mut self, payload: PayloadRef<'_>) -> usize {
        self(payload)
    }
}

/// The records of one batch a source hands the engine: records one by one,
/// or a block of one buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceBatch {
    /// Records, each with its own payload.
    Records(Vec<SourceRecord>),
    /// Byte ranges of one buffer.
    Block(RecordBlock),
}

impl From<Vec<SourceRecord>> for SourceBatch {
    fn from(records: Vec<SourceRecord>) -> Self {
        SourceBatch::Records(records)
    }
}

impl From<RecordBlock> for SourceBatch {
    fn from(block: RecordBlock) -> Self {
        SourceBatch::Block(block)
    }
}

impl SourceBatch {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        match self {
            SourceBatch::Records(r) => r.len(),
            SourceBatch::Block(b) => b.len(),
        }
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record `i`.
    pub fn record(&self, i: usize) -> Option<RecordRef<'_>> {
        match self {
            SourceBatch::Records(r) => r.get(i).map(SourceRecord::as_ref),
            SourceBatch::Block(b) => b.record(i),
        }
    }

    /// The records, in order.
    pub fn iter(&self) -> impl Iterator<Item = RecordRef<'_>> {
        (0..self.len()).filter_map(move |i| self.record(i))
    }

    /// Splits the batch by `owner` of each record's payload into `parts`
    /// batches of the same form (a block into blocks of its buffer), record
    /// order kept within each; records whose owner is `parts` or more go to
    /// the last.
    #[inline]
    pub fn split<O: RecordOwner + ?Sized>(self, parts: usize, owner: &mut O) -> Vec<SourceBatch> {
        let parts = parts.max(1);
        match self {
            SourceBatch::Records(records) => {
                let capacity = part_capacity(records.len(), parts);
                let mut out: Vec<Vec<SourceRecord>> = (0..parts).map(|_| Vec::with_capacity(capacity)).collect();
                for rec in records {
                    let w = owner.part_of(rec.payload.as_ref()).min(parts - 1);
                    out[w].push(rec);
                }
                out.into_iter().map(SourceBatch::Records).collect()
            }
            SourceBatch::Block(block) => block.split(parts, owner).into_iter().map(SourceBatch::Block).collect(),
        }
    }
}

/// What flows between row operators: a row, or an error to report in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Item {
    /// A record.
    Row(Row),
    /// A record that failed; the message is complete (`error in preprocessor: …`).
    Error(Arc<str>),
}

thread_local! {
    /// Emptied item batches, for the worker loop of this thread to refill.
    static SPARE_BATCHES: std::cell::RefCell<Vec<Vec<Item>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Spare batches one thread keeps (a worker round's worth).
const SPARE_BATCHES_MAX: usize = 64;

/// An empty item batch with room for `len` items, recycled when this
/// thread has one: a batch of 1,024 items is ≈ 48 KB, which glibc's malloc
/// serves slowly from a busy heap.
pub fn item_batch(len: usize) -> Vec<Item> {
    let spare = SPARE_BATCHES.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()));
    let mut batch = spare.unwrap_or_default();
    batch.reserve(len);
    batch
}

/// Takes the items out of a batch an operator is done with (their rows'
/// slot vectors go back to the decoders) and keeps the emptied batch for
/// [`item_batch`].
pub fn recycle_batch(batch: &mut Vec<Item>) {
    for item in batch.drain(..) {
        if let Item::Row(row) = item {
            crate::value::recycle_slots(row.slots);
        }
    }
    if batch.capacity() == 0 {
        return;
    }
    let batch = std::mem::take(batch);
    SPARE_BATCHES.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut()
            && s.len() < SPARE_BATCHES_MAX
        {
            s.push(batch);
        }
    });
}

/// Decodes one input's records into rows of the rule's global slot layout.
#[derive(Debug, Clone)]
pub struct SourceDecoder {
    json: RowDecoder,
    format: Format,
    types: Vec<(usize, FieldType)>,
    strict: bool,
    timestamp_slot: Option<usize>,
    delimiter: String,
    names: Vec<String>,
    offset: usize,
    width: usize,
}

impl SourceDecoder {
    /// A decoder for `source` producing rows `width` slots wide. When
    /// `event_time` is set and the stream declares `TIMESTAMP`, row times come
    /// from that field.
    pub fn new(source: &SourcePlan, width: usize, event_time: bool) -> Self {
        let names: Vec<String> = source.slots.iter().map(|s| s.name.clone()).collect();
        let types =
            source.slots.iter().enumerate().filter_map(|(i, s)| s.ty.clone().map(|t| (source.offset + i, t))).collect();
        let timestamp_slot = if event_time {
            source
                .def
                .options
                .timestamp
                .as_ref()
                .and_then(|ts| names.iter().position(|n| n.eq_ignore_ascii_case(ts)).map(|i| source.offset + i))
        } else {
            None
        };
        Self {
            json: RowDecoder::new(&names, source.offset, source.rest_slot, width),
            format: source.def.options.format,
            types,
            strict: source.def.options.strict_validation,
            timestamp_slot,
            delimiter: source.def.options.delimiter.clone().unwrap_or_else(|| ",".into()),
            names,
            offset: source.offset,
            width,
        }
    }

    /// Converts and validates only the slots marked in `used` (indexed by
    /// global slot): eKuiper prunes the columns a rule does not read before
    /// its preprocessor applies the schema, so a bad value in an unread field
    /// is no error.
    ///
    /// The JSON decoder then also skips the fields the rule does not read
    /// (the event-time field is always read).
    pub fn restrict_to(&mut self, used: &[bool]) {
        self.types.retain(|(slot, _)| used.get(*slot).copied().unwrap_or(true));
        let timestamp = self.timestamp_slot;
        self.json.retain_slots(|slot| used.get(slot).copied().unwrap_or(true) || Some(slot) == timestamp);
    }

    /// The event-time slot, if rows take their time from the payload.
    pub fn timestamp_slot(&self) -> Option<usize> {
        self.timestamp_slot
    }

    /// Decodes a record into an item.
    pub fn decode(&self, rec: &SourceRecord) -> Item {
        self.decode_ref(rec.as_ref())
    }

    /// Decodes a borrowed record into an item.
    pub fn decode_ref(&self, rec: RecordRef<'_>) -> Item {
        match self.decode_row(rec) {
            Ok(row) => Item::Row(row),
            Err(e) => Item::Error(Arc::from(format!("error in preprocessor: {e}"))),
        }
    }

    /// The values of the fields this decoder reads, for routing a record
    /// rather than making a row of it: JSON is read only as far as those
    /// fields ([`RowDecoder::decode_leading`]), declared types are applied
    /// leniently, and a record that cannot be decoded gives nulls.
    pub fn decode_leading(&self, payload: PayloadRef<'_>) -> Vec<Value> {
        let mut slots = match (payload, self.format) {
            (PayloadRef::Bytes(b), Format::Json) => self.json.decode_leading(b),
            _ => match self.decode_row(RecordRef { payload, meta: &None, ts: 0 }) {
                Ok(row) => row.slots,
                Err(_) => crate::value::null_slots(self.width),
            },
        };
        for (slot, ty) in &self.types {
            if let Some(v) = slots.get_mut(*slot)
                && !has_type(v, ty)
            {
                *v = convert(std::mem::take(v), ty, false, "").unwrap_or_default();
            }
        }
        slots
    }

    fn decode_row(&self, rec: RecordRef<'_>) -> Result<Row, String> {
        let mut slots = match (rec.payload, self.format) {
            (PayloadRef::Object(m), _) => self.json.place(m),
            (PayloadRef::Bytes(b), Format::Json) => self.json.decode(b)?,
            (PayloadRef::Bytes(b), Format::Binary) => {
                let mut obj = Map::new();
                obj.insert("self".into(), Value::Bytes(Arc::from(b)));
                self.json.place(&obj)
            }
            (PayloadRef::Bytes(b), Format::Delimited) => {
                let text = std::str::from_utf8(b).map_err(|e| format!("invalid utf-8 in delimited payload: {e}"))?;
                let mut obj = Map::new();
                for (i, part) in text.trim_end_matches(['\r', '\n']).split(self.delimiter.as_str()).enumerate() {
                    let name = self.names.get(i).cloned().unwrap_or_else(|| format!("col{i}"));
                    obj.insert(name, Value::str(part));
                }
                self.json.place(&obj)
            }
        };
        for (slot, ty) in &self.types {
            if let Some(v) = slots.get_mut(*slot) {
                if has_type(v, ty) {
                    continue;
                }
                let name = &self.names[*slot - self.offset];
                let decoded_object = matches!(rec.payload, PayloadRef::Object(_));
                *v = convert(std::mem::take(v), ty, self.strict, name).map_err(|e| {
                    // An already decoded object carries Go `int`s (eKuiper's mock and
                    // memory sources), which eKuiper names `int`, not `int64`.
                    if decoded_object { e.replace("cannot convert int64(", "cannot convert int(") } else { e }
                })?;
            }
        }
        debug_assert_eq!(slots.len(), self.width);
        let ts = match self.timestamp_slot {
            Some(s) => match slots.get(s) {
                Some(Value::Int(i)) if *i >= 0 => *i as u64,
                Some(Value::Float(f)) if *f >= 0.0 => *f as u64,
                Some(other) => {
                    return Err(format!("cannot convert timestamp field {} to int64", other.go_describe()));
                }
                None => rec.ts,
            },
            None => rec.ts,
        };
        Ok(Row { slots, meta: rec.meta.clone(), ts })
    }
}

fn type_name(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Bigint => "int64",
        FieldType::Float => "float64",
        FieldType::String => "string",
        FieldType::Datetime => "datetime",
        FieldType::Boolean => "bool",
        FieldType::Bytea => "bytea",
        FieldType::Array(_) => "array",
        FieldType::Struct(_) => "struct",
    }
}

/// Whether `v` is null or already of type `ty`: [`convert`] keeps it as it is.
#[inline]
fn has_type(v: &Value, ty: &FieldType) -> bool {
    matches!(
        (ty, v),
        (_, Value::Null)
            | (FieldType::Bigint, Value::Int(_))
            | (FieldType::Float, Value::Float(_))
            | (FieldType::String, Value::String(_))
            | (FieldType::Boolean, Value::Bool(_))
            | (FieldType::Datetime, Value::Int(_) | Value::String(_))
            | (FieldType::Bytea, Value::Bytes(_))
            | (FieldType::Array(_), Value::Array(_))
            | (FieldType::Struct(_), Value::Object(_))
    )
}

/// Applies a declared field type. Without strict validation a value that does
/// not convert is kept as it is (eKuiper's lenient mode); with it, the record fails.
fn convert(v: Value, ty: &FieldType, strict: bool, field: &str) -> Result<Value, String> {
    if has_type(&v, ty) {
        return Ok(v);
    }
    // `None`: no conversion applies.
    let converted = match (ty, &v) {
        (FieldType::Bigint, Value::Float(f)) if f.fract() == 0.0 => Some(Value::Int(*f as i64)),
        (FieldType::Float, Value::Int(i)) => Some(Value::Float(*i as f64)),
        (FieldType::Boolean, Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        (FieldType::Bytea, Value::String(s)) => crate::value::base64_decode(s).map(|b| Value::Bytes(Arc::from(b))),
        // Delimited payloads arrive as text: parse numbers.
        (FieldType::Bigint, Value::String(s)) if !strict => s.trim().parse::<i64>().ok().map(Value::Int),
        (FieldType::Float, Value::String(s)) if !strict => s.trim().parse::<f64>().ok().map(Value::Float),
        _ => None,
    };
    match converted {
        Some(c) => Ok(c),
        None if strict => {
            Err(format!("field {field} type mismatch: cannot convert {} to {}", v.go_describe(), type_name(ty)))
        }
        None => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oort_compiler::catalog::{FieldDef, StreamDef, StreamKind, StreamOptions};
    use oort_compiler::plan::SlotDef;

    fn plan(strict: bool) -> SourcePlan {
        let fields = vec![
            FieldDef { name: "color".into(), ty: FieldType::String },
            FieldDef { name: "size".into(), ty: FieldType::Bigint },
        ];
        SourcePlan {
            def: StreamDef {
                name: "demo".into(),
                kind: StreamKind::Stream,
                fields: Some(fields.clone()),
                options: StreamOptions { strict_validation: strict, ..Default::default() },
                sql: String::new(),
            },
            alias: "demo".into(),
            offset: 0,
            slots: fields.iter().map(|f| SlotDef { name: f.name.clone(), ty: Some(f.ty.clone()) }).collect(),
            rest_slot: None,
        }
    }

    fn rec(json: &str) -> SourceRecord {
        SourceRecord { payload: Payload::Bytes(bytes::Bytes::copy_from_slice(json.as_bytes())), meta: None, ts: 7 }
    }

    #[test]
    fn strict_validation_names_field_and_type() {
        let d = SourceDecoder::new(&plan(true), 2, false);
        assert_eq!(
            d.decode(&rec(r#"{"color":"blue","size":"red"}"#)),
            Item::Error(Arc::from(
                "error in preprocessor: field size type mismatch: cannot convert string(red) to int64"
            ))
        );
        let Item::Row(r) = d.decode(&rec(r#"{"color":"blue","size":6.0}"#)) else { panic!() };
        assert_eq!(r.slots, vec![Value::str("blue"), Value::Int(6)]);
        assert_eq!(r.ts, 7);
    }

    #[test]
    fn lenient_mode_keeps_values_and_malformed_json_is_an_error() {
        let d = SourceDecoder::new(&plan(false), 2, false);
        let Item::Row(r) = d.decode(&rec(r#"{"color":7,"size":"x"}"#)) else { panic!() };
        assert_eq!(r.slots, vec![Value::Int(7), Value::str("x")]);
        assert!(matches!(d.decode(&rec(r#"{"color":"#)), Item::Error(_)));
    }

    /// The records of a block decode to what the same payloads give as
    /// records of their own, with the block's metadata and arrival time.
    #[test]
    fn a_block_decodes_like_its_records() {
        let lines = [r#"{"color":"blue","size":6}"#, "", r#"{"color":"#, r#"{"size":"7","color":"red"}"#];
        let text = lines.join("\n");
        let meta = Some(Arc::new(Meta::from([("file".to_string(), Value::str("f"))])));
        let mut block = RecordBlock::new(bytes::Bytes::from(text.clone()), meta.clone(), 7);
        let mut at = 0;
        for line in lines {
            assert!(block.push(at..at + line.len()));
            at += line.len() + 1;
        }
        let batch = SourceBatch::from(block);
        assert_eq!(batch.len(), 4);
        for strict in [false, true] {
            let d = SourceDecoder::new(&plan(strict), 2, false);
            let from_block: Vec<Item> = batch.iter().map(|r| d.decode_ref(r)).collect();
            let one_by_one: Vec<Item> =
                lines.iter().map(|l| d.decode(&SourceRecord { meta: meta.clone(), ..rec(l) })).collect();
            assert_eq!(from_block, one_by_one, "strict {strict}");
            assert!(matches!(&from_block[0], Item::Row(r) if r.meta == meta && r.ts == 7));
        }
    }

    #[test]
    fn a_block_refuses_ranges_outside_its_buffer_and_splits_in_order() {
        let mut block = RecordBlock::new(bytes::Bytes::from_static(b"a1 b2 a3 b4 a5"), None, 0);
        assert!(!block.push(10..20), "past the end");
        #[allow(clippy::reversed_empty_ranges)]
        let backwards = 3..1;
        assert!(!block.push(backwards));
        assert!(block.is_empty());
        for k in 0..5 {
            assert!(block.push(3 * k..3 * k + 2));
        }
        let first_b = |p: PayloadRef<'_>| usize::from(matches!(p, PayloadRef::Bytes(b) if b.first() == Some(&b'b')));
        let parts = block.split(2, &mut { first_b });
        let texts = |b: &RecordBlock| (0..b.len()).map(|i| b.payload(i).unwrap().to_vec()).collect::<Vec<_>>();
        assert_eq!(texts(&parts[0]), [b"a1".to_vec(), b"a3".to_vec(), b"a5".to_vec()]);
        assert_eq!(texts(&parts[1]), [b"b2".to_vec(), b"b4".to_vec()]);
        // An owner past the last part goes to the last.
        let parts = block.split(2, &mut |_: PayloadRef<'_>| 9);
        assert_eq!((parts[0].len(), parts[1].len()), (0, 5));
    }
}
