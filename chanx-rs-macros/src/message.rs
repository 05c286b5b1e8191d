//! `#[derive(Message)]`: declares the `action` literal of a message type, once.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ctxt::Ctxt;

/// Keys that belong to the frame envelope or the discriminator, never to a message's own fields.
const RESERVED: [&str; 5] = ["action", "version", "topic", "ref", "seq"];

pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    let cx = Ctxt::default();
    let action = parse_action(&cx, &input);
    check_fields(&cx, &input);
    if let Err(errors) = cx.check() {
        return errors;
    }
    let Some(action) = action else {
        return TokenStream::new();
    };
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        impl #impl_generics ::chanx::Message for #ident #ty_generics #where_clause {
            const ACTION: &'static str = #action;
        }
    }
}

fn parse_action(cx: &Ctxt, input: &DeriveInput) -> Option<LitStr> {
    let mut action = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("message")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("action") {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(meta.error("the action must not be empty"));
                }
                action = Some(lit);
                Ok(())
            } else {
                Err(meta.error("unknown `message` attribute; the only one is `action = \"...\"`"))
            }
        });
        if let Err(err) = result {
            cx.push(err);
        }
    }
    if action.is_none() {
        cx.error_spanned_by(
            &input.ident,
            "`#[derive(Message)]` needs the action literal, as in `#[message(action = \"chat\")]`",
        );
    }
    action
}

fn check_fields(cx: &Ctxt, input: &DeriveInput) {
    let Data::Struct(data) = &input.data else {
        cx.error_spanned_by(
            &input.ident,
            "`#[derive(Message)]` works on structs with named fields, as in `struct Chat { payload: ChatPayload }`",
        );
        return;
    };
    match &data.fields {
        Fields::Named(fields) => {
            for field in &fields.named {
                let Some(name) = &field.ident else { continue };
                let name_str = name.to_string();
                let name_str = name_str.trim_start_matches("r#");
                if RESERVED.contains(&name_str) {
                    cx.error_spanned_by(
                        name,
                        format!(
                            "`{name_str}` is reserved for the frame envelope (action, version, topic, ref, seq); \
                             rename the field or put it inside `payload`"
                        ),
                    );
                }
            }
        }
        Fields::Unit => cx.error_spanned_by(
            &input.ident,
            "a message without payload is written with braces, as in `struct Ping {}`, \
             so that it decodes from a JSON object",
        ),
        Fields::Unnamed(_) => cx.error_spanned_by(
            &input.ident,
            "`#[derive(Message)]` works on structs with named fields, as in `struct Chat { payload: ChatPayload }`",
        ),
    }
}
