//! Baseline: raw libzmq, the payload as one frame (what cortex does today).

use std::time::Duration;

use crate::common::{stamp, template, word, Got, Job, Receiver, Sender};

pub struct Pub {
    socket: zmq::Socket,
    template: Vec<u8>,
}

impl Pub {
    pub fn new(ctx: &zmq::Context, endpoint: &str, job: &Job) -> Result<Self, String> {
        let socket = ctx.socket(zmq::PUB).map_err(|e| e.to_string())?;
        socket.set_sndhwm(1000).map_err(|e| e.to_string())?;
        socket.set_linger(0).map_err(|e| e.to_string())?;
        socket.bind(endpoint).map_err(|e| e.to_string())?;
        Ok(Pub {
            socket,
            template: template(job.size),
        })
    }
}

impl Sender for Pub {
    fn send(&mut self, seq: u64) -> Result<bool, String> {
        let mut fresh = self.template.to_vec();
        stamp(&mut fresh, seq);
        self.socket
            .send("t", zmq::SNDMORE)
            .map_err(|e| e.to_string())?;
        self.socket
            .send(zmq::Message::from(fresh), 0)
            .map_err(|e| e.to_string())?;
        Ok(true)
    }
}

pub struct Sub {
    socket: zmq::Socket,
}

impl Sub {
    pub fn new(ctx: &zmq::Context, endpoint: &str) -> Result<Self, String> {
        let socket = ctx.socket(zmq::SUB).map_err(|e| e.to_string())?;
        socket.set_rcvhwm(1000).map_err(|e| e.to_string())?;
        socket.set_subscribe(b"t").map_err(|e| e.to_string())?;
        socket.connect(endpoint).map_err(|e| e.to_string())?;
        Ok(Sub { socket })
    }
}

impl Receiver for Sub {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Got>, String> {
        let ready = self
            .socket
            .poll(zmq::POLLIN, timeout.as_millis() as i64)
            .map_err(|e| e.to_string())?;
        if ready == 0 {
            return Ok(None);
        }
        let parts = self.socket.recv_multipart(0).map_err(|e| e.to_string())?;
        let p = &parts[1];
        Ok(Some((word(p, 0), word(p, 1), p.len())))
    }
}
