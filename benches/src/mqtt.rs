//! The MQTT feed's broker and its ceiling.
//!
//! As WORKLOAD.md asks, the harness starts its own Mosquitto on a free
//! loopback port with `max_queued_messages 0` and `max_queued_bytes 0`
//! (Mosquitto's default queue limits drop QoS 0 bursts silently). When no
//! `mosquitto` binary is found it falls back to a broker already listening
//! on 127.0.0.1:1883 (whose limits it cannot know, and says so); when there
//! is none either, MQTT runs are skipped with that reason, never faked.
//!
//! The broker's ceiling is a plain rumqttc publisher → broker → rumqttc
//! subscriber pair pushing the same N messages at QoS 0 in the same run
//! ([`broker_pair`]); the engine's MQTT figure is reported as a ratio to it.

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A broker to run MQTT feeds through.
pub struct Broker {
    /// `127.0.0.1`.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// What it is (`mosquitto started by the harness`, …).
    pub description: String,
    child: Option<Child>,
}

impl Broker {
    /// `tcp://host:port`.
    pub fn url(&self) -> String {
        format!("tcp://{}:{}", self.host, self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn find_mosquitto() -> Option<PathBuf> {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn free_port() -> Option<u16> {
    TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok().map(|a| a.port())
}

fn reachable(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Starts Mosquitto on a free port (config in `dir`), or finds one on 1883.
pub fn start_broker(dir: &Path) -> Result<Broker, String> {
    if let (Some(bin), Some(port)) = (find_mosquitto(), free_port()) {
        let conf = dir.join("mosquitto-bench.conf");
        let text = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 0\n\
             max_inflight_messages 0\npersistence false\n"
        );
        std::fs::write(&conf, text).map_err(|e| format!("writing {}: {e}", conf.display()))?;
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let mut broker = Broker {
            host: "127.0.0.1".into(),
            port,
            description: format!("mosquitto on 127.0.0.1:{port} started by the harness (max_queued_messages 0)"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if reachable(port) {
                return Ok(broker);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(c) = broker.child.as_mut() {
            let _ = c.kill();
        }
    }
    if reachable(1883) {
        return Ok(Broker {
            host: "127.0.0.1".into(),
            port: 1883,
            description: "the broker already on 127.0.0.1:1883 (its queue limits are unknown)".into(),
            child: None,
        });
    }
    Err("no mosquitto binary to start and nothing listening on 127.0.0.1:1883".into())
}

fn options(id: &str, broker: &Broker) -> MqttOptions {
    let mut o = MqttOptions::new(format!("{id}-{}", std::process::id()), broker.host.clone(), broker.port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(1 << 20, 1 << 20);
    o.set_clean_session(true);
    o
}

/// Publishes every line of `data` to `topic` at QoS 0, as fast as the
/// client goes. Returns when every message is handed to the socket.
pub async fn publish_lines(broker: &Broker, id: &str, topic: &str, data: Arc<Vec<u8>>) -> Result<u64, String> {
    let (client, eventloop) = AsyncClient::new(options(id, broker), 4096);
    let driver = tokio::spawn(drive(eventloop));
    let mut sent = 0u64;
    for line in crate::workload::lines(&data) {
        client.publish(topic, QoS::AtMostOnce, false, line.to_vec()).await.map_err(|e| format!("publish: {e}"))?;
        sent += 1;
    }
    // A disconnect queued behind the publishes: the event loop ends once all are written.
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(30), driver).await;
    Ok(sent)
}

/// Polls a publisher's event loop until it disconnects or fails.
async fn drive(mut eventloop: EventLoop) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
}

/// A subscriber counting messages on a topic.
pub struct Counter {
    task: tokio::task::JoinHandle<()>,
    count: Arc<AtomicU64>,
    /// ns after `origin` of the last message.
    last_ns: Arc<AtomicU64>,
    origin: Instant,
    n: u64,
    stall: Duration,
}

impl Counter {
    /// Subscribes and returns once the subscription is in place; counts
    /// until `n` messages arrived or none came for `stall`.
    pub async fn start(broker: &Broker, topic: &str, n: u64, stall: Duration) -> Result<Self, String> {
        let (client, mut eventloop) = AsyncClient::new(options("oort-bench-sub", broker), 16);
        client.subscribe(topic, QoS::AtMostOnce).await.map_err(|e| format!("subscribe: {e}"))?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("subscriber: {e}")),
                Err(_) => return Err("subscriber: no SUBACK in 5 s".into()),
            }
        }
        let origin = Instant::now();
        let count = Arc::new(AtomicU64::new(0));
        let last_ns = Arc::new(AtomicU64::new(0));
        let (c, l) = (count.clone(), last_ns.clone());
        // No timer per message: the stall watchdog lives in `finish`.
        let task = tokio::spawn(async move {
            let _client = client;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(_))) => {
                        l.store(origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        if c.fetch_add(1, Ordering::Relaxed) + 1 >= n {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Ok(Self { task, count, last_ns, origin, n, stall })
    }

    /// Messages received and the time of the last one.
    pub async fn finish(self) -> (u64, Option<Instant>) {
        let mut seen = self.count.load(Ordering::Relaxed);
        let mut since = Instant::now();
        while !self.task.is_finished() && seen < self.n {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.count.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                since = Instant::now();
            } else if since.elapsed() >= self.stall {
                break;
            }
        }
        self.task.abort();
        let count = self.count.load(Ordering::Relaxed);
        let last = (count > 0).then(|| self.origin + Duration::from_nanos(self.last_ns.load(Ordering::Relaxed)));
        (count, last)
    }
}

/// What the plain publisher → subscriber pair pushed through the broker.
#[derive(Debug, Clone, Copy)]
pub struct PairResult {
    /// Messages published.
    pub sent: u64,
    /// Messages received.
    pub received: u64,
    /// From the first publish to the last receipt, seconds.
    pub secs: f64,
}

impl PairResult {
    /// Messages per second through the broker.
    pub fn per_sec(&self) -> f64 {
        self.received as f64 / self.secs.max(1e-9)
    }
}

/// Runs the pair over `data`'s lines.
pub async fn broker_pair(broker: &Broker, data: Arc<Vec<u8>>, n: u64) -> Result<PairResult, String> {
    let topic = format!("oortbench/pair/{}", std::process::id());
    let counter = Counter::start(broker, &topic, n, Duration::from_secs(5)).await?;
    let t0 = Instant::now();
    let sent = publish_lines(broker, "oort-bench-pub", &topic, data).await?;
    let (received, last) = counter.finish().await;
    let secs = last.map(|l| l.duration_since(t0).as_secs_f64()).unwrap_or(f64::NAN);
    Ok(PairResult { sent, received, secs })
}

/// WORKLOAD.md's ceiling: `mosquitto_pub -l` reading the JSON-lines file →
/// broker → a rumqttc subscriber, QoS 0. `None` when `mosquitto_pub` is not installed.
pub async fn mosquitto_pub_pair(broker: &Broker, file: &Path, n: u64) -> Option<Result<PairResult, String>> {
    let bin =
        ["/usr/bin/mosquitto_pub", "/usr/local/bin/mosquitto_pub"].iter().map(PathBuf::from).find(|p| p.is_file())?;
    let topic = format!("oortbench/mosquitto_pub/{}", std::process::id());
    let counter = match Counter::start(broker, &topic, n, Duration::from_secs(5)).await {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    let (host, port, file) = (broker.host.clone(), broker.port.to_string(), file.to_path_buf());
    let t0 = Instant::now();
    let publisher = tokio::task::spawn_blocking(move || {
        let input = std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        Command::new(bin)
            .args(["-h", &host, "-p", &port, "-t", &topic, "-q", "0", "-l"])
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("mosquitto_pub: {e}"))
    });
    let status = match publisher.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Some(Err(e)),
        Err(e) => return Some(Err(e.to_string())),
    };
    let (received, last) = counter.finish().await;
    if !status.success() {
        return Some(Err(format!("mosquitto_pub exited with {status}")));
    }
    let secs = last.map(|l| l.duration_since(t0).as_secs_f64()).unwrap_or(f64::NAN);
    Some(Ok(PairResult { sent: n, received, secs }))
}
