//! Pages behind shared memory before the first write: a full `/dev/shm`
//! becomes a counted failure instead of a SIGBUS.

use std::mem::MaybeUninit;

use super::sender::SendFailed;

/// The sample memory known to have pages behind it. Shared memory is a
/// file in `/dev/shm` (a tmpfs) whose pages are allocated on first write;
/// when the tmpfs is full (a container's 64 MiB default, say) that first
/// write kills the process with SIGBUS. So each sample's range is
/// populated ([`populate`]) before its first use, which fails cleanly
/// instead; iceoryx2 reuses the same few samples, so this costs one
/// system call per sample slot, not per message.
#[derive(Debug, Default)]
pub(super) struct Backed {
    /// Sample start → bytes populated from there.
    ranges: std::collections::HashMap<usize, usize>,
    /// Largest sample asked for: a larger one may come from a new segment
    /// (iceoryx2 grows its pool), at addresses an old one may have used.
    largest: usize,
}

impl Backed {
    /// Makes sure pages back `payload` (a loaned sample) before anything
    /// writes it.
    pub(super) fn back(&mut self, payload: &mut [MaybeUninit<u8>]) -> Result<(), SendFailed> {
        let (start, len) = (payload.as_ptr() as usize, payload.len());
        if len > self.largest {
            self.ranges.clear();
            self.largest = len;
        }
        if self.ranges.get(&start).is_some_and(|&done| done >= len) {
            return Ok(());
        }
        populate(payload)?;
        self.ranges.insert(start, len);
        Ok(())
    }
}

/// Allocates the pages behind `bytes` (a range of a shared-memory mapping),
/// or says why it cannot: an error instead of a SIGBUS at the first write.
fn populate(bytes: &mut [MaybeUninit<u8>]) -> Result<(), SendFailed> {
    if bytes.is_empty() {
        return Ok(());
    }
    let page = 4096;
    let start = bytes.as_ptr() as usize / page * page;
    let end = (bytes.as_ptr() as usize + bytes.len()).next_multiple_of(page);
    // SAFETY: `start..end` covers `bytes` widened to whole pages, all part
    // of the same shared mapping (iceoryx2 maps whole pages).
    // MADV_POPULATE_WRITE only allocates and maps pages, as a write would,
    // without changing any byte, so other samples on the edge pages are
    // untouched.
    let rc = unsafe {
        libc::madvise(
            start as *mut libc::c_void,
            end - start,
            libc::MADV_POPULATE_WRITE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EINVAL) {
        // Linux before 5.14: no MADV_POPULATE_WRITE; check the free space.
        return room_in_dev_shm(end - start);
    }
    Err(SendFailed(format!(
        "shared memory is full: no pages for a {}-byte sample in /dev/shm ({error}); \
         free space there, or give a container a larger one (docker run --shm-size=1g)",
        bytes.len()
    )))
}

/// Whether `/dev/shm` has `len` bytes free (the check where populating is
/// not supported).
fn room_in_dev_shm(len: usize) -> Result<(), SendFailed> {
    let mut stat = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: the path is a NUL-terminated literal and `stat` is writable
    // memory of the right type, filled in when the call returns 0.
    if unsafe { libc::statvfs(c"/dev/shm".as_ptr(), stat.as_mut_ptr()) } != 0 {
        return Ok(());
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    let free = (stat.f_bavail as u128) * (stat.f_frsize as u128);
    if free >= len as u128 {
        Ok(())
    } else {
        Err(SendFailed(format!(
            "shared memory is full: /dev/shm has {free} bytes free, a sample needs {len}; \
             free space there, or give a container a larger one (docker run --shm-size=1g)"
        )))
    }
}
