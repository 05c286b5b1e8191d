//! Testing consumers: [`WebsocketCommunicator`] drives a routed consumer in-process, through the
//! same connection code as the server, over an in-memory pipe; [`CaptureLayer`] records what
//! was broadcast.
//!
//! Every wait has a timeout, and a failed wait says what was received instead.

mod capture;
mod communicator;

pub use capture::{CaptureLayer, Captured, Target};
pub use communicator::{CommunicatorBuilder, ReceiveError, WebsocketCommunicator};
