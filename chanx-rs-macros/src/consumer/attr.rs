//! Parses the arguments of `#[consumer(...)]`, `#[ws_handler(...)]` and `#[event_handler(...)]`.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, LitBool, LitStr, Token, Type, bracketed};

use crate::ctxt::Ctxt;

/// `#[consumer(name = "chat", description = "...", tags = ["a"], groups = ["g"], extra_groups = ["x"],
/// passthrough = [Ev], emits = [Msg], camelize = true, send_completion = true, ordered = true,
/// authenticator = Auth, layer = "jobs", log_ignored = ["streaming"])]`
#[derive(Default)]
pub(crate) struct ConsumerArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) tags: Vec<LitStr>,
    pub(crate) groups: Vec<LitStr>,
    pub(crate) passthrough: Vec<Type>,
    pub(crate) emits: Vec<Type>,
    pub(crate) camelize: Option<LitBool>,
    pub(crate) send_completion: Option<LitBool>,
    pub(crate) ordered: Option<LitBool>,
    pub(crate) authenticator: Option<Type>,
    /// The topics a consumer hosts (`topics = [RoomTopic]`).
    pub(crate) topics: Vec<Type>,
    /// A topic's pattern (`#[topic(pattern = "room:{name}")]`).
    pub(crate) pattern: Option<LitStr>,
    /// The channel layer a consumer uses, by name (`layer = "jobs"`).
    pub(crate) layer: Option<LitStr>,
    /// A topic's history (`history(size = 1000, ttl = "5m")`).
    pub(crate) history: Option<TopicHistory>,
    /// The actions a consumer leaves out of the per-frame log (`log_ignored = ["streaming"]`),
    /// with the key's span for errors; `None` when not given.
    pub(crate) log_ignored: Option<(proc_macro2::Span, Vec<LitStr>)>,
    /// A topic's presence entry type (`presence = Member`).
    pub(crate) presence: Option<Type>,
}

/// `history(size = 1000, ttl = "5m")`: how many pushes a topic keeps, and for how long.
pub(crate) struct TopicHistory {
    pub(crate) size: syn::LitInt,
    pub(crate) ttl_millis: u64,
}

/// Parses the inside of `history(...)`: both keys, a size of at least 1, a ttl such as
/// `"500ms"`, `"30s"`, `"5m"` or `"1h"`.
fn parse_history(input: ParseStream<'_>, span: proc_macro2::Span) -> syn::Result<TopicHistory> {
    let content;
    syn::parenthesized!(content in input);
    let (mut size, mut ttl) = (None, None);
    while !content.is_empty() {
        let key: Ident = content.parse()?;
        content.parse::<Token![=]>()?;
        match key.to_string().as_str() {
            "size" => {
                let lit: syn::LitInt = content.parse()?;
                if lit.base10_parse::<usize>().map_or(true, |n| n == 0) {
                    return Err(syn::Error::new(lit.span(), "a history `size` is a number of pushes, at least 1"));
                }
                size = Some(lit);
            }
            "ttl" => {
                let lit: LitStr = content.parse()?;
                let millis = parse_duration_millis(&lit.value()).ok_or_else(|| {
                    syn::Error::new(
                        lit.span(),
                        "a history `ttl` is a duration such as \"500ms\", \"30s\", \"5m\" or \"1h\"",
                    )
                })?;
                ttl = Some(millis);
            }
            other => {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown `history` argument `{other}`; expected size, ttl, as in `history(size = 1000, ttl = \"5m\")`"
                    ),
                ));
            }
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    match (size, ttl) {
        (Some(size), Some(ttl_millis)) => Ok(TopicHistory { size, ttl_millis }),
        _ => Err(syn::Error::new(
            span,
            "`history` takes both `size` and `ttl`, as in `history(size = 1000, ttl = \"5m\")`",
        )),
    }
}

/// `"500ms"`, `"30s"`, `"5m"`, `"1h"` in milliseconds; `None` for anything else or zero.
fn parse_duration_millis(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let unit_millis = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(unit_millis).filter(|millis| *millis > 0)
}

/// `#[ws_handler(action = "op", summary = "...", description = "...", tags = ["a"], output = [A, B])]`
#[derive(Default)]
pub(crate) struct HandlerArgs {
    pub(crate) operation: Option<LitStr>,
    pub(crate) summary: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) tags: Vec<LitStr>,
    pub(crate) outputs: Vec<Type>,
}

pub(crate) fn parse_consumer_args(cx: &Ctxt, args: TokenStream) -> ConsumerArgs {
    let mut out = ConsumerArgs::default();
    let parser = |input: ParseStream<'_>| {
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "name" => out.name = Some(input.parse()?),
                "description" => out.description = Some(input.parse()?),
                "tags" => out.tags = parse_list(input)?,
                "groups" | "extra_groups" => out.groups.extend(parse_list::<LitStr>(input)?),
                "passthrough" => out.passthrough = parse_list(input)?,
                "emits" => out.emits = parse_list(input)?,
                "camelize" => out.camelize = Some(input.parse()?),
                "send_completion" => out.send_completion = Some(input.parse()?),
                "ordered" => out.ordered = Some(input.parse()?),
                "authenticator" => out.authenticator = Some(input.parse()?),
                "topics" => out.topics = parse_list(input)?,
                "layer" => out.layer = Some(input.parse()?),
                "log_ignored" => out.log_ignored = Some((key.span(), parse_list(input)?)),
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown `consumer` argument `{other}`; expected one of name, description, tags, \
                             groups, extra_groups, passthrough, emits, camelize, send_completion, ordered, \
                             authenticator, topics, layer, log_ignored"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    };
    if let Err(err) = parser.parse2(args) {
        cx.push(err);
    }
    out
}

/// `#[topic(pattern = "room:{name}", name = "room", description = "...", tags = ["a"], emits = [Msg],
/// send_completion = true, history(size = 1000, ttl = "5m"), presence = Member)]`
pub(crate) fn parse_topic_args(cx: &Ctxt, args: TokenStream) -> ConsumerArgs {
    let mut out = ConsumerArgs::default();
    let parser = |input: ParseStream<'_>| {
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key == "history" {
                out.history = Some(parse_history(input, key.span())?);
                if !input.is_empty() {
                    input.parse::<Token![,]>()?;
                }
                continue;
            }
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "pattern" => out.pattern = Some(input.parse()?),
                "name" => out.name = Some(input.parse()?),
                "description" => out.description = Some(input.parse()?),
                "tags" => out.tags = parse_list(input)?,
                "emits" => out.emits = parse_list(input)?,
                "send_completion" => out.send_completion = Some(input.parse()?),
                "presence" => out.presence = Some(input.parse()?),
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown `topic` argument `{other}`; expected one of pattern, name, description, tags, \
                             emits, send_completion, history, presence (a topic's camelCase follows its host consumer)"
                        ),
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    };
    if let Err(err) = parser.parse2(args) {
        cx.push(err);
    }
    out
}

/// Parses the arguments of one handler attribute; `ws` tells whether `action` is allowed.
pub(crate) fn parse_handler_args(cx: &Ctxt, attr: &syn::Attribute, ws: bool) -> HandlerArgs {
    let mut out = HandlerArgs::default();
    if matches!(attr.meta, syn::Meta::Path(_)) {
        return out;
    }
    let result = attr.parse_nested_meta(|meta| {
        let key = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
        let value = meta.value()?;
        match key.as_str() {
            "action" if ws => out.operation = Some(value.parse()?),
            "summary" => out.summary = Some(value.parse()?),
            "description" => out.description = Some(value.parse()?),
            "tags" => out.tags = parse_list(value)?,
            "output" => out.outputs = parse_list(value)?,
            _ => {
                let expected = if ws {
                    "action, summary, description, tags, output"
                } else {
                    "summary, description, tags, output"
                };
                return Err(meta.error(format!("unknown handler argument `{key}`; expected one of {expected}")));
            }
        }
        Ok(())
    });
    if let Err(err) = result {
        cx.push(err);
    }
    out
}

/// `[a, b, c]` or a single item.
fn parse_list<T: Parse>(input: ParseStream<'_>) -> syn::Result<Vec<T>> {
    if input.peek(syn::token::Bracket) {
        let content;
        bracketed!(content in input);
        let items = Punctuated::<T, Token![,]>::parse_terminated(&content)?;
        Ok(items.into_iter().collect())
    } else {
        Ok(vec![input.parse()?])
    }
}
