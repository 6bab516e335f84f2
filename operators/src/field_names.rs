//! Output field names shared by every worker (and every rule) of the
//! process: one `Arc<str>` per distinct name.
//!
//! Each worker builds its own [`crate::query::Projector`] from the rule's
//! plan, and result rows travel between threads: a window's rows are built
//! on the worker that folded their groups, a sink renders and drops them, and
//! [`crate::out_rows`] hands them back to whichever worker asks next, which
//! keeps a field's name when it is the same `Arc` it would put there. With
//! names allocated per worker, a row last filled on the other worker lost
//! its names (a reference-count decrement and increment per field, on
//! counters the other core owns) and a sink that recognises names by pointer
//! (the benchmark's) saw a new name at every switch of worker. [`intern`]
//! gives all of them the same allocation. The table holds weak references,
//! so a name no rule uses any more is freed with its last row; dead entries
//! are swept whenever the table has doubled since the last sweep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

struct Table {
    names: HashMap<Box<str>, Weak<str>>,
    /// Entries after the last sweep (the next sweep comes at twice this).
    swept_at: usize,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// Entries below which the table is never swept.
const MIN_SWEEP: usize = 64;

/// The process's shared `Arc` of `name`.
pub fn intern(name: &str) -> Arc<str> {
    let Ok(mut guard) = TABLE.lock() else {
        // A thread panicked holding the lock: names stay correct unshared.
        return Arc::from(name);
    };
    let table = guard.get_or_insert_with(|| Table { names: HashMap::new(), swept_at: 0 });
    if let Some(live) = table.names.get(name).and_then(Weak::upgrade) {
        return live;
    }
    let fresh: Arc<str> = Arc::from(name);
    table.names.insert(Box::from(name), Arc::downgrade(&fresh));
    if table.names.len() >= MIN_SWEEP.max(2 * table.swept_at) {
        table.names.retain(|_, w| w.strong_count() > 0);
        table.swept_at = table.names.len();
    }
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_names_share_one_allocation_while_in_use() {
        let a = intern("temperature_field_names_test");
        let b = intern("temperature_field_names_test");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "temperature_field_names_test");
        let other = intern("humidity_field_names_test");
        assert!(!Arc::ptr_eq(&a, &other));
        assert_eq!(&*other, "humidity_field_names_test");
        // From another thread too.
        let c = std::thread::spawn(|| intern("temperature_field_names_test")).join().expect("thread");
        assert!(Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn names_no_one_holds_are_freed_and_swept() {
        let weak = Arc::downgrade(&intern("a_name_dropped_at_once"));
        assert_eq!(weak.strong_count(), 0, "the table holds no strong reference");
        // Enough new names to trigger sweeps: the table stays bounded.
        for i in 0..10_000 {
            drop(intern(&format!("swept_name_{i}")));
        }
        let len = TABLE.lock().ok().and_then(|g| g.as_ref().map(|t| t.names.len())).unwrap_or(0);
        assert!(len < 2_000, "dead names are swept ({len} entries)");
        // A dropped name comes back as a fresh, working allocation.
        assert_eq!(&*intern("a_name_dropped_at_once"), "a_name_dropped_at_once");
    }
}
