//! The `oort` command: `oort serve` runs the server; `oort check` runs rule
//! vectors offline; the other subcommands talk to a running server over REST
//! in eKuiper's CLI words (`create stream|table|rule`, `show`, `describe`,
//! `drop`, `start|stop|restart rule`, `getstatus rule`, `gettopo rule`).

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use oort::api::client::{Client, Reply, segment};
use serde_json::{Value as Json, json};
use std::path::PathBuf;
use std::sync::Arc;

/// Prints a line, ignoring a closed stdout (`oort show rules | head`).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

#[derive(Parser)]
#[command(name = "oort", version, about = "Oort: SQL stream processing for IoT and edge data")]
struct Cli {
    /// Server of the client subcommands (default $OORT_SERVER or http://127.0.0.1:9081).
    #[arg(long, global = true)]
    server: Option<String>,
    /// Bearer token of the client subcommands (default $OORT_TOKEN).
    #[arg(long, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server.
    Serve {
        /// Configuration file (default: etc/oort.yaml when it exists).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address, overriding the configuration.
        #[arg(long)]
        bind: Option<String>,
        /// Data directory, overriding the configuration.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Worker threads, overriding the configuration.
        #[arg(long)]
        workers: Option<usize>,
        /// Every process of a timely cluster, `host:port,host:port,…` in process
        /// order, overriding `cluster.hosts`.
        #[arg(long, value_delimiter = ',')]
        cluster_hosts: Option<Vec<String>>,
        /// This process's index in the cluster host list, overriding `cluster.process`.
        #[arg(long)]
        cluster_process: Option<usize>,
    },
    /// Run rule-vector files (eKuiper rule-test format) and report `check: N passed, M failed`.
    Check {
        /// Vector files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also list passing cases.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Create a stream, table or rule: `create stream NAME '(fields) WITH (…)'`,
    /// `create rule NAME '{"sql": …, "actions": […]}'`, or `-f FILE`.
    Create {
        /// stream, table or rule.
        kind: Kind,
        /// Its name (for `-f`, optional for streams and tables whose file names them).
        name: Option<String>,
        /// The definition: `(fields) WITH (options)` or a rule's JSON.
        definition: Option<String>,
        /// Read the definition from a file.
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
    },
    /// List streams, tables or rules.
    Show {
        /// streams, tables or rules.
        what: Plural,
    },
    /// Print a definition.
    Describe {
        /// stream, table or rule.
        kind: Kind,
        /// Its name.
        name: String,
    },
    /// Delete a stream, table or rule.
    Drop {
        /// stream, table or rule.
        kind: Kind,
        /// Its name.
        name: String,
    },
    /// Start a rule.
    Start {
        /// rule.
        kind: RuleWord,
        /// Rule id.
        id: String,
    },
    /// Stop a rule (its definition stays).
    Stop {
        /// rule.
        kind: RuleWord,
        /// Rule id.
        id: String,
    },
    /// Stop and start a rule.
    Restart {
        /// rule.
        kind: RuleWord,
        /// Rule id.
        id: String,
    },
    /// Print a rule's status and metrics.
    Getstatus {
        /// rule.
        kind: RuleWord,
        /// Rule id.
        id: String,
    },
    /// Print a rule's operator graph.
    Gettopo {
        /// rule.
        kind: RuleWord,
        /// Rule id.
        id: String,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Kind {
    Stream,
    Table,
    Rule,
}

#[derive(Clone, Copy, ValueEnum)]
enum Plural {
    Streams,
    Tables,
    Rules,
}

#[derive(Clone, Copy, ValueEnum)]
enum RuleWord {
    Rule,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { paths, verbose } => {
            let (_, failed, _) = oort::check::check(&paths, verbose).map_err(anyhow::Error::msg)?;
            if failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Serve { config, bind, data_dir, workers, cluster_hosts, cluster_process } => {
            let path = config.or_else(|| Some(PathBuf::from("etc/oort.yaml")).filter(|p| p.exists()));
            let mut cfg = match &path {
                Some(p) => oort::config::Config::load(p).map_err(anyhow::Error::msg)?,
                None => oort::config::Config::default(),
            };
            if let Some(b) = bind {
                cfg.rest.bind = b;
            }
            if let Some(d) = data_dir {
                cfg.data_dir = d;
            }
            if let Some(w) = workers {
                cfg.workers = w;
            }
            if let Some(h) = cluster_hosts {
                cfg.cluster.hosts = h;
            }
            if let Some(p) = cluster_process {
                cfg.cluster.process = p;
            }
            cfg.cluster.validate().map_err(anyhow::Error::msg)?;
            init_tracing(&cfg.log_level);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let result = rt.block_on(oort::server::serve(cfg, Arc::new(oort::runtime::clock::SystemClock)));
            // Do not wait on a stuck worker join: shutdown has already given up on it.
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            Ok(result?)
        }
        command => {
            let server = cli
                .server
                .or_else(|| std::env::var("OORT_SERVER").ok())
                .unwrap_or_else(|| "http://127.0.0.1:9081".into());
            let token = cli.token.or_else(|| std::env::var("OORT_TOKEN").ok());
            let client = Client::new(&server, token)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            rt.block_on(client_command(&client, command))
        }
    }
}

fn base(kind: Kind) -> &'static str {
    match kind {
        Kind::Stream => "/streams",
        Kind::Table => "/tables",
        Kind::Rule => "/rules",
    }
}

/// Fails with the server's message unless the reply is 2xx.
fn check(reply: Reply) -> anyhow::Result<Reply> {
    if reply.ok() { Ok(reply) } else { bail!("{} (HTTP {})", reply.message(), reply.status) }
}

fn print_json(reply: &Reply) {
    match reply.json() {
        Some(j) => say!("{}", serde_json::to_string_pretty(&j).unwrap_or_else(|_| reply.body.clone())),
        None => say!("{}", reply.body),
    }
}

async fn client_command(c: &Client, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Create { kind, name, definition, file } => {
            let text = match (&file, &definition) {
                (Some(f), _) => std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
                (None, Some(d)) => d.clone(),
                (None, None) => bail!("give the definition as an argument or with -f FILE"),
            };
            let reply = if kind == Kind::Rule {
                let mut rule: Json = serde_json::from_str(&text).context("the rule definition is not valid JSON")?;
                let Some(obj) = rule.as_object_mut() else { bail!("the rule definition must be a JSON object") };
                if let Some(n) = name {
                    obj.insert("id".into(), Json::from(n));
                }
                check(c.post("/rules", &rule).await?)?
            } else {
                let word = if kind == Kind::Stream { "STREAM" } else { "TABLE" };
                let body = text.trim().trim_end_matches(';');
                let sql = if body.to_ascii_lowercase().starts_with("create ") {
                    body.to_string()
                } else {
                    match (&name, &file) {
                        (Some(n), None) => format!("CREATE {word} {n} {body}"),
                        _ => format!("CREATE {word} {body}"),
                    }
                };
                check(c.post(base(kind), &json!({ "sql": sql })).await?)?
            };
            say!("{}", reply.body);
        }
        Command::Show { what } => {
            let kind = match what {
                Plural::Streams => Kind::Stream,
                Plural::Tables => Kind::Table,
                Plural::Rules => Kind::Rule,
            };
            let reply = check(c.get(base(kind)).await?)?;
            match (kind, reply.json()) {
                (Kind::Rule, _) | (_, None) => print_json(&reply),
                (_, Some(Json::Array(names))) => {
                    for n in names {
                        say!("{}", n.as_str().unwrap_or_default());
                    }
                }
                (_, Some(_)) => print_json(&reply),
            }
        }
        Command::Describe { kind, name } => {
            let path = format!("{}/{}", base(kind), segment(&name));
            let reply = check(c.get(&path).await?)?;
            if kind == Kind::Rule {
                print_json(&reply);
            } else {
                let schema = check(c.get(&format!("{path}/schema")).await?)?;
                describe_stream(&reply, &schema);
            }
        }
        Command::Drop { kind, name } => {
            let reply = check(c.delete(&format!("{}/{}", base(kind), segment(&name))).await?)?;
            say!("{}", reply.body);
        }
        Command::Start { id, .. } => say!("{}", check(rule_action(c, &id, "start").await?)?.body),
        Command::Stop { id, .. } => say!("{}", check(rule_action(c, &id, "stop").await?)?.body),
        Command::Restart { id, .. } => say!("{}", check(rule_action(c, &id, "restart").await?)?.body),
        Command::Getstatus { id, .. } => print_json(&check(c.get(&format!("/rules/{}/status", segment(&id))).await?)?),
        Command::Gettopo { id, .. } => print_json(&check(c.get(&format!("/rules/{}/topo", segment(&id))).await?)?),
        Command::Serve { .. } | Command::Check { .. } => {}
    }
    Ok(())
}

async fn rule_action(c: &Client, id: &str, action: &str) -> anyhow::Result<Reply> {
    Ok(c.request("POST", &format!("/rules/{}/{action}", segment(id)), None).await?)
}

/// eKuiper's `describe stream` layout: the fields, then the options.
fn describe_stream(desc: &Reply, schema: &Reply) {
    say!("Fields");
    say!("{}", "-".repeat(80));
    if let Some(Json::Object(fields)) = schema.json() {
        for (name, t) in fields {
            say!("{name}\t{}", t.get("type").and_then(Json::as_str).unwrap_or("unknown"));
        }
    }
    say!();
    if let Some(Json::Object(opts)) = desc.json().and_then(|d| d.get("Options").cloned()) {
        for (k, v) in opts {
            match v {
                Json::String(s) => say!("{k}: {s}"),
                other => say!("{k}: {other}"),
            }
        }
    }
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}
