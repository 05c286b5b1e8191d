//! Checks the model and reports every mistake at once, each pointed at the user's own tokens.

use syn::{FnArg, Type};

use super::ast::{Consumer, Kind};
use crate::ctxt::Ctxt;

pub(crate) fn check(cx: &Ctxt, consumer: &Consumer) {
    let item = &consumer.item;
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(&item.generics, "`#[consumer]` does not support generic consumers");
    }
    let (what, trait_name) = if consumer.is_topic { ("topic", "Topic") } else { ("consumer", "Consumer") };
    if let Some((_, path, _)) = &item.trait_ {
        let is_ours = path.segments.last().is_some_and(|s| s.ident == trait_name);
        if !is_ours {
            cx.error_spanned_by(
                path,
                format!("`#[{what}]` goes on `impl {trait_name} for X` or on an inherent `impl X`"),
            );
        }
    }
    if consumer.is_topic {
        match &consumer.args.pattern {
            Some(pattern) => {
                if let Err(problem) = check_pattern(&pattern.value()) {
                    cx.error_spanned_by(pattern, format!("invalid topic pattern: {problem}"));
                }
            }
            None => cx.error_spanned_by(
                &item.self_ty,
                "a topic needs a pattern, as in `#[topic(pattern = \"room:{name}\")]`",
            ),
        }
    }
    if let Some(entry) = &consumer.args.presence {
        let builds_entries = consumer.is_trait_impl
            && item.items.iter().any(|item| matches!(item, syn::ImplItem::Fn(f) if f.sig.ident == "presence"));
        if !builds_entries {
            cx.error_spanned_by(
                entry,
                "a topic with `presence = Entry` builds each member's entry in `impl Topic for X { fn \
                 presence(&self, ctx: &Context) -> Option<Entry> { .. } }`",
            );
        }
    }
    for (i, topic) in consumer.args.topics.iter().enumerate() {
        if consumer.args.topics[..i].iter().any(|t| super::ast::same_type(t, topic)) {
            cx.error_spanned_by(topic, "this topic is listed twice");
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
    if let Some((span, actions)) = &consumer.args.log_ignored {
        check_log_ignored(cx, consumer, *span, actions);
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

/// `log_ignored = [...]`: actions as chanx writes them (not empty, no whitespace), each once, and
/// not also `const LOG_IGNORED_ACTIONS` in the block.
fn check_log_ignored(cx: &Ctxt, consumer: &Consumer, span: proc_macro2::Span, actions: &[syn::LitStr]) {
    let declared = consumer
        .item
        .items
        .iter()
        .any(|item| matches!(item, syn::ImplItem::Const(c) if c.ident == "LOG_IGNORED_ACTIONS"));
    if declared {
        cx.push(syn::Error::new(
            span,
            "`log_ignored` and `const LOG_IGNORED_ACTIONS` both list the ignored actions; keep one",
        ));
    }
    if actions.is_empty() {
        cx.push(syn::Error::new(
            span,
            "`log_ignored` lists at least one action, as in `log_ignored = [\"streaming\"]`",
        ));
    }
    for (i, action) in actions.iter().enumerate() {
        let value = action.value();
        if value.is_empty() || value.chars().any(char::is_whitespace) {
            cx.error_spanned_by(
                action,
                "an ignored action is a message's action, not empty and without spaces, as in `\"streaming\"`",
            );
        } else if actions[..i].iter().any(|earlier| earlier.value() == value) {
            cx.error_spanned_by(action, format!("`{value}` is listed twice"));
        }
    }
}

/// chanx's placeholders are `{name}` of word characters, each matching a run without `:`.
/// Stricter than chanx, which reads a malformed brace as literal text: a stray `{` or `}`, an
/// empty or non-word name, a name used twice, or two placeholders with nothing between them
/// (whose split would be ambiguous) are refused here, at compile time.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("it is empty".into());
    }
    let mut names: Vec<&str> = Vec::new();
    let mut rest = pattern;
    let mut previous_was_param = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('{') {
            let Some(close) = after.find('}') else {
                return Err(format!("`{{` without a closing `}}` in {pattern:?}"));
            };
            let name = &after[..close];
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(format!(
                    "`{{{name}}}` is not a placeholder: write `{{name}}` with letters, digits and `_` only"
                ));
            }
            if previous_was_param {
                return Err(format!(
                    "`{{{name}}}` follows another placeholder directly; separate them with text such as `:`"
                ));
            }
            if names.contains(&name) {
                return Err(format!("the placeholder `{{{name}}}` appears twice"));
            }
            names.push(name);
            previous_was_param = true;
            rest = &after[close + 1..];
        } else {
            let next = rest.find('{').unwrap_or(rest.len());
            if rest[..next].contains('}') {
                return Err(format!("`}}` without an opening `{{` in {pattern:?}"));
            }
            previous_was_param = false;
            rest = &rest[next..];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_pattern;

    #[test]
    fn patterns_are_checked() {
        assert_eq!(check_pattern("room:{name}"), Ok(()));
        assert_eq!(check_pattern("chat:{org}:{room}"), Ok(()));
        assert_eq!(check_pattern("lobby"), Ok(()));
        for bad in ["", "room:{name", "room:name}", "room:{}", "room:{na-me}", "{a}{b}", "{a}:{a}"] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
    }
}
