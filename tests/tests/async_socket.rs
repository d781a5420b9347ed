//! `AsyncSocket` under stress: no lost wake-ups, no reordering, no hangs.
//!
//! `ZMQ_FD` is edge-triggered and shared by both directions, so the classic
//! bug is a send that consumes the edge announcing incoming data, after which
//! the receiver sleeps forever. These tests mix bursts, idle gaps and both
//! directions on one socket and require every message, in order, within a
//! generous bound.

use std::time::Duration;

use cortex::io::AsyncSocket;

/// A generous correctness bound: nothing here should take more than a few
/// seconds; hitting it means a wake-up was lost.
const HANG_BOUND: Duration = Duration::from_secs(60);

/// Small deterministic PRNG so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn frames(tag: u8, seq: u64, extra: usize) -> Vec<zmq::Message> {
    vec![
        zmq::Message::from(&[tag][..]),
        zmq::Message::from(&seq.to_be_bytes()[..]),
        zmq::Message::from(vec![tag; extra]),
    ]
}

fn check(msg: &[zmq::Message], tag: u8, seq: u64) {
    assert_eq!(msg.len(), 3, "multipart message arrived whole");
    assert_eq!(&msg[0][..], &[tag][..]);
    let got = u64::from_be_bytes(msg[1][..].try_into().unwrap());
    assert_eq!(got, seq, "messages arrive in order, none lost");
}

async fn pause(rng: &mut Lcg) {
    match rng.below(10) {
        // Idle gap: lets the peer drain and the edge go quiet.
        0 => tokio::time::sleep(Duration::from_millis(rng.below(5) + 1)).await,
        1 => tokio::task::yield_now().await,
        _ => {}
    }
}

/// Both ends send a burst at the same time, then each receives the other's
/// burst: sends and receives interleave on each socket's single `ZMQ_FD`.
async fn duplex(a: AsyncSocket, b: AsyncSocket, rounds: u64) {
    let side = |mut me: AsyncSocket, tag: u8, peer: u8, seed: u64| async move {
        let mut rng = Lcg(seed);
        let mut sent = 0u64;
        let mut received = 0u64;
        for round in 0..rounds {
            // Both sides derive the same burst sizes from the round number.
            let mine = Lcg(round * 2 + u64::from(tag)).below(300) + 1;
            let theirs = Lcg(round * 2 + u64::from(peer)).below(300) + 1;
            for _ in 0..mine {
                let extra = rng.below(64) as usize;
                me.send_multipart(frames(tag, sent, extra)).await.unwrap();
                sent += 1;
            }
            pause(&mut rng).await;
            for _ in 0..theirs {
                let msg = me.recv_multipart().await.unwrap();
                check(&msg, peer, received);
                received += 1;
            }
            pause(&mut rng).await;
        }
        (sent, received)
    };
    let ta = tokio::spawn(side(a, 0, 1, 11));
    let tb = tokio::spawn(side(b, 1, 0, 22));
    let (ra, rb) = tokio::time::timeout(HANG_BOUND, async { (ta.await, tb.await) })
        .await
        .expect("duplex exchange hung: a wake-up was lost");
    let (sent_a, recv_a) = ra.unwrap();
    let (sent_b, recv_b) = rb.unwrap();
    assert_eq!(sent_a, recv_b);
    assert_eq!(sent_b, recv_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_duplex_bursts_over_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}/pair.sock", dir.path().display());
    let ctx = zmq::Context::new();
    let a = ctx.socket(zmq::PAIR).unwrap();
    a.set_linger(0).unwrap();
    a.bind(&endpoint).unwrap();
    let b = ctx.socket(zmq::PAIR).unwrap();
    b.set_linger(0).unwrap();
    b.connect(&endpoint).unwrap();
    duplex(
        AsyncSocket::new(a).unwrap(),
        AsyncSocket::new(b).unwrap(),
        60,
    )
    .await;
}

#[tokio::test(flavor = "current_thread")]
async fn pair_duplex_bursts_single_thread() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}/pair.sock", dir.path().display());
    let ctx = zmq::Context::new();
    let a = ctx.socket(zmq::PAIR).unwrap();
    a.set_linger(0).unwrap();
    a.bind(&endpoint).unwrap();
    let b = ctx.socket(zmq::PAIR).unwrap();
    b.set_linger(0).unwrap();
    b.connect(&endpoint).unwrap();
    duplex(
        AsyncSocket::new(a).unwrap(),
        AsyncSocket::new(b).unwrap(),
        40,
    )
    .await;
}

/// Several DEALERs send bursts (with idle gaps) to one ROUTER that echoes
/// every message back; each DEALER must get its own messages back in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dealers_router_echo_bursts() {
    const DEALERS: u64 = 6;
    const PER_DEALER: u64 = 3000;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}/router.sock", dir.path().display());
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).unwrap();
    router.set_linger(0).unwrap();
    router.set_rcvhwm(100_000).unwrap();
    router.set_sndhwm(100_000).unwrap();
    router.bind(&endpoint).unwrap();
    let mut router = AsyncSocket::new(router).unwrap();
    let echo = tokio::spawn(async move {
        for _ in 0..DEALERS * PER_DEALER {
            let msg = router.recv_multipart().await.unwrap();
            router.send_multipart(msg).await.unwrap();
        }
    });
    let mut dealers = Vec::new();
    for d in 0..DEALERS {
        let s = ctx.socket(zmq::DEALER).unwrap();
        s.set_linger(0).unwrap();
        s.connect(&endpoint).unwrap();
        let mut s = AsyncSocket::new(s).unwrap();
        dealers.push(tokio::spawn(async move {
            let mut rng = Lcg(d + 100);
            let tag = d as u8;
            let mut sent = 0u64;
            let mut received = 0u64;
            while received < PER_DEALER {
                let burst = (rng.below(200) + 1).min(PER_DEALER - sent);
                for _ in 0..burst {
                    s.send_multipart(frames(tag, sent, rng.below(32) as usize))
                        .await
                        .unwrap();
                    sent += 1;
                }
                pause(&mut rng).await;
                // Take back part of the burst only, so sends and receives
                // overlap with messages still in flight.
                let take = if sent == PER_DEALER {
                    sent - received
                } else {
                    (sent - received).min(rng.below(200) + 1)
                };
                for _ in 0..take {
                    let msg = s.recv_multipart().await.unwrap();
                    check(&msg, tag, received);
                    received += 1;
                }
            }
            received
        }));
    }
    let all = tokio::time::timeout(HANG_BOUND, async {
        let mut total = 0;
        for d in dealers {
            total += d.await.unwrap();
        }
        echo.await.unwrap();
        total
    })
    .await
    .expect("echo exchange hung: a wake-up was lost");
    assert_eq!(all, DEALERS * PER_DEALER);
}

/// A receiver that sleeps for long stretches must still be woken by a
/// message sent while it waits (the edge may fire only once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_receiver_is_woken() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}/idle.sock", dir.path().display());
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL).unwrap();
    pull.set_linger(0).unwrap();
    pull.bind(&endpoint).unwrap();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_linger(0).unwrap();
    push.connect(&endpoint).unwrap();
    let mut pull = AsyncSocket::new(pull).unwrap();
    let mut push = AsyncSocket::new(push).unwrap();
    let receiver = tokio::spawn(async move {
        for i in 0..20u64 {
            let msg = pull.recv_multipart().await.unwrap();
            assert_eq!(&msg[1][..], &i.to_be_bytes()[..]);
        }
    });
    tokio::time::timeout(HANG_BOUND, async {
        for i in 0..20u64 {
            tokio::time::sleep(Duration::from_millis(if i % 5 == 0 { 30 } else { 1 })).await;
            push.send_multipart(frames(9, i, 0)).await.unwrap();
        }
        receiver.await.unwrap();
    })
    .await
    .expect("idle receiver was never woken (or the sender hung)");
}

/// The futures can move between threads (`tokio::spawn` on a multi-thread
/// runtime needs `Send`).
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = zmq::Context::new();
        let mut s = AsyncSocket::new(ctx.socket(zmq::DEALER).unwrap()).unwrap();
        s.get_ref().set_linger(0).unwrap();
        let recv = s.recv_multipart();
        assert_send(&recv);
        drop(recv);
        let send = s.send_multipart(Vec::new());
        assert_send(&send);
    });
}

/// Exercises the `unsafe` registration: the descriptor stays valid while
/// registered, `into_inner` deregisters before handing the socket back, and
/// the socket can be registered again and keeps working.
#[tokio::test]
async fn into_inner_and_reregister() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("ipc://{}/re.sock", dir.path().display());
    let ctx = zmq::Context::new();
    let a = ctx.socket(zmq::PAIR).unwrap();
    a.set_linger(0).unwrap();
    a.bind(&endpoint).unwrap();
    let b = ctx.socket(zmq::PAIR).unwrap();
    b.set_linger(0).unwrap();
    b.connect(&endpoint).unwrap();
    let a = AsyncSocket::new(a).unwrap();
    let b = AsyncSocket::new(b).unwrap();
    let (a, b) = tokio::time::timeout(HANG_BOUND, async move {
        let (mut a, mut b) = (a, b);
        for round in 0..3u64 {
            a.send_multipart(frames(1, round, 4)).await.unwrap();
            let msg = b.recv_multipart().await.unwrap();
            check(&msg, 1, round);
            let raw = a.into_inner();
            a = AsyncSocket::new(raw).unwrap();
        }
        (a, b)
    })
    .await
    .expect("send or receive hung after re-registration");
    // Dropping closes the socket after deregistering; nothing panics.
    drop(a);
    drop(b);
}
