//! The cache of a failing sink (eKuiper's `enableCache`): messages that
//! could not be delivered wait here, oldest first, until the target is back.
//!
//! Every cached message is appended to a JSON-lines log file as it is
//! cached (write-through), and the offset of the oldest undelivered line is
//! kept in a small `.pos` file beside it, rewritten on each delivery. Up to
//! `memoryCacheThreshold` of the oldest messages are also held in memory
//! (read ahead from the log), so resending does not read the disk per
//! message; at most `memoryCacheThreshold + maxDiskCache` messages wait in
//! all, and when that is reached the cache refuses more and the sink stops
//! taking input (backpressure) instead of dropping anything.
//!
//! A *persistent* cache (one per rule and sink, under the data directory)
//! survives a stop, a restart or a kill of the server: reopening it finds
//! the undelivered lines after the recorded offset, in order. Delivery is
//! at least once: a kill between a delivery and the `.pos` update resends
//! that message after the restart; a line cut short by a kill is discarded.
//! A non-persistent cache (no data directory) removes its files when
//! dropped. The log is compacted when its delivered prefix passes
//! [`COMPACT_BYTES`], and removed whenever the cache empties.

use serde_json::Value as Json;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Delivered bytes at the head of the log that trigger a compaction.
pub const COMPACT_BYTES: u64 = 4 << 20;

/// A FIFO of undelivered messages, logged to disk, the oldest in memory.
pub struct SinkCache {
    path: PathBuf,
    pos_path: PathBuf,
    persistent: bool,
    memory_max: usize,
    capacity: usize,
    /// Oldest undelivered messages with their line length in the log.
    ahead: VecDeque<(Json, u64)>,
    /// Byte offset of the oldest undelivered line.
    committed: u64,
    /// Byte offset up to which lines are in `ahead`.
    loaded_to: u64,
    /// Byte length of the log.
    end: u64,
    /// Undelivered messages.
    count: usize,
    log: Option<File>,
}

impl SinkCache {
    /// A cache holding `memory_max` messages in memory and `disk_max` more
    /// in the log at `path`. A `persistent` cache first takes over what a
    /// previous run left in `path`.
    pub fn new(memory_max: usize, disk_max: usize, path: PathBuf, persistent: bool) -> Self {
        let mut pos_path = path.clone().into_os_string();
        pos_path.push(".pos");
        let memory_max = memory_max.max(1);
        let mut c = Self {
            path,
            pos_path: PathBuf::from(pos_path),
            persistent,
            memory_max,
            capacity: memory_max.saturating_add(disk_max),
            ahead: VecDeque::new(),
            committed: 0,
            loaded_to: 0,
            end: 0,
            count: 0,
            log: None,
        };
        if persistent {
            if let Err(e) = c.recover() {
                tracing::error!(path = %c.path.display(), error = %e, "sink cache: cannot read what the last run left; starting empty");
                c.reset();
            }
        } else {
            c.reset();
        }
        c
    }

    /// Reads the log left by a previous run: the offset, then the count of
    /// whole lines after it (a torn last line is cut off).
    fn recover(&mut self) -> std::io::Result<()> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_file(&self.pos_path);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let len = f.metadata()?.len();
        let committed = std::fs::read_to_string(&self.pos_path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|p| *p <= len)
            .unwrap_or(0);
        f.seek(SeekFrom::Start(committed))?;
        let mut r = BufReader::new(f);
        let (mut count, mut whole_end, mut line) = (0usize, committed, Vec::new());
        loop {
            line.clear();
            let n = r.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            whole_end += n as u64;
            count += 1;
        }
        if whole_end < len {
            tracing::warn!(path = %self.path.display(), "sink cache: dropping a line cut short by the last stop");
            OpenOptions::new().write(true).open(&self.path)?.set_len(whole_end)?;
        }
        self.committed = committed;
        self.loaded_to = committed;
        self.end = whole_end;
        self.count = count;
        if count == 0 {
            self.reset();
        } else {
            tracing::info!(path = %self.path.display(), count, "sink cache: resending what the last run left");
        }
        Ok(())
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether another message fits.
    pub fn has_room(&self) -> bool {
        self.count < self.capacity
    }

    /// Where the log lives.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Appends a message; gives it back when the cache is full or the log
    /// cannot be written.
    pub fn push(&mut self, m: Json) -> Result<(), Json> {
        if !self.has_room() {
            return Err(m);
        }
        let mut line = match serde_json::to_vec(&m) {
            Ok(l) => l,
            Err(_) => return Err(m),
        };
        line.push(b'\n');
        if let Err(e) = self.append(&line) {
            tracing::warn!(path = %self.path.display(), error = %e, "sink cache: cannot write to disk");
            return Err(m);
        }
        let len = line.len() as u64;
        // Everything before this line is in memory: keep it there too.
        if self.loaded_to == self.end && self.ahead.len() < self.memory_max {
            self.ahead.push_back((m, len));
            self.loaded_to += len;
        }
        self.end += len;
        self.count += 1;
        Ok(())
    }

    fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.log.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            self.log = Some(OpenOptions::new().create(true).append(true).open(&self.path)?);
        }
        match self.log.as_mut() {
            Some(f) => f.write_all(line),
            None => Err(std::io::Error::other("cache log not open")),
        }
    }

    /// The oldest message, reading ahead from the log when memory is empty.
    pub fn front(&mut self) -> Option<&Json> {
        if self.ahead.is_empty()
            && self.count > 0
            && let Err(e) = self.read_ahead()
        {
            tracing::error!(path = %self.path.display(), error = %e, "sink cache: cannot read back from disk; its messages are lost");
            self.reset();
        }
        self.ahead.front().map(|(m, _)| m)
    }

    fn read_ahead(&mut self) -> std::io::Result<()> {
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.loaded_to))?;
        let mut r = BufReader::new(f.take(self.end - self.loaded_to));
        let mut line = String::new();
        while self.ahead.len() < self.memory_max {
            line.clear();
            let n = r.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            let m: Json = serde_json::from_str(line.trim_end()).map_err(std::io::Error::other)?;
            self.ahead.push_back((m, n as u64));
            self.loaded_to += n as u64;
        }
        if self.ahead.is_empty() {
            return Err(std::io::Error::other(format!("{} messages missing from the log", self.count)));
        }
        Ok(())
    }

    /// Forgets every message (and the files).
    pub fn clear(&mut self) {
        self.reset();
    }

    /// Removes the oldest message (it was delivered).
    pub fn pop(&mut self) {
        let Some((_, len)) = self.ahead.pop_front() else { return };
        self.count -= 1;
        self.committed += len;
        if self.count == 0 {
            self.reset();
            return;
        }
        if self.committed >= COMPACT_BYTES
            && let Err(e) = self.compact()
        {
            tracing::warn!(path = %self.path.display(), error = %e, "sink cache: compaction failed");
        }
        if self.persistent
            && let Err(e) = std::fs::write(&self.pos_path, self.committed.to_string())
        {
            tracing::warn!(path = %self.pos_path.display(), error = %e, "sink cache: cannot record progress");
        }
    }

    /// Rewrites the log without its delivered head.
    fn compact(&mut self) -> std::io::Result<()> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut src = File::open(&self.path)?;
            src.seek(SeekFrom::Start(self.committed))?;
            let mut dst = File::create(&tmp)?;
            std::io::copy(&mut src.take(self.end - self.committed), &mut dst)?;
            dst.sync_all()?;
        }
        self.log = None;
        // The offset goes to 0 first: a kill between the two steps resends
        // the head again rather than skipping lines.
        if self.persistent {
            std::fs::write(&self.pos_path, "0")?;
        }
        std::fs::rename(&tmp, &self.path)?;
        self.loaded_to -= self.committed;
        self.end -= self.committed;
        self.committed = 0;
        Ok(())
    }

    fn reset(&mut self) {
        self.ahead.clear();
        self.log = None;
        self.count = 0;
        self.committed = 0;
        self.loaded_to = 0;
        self.end = 0;
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(&self.pos_path);
    }
}

impl Drop for SinkCache {
    fn drop(&mut self) {
        if !self.persistent {
            self.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("oort-cache-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    fn drain(c: &mut SinkCache) -> Vec<Json> {
        let mut out = Vec::new();
        while let Some(m) = c.front() {
            out.push(m.clone());
            c.pop();
        }
        out
    }

    #[test]
    fn spills_to_disk_in_order() {
        let mut c = SinkCache::new(2, 3, temp("spill.jsonl"), false);
        for i in 0..5 {
            c.push(json!(i)).unwrap();
        }
        assert!(!c.has_room());
        assert!(c.push(json!(5)).is_err());
        let mut out = Vec::new();
        while let Some(m) = c.front() {
            out.push(m.clone());
            c.pop();
            if out.len() == 3 {
                c.push(json!(6)).unwrap();
            }
        }
        assert_eq!(out, vec![json!(0), json!(1), json!(2), json!(3), json!(4), json!(6)]);
        assert!(!c.path().exists(), "an empty cache leaves no file");
    }

    #[test]
    fn a_persistent_cache_survives_a_reopen_and_a_torn_line() {
        let path = temp("persist.jsonl");
        {
            let mut c = SinkCache::new(2, 100, path.clone(), true);
            for i in 0..6 {
                c.push(json!({"i": i})).unwrap();
            }
            // two delivered before the "stop"
            c.front();
            c.pop();
            c.front();
            c.pop();
        }
        // a kill in the middle of an append
        OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"i\": 9").unwrap();
        let mut c = SinkCache::new(2, 100, path.clone(), true);
        assert_eq!(c.len(), 4);
        c.push(json!({"i": 6})).unwrap();
        let got = drain(&mut c);
        assert_eq!(got, (2..7).map(|i| json!({"i": i})).collect::<Vec<_>>());
        assert!(!path.exists());
    }

    #[test]
    fn a_non_persistent_cache_starts_empty_and_cleans_up() {
        let path = temp("volatile.jsonl");
        std::fs::write(&path, "1\n2\n").unwrap();
        let mut c = SinkCache::new(1, 10, path.clone(), false);
        assert!(c.is_empty());
        c.push(json!(1)).unwrap();
        c.push(json!(2)).unwrap();
        drop(c);
        assert!(!path.exists());
    }

    #[test]
    fn compaction_keeps_order() {
        let path = temp("compact.jsonl");
        let mut c = SinkCache::new(4, 100_000, path.clone(), true);
        let big = "x".repeat(64 << 10);
        let mut next = 0;
        let mut out = Vec::new();
        // 100 lines of 64 KiB pass COMPACT_BYTES while new ones keep coming.
        for _ in 0..100 {
            c.push(json!({"i": next, "pad": big})).unwrap();
            next += 1;
            c.push(json!({"i": next, "pad": big})).unwrap();
            next += 1;
            out.push(c.front().unwrap()["i"].clone());
            c.pop();
        }
        // 100 lines are live; without compaction the log would hold all 200.
        let line = serde_json::to_vec(&json!({"i": 0, "pad": big})).unwrap().len() as u64 + 8;
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len <= 101 * line + COMPACT_BYTES, "log of {len} bytes was not compacted");
        drop(c);
        let mut c = SinkCache::new(4, 100_000, path, true);
        out.extend(drain(&mut c).into_iter().map(|m| m["i"].clone()));
        assert_eq!(out, (0..next).map(|i| json!(i)).collect::<Vec<_>>());
    }
}
