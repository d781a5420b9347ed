//! The libzmq defects cortex patches (third_party/zeromq-src/PATCHES.md),
//! shown on raw ZeroMQ sockets.

use std::time::Duration;

/// Raising a subscriber's receive high-water mark while its queue is full
/// must not stall the connection (patch 2). This is what a cortex
/// subscriber does when it reads its first camera frame after a stall: its
/// queue, sized for 4 MiB messages until then, grows to its byte budget.
/// Before the patch the reader's new low-water mark meant it never told the
/// writer it had read, and no further message ever arrived.
#[test]
fn raising_the_receive_hwm_of_a_full_queue_does_not_stall_it() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("ipc://{}/p.sock", dir.path().display());
    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::XPUB).unwrap();
    publisher.set_sndhwm(72).unwrap();
    publisher.set_rcvtimeo(10_000).unwrap();
    publisher.bind(&address).unwrap();
    let subscriber = ctx.socket(zmq::SUB).unwrap();
    subscriber.set_rcvhwm(16).unwrap();
    subscriber.set_subscribe(b"").unwrap();
    subscriber.set_rcvtimeo(200).unwrap();
    subscriber.connect(&address).unwrap();
    let frame = vec![7u8; 921_600];
    // The subscription has arrived once XPUB hands it over.
    assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01");
    // Fill the subscriber's queue (and the publisher's) without reading.
    for _ in 0..200 {
        publisher.send(&frame[..], zmq::DONTWAIT).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    // Read one, raise the mark as cortex does, read the rest.
    subscriber.recv_bytes(0).expect("the queue is full");
    subscriber.set_rcvhwm(72).unwrap();
    let mut received = 1;
    while subscriber.recv_bytes(0).is_ok() {
        received += 1;
    }
    assert!(received >= 16, "the full queue held {received}");
    // New messages keep arriving.
    let mut after = 0;
    for _ in 0..30 {
        publisher.send(&frame[..], zmq::DONTWAIT).unwrap();
        if subscriber.recv_bytes(0).is_ok() {
            after += 1;
        }
    }
    assert!(
        after > 20,
        "only {after} of 30 new messages arrived after {received}"
    );
}

/// The same with small messages and a large raise (16 to 20 000): the
/// writer, stopped under the old mark, must resume under the new one even
/// though the reader's next report is 19 000 messages away.
#[test]
fn a_writer_stopped_under_the_old_mark_resumes_under_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("ipc://{}/q.sock", dir.path().display());
    let ctx = zmq::Context::new();
    let publisher = ctx.socket(zmq::XPUB).unwrap();
    publisher.set_sndhwm(20_000).unwrap();
    publisher.set_rcvtimeo(10_000).unwrap();
    publisher.bind(&address).unwrap();
    let subscriber = ctx.socket(zmq::SUB).unwrap();
    subscriber.set_rcvhwm(16).unwrap();
    subscriber.set_subscribe(b"").unwrap();
    subscriber.set_rcvtimeo(2_000).unwrap();
    subscriber.connect(&address).unwrap();
    assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01");
    for i in 0u32..1_000 {
        publisher.send(&i.to_be_bytes()[..], zmq::DONTWAIT).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    subscriber.recv_bytes(0).expect("the first message");
    subscriber.set_rcvhwm(20_000).unwrap();
    for i in 1u32..1_000 {
        let got = subscriber
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("message {i} never arrived: {e}"));
        assert_eq!(got, i.to_be_bytes());
    }
}
