//! The WebSocket close codes chanx uses, and why.

/// A normal close, by either side.
pub const NORMAL: u16 = 1000;
/// The server is going away (shutdown).
pub const GOING_AWAY: u16 = 1001;
/// A policy limit was crossed, such as the outbound queue of a client that stopped reading.
pub const POLICY_VIOLATION: u16 = 1008;
/// A frame or message was larger than the configured limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// Authentication failed with a status outside 400–599 (failures inside it close with 4000 + status).
pub const UNAUTHENTICATED: u16 = 4401;
