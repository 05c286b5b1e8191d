//! Testing consumers: [`WebsocketCommunicator`] drives a routed consumer in-process, through the
//! same connection code as the server, over an in-memory pipe; [`CaptureLayer`] records what
//! was broadcast; [`MemoryListener`] serves a whole server (the accept loop, HTTP, the
//! handshake) over in-memory pipes, for tests on tokio's paused clock.
//!
//! Every wait has a timeout, and a failed wait says what was received instead.

mod capture;
mod communicator;
mod listener;

pub use capture::{CaptureLayer, Captured, CapturedTopicBroadcast, Target};
pub use communicator::{CommunicatorBuilder, PresenceMember, ReceiveError, TopicMessage, WebsocketCommunicator};
pub use listener::{MemoryConnector, MemoryListener};
