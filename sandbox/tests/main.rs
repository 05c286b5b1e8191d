//! The sandbox's tests: every endpoint, socket and page, on SQLite and on PostgreSQL.

mod support;

mod account_management;
mod accounts;
mod admin;
mod assistants;
mod browser;
mod chat_api;
mod chat_pages;
mod chat_sockets;
mod cli;
mod discussion;
mod fake_openai;
mod hostile_input;
mod openapi;
mod parity;
mod server;
mod server_limits;
mod sessions;
mod smtp_sink;
