//! Per-frame logs: each frame a connection receives or sends, as one `tracing` event with its
//! action, direction and connection (chanx's `LOG_WEBSOCKET_MESSAGE` and `LOG_IGNORED_ACTIONS`).
//!
//! Off unless [`Settings::log_frames`](crate::Settings::log_frames) names a level: a connection
//! then carries a [`FrameLog`], and without one the hooks are a branch on `None`. With one, a
//! frame costs nothing more until the level is enabled for `chanx::frame`; only then is its
//! action read (the received frame's from the body already parsed, a sent frame's by a scan that
//! borrows from the text). The request id comes from the connection's `websocket` span.

use serde::Deserialize;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::Level;

/// How one consumer's connections log their frames: the level, the actions left out, and how
/// much of a frame's text goes into the event.
#[derive(Debug)]
pub(crate) struct FrameLog {
    level: Level,
    ignored: Box<[Box<str>]>,
    body_limit: Option<usize>,
    /// The connection's channel name, its id in the logs.
    channel: String,
}

/// Which way a frame went, as the `direction` field writes it.
#[derive(Clone, Copy, Debug)]
enum Direction {
    Received,
    Sent,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Received => "received",
            Direction::Sent => "sent",
        }
    }
}

/// The `action` of a sent frame; every other key is skipped without being built.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    action: Option<std::borrow::Cow<'a, str>>,
}

impl FrameLog {
    /// The log of connection `channel` of a consumer that ignores `consumer_ignored` besides
    /// the settings' list; `None` when frames are not logged.
    pub(crate) fn new(settings: &crate::Settings, consumer_ignored: &[&str], channel: &str) -> Option<Self> {
        let level = settings.frame_log_level?;
        let ignored = settings
            .frame_log_ignored_actions
            .iter()
            .map(|action| Box::from(action.as_str()))
            .chain(consumer_ignored.iter().map(|action| Box::from(*action)))
            .collect();
        Some(FrameLog { level, ignored, body_limit: settings.frame_log_body_limit, channel: channel.to_owned() })
    }

    fn enabled(&self) -> bool {
        match self.level {
            Level::ERROR => tracing::enabled!(target: "chanx::frame", Level::ERROR),
            Level::WARN => tracing::enabled!(target: "chanx::frame", Level::WARN),
            Level::INFO => tracing::enabled!(target: "chanx::frame", Level::INFO),
            Level::DEBUG => tracing::enabled!(target: "chanx::frame", Level::DEBUG),
            Level::TRACE => tracing::enabled!(target: "chanx::frame", Level::TRACE),
        }
    }

    /// A client frame, whose parsed body is `body` (`None` when it was not a JSON object).
    pub(crate) fn received(&self, text: &str, action: Option<&str>) {
        if !self.enabled() {
            return;
        }
        self.emit(Direction::Received, action, text);
    }

    /// Frames about to be written.
    pub(crate) fn sent<'f>(&self, frames: impl IntoIterator<Item = &'f Utf8Bytes>) {
        if !self.enabled() {
            return;
        }
        for frame in frames {
            let head = serde_json::from_str::<Head<'_>>(frame.as_str()).ok();
            self.emit(Direction::Sent, head.as_ref().and_then(|h| h.action.as_deref()), frame.as_str());
        }
    }

    fn emit(&self, direction: Direction, action: Option<&str>, text: &str) {
        if action.is_some_and(|action| self.ignored.iter().any(|ignored| &**ignored == action)) {
            return;
        }
        let action = action.unwrap_or("");
        let direction = direction.as_str();
        let channel = self.channel.as_str();
        let bytes = text.len();
        let body = self.body_limit.map(|limit| truncate(text, limit));
        macro_rules! at {
            ($level:expr) => {
                tracing::event!(target: "chanx::frame", $level, channel, direction, action, bytes, body, "websocket frame")
            };
        }
        match self.level {
            Level::ERROR => at!(Level::ERROR),
            Level::WARN => at!(Level::WARN),
            Level::INFO => at!(Level::INFO),
            Level::DEBUG => at!(Level::DEBUG),
            Level::TRACE => at!(Level::TRACE),
        }
    }
}

/// At most `limit` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let end = (0..=limit).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("hi", 10), "hi");
    }

    #[test]
    fn a_sent_frames_action_is_read_without_building_the_rest() {
        let head: Head<'_> = serde_json::from_str(r#"{"payload":{"a":[1,2]},"action":"said"}"#).expect("json");
        assert_eq!(head.action.as_deref(), Some("said"));
    }
}
