//! The shared-memory path on its own: layout of samples, first sample,
//! several receivers, a restarted publisher, the address space reserved.

use std::mem::MaybeUninit;
use std::sync::Arc;

use super::*;

fn address(name: &str) -> String {
    format!(
        "ipc:///tmp/cortex-shm-test-{}-{name}.sock",
        std::process::id()
    )
}

/// A sender at `address` (queues of `small` and `large` samples) and one
/// receiver connected to it.
fn pair(address: &str, small: usize, large: usize) -> (ShmSender, ShmReceiver) {
    let sender = ShmSender::create(address, small, large).expect("sender");
    let receiver = ShmReceiver::open(address, Arc::default()).expect("receiver");
    sender.connect_new_subscribers();
    (sender, receiver)
}

#[test]
fn flat_mut_covers_every_byte_of_the_lines_in_order() {
    let mut lines = [MaybeUninit::<Line>::uninit(); 3];
    let bytes = flat_mut(&mut lines);
    assert_eq!(bytes.len(), 3 * layout::FRAME_ALIGN);
    for (i, b) in bytes.iter_mut().enumerate() {
        b.write(i as u8);
    }
    // SAFETY: every byte of the three lines was written just above.
    let lines = lines.map(|line| unsafe { line.assume_init() });
    assert_eq!(lines[1][0], layout::FRAME_ALIGN as u8);
    assert_eq!(lines[2][63], (3 * layout::FRAME_ALIGN - 1) as u8);
}

#[tokio::test]
async fn a_sample_reserves_its_size_not_64_times_it() {
    let address = address("reserve");
    let (sender, _receiver) = pair(&address, 16, 16);
    sender.send(&[&[1; 100], &[2; 1 << 20]]).expect("sent");
    // The pool holds under a hundred samples of at most 2 MiB now;
    // with one byte per 64-byte element it would map over 10 GiB.
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    let largest = maps
        .lines()
        .filter(|line| line.contains("/dev/shm/") && line.ends_with(".data"))
        .filter_map(|line| {
            let (start, end) = line.split_once(' ')?.0.split_once('-')?;
            let start = u64::from_str_radix(start, 16).ok()?;
            Some(u64::from_str_radix(end, 16).ok()? - start)
        })
        .max()
        .expect("the data segment is mapped");
    assert!(largest < 1 << 30, "a data segment maps {largest} bytes");
}

#[tokio::test]
async fn the_first_sample_reaches_a_subscriber_that_connected_before_it() {
    let address = address("first");
    let (sender, mut receiver) = pair(&address, 16, 16);
    sender
        .send(&[b"header", b"meta", &[1, 2, 3]])
        .expect("send");
    let sample = receiver
        .try_recv()
        .expect("receive")
        .expect("the first sample");
    let frames = layout::frames(&sample).expect("frames");
    assert_eq!(frames.len(), 3);
    assert_eq!(&frames[2][..], &[1, 2, 3]);
    assert_eq!(frames[2].as_ptr() as usize % layout::FRAME_ALIGN, 0);
}

#[tokio::test]
async fn two_receivers_each_get_every_sample_in_order() {
    let address = format!("ipc:///tmp/cortex-shm-test-{}-two.sock", std::process::id());
    let sender = ShmSender::create(&address, 16, 16).expect("sender");
    let mut fast = ShmReceiver::open(&address, Arc::default()).expect("fast");
    sender.connect_new_subscribers();
    let _slow = ShmReceiver::open(&address, Arc::default()).expect("slow");
    sender.connect_new_subscribers();
    for i in 0u8..50 {
        sender.send(&[&[i]]).expect("send");
        let sample = tokio::time::timeout(std::time::Duration::from_secs(5), fast.recv())
            .await
            .expect("in time")
            .expect("sample");
        let frames = layout::frames(&sample).expect("frames");
        assert_eq!(&frames[0][..], &[i], "sample {i}");
    }
}

#[tokio::test]
async fn a_restarted_publisher_reaches_an_existing_subscriber() {
    let address = format!(
        "ipc:///tmp/cortex-shm-test-{}-restart.sock",
        std::process::id()
    );
    let first = ShmSender::create(&address, 16, 16).expect("sender");
    let mut receiver = ShmReceiver::open(&address, Arc::default()).expect("receiver");
    first.connect_new_subscribers();
    first.send(&[&[1]]).expect("send");
    assert!(receiver.try_recv().expect("receive").is_some());
    drop(first);
    let second = ShmSender::create(&address, 16, 16).expect("second sender");
    second.connect_new_subscribers();
    let reached = second.send(&[&[2]]).expect("send");
    let got = tokio::time::timeout(std::time::Duration::from_secs(2), receiver.recv()).await;
    assert!(got.is_ok(), "reached {reached}");
}

#[tokio::test]
async fn small_and_large_samples_arrive_in_the_order_sent() {
    let address = address("lanes");
    let (sender, mut receiver) = pair(&address, 1000, 16);
    let big = vec![7u8; SMALL_SAMPLE];
    // Sizes alternate irregularly between the lanes; received in batches
    // of up to 3 (the borrow limit) so both lanes have samples waiting.
    let sizes: Vec<usize> = (0..60u64)
        .map(|i| {
            if i % 3 == 1 || i % 7 == 0 {
                big.len()
            } else {
                10
            }
        })
        .collect();
    let mut got = Vec::new();
    for chunk in sizes.chunks(3).enumerate() {
        let (c, chunk) = chunk;
        for (j, &size) in chunk.iter().enumerate() {
            let sequence = (c * 3 + j) as u64;
            let header = crate::codec::Header::now(1, sequence).to_bytes();
            sender
                .send(&[&header, b"meta", &big[..size]])
                .expect("send");
        }
        while let Some(sample) = receiver.try_recv().expect("receive") {
            let frames = layout::frames(&sample).expect("frames");
            let header = crate::codec::Header::from_bytes(&frames[0]).expect("header");
            assert_eq!(frames[2].len(), sizes[header.sequence as usize]);
            got.push(header.sequence);
        }
    }
    assert_eq!(got, (0..60).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_stalled_receiver_queues_a_thousand_small_samples_and_sixteen_large() {
    let address = address("depths");
    let (sender, mut receiver) = pair(&address, 1000, 16);
    let reached = |size: usize, n: usize| {
        (0..n)
            .map(|_| sender.send(&[&vec![1u8; size]]).expect("send"))
            .sum::<usize>()
    };
    assert_eq!(
        reached(100, 1200),
        1000,
        "small: 1000 queued, 200 overflowed"
    );
    assert_eq!(
        reached(SMALL_SAMPLE, 20),
        16,
        "large: 16 queued, 4 overflowed"
    );
    let mut n = 0;
    while let Some(sample) = receiver.try_recv().expect("receive") {
        drop(sample);
        n += 1;
    }
    assert_eq!(n, 1016);
}
