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
    let item: syn::ItemImpl = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let err = syn::Error::new_spanned(
                &input,
                "`#[chanx::consumer]` goes on an impl block, as in `#[consumer] impl ChatConsumer { ... }`",
            );
            return fallback::unparsed(err, input);
        }
    };
    let cx = Ctxt::default();
    let args = attr::parse_consumer_args(&cx, args);
    let consumer = ast::Consumer::from_item(&cx, item.clone(), args);
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
