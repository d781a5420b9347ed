//! The process's open-file limit.
//!
//! Every connection to one of our sockets costs a descriptor, and the soft
//! limit is often 1024 while the hard one is far higher. A node or daemon
//! raises the soft limit to the hard one once, at start, so an ordinary
//! system with many peers never meets it; past it, libzmq (as patched in
//! `third_party/zeromq-src`) sheds new connections instead of aborting.

use std::sync::OnceLock;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (once per process);
/// returns the soft limit now in force, if it could be read.
pub fn raise_fd_limit() -> Option<u64> {
    static RAISED: OnceLock<Option<u64>> = OnceLock::new();
    *RAISED.get_or_init(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid rlimit for getrlimit to fill.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: `raised` is a valid rlimit; raising the soft limit up
            // to the hard one needs no privilege.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                tracing::debug!(
                    from = limit.rlim_cur,
                    to = limit.rlim_max,
                    "raised the open-file limit"
                );
                limit.rlim_cur = limit.rlim_max;
            } else {
                tracing::debug!(
                    soft = limit.rlim_cur,
                    hard = limit.rlim_max,
                    "could not raise the open-file limit"
                );
            }
        }
        Some(limit.rlim_cur)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let now = raise_fd_limit().expect("getrlimit works");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(
            // SAFETY: as above.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, now);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }
}
