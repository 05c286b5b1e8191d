//! Keeps the expansion shown in `docs/architecture.md` equal to what the macro emits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use quote::ToTokens;

const INPUT_MARK: &str = "<!-- expansion:input -->\n```rust\n";
const OUTPUT_MARK: &str = "<!-- expansion:output -->\n```rust\n";
const TOPIC_INPUT_MARK: &str = "<!-- expansion:topic-input -->\n```rust\n";
const TOPIC_OUTPUT_MARK: &str = "<!-- expansion:topic-output -->\n```rust\n";
const FENCE_END: &str = "```\n";

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md")
}

/// The byte range of the code block after `mark`.
fn block(doc: &str, mark: &str) -> std::ops::Range<usize> {
    let start = doc.find(mark).unwrap_or_else(|| panic!("docs/architecture.md has no {mark:?}")) + mark.len();
    let len = doc[start..].find(FENCE_END).expect("the code block ends");
    start..start + len
}

/// Expands the `#[chanx::consumer(...)]` (or `#[chanx::topic(...)]`) impl of `source`, formatted
/// as the workspace formats code.
fn expand_block(source: &str, macro_name: &str) -> String {
    let file = syn::parse_file(source).expect("the input block parses");
    let mut item = file
        .items
        .into_iter()
        .find_map(|item| match item {
            syn::Item::Impl(item) => Some(item),
            _ => None,
        })
        .expect("the input block has an impl");
    let at = item.attrs.iter().position(|a| a.path().segments.last().is_some_and(|s| s.ident == macro_name));
    let attr = item.attrs.remove(at.unwrap_or_else(|| panic!("the impl has #[chanx::{macro_name}]")));
    let args = match attr.meta {
        syn::Meta::List(list) => list.tokens,
        _ => proc_macro2::TokenStream::new(),
    };
    let tokens = if macro_name == "topic" {
        super::expand_topic(args, item.into_token_stream())
    } else {
        super::expand(args, item.into_token_stream())
    };
    rustfmt(&tokens.to_string())
}

fn rustfmt(code: &str) -> String {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rustfmt.toml");
    let mut child = Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()))
        .args(["--edition", "2024", "--config-path"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("rustfmt runs (rustup component add rustfmt)");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), code.as_bytes()).expect("write to rustfmt");
    let out = child.wait_with_output().expect("rustfmt finishes");
    assert!(out.status.success(), "rustfmt failed on the expansion");
    String::from_utf8(out.stdout).expect("rustfmt writes UTF-8")
}

#[test]
fn the_documented_expansion_is_what_the_macro_emits() {
    check_documented(INPUT_MARK, OUTPUT_MARK, "consumer");
}

#[test]
fn the_documented_topic_expansion_is_what_the_macro_emits() {
    check_documented(TOPIC_INPUT_MARK, TOPIC_OUTPUT_MARK, "topic");
}

fn check_documented(input: &str, output: &str, macro_name: &str) {
    // Both checks read and bless the same file: one at a time, so neither undoes the other's edit.
    static DOC: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _doc = DOC.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).expect("docs/architecture.md is readable");
    let expanded = expand_block(&doc[block(&doc, input)], macro_name);
    let output = block(&doc, output);
    if doc[output.clone()] == expanded {
        return;
    }
    if std::env::var_os("CHANX_BLESS").is_some() {
        let mut updated = doc.clone();
        updated.replace_range(output, &expanded);
        std::fs::write(&path, updated).expect("docs/architecture.md is writable");
        return;
    }
    panic!(
        "docs/architecture.md shows an expansion the macro no longer emits; after a deliberate change run \
         `CHANX_BLESS=1 cargo test -p chanx-macros` and copy the block into chanx-rs/tests/expansion.rs.\n\
         The macro emits:\n{expanded}"
    );
}
