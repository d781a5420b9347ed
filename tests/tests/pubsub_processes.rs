//! Publisher and subscriber in separate processes: 10 000 messages in order
//! without loss, then full-HD RGB images intact. The publisher is this test
//! binary re-executed in child mode.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cortex::prelude::*;
use cortex_tests::TestEnv;

const CHILD: &str = "CORTEX_TEST_PUBSUB_CHILD";
const COUNT: u64 = 10_000;
const IMAGES: u64 = 3;
const BOUND: Duration = Duration::from_secs(60);

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Reading {
    pub id: u64,
    pub value: f64,
}

#[derive(Message, Debug, Clone, PartialEq)]
pub struct Image {
    pub data: NdArray<u8>,
}

fn image(k: u64) -> Image {
    let data = (0..1920 * 1080 * 3)
        .map(|i| (i as u64 * 7 + k) as u8)
        .collect();
    Image {
        data: NdArray::new(data, [1080, 1920, 3]).unwrap(),
    }
}

/// Child mode, run only by the test below (`--ignored --exact`): publish,
/// then exit.
#[test]
#[ignore = "the child process of ten_thousand_in_order_and_images_across_processes; it runs it"]
fn child_publisher() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Discovery and socket root come from CORTEX_DISCOVERY / CORTEX_SOCKET_ROOT.
        let node = Node::new(NodeConfig::new("child").spawn_daemon(false))
            .await
            .unwrap();
        let readings = node.publisher::<Reading>("/proc/seq").await.unwrap();
        let images = node.publisher::<Image>("/proc/img").await.unwrap();
        readings.wait_for_subscribers(1, BOUND).await.unwrap();
        images.wait_for_subscribers(1, BOUND).await.unwrap();
        for id in 0..COUNT {
            // Moderate rate: a short pause every 100 messages.
            let queued = readings
                .publish(&Reading {
                    id,
                    value: id as f64,
                })
                .unwrap();
            assert!(queued, "message {id} refused");
            if id % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        for k in 0..IMAGES {
            assert!(images.publish(&image(k)).unwrap());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(readings.stats().dropped, 0);
        // Give the last frames time to leave before closing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        readings.close().await.unwrap();
        images.close().await.unwrap();
    });
}

/// Kills the child by pid if the test ends early.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_in_order_and_images_across_processes() {
    let env = TestEnv::new();
    let _daemon = env.start_daemon().await;
    let mut child = Guard(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "child_publisher",
                "--ignored",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("CORTEX_DISCOVERY", &env.discovery)
            .env("CORTEX_SOCKET_ROOT", env.socket_root())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let node = Node::new(env.node_config("parent")).await.unwrap();
    let mut readings = node.subscriber::<Reading>("/proc/seq").await.unwrap();
    let mut images = node.subscriber::<Image>("/proc/img").await.unwrap();
    tokio::time::timeout(BOUND, async {
        for expect in 0..COUNT {
            let (msg, header) = readings.recv().await.unwrap();
            assert_eq!((msg.id, header.sequence), (expect, expect));
        }
        for k in 0..IMAGES {
            let (img, header) = images.recv().await.unwrap();
            assert_eq!(header.sequence, k);
            assert_eq!(img, image(k), "image {k} intact");
            assert!(img.data.is_borrowed());
        }
    })
    .await
    .expect("all messages within the bound");
    let stats = readings.stats();
    assert_eq!(
        (stats.received, stats.dropped, stats.decode_errors),
        (COUNT, 0, 0)
    );
    let status = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "child publisher failed: {status}");
    assert!(
        env.socket_files().is_empty(),
        "the child removed its socket files"
    );
}
