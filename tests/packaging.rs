//! What the published crates carry of the repository's files, kept equal to them.
//!
//! `chanx-rs/README.md` is the crate's README (crates.io and docs.rs show it, and `chanx`'s
//! `lib.rs` includes it, so its examples are doctested): the repository's README without its
//! repository-only sections (the sandbox, the test command, the layout), with relative links made
//! absolute. `CHANX_BLESS=1 cargo test --test packaging` rewrites it after a change of the README.
//! Each crate also ships a copy of `LICENSE`.

use std::path::Path;

const REPOSITORY: &str = "https://github.com/chanx-rs/chanx-rs";
/// The sections of the repository's README that the crate's README keeps, in order.
const KEPT: &[&str] = &["## Quick start", "## Features", "## License"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// `[text](docs/x.md)` → `[text](https://github.com/chanx-rs/chanx-rs/blob/main/docs/x.md)`;
/// URLs and in-page anchors stay.
fn absolute_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let (before, after) = rest.split_at(at + 2);
        out.push_str(before);
        if !(after.starts_with("http://") || after.starts_with("https://") || after.starts_with('#')) {
            out.push_str(REPOSITORY);
            out.push_str("/blob/main/");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The crate's README, derived from the repository's.
fn crate_readme(readme: &str) -> String {
    let mut sections = vec![String::new()];
    for line in readme.split_inclusive('\n') {
        if line.starts_with("## ") {
            sections.push(String::new());
        }
        sections.last_mut().expect("a section").push_str(line);
    }
    let mut out = String::from(
        "<!-- Generated from the repository's README.md by tests/packaging.rs: edit that file, then run\n     \
         CHANX_BLESS=1 cargo test --test packaging. -->\n",
    );
    out.push_str(&sections[0]);
    for kept in KEPT {
        if *kept == "## License" {
            out.push_str(&format!(
                "## More\n\nThe repository holds the reference app (accounts, chat, an AI assistant, a forum), runnable \
                 examples, the guides and the benchmarks: <{REPOSITORY}>.\n\n"
            ));
        }
        let section = sections.iter().find(|s| s.starts_with(&format!("{kept}\n"))).unwrap_or_else(|| {
            panic!("README.md has no {kept:?} section; update KEPT in tests/packaging.rs");
        });
        out.push_str(section);
    }
    absolute_links(&out)
}

#[test]
fn the_crate_readme_is_the_repository_readme_for_crates_io() {
    let expected = crate_readme(&read("README.md"));
    if std::env::var_os("CHANX_BLESS").is_some() {
        std::fs::write(root().join("chanx-rs/README.md"), &expected).expect("chanx-rs/README.md is writable");
    }
    assert!(
        read("chanx-rs/README.md") == expected,
        "chanx-rs/README.md is not derived from README.md; run CHANX_BLESS=1 cargo test --test packaging"
    );
}

#[test]
fn each_crate_ships_the_license() {
    let license = read("LICENSE");
    for copy in ["chanx-rs/LICENSE", "chanx-rs-macros/LICENSE"] {
        assert!(read(copy) == license, "{copy} differs from LICENSE; copy it again");
    }
}

#[test]
fn relative_links_become_absolute() {
    assert_eq!(
        absolute_links("[a](docs/x.md#y), [b](https://e.org), [c](#z)"),
        format!("[a]({REPOSITORY}/blob/main/docs/x.md#y), [b](https://e.org), [c](#z)")
    );
}

/// docs/architecture.md shows `cargo tree -e normal -p chanx --no-default-features --depth 1`:
/// its crates are the non-optional `[dependencies]` of chanx-rs/Cargo.toml, each explained.
#[test]
fn the_documented_dependency_tree_is_the_default_one() {
    let manifest = read("chanx-rs/Cargo.toml");
    let section = manifest.split("\n[dependencies]\n").nth(1).expect("[dependencies]");
    let section = section.split("\n[").next().expect("a section");
    let mut declared: Vec<String> = section
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && !line.contains("optional = true"))
        .filter_map(|line| line.split(['.', ' ', '=']).next().filter(|name| !name.is_empty()))
        .map(|name| name.replace('_', "-"))
        .collect();
    declared.sort();

    let doc = read("docs/architecture.md");
    let start = doc.find("```text\nchanx v").expect("the tree in docs/architecture.md") + "```text\n".len();
    let tree = &doc[start..start + doc[start..].find("```").expect("the end of the tree")];
    let mut shown: Vec<String> = tree
        .lines()
        .skip(1)
        .map(|line| line.trim_start_matches(['├', '└', '─', ' ']).split(' ').next().unwrap_or("").replace('_', "-"))
        .collect();
    shown.sort();
    assert_eq!(shown, declared, "update the tree in docs/architecture.md, \"Dependencies\"");
    for name in &declared {
        let original = tree.lines().find(|l| l.replace('_', "-").contains(&format!(" {name} "))).expect("shown");
        let crate_name = original.trim_start_matches(['├', '└', '─', ' ']).split(' ').next().expect("a name");
        assert!(
            doc.contains(&format!("`{crate_name}`")),
            "docs/architecture.md does not say why chanx uses {crate_name}"
        );
    }
}
