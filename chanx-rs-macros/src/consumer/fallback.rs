//! When the consumer has errors, emit the user's code unchanged (minus our attributes) next to the
//! errors, so that one real mistake is not buried under "method not found" cascades.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ImplItem, ItemImpl};

pub(crate) fn with_errors(errors: TokenStream, mut item: ItemImpl) -> TokenStream {
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item {
            method.attrs.retain(|a| !a.path().is_ident("ws_handler") && !a.path().is_ident("event_handler"));
        }
    }
    // A trait impl with handler methods in it would add "not a member of trait" errors.
    if item.trait_.is_some() {
        item.items.retain(|i| !matches!(i, ImplItem::Fn(_)));
    }
    quote!(#errors #item)
}

pub(crate) fn unparsed(err: syn::Error, input: TokenStream) -> TokenStream {
    let err = err.to_compile_error();
    quote!(#err #input)
}
