//! The discussion forum: questions and answers with votes and accepted answers, updated live.

pub mod api;
pub mod consumers;
pub mod events;
pub mod model;
pub mod pages;
pub mod service;
