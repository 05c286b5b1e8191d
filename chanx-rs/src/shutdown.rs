//! Graceful shutdown: one signal per [`Router`](crate::Router), watched by each of its connections.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Tells connections to close with 1001, and learns when the last one has finished: every live
/// connection holds a receiver, so "all receivers dropped" means "all connections done".
#[derive(Debug, Clone)]
pub(crate) struct Shutdown(Arc<watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(Arc::new(watch::Sender::new(false)))
    }
}

impl Shutdown {
    /// A handle for one connection; hold it until the connection is over.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    pub(crate) fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Tells every connection to close, then waits up to `timeout` for them to finish.
    /// `false` when some were still running at the deadline.
    pub(crate) async fn trigger(&self, timeout: Duration) -> bool {
        self.0.send_replace(true);
        let open = self.0.receiver_count();
        tracing::info!(connections = open, "shutting down: closing connections (going away)");
        let finished = tokio::time::timeout(timeout, self.0.closed()).await.is_ok();
        if !finished {
            tracing::warn!(
                connections = self.0.receiver_count(),
                ?timeout,
                "connections still open after the shutdown timeout"
            );
        }
        finished
    }
}

/// Resolves once shutdown was triggered; never when the router is gone without one. Polled
/// through `gate` (see [`PollGate`](crate::signal::PollGate)): a connection's `select!` polls
/// it on every turn, and a waiting `watch` future takes a lock on each poll.
pub(crate) fn triggered(
    receiver: &mut watch::Receiver<bool>,
    gate: crate::signal::PollGate,
) -> impl std::future::Future<Output = ()> + Send + '_ {
    gate.gate(async move {
        if receiver.wait_for(|down| *down).await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}
