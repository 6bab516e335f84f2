//! The cache of a failing sink (eKuiper's `enableCache`): messages that
//! could not be delivered wait here, oldest first, until the target is back.
//! Up to `memoryCacheThreshold` messages stay in memory; the overflow goes
//! to a JSON-lines file on disk, up to `maxDiskCache` messages, and comes
//! back into memory in order as the memory part drains. When both are full
//! the cache refuses more and the sink stops taking input (backpressure)
//! instead of dropping anything.

use serde_json::Value as Json;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// A FIFO of undelivered messages: memory first, then disk.
pub struct SinkCache {
    memory: VecDeque<Json>,
    memory_max: usize,
    disk: DiskQueue,
}

struct DiskQueue {
    path: PathBuf,
    max: usize,
    count: usize,
    read_offset: u64,
}

impl SinkCache {
    /// A cache holding `memory_max` messages in memory and `disk_max` in `path`.
    pub fn new(memory_max: usize, disk_max: usize, path: PathBuf) -> Self {
        Self {
            memory: VecDeque::new(),
            memory_max: memory_max.max(1),
            disk: DiskQueue { path, max: disk_max, count: 0, read_offset: 0 },
        }
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.memory.len() + self.disk.count
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether another message fits.
    pub fn has_room(&self) -> bool {
        (self.disk.count == 0 && self.memory.len() < self.memory_max) || self.disk.count < self.disk.max
    }

    /// Appends a message; gives it back when the cache is full or the disk
    /// part cannot be written.
    pub fn push(&mut self, m: Json) -> Result<(), Json> {
        if self.disk.count == 0 && self.memory.len() < self.memory_max {
            self.memory.push_back(m);
            return Ok(());
        }
        if self.disk.count >= self.disk.max {
            return Err(m);
        }
        match self.disk.append(&m) {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(path = %self.disk.path.display(), error = %e, "sink cache: cannot write to disk");
                Err(m)
            }
        }
    }

    /// The oldest message, loading from disk when memory is empty.
    pub fn front(&mut self) -> Option<&Json> {
        if self.memory.is_empty() && self.disk.count > 0 {
            match self.disk.read(self.memory_max) {
                Ok(ms) => self.memory.extend(ms),
                Err(e) => {
                    tracing::error!(path = %self.disk.path.display(), error = %e, "sink cache: cannot read back from disk");
                    self.disk.reset();
                }
            }
        }
        self.memory.front()
    }

    /// Removes the oldest message.
    pub fn pop(&mut self) {
        self.memory.pop_front();
    }
}

impl DiskQueue {
    fn append(&mut self, m: &Json) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        let mut line = serde_json::to_vec(m)?;
        line.push(b'\n');
        f.write_all(&line)?;
        self.count += 1;
        Ok(())
    }

    fn read(&mut self, n: usize) -> std::io::Result<Vec<Json>> {
        let mut f = std::fs::File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.read_offset))?;
        let mut r = BufReader::new(f);
        let mut out = Vec::new();
        let mut line = String::new();
        while out.len() < n && self.count > 0 {
            line.clear();
            let read = r.read_line(&mut line)?;
            if read == 0 {
                break;
            }
            self.read_offset += read as u64;
            self.count -= 1;
            out.push(serde_json::from_str(line.trim_end())?);
        }
        if self.count == 0 {
            self.reset();
        }
        Ok(out)
    }

    fn reset(&mut self) {
        self.count = 0;
        self.read_offset = 0;
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for DiskQueue {
    fn drop(&mut self) {
        if self.count > 0 || self.read_offset > 0 {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spills_to_disk_in_order() {
        let path = std::env::temp_dir().join(format!("oort-cache-test-{}.jsonl", std::process::id()));
        let mut c = SinkCache::new(2, 3, path);
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
    }
}
