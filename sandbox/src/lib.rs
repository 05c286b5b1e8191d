//! The chanx-rs reference app: a Rust rebuild of chanx's Django example.
//!
//! * [`accounts`]: users by email, argon2 passwords, JWT access/refresh tokens in HttpOnly cookies
//!   or Bearer headers.
//! * [`chat`]: group chat with roles; REST under `/api/chat/`, sockets `/ws/chat/group/` and
//!   `/ws/chat/{pk}/`, pages under `/chat/`.
//! * [`assistants`]: the AI assistant; REST under `/api/assistants/`, the socket
//!   `/ws/assistants/{id}/` streaming answers, pages under `/assistants/`.
//! * [`discussion`]: the Q&A forum; REST under `/api/discussion/`, sockets `/ws/discussion/` and
//!   `/ws/discussion/{pk}/`, pages under `/discussion/`.
//! * [`admin`]: staff-only pages at `/admin/`.
//! * [`docs`]: the AsyncAPI document of every consumer.
//! * [`sessions`]: every socket of a user in the user's group, closed when their access ends.
//!
//! [`state::AppState`] is what the handlers share; [`app::Sandbox`] puts it together; `main.rs`
//! adds the command line.

pub mod accounts;
pub mod admin;
pub mod app;
pub mod assistants;
pub mod broadcast;
pub mod chat;
pub mod config;
pub mod csrf;
pub mod db;
pub mod discussion;
pub mod docs;
pub mod mail;
pub mod openapi;
pub mod rest;
pub mod sessions;
pub mod state;
pub mod throttle;
pub mod timestamp;
pub mod web;

pub use app::Sandbox;
pub use config::Config;
pub use db::Db;
pub use state::AppState;
