//! Standard output for the CLI: a reader that goes away
//! (`cortex topic echo /x | head -2`) ends the command quietly, with
//! success, instead of a panic in `println!`.

use std::io::Write;

/// Writes `text` and a newline to stdout, flushed (a pipe reader sees each
/// line as it comes). A closed pipe comes back as an `Error::Io` whose
/// cause is `BrokenPipe`, which [`super::main`] treats as a normal end.
pub(crate) fn line(text: std::fmt::Arguments<'_>) -> Result<(), cortex::Error> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(text)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|cause| cortex::Error::Io {
            context: "writing to standard output".into(),
            cause,
        })
}

/// Whether `error` is stdout's reader having gone away.
pub(crate) fn is_broken_pipe(error: &cortex::Error) -> bool {
    matches!(error, cortex::Error::Io { cause, .. } if cause.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `println!` for the CLI: `outln!(...)?` returns the write error.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;
