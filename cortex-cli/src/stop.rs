//! When a long-running command (`record`, `play`, `bridge`) stops: at its
//! deadline, Ctrl-C or SIGTERM.

/// Ends at `deadline` (never when `None`), Ctrl-C or SIGTERM.
pub(crate) async fn stopped(deadline: Option<tokio::time::Instant>) {
    let duration = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = duration => {}
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
