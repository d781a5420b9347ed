//! `cortex node ...`: the nodes that report to the discovery daemon, with
//! what each publishes (and to how many subscribers), subscribes to and
//! serves.

use cortex::discovery::NodeReport;
use serde_json::Value as Json;

use super::output::outln;
use super::topic::{column, Target};

/// Subcommands of `cortex node`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// List the nodes that report to the daemon: name, process, host, what
    /// each publishes (with its subscribers), subscribes to and serves, and
    /// the age of its last report. Python nodes do not report.
    List {
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
}

/// Runs a `cortex node` subcommand.
pub(crate) async fn run(command: Command) -> Result<(), cortex::Error> {
    match command {
        Command::List { json, target } => list(json, &target).await,
    }
}

/// `cortex node list`: every node's latest report, by name.
async fn list(json: bool, target: &Target) -> Result<(), cortex::Error> {
    let mut nodes = target.client().list_nodes().await?;
    nodes.sort_by(|a, b| {
        (&a.info.name, &a.info.host, a.info.pid).cmp(&(&b.info.name, &b.info.host, b.info.pid))
    });
    if json {
        let nodes: Vec<Json> = nodes.iter().map(to_json).collect();
        outln!("{}", Json::Array(nodes))?;
        return Ok(());
    }
    if nodes.is_empty() {
        outln!(
            "no nodes report to {} (cortex nodes report what they do every few seconds; \
             Python nodes do not)",
            target.address
        )?;
        return Ok(());
    }
    let rows: Vec<[String; 7]> = nodes.iter().map(row).collect();
    let headers = [
        "NODE",
        "PID",
        "HOST",
        "PUBLISHES",
        "SUBSCRIBES",
        "SERVES",
        "AGE",
    ];
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| column(rows.iter().map(|r| r[i].as_str()), headers[i]))
        .collect();
    let line = |cells: [&str; 7]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:w$}  ", w = widths[i]));
            }
        }
        text
    };
    outln!("{}", line(headers))?;
    for r in &rows {
        outln!("{}", line(r.each_ref().map(String::as_str)))?;
    }
    Ok(())
}

/// One table row: lists joined by ", ", `-` when empty.
fn row(node: &NodeReport) -> [String; 7] {
    let info = &node.info;
    let joined = |items: Vec<String>| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(", ")
        }
    };
    let publishes = info
        .publishes
        .iter()
        .map(|p| {
            let s = if p.subscribers == 1 { "" } else { "s" };
            format!("{} ({} sub{s})", p.topic, p.subscribers)
        })
        .collect();
    [
        info.name.clone(),
        info.pid.to_string(),
        if info.host.is_empty() {
            "-".to_owned()
        } else {
            info.host.clone()
        },
        joined(publishes),
        joined(info.subscribes.iter().map(|s| s.topic.clone()).collect()),
        joined(info.serves.iter().map(|s| s.name.clone()).collect()),
        format!("{:.1}s", node.age.as_secs_f64()),
    ]
}

/// A node's report as JSON (keys like `cortex service list --json`).
fn to_json(node: &NodeReport) -> Json {
    let info = &node.info;
    serde_json::json!({
        "name": info.name,
        "instance": info.instance,
        "pid": info.pid,
        "host": info.host,
        "age_ms": u64::try_from(node.age.as_millis()).unwrap_or(u64::MAX),
        "interval_ms": u64::try_from(info.interval.as_millis()).unwrap_or(u64::MAX),
        "publishes": info.publishes.iter().map(|p| serde_json::json!({
            "topic": p.topic,
            "type": p.message_type,
            "address": p.address,
            "subscribers": p.subscribers,
            "shared_memory_subscribers": p.shared_memory_subscribers,
        })).collect::<Vec<_>>(),
        "subscribes": info.subscribes.iter().map(|s| serde_json::json!({
            "topic": s.topic,
            "type": s.message_type,
        })).collect::<Vec<_>>(),
        "serves": info.serves.iter().map(|s| serde_json::json!({
            "name": s.name,
            "types": s.message_type,
        })).collect::<Vec<_>>(),
    })
}
