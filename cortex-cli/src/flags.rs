//! Checks of the numeric flags the commands share: seconds (`--window`,
//! `--timeout`, `--duration`, `--delay`, ...) become a `Duration` only
//! when they are a number a clock can wait for, so no flag can make a
//! command panic.

use std::time::Duration;

/// The longest wait a flag may ask for.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// `value` seconds of the flag `setting`: a finite number from 0 (or,
/// with `positive`, above 0) up to a year.
pub(crate) fn seconds(
    setting: &str,
    value: f64,
    positive: bool,
) -> Result<Duration, cortex::Error> {
    let low_ok = if positive { value > 0.0 } else { value >= 0.0 };
    if low_ok && value <= MAX_SECONDS {
        if let Ok(duration) = Duration::try_from_secs_f64(value) {
            return Ok(duration);
        }
    }
    let least = if positive { "above 0" } else { "0 or more" };
    Err(cortex::Error::InvalidSetting {
        setting: setting.into(),
        problem: format!("must be a number of seconds, {least} and at most a year, not {value}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_checked_not_panicked_on() {
        assert_eq!(
            seconds("--x", 1.5, true).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(seconds("--x", 0.0, false).unwrap(), Duration::ZERO);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e20] {
            let e = seconds("--window", bad, true).unwrap_err().to_string();
            assert!(e.contains("--window"), "{e}");
        }
        assert!(seconds("--x", -0.5, false).is_err());
    }
}
