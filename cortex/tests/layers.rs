//! The crate's layers depend one way: `codec` → `message` → `io` →
//! `discovery` → `pubsub` → `node`. A module may use its own layer and the
//! ones before it, never one after it (see `lib.rs`). This test reads the
//! sources and fails on any reference that goes the wrong way, naming the
//! file, the line and the layers involved.

use std::path::{Path, PathBuf};

/// The layers in order of use, by the folder (or root file) that holds them.
const LAYERS: &[&str] = &["codec", "message", "io", "discovery", "pubsub", "node"];

/// The layer of a root-level item reached as `crate::<name>`.
fn layer_of(name: &str) -> Option<usize> {
    let rank = |layer: &str| LAYERS.iter().position(|l| *l == layer);
    match name {
        "codec" | "Header" | "DecodeError" | "EncodeError" => rank("codec"),
        "message" | "messages" | "Message" | "Field" | "NdArray" | "DynArray" | "Value"
        | "Schema" | "DType" | "Element" | "ShapeError" => rank("message"),
        "io" => rank("io"),
        "discovery" => rank("discovery"),
        // The crate-wide error gathers the errors of every layer below it.
        "pubsub" | "error" | "Error" | "Result" | "Publisher" | "Subscriber" | "PublisherId"
        | "service" | "Service" | "ServiceClient" => rank("pubsub"),
        "node" | "__private" | "Node" | "NodeConfig" | "NodeStats" | "Ctx" | "Topic" => {
            rank("node")
        }
        _ => None,
    }
}

/// The layer a source file belongs to (`None`: the crate root, exempt).
fn file_layer(src: &Path, file: &Path) -> Option<usize> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    match name {
        "lib" => None,
        other => layer_of(other),
    }
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The root-level names a line reaches through `crate::`, including
/// grouped imports (`use crate::{codec::X, Message};`).
fn crate_names(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        let rest = &line[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let head = item.trim().split("::").next().unwrap_or("").trim();
                if !head.is_empty() {
                    names.push(head.to_owned());
                }
            }
        } else {
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(head);
        }
    }
    names
}

#[test]
fn layers_depend_one_way() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Some(own) = file_layer(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue; // comments and intra-doc links are not dependencies
            }
            if code.contains("super::super::") {
                wrong.push(format!(
                    "{}:{}: `super::super::` reaches across layers; use `crate::` paths",
                    file.display(),
                    n + 1
                ));
            }
            for name in crate_names(code) {
                checked += 1;
                if let Some(used) = layer_of(&name) {
                    if used > own {
                        wrong.push(format!(
                            "{}:{}: the {} layer uses `crate::{name}` from the later {} layer",
                            file.display(),
                            n + 1,
                            LAYERS[own],
                            LAYERS[used]
                        ));
                    }
                }
            }
        }
    }
    assert!(checked > 50, "the scan found only {checked} references");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_scan_sees_grouped_and_plain_paths() {
    assert_eq!(
        crate_names("use crate::{codec::Header, Message, io::OutFrame};"),
        ["codec", "Message", "io"]
    );
    assert_eq!(
        crate_names("let e = crate::error::Error::Closed(x);"),
        ["error"]
    );
}
