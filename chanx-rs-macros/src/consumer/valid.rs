//! Checks the model and reports every mistake at once, each pointed at the user's own tokens.

use syn::{FnArg, Type};

use super::ast::{Consumer, Kind};
use crate::ctxt::Ctxt;

pub(crate) fn check(cx: &Ctxt, consumer: &Consumer) {
    let item = &consumer.item;
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(&item.generics, "`#[consumer]` does not support generic consumers");
    }
    if let Some((_, path, _)) = &item.trait_ {
        let is_consumer = path.segments.last().is_some_and(|s| s.ident == "Consumer");
        if !is_consumer {
            cx.error_spanned_by(path, "`#[consumer]` goes on `impl Consumer for X` or on an inherent `impl X`");
        }
    }
    if consumer.is_trait_impl && consumer.args.camelize.is_some() {
        cx.error_spanned_by(
            consumer.args.camelize.as_ref(),
            "on `impl Consumer for X`, write `const CAMELIZE: Option<bool> = Some(..);` in the block instead",
        );
    }
    if consumer.is_trait_impl && consumer.args.send_completion.is_some() {
        cx.error_spanned_by(
            consumer.args.send_completion.as_ref(),
            "on `impl Consumer for X`, write `const SEND_COMPLETION: Option<bool> = Some(..);` in the block instead",
        );
    }
    if consumer.is_trait_impl && consumer.args.ordered.is_some() {
        cx.error_spanned_by(
            consumer.args.ordered.as_ref(),
            "on `impl Consumer for X`, write `const ORDERED: bool = true;` in the block instead",
        );
    }
    if let Some(layer) = &consumer.args.layer {
        if consumer.is_trait_impl {
            cx.error_spanned_by(
                layer,
                "on `impl Consumer for X`, write `const LAYER: &'static str = \"..\";` in the block instead",
            );
        }
        let name = layer.value();
        let valid = (1..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            cx.error_spanned_by(
                layer,
                "a layer name is 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-', as in `layer = \"jobs\"`",
            );
        }
    }
    for handler in &consumer.handlers {
        let attr = handler.kind.attr_name();
        let example = match handler.kind {
            Kind::Ws => "async fn chat(&self, ctx: &Context, msg: ChatMessage) -> Reply",
            Kind::Event => "async fn job_done(&self, ctx: &Context, event: JobDone) -> JobStatus",
        };
        let sig = &handler.sig;
        if sig.asyncness.is_none() {
            cx.error_spanned_by(sig.fn_token, format!("`#[{attr}]` methods must be async, as in `{example}`"));
        }
        if !sig.generics.params.is_empty() {
            cx.error_spanned_by(&sig.generics, format!("`#[{attr}]` methods cannot be generic"));
        }
        match sig.inputs.first() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
            _ => cx.error_spanned_by(
                &sig.ident,
                format!("`#[{attr}]` methods take `&self` (frames are handled concurrently), as in `{example}`"),
            ),
        }
        let typed = sig.inputs.iter().filter(|a| matches!(a, FnArg::Typed(_))).count();
        if typed == 0 || typed > 2 {
            cx.error_spanned_by(
                &sig.ident,
                format!(
                    "`#[{attr}]` methods take the message as their last argument, after an optional \
                     `&Context`, as in `{example}`"
                ),
            );
        }
        if let Some(Type::Reference(r)) = &handler.input {
            cx.error_spanned_by(r, "take the message by value, not by reference");
        }
    }
}
