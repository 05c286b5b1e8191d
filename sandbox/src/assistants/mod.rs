//! The AI assistant: conversations whose answers stream token by token over a WebSocket, for
//! signed-in users and anonymous visitors.

pub mod api;
pub mod consumers;
pub mod generation;
pub mod llm;
pub mod model;
pub mod pages;
pub mod resume;
