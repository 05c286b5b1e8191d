//! Procedural macros for [chanx](https://docs.rs/chanx). Use them through the `chanx` crate, which
//! re-exports them; `docs/architecture.md` shows what they expand to.

mod consumer;
mod ctxt;
mod doc;
mod message;

use proc_macro::TokenStream;

/// Implements `chanx::Message` for a struct: `#[derive(Message)] #[message(action = "chat")]`.
#[proc_macro_derive(Message, attributes(message))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    message::derive(input.into()).into()
}

/// Turns an `impl` block with `#[ws_handler]` and `#[event_handler]` methods into a consumer.
///
/// Arguments, all optional: `name`, `description`, `tags = [..]`, `groups = [..]`
/// (`extra_groups`), `passthrough = [Event]`, `emits = [Message]`, `camelize`, `send_completion`,
/// `ordered`, `authenticator = Type`, `topics = [Topic]`, `layer = "name"`, and
/// `log_ignored = ["streaming"]`: the actions whose frames this consumer leaves out of the
/// per-frame log (`Consumer::LOG_IGNORED_ACTIONS`), each a non-empty action without spaces,
/// listed once.
#[proc_macro_attribute]
pub fn consumer(args: TokenStream, input: TokenStream) -> TokenStream {
    consumer::expand(args.into(), input.into()).into()
}

/// Turns an `impl` block into a topic: `#[topic(pattern = "room:{name}")]`, with its own
/// `#[ws_handler]` and `#[event_handler]` methods, on `impl RoomTopic` or `impl Topic for RoomTopic`.
#[proc_macro_attribute]
pub fn topic(args: TokenStream, input: TokenStream) -> TokenStream {
    consumer::expand_topic(args.into(), input.into()).into()
}

/// Marks a consumer method as the handler of a client message. Only valid inside `#[consumer]`.
#[proc_macro_attribute]
pub fn ws_handler(_args: TokenStream, input: TokenStream) -> TokenStream {
    outside_consumer("ws_handler", input)
}

/// Marks a consumer method as the handler of a channel-layer event. Only valid inside `#[consumer]`.
#[proc_macro_attribute]
pub fn event_handler(_args: TokenStream, input: TokenStream) -> TokenStream {
    outside_consumer("event_handler", input)
}

fn outside_consumer(name: &str, input: TokenStream) -> TokenStream {
    let input = proc_macro2::TokenStream::from(input);
    let msg = format!("`#[{name}]` is only valid on a method of an impl block marked `#[chanx::consumer]`");
    let err = syn::Error::new(proc_macro2::Span::call_site(), msg).to_compile_error();
    quote::quote!(#err #input).into()
}
