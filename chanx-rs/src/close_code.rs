//! The WebSocket close codes chanx uses, and why.

/// A normal close, by either side.
pub const NORMAL: u16 = 1000;
/// The server is going away (shutdown).
pub const GOING_AWAY: u16 = 1001;
/// A policy limit was crossed, such as the outbound queue of a client that stopped reading.
pub const POLICY_VIOLATION: u16 = 1008;
/// A frame or message was larger than the configured limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The client sent nothing, not even a pong, within the idle timeout. The Python `websockets`
/// server (under uvicorn, where chanx runs) uses the same code for its keepalive timeout.
pub const IDLE_TIMEOUT: u16 = 1011;
/// Authentication did not finish within its deadline (4000 + HTTP 408).
pub const AUTHENTICATION_TIMEOUT: u16 = 4408;
/// Authentication failed with a status outside 400–599 (failures inside it close with 4000 + status).
pub const UNAUTHENTICATED: u16 = 4401;
