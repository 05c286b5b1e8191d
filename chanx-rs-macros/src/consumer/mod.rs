//! `#[consumer]`: parse (`attr`, `ast`) → check (`valid`) → generate (`expand`), or on failure emit
//! the user's code untouched plus the errors (`fallback`).

mod ast;
mod attr;
mod expand;
mod fallback;
mod valid;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub(crate) fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    expand_as(args, input, false)
}

/// `#[topic]`: the same pipeline, generating a `Topic` impl instead of a `Consumer` one.
pub(crate) fn expand_topic(args: TokenStream, input: TokenStream) -> TokenStream {
    expand_as(args, input, true)
}

fn expand_as(args: TokenStream, input: TokenStream, is_topic: bool) -> TokenStream {
    let item: syn::ItemImpl = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let hint = if is_topic {
                "`#[chanx::topic]` goes on an impl block, as in `#[topic(pattern = \"room:{name}\")] impl RoomTopic { ... }`"
            } else {
                "`#[chanx::consumer]` goes on an impl block, as in `#[consumer] impl ChatConsumer { ... }`"
            };
            let err = syn::Error::new_spanned(&input, hint);
            return fallback::unparsed(err, input);
        }
    };
    let cx = Ctxt::default();
    let args = if is_topic { attr::parse_topic_args(&cx, args) } else { attr::parse_consumer_args(&cx, args) };
    let consumer = ast::Consumer::from_item(&cx, item.clone(), args, is_topic);
    valid::check(&cx, &consumer);
    match cx.check() {
        Ok(()) => {
            let out = expand::consumer(&consumer);
            if std::env::var_os("CHANX_MACROS_DEBUG").is_some() {
                eprintln!("{out}");
            }
            out
        }
        Err(errors) => fallback::with_errors(errors, item),
    }
}

#[cfg(test)]
mod doc_example;
