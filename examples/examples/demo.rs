//! The whole pipeline in one command:
//! `cargo run -p cortex-examples --example demo [-- SECONDS]`.
//!
//! Starts the `sensor` and `processor` nodes and a monitor in this process
//! (a discovery daemon too, if none is running), then prints message rates
//! and sensor→processor→monitor latencies once a second. Halfway through,
//! the monitor calls the processor's service `/processor/set_gain`.

mod pipeline;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cortex::prelude::*;
use pipeline::msgs::{SetGain, Summary, PROCESSED, SET_GAIN};

#[tokio::main]
async fn main() -> cortex::Result<()> {
    tracing_subscriber_init();
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);

    let sensor = Node::new(NodeConfig::new("sensor")).await?;
    let processor = Node::new(NodeConfig::new("processor")).await?;
    let monitor = Node::new(NodeConfig::new("monitor")).await?;
    println!(
        "cortex demo: sensor (30 Hz, 640x480 RGB + IMU) → processor → monitor, for {seconds} s"
    );
    println!("discovery: {}\n", monitor.discovery().address());

    let running = [
        tokio::spawn(run(sensor.clone())),
        tokio::spawn(run(processor.clone())),
    ];
    let mut subscriber = monitor.subscriber::<Summary>(PROCESSED.name()).await?;
    // Halfway through, double the processor's gain through its service.
    let caller = monitor.ctx();
    let halfway = Duration::from_secs_f64(seconds as f64 / 2.0);
    let calling = tokio::spawn(async move {
        tokio::time::sleep(halfway).await;
        match caller.call(&SET_GAIN, SetGain { gain: 2.0 }).await {
            Ok(reply) => println!(
                "monitor: called {} with gain 2; the gain was {}",
                SET_GAIN.name(),
                reply.previous
            ),
            Err(e) => eprintln!("monitor: {e}"),
        }
    });

    let start = Instant::now();
    let mut window: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // The processor's gain and calibration, as the last summary says.
    let (mut gain, mut calibration) = (1.0, String::new());
    let mut all: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut next_report = start + Duration::from_secs(1);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while start.elapsed() < Duration::from_secs(seconds) {
        let wait = next_report.saturating_duration_since(Instant::now());
        let received = tokio::select! {
            _ = &mut ctrl_c => break,
            received = tokio::time::timeout(wait, subscriber.recv()) => received,
        };
        if let Ok(received) = received {
            let (summary, _) = received?;
            let latency_us = (now_ns().saturating_sub(summary.sensor_stamp_ns)) as f64 / 1e3;
            (gain, calibration) = (summary.gain, summary.calibration);
            window.entry(summary.source).or_default().push(latency_us);
            continue;
        }
        next_report += Duration::from_secs(1);
        let line: Vec<String> = window
            .iter_mut()
            .map(|(source, lat)| {
                let text = format!(
                    "{source}: {:>3} msg/s, latency p50 {:>6.0} µs",
                    lat.len(),
                    percentile(lat, 0.5)
                );
                all.entry(source.clone()).or_default().append(lat);
                text
            })
            .collect();
        println!(
            "[{:>3.0} s] {}  |  gain {gain}, calibration {calibration:?}",
            start.elapsed().as_secs_f64(),
            line.join("  |  ")
        );
    }
    calling.abort();

    for (source, mut lat) in window {
        all.entry(source).or_default().append(&mut lat);
    }
    sensor.shutdown();
    processor.shutdown();
    for task in running {
        let _ = task.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("\nsummary over {elapsed:.1} s (end-to-end: sensor publish → processor → monitor):");
    for (source, lat) in all.iter_mut() {
        println!(
            "  {source}: {} messages ({:.1}/s), latency p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            lat.len(),
            lat.len() as f64 / elapsed,
            percentile(lat, 0.5),
            percentile(lat, 0.99),
            percentile(lat, 1.0)
        );
    }
    let stats = subscriber.stats();
    println!(
        "  monitor: received {}, dropped {}, decode errors {}",
        stats.received, stats.dropped, stats.decode_errors
    );
    for (name, node) in [("sensor", &sensor), ("processor", &processor)] {
        let s = node.stats();
        println!(
            "  {name}: handled {}, handler errors {}, panics {}, missed timer ticks {}",
            s.handled, s.handler_errors, s.handler_panics, s.missed_ticks
        );
    }
    // Stop the discovery daemon if one of these nodes started it.
    for node in [monitor, processor, sensor] {
        node.close().await;
    }
    Ok(())
}

async fn run(node: Node) {
    if let Err(e) = node.run().await {
        eprintln!("node {} failed: {e}", node.name());
    }
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let i = ((values.len() - 1) as f64 * q).round() as usize;
    values[i]
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn tracing_subscriber_init() {
    // Quiet by default; RUST_LOG=info shows the nodes' story.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
