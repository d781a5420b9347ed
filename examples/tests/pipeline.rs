//! The sensor and processor examples as separate processes, with a private
//! discovery daemon and socket root: messages flow end to end, the 30 Hz
//! timer keeps its rate, the processor applies the calibration the sensor
//! published on a latched topic before the processor started, its service
//! `/processor/set_gain` changes the gain across processes, and SIGTERM
//! shuts both down cleanly.

use std::time::{Duration, Instant};

use cortex::discovery::Client;
use cortex::Error;

/// The pipeline's own message types, topics and service.
#[allow(dead_code)]
#[path = "../examples/pipeline/msgs.rs"]
mod msgs;

mod common;

use common::{output, sigterm, spawn, wait_exit};
use cortex::messages::ImageMessage;
use msgs::{Calibration, SetGain, Summary, CALIBRATION, CAMERA, PROCESSED, SET_GAIN};

/// Receives summaries until `done` holds for one, at most `within`.
async fn until_summary(
    processed: &mut cortex::Subscriber<Summary>,
    within: Duration,
    what: &str,
    mut done: impl FnMut(&Summary) -> bool,
) -> Summary {
    tokio::time::timeout(within, async {
        loop {
            let (summary, _) = processed.recv().await.unwrap();
            if done(&summary) {
                return summary;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no summary {what} within {within:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensor_and_processor_processes() {
    let common::World {
        dir: _dir,
        discovery,
        root,
        node,
        daemon: daemon_stop,
    } = common::world("cxp").await;

    // The sensor first: its first tick publishes the calibration, once,
    // before the frame this test waits for.
    let mut sensor = spawn("sensor", &discovery, &root);
    let mut camera = node
        .subscriber::<ImageMessage>(CAMERA.name())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), camera.recv())
        .await
        .expect("a camera frame")
        .unwrap();

    // Latched across processes: a subscriber that joins after that one
    // publish gets it at once.
    let mut calibration = node
        .subscriber::<Calibration>(CALIBRATION.name())
        .await
        .unwrap();
    let (cal, header) = tokio::time::timeout(Duration::from_secs(10), calibration.recv())
        .await
        .expect("the latched calibration")
        .unwrap();
    assert_eq!((cal.sensor_id.as_str(), header.sequence), ("imu-0042", 0));
    assert_eq!(calibration.stats().dropped, 0);
    drop(calibration);

    // The processor starts after the calibration was published, and applies it.
    let mut processor = spawn("processor", &discovery, &root);
    let mut processed = node.subscriber::<Summary>(PROCESSED.name()).await.unwrap();
    let mut sources = std::collections::BTreeSet::new();
    until_summary(
        &mut processed,
        Duration::from_secs(20),
        "of both topics with the calibration applied",
        |s| {
            if s.calibration == "imu-0042" {
                sources.insert(s.source.clone());
            }
            sources.len() == 2
        },
    )
    .await;

    // The service, across processes: the gain changes what the processor
    // publishes; a bad gain is refused with the handler's message.
    let ctx = node.ctx();
    let reply = ctx.call(&SET_GAIN, SetGain { gain: 2.0 }).await.unwrap();
    assert_eq!(reply.previous, 1.0);
    let doubled = until_summary(
        &mut processed,
        Duration::from_secs(10),
        "of the camera with gain 2",
        |s| s.gain == 2.0 && s.source == CAMERA.name(),
    )
    .await;
    // Every camera frame is one shade: its mean is a whole number, doubled.
    let mean = doubled.value / 2.0;
    assert!(
        mean.fract() == 0.0 && (0.0..=255.0).contains(&mean),
        "{doubled:?}"
    );
    let err = ctx
        .call(&SET_GAIN, SetGain { gain: -1.0 })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ServiceFailed { node, message, .. }
            if node == "processor" && message.contains("positive")),
        "{err}"
    );
    let reply = ctx.call(&SET_GAIN, SetGain { gain: 1.0 }).await.unwrap();
    assert_eq!(reply.previous, 2.0, "the refused call changed nothing");

    // The 30 Hz timer: count frames over 3 s, measured from the next one.
    let (_, first) = camera.recv().await.unwrap();
    let start = Instant::now();
    let mut count = 0u64;
    let mut last_id = first.sequence;
    while start.elapsed() < Duration::from_secs(3) {
        let (frame, header) = tokio::time::timeout(Duration::from_secs(2), camera.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame.data.shape(), &[480, 640, 3]);
        assert_eq!(
            (frame.width, frame.height, frame.encoding.as_str()),
            (640, 480, "rgb8")
        );
        last_id = header.sequence;
        count += 1;
    }
    let rate = count as f64 / start.elapsed().as_secs_f64();
    assert!(
        (27.0..=33.0).contains(&rate),
        "timer rate {rate:.1} Hz (frames {} to {last_id})",
        first.sequence
    );
    assert_eq!(camera.stats().dropped, 0);

    // SIGTERM: both exit 0, leave no socket files, and unregister their
    // topics and the service.
    drop((camera, processed));
    sigterm(&sensor);
    sigterm(&processor);
    assert!(wait_exit(&mut sensor, Duration::from_secs(10))
        .await
        .success());
    assert!(wait_exit(&mut processor, Duration::from_secs(10))
        .await
        .success());
    // The lines that show the calibration and the gain in the demo.
    let said = output(&mut sensor);
    assert!(
        said.contains("sensor: published calibration imu-0042 on /sensor/calibration"),
        "{said}"
    );
    let said = output(&mut processor);
    for line in [
        "processor: calibration imu-0042 from node sensor, published ",
        "processor: gain 1 -> 2 (through /processor/set_gain)",
    ] {
        assert!(said.contains(line), "{line:?} missing from: {said}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "socket files left: {leftovers:?}");
    let client = Client::new(discovery.clone());
    let topics = client.list().await.unwrap();
    assert!(topics.is_empty(), "topics still registered: {topics:?}");
    let services = client.list_services().await.unwrap();
    assert!(
        services.is_empty(),
        "services still registered: {services:?}"
    );
    daemon_stop.shutdown();
}
