//! A model of the consumer: its type, its arguments, and each handler's signature.

use proc_macro2::Span;
use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, PathArguments, ReturnType, Type};

use super::attr::{self, ConsumerArgs, HandlerArgs};
use crate::ctxt::Ctxt;
use crate::doc::doc_string;

pub(crate) struct Consumer {
    /// The impl block with the handler attributes removed.
    pub(crate) item: ItemImpl,
    /// `impl Consumer for X` (hooks live in this block) rather than `impl X`.
    pub(crate) is_trait_impl: bool,
    pub(crate) args: ConsumerArgs,
    pub(crate) type_name: String,
    pub(crate) docs: Option<String>,
    pub(crate) handlers: Vec<Handler>,
    /// `#[topic]` rather than `#[consumer]`.
    pub(crate) is_topic: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ws,
    Event,
}

impl Kind {
    pub(crate) fn attr_name(self) -> &'static str {
        match self {
            Kind::Ws => "ws_handler",
            Kind::Event => "event_handler",
        }
    }
}

pub(crate) struct Handler {
    pub(crate) kind: Kind,
    pub(crate) method: syn::Ident,
    pub(crate) sig: syn::Signature,
    pub(crate) args: HandlerArgs,
    pub(crate) docs: Option<String>,
    /// Whether the method takes a `&Context` before the message.
    pub(crate) takes_context: bool,
    /// The message type: the method's last argument.
    pub(crate) input: Option<Type>,
    /// Output messages: from the return type, plus `output = [...]`.
    pub(crate) outputs: Vec<Type>,
    pub(crate) span: Span,
}

impl Consumer {
    pub(crate) fn from_item(cx: &Ctxt, mut item: ItemImpl, args: ConsumerArgs, is_topic: bool) -> Consumer {
        let is_trait_impl = item.trait_.is_some();
        let type_name = type_name(&item.self_ty);
        let docs = doc_string(&item.attrs);
        let mut handlers = Vec::new();
        for impl_item in &mut item.items {
            let ImplItem::Fn(method) = impl_item else { continue };
            if let Some(handler) = take_handler(cx, method) {
                handlers.push(handler);
            }
        }
        Consumer { item, is_trait_impl, args, type_name, docs, handlers, is_topic }
    }
}

/// Removes our attribute from a method and models it as a handler, if it is one.
fn take_handler(cx: &Ctxt, method: &mut ImplItemFn) -> Option<Handler> {
    let mut found = None;
    method.attrs.retain(|attr| {
        let kind = if attr.path().is_ident("ws_handler") {
            Kind::Ws
        } else if attr.path().is_ident("event_handler") {
            Kind::Event
        } else {
            return true;
        };
        if found.is_some() {
            cx.error_spanned_by(attr, "a method can be only one handler");
        } else {
            found = Some((kind, attr::parse_handler_args(cx, attr, kind == Kind::Ws)));
        }
        false
    });
    let (kind, args) = found?;
    let typed: Vec<&Type> = method
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(pat) => Some(&*pat.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let input = typed.last().map(|ty| (*ty).clone());
    let mut outputs = match &method.sig.output {
        ReturnType::Default => Vec::new(),
        ReturnType::Type(_, ty) => outputs_of(ty),
    };
    for extra in &args.outputs {
        if !outputs.iter().any(|o| same_type(o, extra)) {
            outputs.push(extra.clone());
        }
    }
    Some(Handler {
        kind,
        method: method.sig.ident.clone(),
        sig: method.sig.clone(),
        docs: doc_string(&method.attrs),
        takes_context: typed.len() >= 2,
        input,
        outputs,
        args,
        span: method.sig.ident.span(),
    })
}

/// The messages a return type sends: `T`, `Option<T>`, `Result<T, E>`, nested; `()` sends none.
fn outputs_of(ty: &Type) -> Vec<Type> {
    match ty {
        Type::Tuple(t) if t.elems.is_empty() => Vec::new(),
        Type::Paren(p) => outputs_of(&p.elem),
        Type::Path(p) if p.qself.is_none() => {
            let Some(last) = p.path.segments.last() else { return vec![ty.clone()] };
            let wrapper = last.ident == "Option" || last.ident == "Result";
            match (&last.arguments, wrapper) {
                (PathArguments::AngleBracketed(args), true) => match args.args.first() {
                    Some(syn::GenericArgument::Type(inner)) => outputs_of(inner),
                    _ => Vec::new(),
                },
                _ => vec![ty.clone()],
            }
        }
        _ => vec![ty.clone()],
    }
}

pub(crate) fn same_type(a: &Type, b: &Type) -> bool {
    quote::quote!(#a).to_string() == quote::quote!(#b).to_string()
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default(),
        other => quote::quote!(#other).to_string(),
    }
}
