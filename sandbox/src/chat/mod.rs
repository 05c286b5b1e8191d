//! Group chat: chats with members in roles, messages, two live sockets, REST and pages.

pub mod api;
pub mod consumers;
pub mod events;
pub mod model;
pub mod pages;
pub mod service;
