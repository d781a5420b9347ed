//! The baseline: plain libzmq PUB/SUB over ipc through the `zmq` crate, in
//! its natural form: a topic frame plus one payload frame
//! (`zmq::Message::from(Vec<u8>)` out, `recv_msg` in). The payload's first
//! 16 bytes carry the sequence number and the wall-clock send time (u64 LE).

use std::time::{Duration, Instant};

use super::common::{now_ns, pace, template, Job, Recorder, PING, PONG, TOPIC, WARM};
use super::proc::{say, Control, Peer};

type Result<T> = std::result::Result<T, String>;

fn z(what: &'static str) -> impl Fn(zmq::Error) -> String {
    move |e| format!("raw zmq: {what}: {e}")
}

fn stamp(template: &[u8], seq: u64) -> zmq::Message {
    let mut payload = template.to_vec();
    payload[..8].copy_from_slice(&seq.to_le_bytes());
    payload[8..16].copy_from_slice(&now_ns().to_le_bytes());
    zmq::Message::from(payload)
}

fn word(payload: &[u8], i: usize) -> u64 {
    payload
        .get(i * 8..i * 8 + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

/// Receives one `topic · payload` message.
fn recv2(socket: &zmq::Socket) -> zmq::Result<zmq::Message> {
    let _topic = socket.recv_msg(0)?;
    let payload = socket.recv_msg(0)?;
    // Anything beyond two frames is not ours; drain it.
    while socket.get_rcvmore()? {
        socket.recv_msg(0)?;
    }
    Ok(payload)
}

/// Peer role `raw-pub`: binds, sends warm-ups until `go`, then the job.
pub(crate) fn run_pub(job: Job, endpoint: &str, control: &Control) -> Result<()> {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::PUB).map_err(z("PUB socket"))?;
    socket.set_sndhwm(job.hwm).map_err(z("SNDHWM"))?;
    socket.set_linger(100).map_err(z("LINGER"))?;
    socket.bind(endpoint).map_err(z("bind"))?;
    let template = template(job.size);
    say("ready");
    while !control.go() {
        socket
            .send(TOPIC, zmq::SNDMORE)
            .and_then(|()| socket.send(stamp(&template, WARM), 0))
            .map_err(z("send"))?;
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut error = None;
    let (attempted, _) = pace(&job, |seq| {
        // PUB never blocks: at the high-water mark it drops silently.
        let sent = socket
            .send(TOPIC, zmq::SNDMORE)
            .and_then(|()| socket.send(stamp(&template, seq), 0));
        if let Err(e) = sent {
            error.get_or_insert(e);
        }
        true
    });
    if let Some(e) = error {
        return Err(format!("raw zmq: send: {e}"));
    }
    say(&format!("done {attempted} 0"));
    control.wait_quit();
    Ok(())
}

/// The measuring side of a one-way run against a `raw-pub` peer.
pub(crate) fn measure(
    job: Job,
    endpoint: &str,
    peer: &mut Peer,
    latency: bool,
) -> Result<Recorder> {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::SUB).map_err(z("SUB socket"))?;
    socket.set_rcvhwm(job.hwm).map_err(z("RCVHWM"))?;
    socket.set_linger(0).map_err(z("LINGER"))?;
    socket.set_rcvtimeo(100).map_err(z("RCVTIMEO"))?;
    socket
        .set_subscribe(TOPIC.as_bytes())
        .map_err(z("SUBSCRIBE"))?;
    peer.expect("ready", Duration::from_secs(10))?;
    socket.connect(endpoint).map_err(z("connect"))?;
    // Warm-up handshake: the first warm-up message proves the subscription
    // reached the publisher.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match recv2(&socket) {
            Ok(p) if word(&p, 0) == WARM => break,
            Ok(_) | Err(zmq::Error::EAGAIN) if Instant::now() < deadline => {}
            Ok(_) | Err(zmq::Error::EAGAIN) => return Err("raw: no warm-up message in 10 s".into()),
            Err(e) => return Err(format!("raw zmq: recv: {e}")),
        }
    }
    peer.send("go")?;
    let mut rec = Recorder::new(latency);
    let mut idle_since = Instant::now();
    loop {
        match recv2(&socket) {
            Ok(p) => {
                let seq = word(&p, 0);
                if seq == WARM {
                    continue;
                }
                rec.record(seq, word(&p, 1), p.len());
                if rec.received >= job.count {
                    break;
                }
                idle_since = Instant::now();
            }
            Err(zmq::Error::EAGAIN) => {
                // Done when the peer has sent everything and nothing came
                // for a while (the rest was dropped).
                if peer.poll_done().is_some() && idle_since.elapsed() > Duration::from_millis(300) {
                    break;
                }
                if idle_since.elapsed() > Duration::from_secs(20) {
                    return Err("raw: no message for 20 s".into());
                }
            }
            Err(e) => return Err(format!("raw zmq: recv: {e}")),
        }
    }
    Ok(rec)
}

/// Peer role `raw-echo`: every `/ping` payload goes back on `/pong`.
pub(crate) fn run_echo(ping: &str, pong: &str, control: &Control) -> Result<()> {
    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB).map_err(z("SUB socket"))?;
    let publ = ctx.socket(zmq::PUB).map_err(z("PUB socket"))?;
    sub.set_rcvtimeo(100).map_err(z("RCVTIMEO"))?;
    sub.set_subscribe(PING.as_bytes()).map_err(z("SUBSCRIBE"))?;
    sub.connect(ping).map_err(z("connect"))?;
    publ.set_linger(0).map_err(z("LINGER"))?;
    publ.bind(pong).map_err(z("bind"))?;
    say("ready");
    while !control.quit() {
        match recv2(&sub) {
            Ok(payload) => publ
                .send(PONG, zmq::SNDMORE)
                .and_then(|()| publ.send(payload, 0))
                .map_err(z("send"))?,
            Err(zmq::Error::EAGAIN) => {}
            Err(e) => return Err(format!("raw zmq: recv: {e}")),
        }
    }
    Ok(())
}

/// The pinging side against a `raw-echo` peer: `n` round trips (after
/// `warmup` more), returns RTTs in ns.
pub(crate) fn ping_pong(
    ping: &str,
    pong: &str,
    peer: &mut Peer,
    n: usize,
    warmup: usize,
) -> Result<Vec<u64>> {
    let ctx = zmq::Context::new();
    let publ = ctx.socket(zmq::PUB).map_err(z("PUB socket"))?;
    let sub = ctx.socket(zmq::SUB).map_err(z("SUB socket"))?;
    publ.set_linger(0).map_err(z("LINGER"))?;
    publ.bind(ping).map_err(z("bind"))?;
    sub.set_linger(0).map_err(z("LINGER"))?;
    sub.set_subscribe(PONG.as_bytes()).map_err(z("SUBSCRIBE"))?;
    sub.set_rcvtimeo(10).map_err(z("RCVTIMEO"))?;
    peer.expect("ready", Duration::from_secs(10))?;
    sub.connect(pong).map_err(z("connect"))?;
    let template = template(64);
    // Handshake: ping until a pong comes back, then drain the extras.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        publ.send(PING, zmq::SNDMORE)
            .and_then(|()| publ.send(stamp(&template, WARM), 0))
            .map_err(z("send"))?;
        match recv2(&sub) {
            Ok(_) => break,
            Err(zmq::Error::EAGAIN) if Instant::now() < deadline => {}
            Err(e) => return Err(format!("raw ping-pong handshake: {e}")),
        }
    }
    while recv2(&sub).is_ok() {}
    sub.set_rcvtimeo(2000).map_err(z("RCVTIMEO"))?;
    let mut rtts = Vec::with_capacity(n);
    for i in 0..(warmup + n) as u64 {
        let msg = stamp(&template, i);
        let t0 = Instant::now();
        publ.send(PING, zmq::SNDMORE)
            .and_then(|()| publ.send(msg, 0))
            .map_err(z("send"))?;
        loop {
            let p = recv2(&sub).map_err(|e| format!("raw ping-pong: waiting for pong {i}: {e}"))?;
            if word(&p, 0) == i {
                break;
            }
        }
        let rtt = t0.elapsed().as_nanos() as u64;
        if i >= warmup as u64 {
            rtts.push(rtt);
        }
    }
    Ok(rtts)
}
