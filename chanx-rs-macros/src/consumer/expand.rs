//! Generates the code of a checked consumer. Only quoting happens here: every behaviour lives in
//! non-generic runtime functions of `chanx::__private`, written and tested once.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{ImplItem, Type};

use super::ast::{Consumer, Handler, Kind, same_type};

pub(crate) fn consumer(c: &Consumer) -> TokenStream {
    let self_ty = &c.item.self_ty;
    let (user_impl, consumer_impl) = split_impls(c);
    let ws: Vec<&Handler> = c.handlers.iter().filter(|h| h.kind == Kind::Ws).collect();
    let events: Vec<&Handler> = c.handlers.iter().filter(|h| h.kind == Kind::Event).collect();

    let groups = &c.args.groups;
    let message_actions = ws.iter().map(|h| action_of(input(h)));
    let info = info(c, &ws, &events);
    let ws_arms = ws.iter().map(|h| dispatch_arm(h, quote!(decode)));
    let event_arms = events.iter().map(|h| dispatch_arm(h, quote!(decode_event)));
    let passthrough_arms = c.args.passthrough.iter().map(|ty| {
        let action = action_of(ty);
        quote! {
            if action == #action {
                return ::core::option::Option::Some(::chanx::__private::boxed(async move {
                    ::chanx::__private::passthrough::<#ty>(body)
                }));
            }
        }
    });
    let duplicates = duplicate_checks(c, &ws).chain(duplicate_checks(c, &events)).chain(duplicate_patterns(c));
    let topics = &c.args.topics;
    let topics_const = (!topics.is_empty()).then(|| {
        quote! {
            const TOPICS: &'static [::chanx::__private::TopicType] = &[#(::chanx::__private::TopicType::of::<#topics>()),*];
        }
    });

    let assertions = c.handlers.iter().flat_map(|h| {
        let tys = std::iter::once(input(h)).chain(h.outputs.iter());
        tys.map(assert_message).collect::<Vec<_>>()
    });
    let list_assertions = c.args.passthrough.iter().chain(c.args.emits.iter()).map(assert_message);
    let event_markers = events
        .iter()
        .map(|h| input(h))
        .chain(c.args.passthrough.iter().filter(|p| !events.iter().any(|h| same_type(input(h), p))))
        .map(|ty| quote!(impl ::chanx::HandlesEvent<#ty> for #self_ty {}));

    quote! {
        #user_impl
        #consumer_impl

        impl ::chanx::__private::Handlers for #self_ty {
            const GROUPS: &'static [&'static str] = &[#(#groups),*];
            const MESSAGE_ACTIONS: &'static [&'static str] = &[#(#message_actions),*];
            #topics_const

            fn info() -> ::chanx::ConsumerInfo {
                #info
            }

            #[allow(unused_variables)]
            fn dispatch_message<'a>(
                &'a self,
                ctx: ::chanx::Context,
                action: &str,
                body: ::chanx::__private::Body<'_>,
            ) -> ::core::option::Option<::chanx::__private::HandlerFuture<'a>> {
                #(#ws_arms)*
                ::core::option::Option::None
            }

            #[allow(unused_variables)]
            fn dispatch_event<'a>(
                &'a self,
                ctx: ::chanx::Context,
                action: &str,
                body: &'a ::chanx::__private::Value,
            ) -> ::core::option::Option<::chanx::__private::HandlerFuture<'a>> {
                #(#event_arms)*
                #(#passthrough_arms)*
                ::core::option::Option::None
            }
        }

        #(#event_markers)*

        const _: () = {
            #(#assertions)*
            #(#list_assertions)*
            #(#duplicates)*
        };
    }
}

/// The user's methods in an inherent impl, and the `Consumer` impl (hooks and settings).
fn split_impls(c: &Consumer) -> (TokenStream, TokenStream) {
    let self_ty = &c.item.self_ty;
    let consts = if c.is_topic { topic_consts(c) } else { settings_consts(c) };
    let trait_name = if c.is_topic { quote!(::chanx::Topic) } else { quote!(::chanx::Consumer) };
    if c.is_trait_impl {
        let handler_names: Vec<_> = c.handlers.iter().map(|h| &h.method).collect();
        let (handlers, hooks): (Vec<&ImplItem>, Vec<&ImplItem>) = c
            .item
            .items
            .iter()
            .partition(|item| matches!(item, ImplItem::Fn(f) if handler_names.contains(&&f.sig.ident)));
        let attrs = &c.item.attrs;
        let trait_path = c.item.trait_.as_ref().map(|(_, path, _)| path);
        (
            quote!(impl #self_ty { #(#handlers)* }),
            quote!(#(#attrs)* impl #trait_path for #self_ty { #consts #(#hooks)* }),
        )
    } else {
        let item = &c.item;
        (quote!(#item), quote!(impl #trait_name for #self_ty { #consts }))
    }
}

/// A topic's constants, and `new` as `Default::default()` unless the block has its own.
fn topic_consts(c: &Consumer) -> TokenStream {
    let pattern = &c.args.pattern;
    let type_name = &c.type_name;
    let completion = c
        .args
        .send_completion
        .as_ref()
        .map(|b| quote!(const SEND_COMPLETION: ::core::option::Option<bool> = ::core::option::Option::Some(#b);));
    let history = c.args.history.as_ref().map(|h| {
        let (size, millis) = (&h.size, h.ttl_millis);
        quote!(const HISTORY: ::core::option::Option<::chanx::History> = ::core::option::Option::Some(
            ::chanx::History::new(#size, ::core::time::Duration::from_millis(#millis))
        );)
    });
    let has_new =
        c.is_trait_impl && c.item.items.iter().any(|item| matches!(item, ImplItem::Fn(f) if f.sig.ident == "new"));
    let new = (!has_new).then(|| {
        let span = syn::spanned::Spanned::span(&c.item.self_ty);
        quote_spanned! {span=>
            fn new(_ctx: &::chanx::Context, _params: &::chanx::TopicParams) -> Self {
                <Self as ::core::default::Default>::default()
            }
        }
    });
    let declares_entry = c.is_trait_impl
        && c.item.items.iter().any(|item| matches!(item, ImplItem::Type(t) if t.ident == "PresenceEntry"));
    let presence = match &c.args.presence {
        Some(entry) => quote!(const PRESENCE: bool = true; type PresenceEntry = #entry;),
        None if declares_entry => quote!(),
        None => quote!(
            type PresenceEntry = ();
        ),
    };
    quote! {
        const PATTERN: &'static str = #pattern;
        const TYPE_NAME: &'static str = #type_name;
        #completion
        #history
        #presence
        #new
    }
}

/// `type Authenticator`: the one named by `authenticator = T`, else `AllowAll` unless the
/// `impl Consumer` block declares it itself.
fn authenticator_type(c: &Consumer) -> TokenStream {
    let declared = c.item.items.iter().any(|item| matches!(item, ImplItem::Type(t) if t.ident == "Authenticator"));
    match &c.args.authenticator {
        Some(ty) => quote!(type Authenticator = #ty;),
        None if declared => quote!(),
        None => quote!(
            type Authenticator = ::chanx::auth::AllowAll;
        ),
    }
}

fn settings_consts(c: &Consumer) -> TokenStream {
    let camelize = c
        .args
        .camelize
        .as_ref()
        .map(|b| quote!(const CAMELIZE: ::core::option::Option<bool> = ::core::option::Option::Some(#b);));
    let completion = c
        .args
        .send_completion
        .as_ref()
        .map(|b| quote!(const SEND_COMPLETION: ::core::option::Option<bool> = ::core::option::Option::Some(#b);));
    let ordered = c.args.ordered.as_ref().map(|b| quote!(const ORDERED: bool = #b;));
    let layer = c.args.layer.as_ref().map(|name| quote!(const LAYER: &'static str = #name;));
    let log_ignored = c
        .args
        .log_ignored
        .as_ref()
        .map(|(_, actions)| quote!(const LOG_IGNORED_ACTIONS: &'static [&'static str] = &[#(#actions),*];));
    let authenticator = authenticator_type(c);
    quote!(#camelize #completion #ordered #layer #log_ignored #authenticator)
}

fn input(h: &Handler) -> &Type {
    h.input.as_ref().expect("validated: every handler has a message argument")
}

fn action_of(ty: &Type) -> TokenStream {
    quote!(<#ty as ::chanx::Message>::ACTION)
}

/// One dispatch arm: decode the message (with `decode`, from the client's frame, or
/// `decode_event`, from a borrow of an event every group member shares), call the method, turn
/// its result into an outcome.
fn dispatch_arm(h: &Handler, decode: TokenStream) -> TokenStream {
    let ty = input(h);
    let method = &h.method;
    let action = action_of(ty);
    let call =
        if h.takes_context { quote!(self.#method(&ctx, message).await) } else { quote!(self.#method(message).await) };
    quote! {
        if action == #action {
            // Decoded before the future starts: a client frame's body borrows its text.
            return ::core::option::Option::Some(match ::chanx::__private::#decode::<#ty>(body) {
                ::core::result::Result::Ok(message) => ::chanx::__private::boxed(async move {
                    ::chanx::__private::IntoOutcome::into_outcome(#call)
                }),
                ::core::result::Result::Err(invalid) => ::chanx::__private::boxed(::core::future::ready(invalid)),
            });
        }
    }
}

/// `ConsumerInfo` for AsyncAPI and error messages, built from the attributes and signatures.
fn info(c: &Consumer, ws: &[&Handler], events: &[&Handler]) -> TokenStream {
    let type_name = &c.type_name;
    let name = opt_str(c.args.name.as_ref().map(syn::LitStr::value));
    let description = opt_str(c.args.description.as_ref().map(syn::LitStr::value).or(c.docs.clone()));
    let tags = &c.args.tags;
    let groups = &c.args.groups;
    let handler = |h: &&Handler, kind: TokenStream| {
        let ty = input(h);
        let method = h.method.to_string();
        let operation = h.args.operation.as_ref().map(syn::LitStr::value).unwrap_or_else(|| method.clone());
        let summary = opt_str(h.args.summary.as_ref().map(syn::LitStr::value));
        let description = opt_str(h.args.description.as_ref().map(syn::LitStr::value).or(h.docs.clone()));
        let tags = &h.args.tags;
        let outputs = h.outputs.iter().map(|o| quote!(::chanx::MessageInfo::of::<#o>()));
        quote! {
            ::chanx::HandlerInfo::new(#kind, #method, #operation, ::chanx::MessageInfo::of::<#ty>())
                .with_docs(#summary, #description, &[#(#tags),*])
                #(.with_output(#outputs))*
        }
    };
    let ws_infos = ws.iter().map(|h| handler(h, quote!(::chanx::HandlerKind::Message)));
    let event_infos = events.iter().map(|h| handler(h, quote!(::chanx::HandlerKind::Event)));
    let passthrough = c.args.passthrough.iter().map(|ty| quote!(::chanx::MessageInfo::of::<#ty>()));
    let emits = c.args.emits.iter().map(|ty| quote!(::chanx::MessageInfo::of::<#ty>()));
    let topics = c.args.topics.iter().map(|ty| {
        let span = syn::spanned::Spanned::span(ty);
        quote_spanned!(span=> ::chanx::__private::topic_info::<#ty>())
    });
    let constructor = match &c.args.pattern {
        Some(pattern) if c.is_topic => {
            quote!(::chanx::ConsumerInfo::new_topic(#type_name, #name, #description, &[#(#tags),*], #pattern))
        }
        _ => quote!(::chanx::ConsumerInfo::new(#type_name, #name, #description, &[#(#tags),*], &[#(#groups),*])),
    };
    quote! {
        #constructor
            #(.with_topic(#topics))*
            #(.with_handler(#ws_infos))*
            #(.with_handler(#event_infos))*
            #(.with_passthrough(#passthrough))*
            #(.with_emits(#emits))*
    }
}

fn opt_str(value: Option<String>) -> TokenStream {
    match value {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

/// Two handlers of one kind for one action: a compile-time error pointed at the second handler.
fn duplicate_checks<'a>(c: &'a Consumer, handlers: &'a [&'a Handler]) -> impl Iterator<Item = TokenStream> + 'a {
    handlers.iter().enumerate().flat_map(move |(i, first)| {
        handlers[i + 1..].iter().map(move |second| {
            let (a, b) = (action_of(input(first)), action_of(input(second)));
            let kind = match first.kind {
                Kind::Ws => "ws_handler",
                Kind::Event => "event_handler",
            };
            let mut names = [first.method.to_string(), second.method.to_string()];
            names.sort();
            let what = if c.is_topic { "topic" } else { "consumer" };
            let msg = format!(
                "{} has two #[{kind}] methods for one action: {}() and {}(). Actions must be unique within a {what}.",
                c.type_name, names[0], names[1]
            );
            quote_spanned! {second.span=>
                const _: () = if ::chanx::__private::str_eq(#a, #b) { ::core::panic!(#msg) };
            }
        })
    })
}

/// Points a missing `#[derive(Message)]` at the type in the user's own signature.
fn assert_message(ty: &Type) -> TokenStream {
    let span = syn::spanned::Spanned::span(ty);
    quote_spanned!(span=> ::chanx::__private::assert_message::<#ty>();)
}

/// Two hosted topics with patterns that match the same topics: a compile-time error pointed at
/// the second (the patterns are constants of other types, so a constant compares them).
fn duplicate_patterns(c: &Consumer) -> impl Iterator<Item = TokenStream> + '_ {
    let topics = &c.args.topics;
    topics.iter().enumerate().flat_map(move |(i, first)| {
        topics[i + 1..].iter().map(move |second| {
            let name = |ty: &Type| quote!(#ty).to_string().replace(' ', "");
            let msg = format!(
                "{} hosts two topics with the same pattern: {} and {}. A topic string must name one topic type.",
                c.type_name,
                name(first),
                name(second)
            );
            let span = syn::spanned::Spanned::span(second);
            quote_spanned! {span=>
                const _: () = if ::chanx::__private::same_shape(
                    <#first as ::chanx::Topic>::PATTERN,
                    <#second as ::chanx::Topic>::PATTERN,
                ) { ::core::panic!(#msg) };
            }
        })
    })
}
