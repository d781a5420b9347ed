//! Socket options the `zmq` crate does not wrap.

/// `ZMQ_XPUB_NODROP`: an XPUB at the high-water mark refuses the send
/// (EAGAIN) instead of dropping silently, so drops can be counted.
pub(crate) const XPUB_NODROP: i32 = zmq_sys::ZMQ_XPUB_NODROP as i32;
/// `ZMQ_XPUB_VERBOSER`: pass every subscribe *and* unsubscribe upstream.
pub(crate) const XPUB_VERBOSER: i32 = zmq_sys::ZMQ_XPUB_VERBOSER as i32;

/// Sets an integer socket option.
pub(crate) fn set_int(socket: &mut zmq::Socket, option: i32, value: i32) -> zmq::Result<()> {
    // SAFETY: `socket.as_mut_ptr()` is a live socket we own exclusively
    // (`&mut`); the value pointer and size describe one valid `i32`.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            option,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>(),
        )
    };
    if rc == -1 {
        // SAFETY: reads this thread's zmq errno.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_apply_and_bad_ones_fail() {
        let ctx = zmq::Context::new();
        let mut s = ctx.socket(zmq::XPUB).unwrap();
        set_int(&mut s, XPUB_NODROP, 1).unwrap();
        set_int(&mut s, XPUB_VERBOSER, 1).unwrap();
        assert_eq!(set_int(&mut s, 99_999, 1), Err(zmq::Error::EINVAL));
    }
}
