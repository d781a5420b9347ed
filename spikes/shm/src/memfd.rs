//! Candidate B: a memfd pool owned by the publisher, small descriptors over
//! the ZeroMQ PUB/SUB socket cortex already has.
//!
//! Segment: one header page, then `slots` data slots (page aligned). Per slot
//! the header holds `gen: AtomicU64` (odd while the publisher writes) and
//! `readers: AtomicU32`. Publisher reuse: `gen += 1` (odd), then if
//! `readers != 0` give the slot up (`gen += 1`), else write and `gen += 1`.
//! Reader: `readers += 1`, then read `gen`; a mismatch with the descriptor
//! means the slot was recycled: release and count a loss. Both sides use
//! SeqCst for the store-then-load pair, so at least one of them sees the
//! other (Dekker): a slot is never written while a validated reader holds it.
//! The subscriber maps the segment by opening `/proc/<pid>/fd/<fd>` (same
//! user; no fd passing needed). Reader crash reclamation (a reader killed
//! while `readers > 0`) is NOT handled in this spike: it needs per-reader
//! lease tables; the cost per sample is the same atomics.

use std::ffi::CString;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use crate::common::{stamp, template, word, Got, Job, Receiver, Sender};

const HEADER: usize = 4096;
const PAGE: usize = 4096;
const CTRL: usize = 64;

struct Segment {
    base: *mut u8,
    len: usize,
    fd: libc::c_int,
    slots: usize,
    slot_size: usize,
}

fn os(what: &str) -> String {
    format!("memfd: {what}: {}", std::io::Error::last_os_error())
}

impl Segment {
    fn map(fd: libc::c_int, len: usize, slots: usize, slot_size: usize) -> Result<Self, String> {
        // SAFETY: a fresh shared mapping of an fd we own; checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(os("mmap"));
        }
        Ok(Segment {
            base: base.cast(),
            len,
            fd,
            slots,
            slot_size,
        })
    }

    fn create(slots: usize, size: usize) -> Result<Self, String> {
        let slot_size = size.div_ceil(PAGE).max(1) * PAGE;
        let len = HEADER + slots * slot_size;
        let name = CString::new("cortex-shm-spike").unwrap();
        // SAFETY: plain syscall with a valid C string.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(os("memfd_create"));
        }
        // SAFETY: plain syscall on our fd.
        if unsafe { libc::ftruncate(fd, len as libc::off_t) } != 0 {
            return Err(os("ftruncate"));
        }
        let seg = Self::map(fd, len, slots, slot_size)?;
        // SAFETY: header page is inside the mapping.
        unsafe {
            (seg.base as *mut u64).write(slots as u64);
            (seg.base.add(8) as *mut u64).write(slot_size as u64);
        }
        Ok(seg)
    }

    fn open(pid: u32, fd: u32) -> Result<Self, String> {
        let path = CString::new(format!("/proc/{pid}/fd/{fd}")).unwrap();
        // SAFETY: plain syscall with a valid C string.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(os("open /proc/pid/fd"));
        }
        // SAFETY: zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is ours, st is writable.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(os("fstat"));
        }
        let len = st.st_size as usize;
        let mut seg = Self::map(fd, len, 0, 0)?;
        // SAFETY: the header words are inside the mapping.
        unsafe {
            seg.slots = (seg.base as *const u64).read() as usize;
            seg.slot_size = (seg.base.add(8) as *const u64).read() as usize;
        }
        Ok(seg)
    }

    fn gen(&self, i: usize) -> &AtomicU64 {
        // SAFETY: slot control words live in the header page, 8-aligned, shared.
        unsafe { &*(self.base.add(CTRL + i * 16) as *const AtomicU64) }
    }
    fn readers(&self, i: usize) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*(self.base.add(CTRL + i * 16 + 8) as *const AtomicU32) }
    }
    fn data(&self, i: usize) -> *mut u8 {
        // SAFETY: slot i is inside the mapping.
        unsafe { self.base.add(HEADER + i * self.slot_size) }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: our mapping and fd.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
            libc::close(self.fd);
        }
    }
}

pub struct Pub {
    seg: Segment,
    socket: zmq::Socket,
    template: Vec<u8>,
    cursor: usize,
    loan: bool,
    pub refused: u64,
}

impl Pub {
    pub fn new(ctx: &zmq::Context, endpoint: &str, job: &Job) -> Result<Self, String> {
        let slots = (64 << 20) / job.size.max(PAGE);
        let slots = slots.clamp(4, 200);
        let seg = Segment::create(slots, job.size.max(16))?;
        let socket = ctx.socket(zmq::PUB).map_err(|e| e.to_string())?;
        socket.set_sndhwm(1000).map_err(|e| e.to_string())?;
        socket.set_linger(0).map_err(|e| e.to_string())?;
        socket.bind(endpoint).map_err(|e| e.to_string())?;
        Ok(Pub {
            seg,
            socket,
            template: template(job.size),
            cursor: 0,
            loan: job.loan,
            refused: 0,
        })
    }

    fn claim(&mut self) -> Option<(usize, u64)> {
        for k in 0..self.seg.slots {
            let i = (self.cursor + k) % self.seg.slots;
            if self.seg.readers(i).load(SeqCst) != 0 {
                continue;
            }
            let g = self.seg.gen(i).fetch_add(1, SeqCst) + 1; // odd: writing
            if self.seg.readers(i).load(SeqCst) != 0 {
                self.seg.gen(i).store(g + 1, SeqCst);
                continue;
            }
            self.cursor = i + 1;
            return Some((i, g + 1));
        }
        None
    }
}

impl Sender for Pub {
    fn send(&mut self, seq: u64) -> Result<bool, String> {
        let Some((i, g)) = self.claim() else {
            self.refused += 1;
            return Ok(false);
        };
        let len = self.template.len();
        // SAFETY: slot i is claimed (gen odd, no readers) and holds len bytes.
        let dst = unsafe { std::slice::from_raw_parts_mut(self.seg.data(i), len) };
        if self.loan {
            dst.copy_from_slice(&self.template);
            stamp(dst, seq);
        } else {
            let mut fresh = self.template.to_vec();
            stamp(&mut fresh, seq);
            dst.copy_from_slice(&fresh);
        }
        self.seg.gen(i).store(g, SeqCst);
        let mut d = [0u8; 32];
        d[0..4].copy_from_slice(&std::process::id().to_le_bytes());
        d[4..8].copy_from_slice(&(self.seg.fd as u32).to_le_bytes());
        d[8..16].copy_from_slice(&(i as u64).to_le_bytes());
        d[16..24].copy_from_slice(&g.to_le_bytes());
        d[24..32].copy_from_slice(&(len as u64).to_le_bytes());
        self.socket
            .send("t", zmq::SNDMORE)
            .map_err(|e| e.to_string())?;
        self.socket.send(&d[..], 0).map_err(|e| e.to_string())?;
        Ok(true)
    }
}

pub struct Sub {
    socket: zmq::Socket,
    seg: Option<Segment>,
    lost: u64,
}

impl Sub {
    pub fn new(ctx: &zmq::Context, endpoint: &str) -> Result<Self, String> {
        let socket = ctx.socket(zmq::SUB).map_err(|e| e.to_string())?;
        socket.set_rcvhwm(1000).map_err(|e| e.to_string())?;
        socket.set_subscribe(b"t").map_err(|e| e.to_string())?;
        socket.connect(endpoint).map_err(|e| e.to_string())?;
        Ok(Sub {
            socket,
            seg: None,
            lost: 0,
        })
    }
}

impl Receiver for Sub {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Got>, String> {
        loop {
            let ready = self
                .socket
                .poll(zmq::POLLIN, timeout.as_millis() as i64)
                .map_err(|e| e.to_string())?;
            if ready == 0 {
                return Ok(None);
            }
            let parts = self.socket.recv_multipart(0).map_err(|e| e.to_string())?;
            let d = &parts[1];
            let (pid, fd) = (word(d, 0) as u32, (word(d, 0) >> 32) as u32);
            let (i, g, len) = (word(d, 1) as usize, word(d, 2), word(d, 3) as usize);
            if self.seg.is_none() {
                self.seg = Some(Segment::open(pid, fd)?);
            }
            let seg = self.seg.as_ref().unwrap();
            seg.readers(i).fetch_add(1, SeqCst);
            if seg.gen(i).load(SeqCst) != g {
                seg.readers(i).fetch_sub(1, SeqCst);
                self.lost += 1;
                continue;
            }
            // SAFETY: validated lease on slot i: the publisher will not write it until released.
            let p = unsafe { std::slice::from_raw_parts(seg.data(i), len) };
            let got = (word(p, 0), word(p, 1), len);
            seg.readers(i).fetch_sub(1, SeqCst);
            return Ok(Some(got));
        }
    }
    fn lost(&self) -> u64 {
        self.lost
    }
}
