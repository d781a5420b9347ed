//! The book's code, compiled and run as doc tests.
//!
//! Each chapter of the user guide (`book/src/`) is the doc comment of one
//! item below, so `cargo test` (rustdoc) compiles and runs every ```` ```rust ````
//! block of the book, with cortex and this crate's dependencies and
//! dev-dependencies on the library path. A block's set-up (imports, the
//! message types it uses, an `async fn` wrapper, a private socket directory)
//! is in hidden lines, which start with `# ` and which mdBook hides as
//! rustdoc does. Blocks that need a running node are `no_run` (compiled, not
//! run); a block marked `ignore` is a fragment that cannot stand alone (a
//! signature sketch, a declaration abridged from the source), and the text
//! around it says so.
//!
//! `python-interop.md` is left out: its Rust blocks are `{{#include}}`s of
//! `examples/examples/` files, which `cargo test` builds as examples of
//! `cortex-examples` and `examples/tests/python_mixed.rs` runs.
//!
//! rustdoc names a block `book::<Chapter> (line N)`, N counted from the
//! `chapters!` invocation below: the block is at line N - (that line) + 1
//! of the chapter's file.
//!
//! The tests below check that every chapter under `book/src/` is either here
//! or among the exclusions, so a new chapter cannot escape; and that a block
//! with a hidden `# // copy of <path>` line shows exactly the lines of that
//! file, so the book's copies of example code stay true to the examples.
#![cfg_attr(doctest, doc(test(attr(deny(warnings), allow(dead_code)))))]

macro_rules! chapters {
    ($($(#[$meta:meta])* $name:ident => $file:literal,)*) => {
        $(
            $(#[$meta])*
            #[cfg(doctest)]
            #[doc = include_str!(concat!("../../book/src/", $file))]
            pub struct $name;
        )*

        /// The chapters whose code blocks are doc tests, relative to `book/src/`.
        #[cfg(test)]
        const CHAPTERS: &[&str] = &[$($file),*];
    };
}

chapters! {
    Introduction => "introduction.md",
    GettingStarted => "getting-started.md",
    Messages => "messages/index.md",
    FieldTypes => "messages/field-types.md",
    Arrays => "messages/arrays.md",
    DynamicValues => "messages/value.md",
    Schemas => "messages/schema.md",
    Errors => "messages/errors.md",
    Fingerprints => "fingerprints.md",
    StandardMessages => "standard-messages.md",
    PubSub => "pubsub.md",
    Nodes => "nodes.md",
    ManyPublishers => "many-publishers.md",
    Latched => "latched.md",
    Services => "services.md",
    Cli => "cli.md",
    Recording => "recording.md",
    Visualisation => "visualisation.md",
    Reliability => "reliability.md",
    SharedMemory => "shared-memory.md",
    WireFormat => "protocol/wire-format.md",
    Discovery => "protocol/discovery.md",
    Performance => "performance.md",
}

/// Files under `book/src/` that are not doc tests, and why.
#[cfg(test)]
const EXCLUDED: &[(&str, &str)] = &[
    ("SUMMARY.md", "the table of contents"),
    (
        "python-interop.md",
        "its Rust blocks are {{#include}}s of examples that cargo builds",
    ),
];

#[cfg(test)]
mod tests {
    use super::{CHAPTERS, EXCLUDED};
    use std::path::Path;

    fn markdown_files(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read book/src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                markdown_files(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel = path.strip_prefix(root).expect("under book/src");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }

    fn book_src() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../book/src")
    }

    /// The ```` ```rust ```` blocks of a chapter, each as its lines with the
    /// fence's indentation removed.
    fn rust_blocks(text: &str) -> Vec<Vec<&str>> {
        let mut blocks = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let fence = line.trim_start();
            if !(fence.starts_with("```") && fence[3..].starts_with("rust")) {
                continue;
            }
            let indent = line.len() - fence.len();
            let block = lines
                .by_ref()
                .take_while(|l| l.trim() != "```")
                .map(|l| l.get(indent..).unwrap_or(l.trim_start()))
                .collect();
            blocks.push(block);
        }
        blocks
    }

    /// A line that rustdoc and mdBook hide: `# ...` or a lone `#`.
    fn hidden(line: &str) -> bool {
        let t = line.trim_start();
        t == "#" || t.starts_with("# ")
    }

    #[test]
    fn copies_of_example_code_match_their_source() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut copies = 0;
        for chapter in CHAPTERS {
            let text = std::fs::read_to_string(book_src().join(chapter)).expect("chapter");
            for block in rust_blocks(&text) {
                let Some(source) = block.iter().find_map(|l| {
                    let t = l.trim_start().strip_prefix("# // copy of ")?;
                    t.split_whitespace().next().map(|p| p.trim_end_matches(','))
                }) else {
                    continue;
                };
                let shown: Vec<&str> = block.iter().copied().filter(|l| !hidden(l)).collect();
                let file = std::fs::read_to_string(workspace.join(source))
                    .unwrap_or_else(|e| panic!("{chapter}: reading {source}: {e}"));
                assert!(
                    file.contains(&shown.join("\n")),
                    "book/src/{chapter}: a block says it is a copy of {source}, \
                     but its lines are not in that file:\n{}",
                    shown.join("\n")
                );
                copies += 1;
            }
        }
        assert!(
            copies > 0,
            "no `# // copy of` blocks found: is the parser right?"
        );
    }

    #[test]
    fn every_chapter_of_the_book_is_a_doc_test_or_excluded() {
        let root = book_src();
        let mut files = Vec::new();
        markdown_files(&root, &root, &mut files);
        files.sort();
        for file in &files {
            let excluded = EXCLUDED.iter().any(|(f, _)| f == file);
            assert!(
                CHAPTERS.contains(&file.as_str()) || excluded,
                "book/src/{file} is neither in chapters! nor in EXCLUDED \
                 (tests/src/book.rs): add it to chapters! so its code is tested"
            );
        }
        for file in CHAPTERS.iter().chain(EXCLUDED.iter().map(|(f, _)| f)) {
            assert!(
                files.iter().any(|f| f == file),
                "tests/src/book.rs names book/src/{file}, which does not exist"
            );
        }
    }
}
