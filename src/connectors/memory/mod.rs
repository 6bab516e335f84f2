//! The `memory` connector: in-process topics, so the output of one rule can
//! feed another (rule pipelines) and tests can publish and read without a
//! broker. Topic filters use MQTT wildcards (`+` one level, `#` the rest).
//! Delivery waits for slow subscribers (bounded queues): nothing published is
//! dropped while a subscriber lives.

pub mod sink;
pub mod source;

use oort_operators::value::Map;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A published record with its topic.
pub type MemoryMessage = (Arc<str>, Arc<Map>);

/// The in-process topic bus.
#[derive(Default)]
pub struct MemoryBus {
    subscribers: Mutex<Vec<(String, mpsc::Sender<MemoryMessage>)>>,
}

impl MemoryBus {
    /// Subscribes to a topic filter; messages queue up to `capacity`.
    pub fn subscribe(&self, filter: &str, capacity: usize) -> mpsc::Receiver<MemoryMessage> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        if let Ok(mut subs) = self.subscribers.lock() {
            subs.retain(|(_, s)| !s.is_closed());
            subs.push((filter.to_string(), tx));
        }
        rx
    }

    /// Publishes records to every matching subscriber, waiting for room.
    pub async fn publish(&self, topic: &str, records: Vec<Map>) {
        let targets: Vec<mpsc::Sender<MemoryMessage>> = match self.subscribers.lock() {
            Ok(subs) => {
                subs.iter().filter(|(f, s)| !s.is_closed() && topic_matches(f, topic)).map(|(_, s)| s.clone()).collect()
            }
            Err(_) => return,
        };
        let topic: Arc<str> = Arc::from(topic);
        for r in records {
            let r = Arc::new(r);
            for t in &targets {
                let _ = t.send((topic.clone(), r.clone())).await;
            }
        }
    }
}

/// MQTT-style topic matching: `+` matches one level, `#` the remaining levels.
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(topic_matches("devices/+/data", "devices/d1/data"));
        assert!(!topic_matches("devices/+/data", "devices/d1/x"));
        assert!(topic_matches("devices/#", "devices/d1/data"));
        assert!(topic_matches("a", "a"));
        assert!(!topic_matches("a", "a/b"));
    }
}
