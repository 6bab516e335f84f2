//! Output rows handed back by sinks, for workers to fill again: a row-at-a-
//! time rule emits each result as its own one-row list, built on a worker
//! thread and dropped on a sink thread — two allocations made on one thread
//! and freed on another per result row, which the system allocator serves
//! with arena locks and consolidation (about 13 % of Q1's worker samples
//! and 60 % of its sink's; see `benches/report/PROFILE.md`, session 10).
//!
//! A sink done with emissions gives them to a [`Recycler`] (or a batch to
//! [`recycle`]): their one-row lists (values set to null, field names kept)
//! go, in bundles, to a small process-wide pool. A worker takes a whole
//! bundle when its own stock runs out ([`one_row_list`]: one lock per bundle)
//! and fills each row in place: a field whose name is the same `Arc` as the
//! one it had keeps it (no reference count traffic), any other is replaced.
//! The pool holds at most [`POOL_BUNDLES`] bundles of at most
//! [`BUNDLE_LISTS`] lists; anything else is dropped as before. Nothing
//! depends on the pool being fed: with no sink recycling, lists are
//! allocated as they always were.
//!
//! The rows of a list of several (a window's results) go the same way, one
//! by one, to a second pool of rows that a projection fills again
//! ([`recycled_row`]): a window's rows are built on its workers and dropped
//! on the sink's thread too, each with its field names' reference counts
//! (one counter per name, shared by every worker) raised on one core and
//! lowered on another.

use crate::query::{Emission, OutRow};
use crate::value::Value;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::thread::LocalKey;

/// Bundles the process-wide pool keeps.
pub const POOL_BUNDLES: usize = 16;
/// Lists a bundle holds (a [`Recycler`] hands them over this many at a time).
pub const BUNDLE_LISTS: usize = 1024;
/// Fields a recycled row may have room for (wider rows are dropped).
const MAX_FIELDS: usize = 64;

static POOL: Mutex<Vec<Vec<Vec<OutRow>>>> = Mutex::new(Vec::new());
/// Bundles of rows of several-row lists, at most [`POOL_BUNDLES`].
static ROW_POOL: Mutex<Vec<Vec<OutRow>>> = Mutex::new(Vec::new());

thread_local! {
    /// This worker thread's stock of recycled lists.
    static STOCK: RefCell<Vec<Vec<OutRow>>> = const { RefCell::new(Vec::new()) };
    /// This worker thread's stock of recycled rows.
    static ROW_STOCK: RefCell<Vec<OutRow>> = const { RefCell::new(Vec::new()) };
}

/// Gathers the result rows of emissions a sink is done with (values set to
/// null, names kept) — one-row lists as they are, the rows of longer lists
/// one by one — and hands them to their pools a bundle at a time; what it
/// holds when dropped goes too. Other emissions are dropped.
#[derive(Debug, Default)]
pub struct Recycler {
    bundle: Vec<Vec<OutRow>>,
    /// Rows of several-row lists.
    rows: Vec<OutRow>,
}

/// Sets a row's values to null (names kept); `false` for a row too wide to keep.
fn emptied(row: &mut OutRow) -> bool {
    if row.capacity() > MAX_FIELDS {
        return false;
    }
    for (_, v) in row.iter_mut() {
        *v = Value::Null;
    }
    true
}

impl Recycler {
    /// Takes `e` back.
    pub fn give(&mut self, e: Emission) {
        let (Emission::Rows(mut list) | Emission::Delayed { rows: mut list, .. }) = e else { return };
        if list.len() > 1 {
            for mut row in list {
                if emptied(&mut row) {
                    self.rows.push(row);
                    if self.rows.len() >= BUNDLE_LISTS {
                        self.flush_rows();
                    }
                }
            }
            return;
        }
        if list.len() != 1 || !emptied(&mut list[0]) {
            return;
        }
        self.bundle.push(list);
        if self.bundle.len() >= BUNDLE_LISTS {
            self.flush();
        }
    }

    /// Hands what it holds to the pools (dropped when a pool is full).
    pub fn flush(&mut self) {
        self.flush_rows();
        hand_over(&POOL, &mut self.bundle);
    }

    fn flush_rows(&mut self) {
        hand_over(&ROW_POOL, &mut self.rows);
    }
}

/// Moves `held`, when not empty, into `pool` as one bundle (dropped when the
/// pool already holds [`POOL_BUNDLES`]).
fn hand_over<T>(pool: &Mutex<Vec<Vec<T>>>, held: &mut Vec<T>) {
    if held.is_empty() {
        return;
    }
    let bundle = std::mem::take(held);
    if let Ok(mut pool) = pool.lock()
        && pool.len() < POOL_BUNDLES
    {
        pool.push(bundle);
    }
}

/// One recycled item from this thread's `stock`, which takes a whole bundle
/// from `pool` when it runs out (one lock per bundle); `None` when both are empty.
fn take_recycled<T: 'static>(stock: &'static LocalKey<RefCell<Vec<T>>>, pool: &Mutex<Vec<Vec<T>>>) -> Option<T> {
    stock.with(|stock| {
        let mut stock = stock.try_borrow_mut().ok()?;
        if stock.is_empty() {
            let bundle = pool.lock().ok()?.pop()?;
            *stock = bundle;
        }
        stock.pop()
    })
}

impl Drop for Recycler {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Gives the result rows of `batch` back for reuse (see [`Recycler`]; the
/// rest is dropped): a sink done with a batch of emissions.
pub fn recycle(batch: Vec<Emission>) {
    let mut recycler = Recycler::default();
    for e in batch {
        recycler.give(e);
    }
}

/// A list holding one row to fill with a result of `width` fields: a
/// recycled one (its row still holds the names it was last filled with;
/// [`Recycler::give`] keeps one-row lists whole) or a new, empty one.
pub(crate) fn one_row_list(width: usize) -> Vec<OutRow> {
    take_recycled(&STOCK, &POOL).unwrap_or_else(|| vec![Vec::with_capacity(width)])
}

/// A row to fill with a result of `width` fields: a recycled one (still
/// holding the names it was last filled with) or a new, empty one.
pub(crate) fn recycled_row(width: usize) -> OutRow {
    take_recycled(&ROW_STOCK, &ROW_POOL).unwrap_or_else(|| Vec::with_capacity(width))
}

/// Sets field `i` of `row` to `(name, v)`, keeping the name already there
/// when it is the same `Arc`; fields from `i` on that do not match are cut.
#[inline]
pub(crate) fn set_field(row: &mut OutRow, i: usize, name: &Arc<str>, v: Value) {
    if let Some(field) = row.get_mut(i) {
        if Arc::ptr_eq(&field.0, name) {
            field.1 = v;
            return;
        }
        row.truncate(i);
    }
    row.push((name.clone(), v));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn a_row_refilled_with_the_same_names_keeps_them_and_takes_new_values() {
        let (a, b) = (name("a"), name("b"));
        let mut row: OutRow = vec![(a.clone(), Value::Int(1)), (b.clone(), Value::Int(2))];
        set_field(&mut row, 0, &a, Value::Int(3));
        set_field(&mut row, 1, &b, Value::Int(4));
        assert_eq!(row, vec![(a.clone(), Value::Int(3)), (b.clone(), Value::Int(4))]);
        assert!(Arc::ptr_eq(&row[0].0, &a));
    }

    #[test]
    fn a_row_refilled_with_other_names_or_fewer_fields_is_rebuilt() {
        let (a, b, c) = (name("a"), name("b"), name("c"));
        let mut row: OutRow = vec![(a.clone(), Value::Int(1)), (b.clone(), Value::Int(2))];
        // Field 0 skipped (a null under omitted nils): b comes first now.
        set_field(&mut row, 0, &b, Value::Int(5));
        set_field(&mut row, 1, &c, Value::Int(6));
        assert_eq!(row, vec![(b.clone(), Value::Int(5)), (c.clone(), Value::Int(6))]);
        // A name equal in text but another Arc is replaced, not kept.
        let other_b = name("b");
        set_field(&mut row, 0, &other_b, Value::Int(7));
        assert!(Arc::ptr_eq(&row[0].0, &other_b));
        assert_eq!(row.len(), 1);
    }

    #[test]
    fn recycled_lists_come_back_with_null_values_and_windows_rows_come_back_as_rows() {
        let a = name("recycle-test-a");
        let w = name("recycle-test-window");
        let one = vec![vec![(a.clone(), Value::String("x".repeat(100).into()))]];
        let window = vec![vec![(w.clone(), Value::Int(1))], vec![(w.clone(), Value::Int(2))]];
        // Emptied on this thread: the pool is shared with other tests, so
        // take from it until this test's list shows up.
        recycle(vec![Emission::Rows(one), Emission::Rows(window), Emission::Error("e".into())]);
        let mut found = None;
        for _ in 0..POOL_BUNDLES * BUNDLE_LISTS {
            let list = one_row_list(1);
            let Some((n, _)) = list[0].first() else { break };
            if Arc::ptr_eq(n, &a) {
                found = Some(list);
                break;
            }
        }
        let list = found.expect("the one-row list came back");
        assert_eq!(list, vec![vec![(a.clone(), Value::Null)]]);
        // A window's rows are kept one by one (for recycled_row), not as a
        // one-row list; looked at before they reach the shared pool.
        let mut recycler = Recycler::default();
        recycler.give(Emission::Rows(vec![vec![(w.clone(), Value::Int(1))], vec![(w.clone(), Value::Int(2))]]));
        assert!(recycler.bundle.is_empty());
        assert_eq!(recycler.rows, vec![vec![(w.clone(), Value::Null)], vec![(w.clone(), Value::Null)]]);
    }
}
