//! Failed broadcasts are logged, not returned: the change behind each one is already saved, and
//! pages show it on their next load.

use chanx::Message;
use chanx::layer::LayerError;

/// Logs `sent` when it failed, with the group and the event's action.
pub fn logged<E: Message>(group: &str, _: &E, sent: Result<(), LayerError>) {
    if let Err(err) = sent {
        tracing::warn!(error = %err, group, action = E::ACTION, "broadcast failed");
    }
}
