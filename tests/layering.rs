//! The layering rule holds: every `crate::` path in `src/` names a module its own module may
//! import, as the module map in `src/lib.rs` says. A wrong import fails here naming its file and
//! line, before review has to notice it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module map: each module and the modules it may import (`None`: every module).
type Rule = BTreeMap<String, Option<BTreeSet<String>>>;

/// Reads the map's table out of lib.rs: rows `//! | `module` | what | may import |`.
fn rule(lib: &str) -> Rule {
    let mut rule = Rule::new();
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! | `") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let module = cells[0].trim_end_matches('`').to_string();
        let allowed = cells.get(2).copied().unwrap_or_default();
        let allowed = match allowed {
            "every module" => None,
            "-" => Some(BTreeSet::new()),
            list => Some(list.split(',').map(|m| m.trim().to_string()).collect()),
        };
        rule.insert(module, allowed);
    }
    rule
}

/// The top-level module a source file belongs to (`None` for lib.rs, main.rs and binaries).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

/// The top-level modules a line's `crate::` paths name, grouped imports included.
fn imports(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or_default();
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `flightdeck::crate::` never occurs; a preceding identifier char means another path.
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

/// Every import against the rule, as `file:line: ...`.
fn violations(rule: &Rule, files: &[(PathBuf, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (relative, text) in files {
        let Some(module) = module_of(relative) else {
            continue;
        };
        let Some(allowed) = rule.get(&module) else {
            out.push(format!(
                "src/{}: module `{module}` is not in the module map of src/lib.rs",
                relative.display()
            ));
            continue;
        };
        let Some(allowed) = allowed else { continue };
        for (n, line) in text.lines().enumerate() {
            for imported in imports(line) {
                if imported == module || imported == "BUILD_ID" || allowed.contains(&imported) {
                    continue;
                }
                out.push(format!(
                    "src/{}:{}: `{module}` may not import `{imported}` (the module map allows: {})",
                    relative.display(),
                    n + 1,
                    if allowed.is_empty() {
                        "nothing".to_string()
                    } else {
                        allowed.iter().cloned().collect::<Vec<_>>().join(", ")
                    }
                ));
            }
        }
    }
    out
}

fn sources(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), text));
        }
    }
}

#[test]
fn every_import_follows_the_module_map() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let rule = rule(&lib);
    assert!(
        rule.len() >= 15,
        "the module map in lib.rs was not read: {rule:?}"
    );
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    // Every module declared in lib.rs has a row, and every row names a module that exists.
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    let mapped: BTreeSet<String> = rule.keys().cloned().collect();
    assert_eq!(
        declared, mapped,
        "lib.rs's modules and its module map differ"
    );
    let wrong = violations(&rule, &files);
    assert!(
        wrong.is_empty(),
        "imports against the module map:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_wrong_import_is_named_with_its_file_and_line() {
    let lib = "//! | `model` | data | - |\n//! | `store` | disk | model |\n//! | `engine` | ops | model, store |\n//! | `cli` | commands | every module |\n";
    let rule = rule(lib);
    let files = vec![
        (
            PathBuf::from("store/journal.rs"),
            "//! The journal.\nuse crate::model::Outcome;\nuse crate::engine::ops::Plan;\n"
                .to_string(),
        ),
        (
            PathBuf::from("model/name.rs"),
            "fn f() { let _ = crate::store::Registry::open; }\n// crate::engine in a comment\n"
                .to_string(),
        ),
        (
            PathBuf::from("engine/mod.rs"),
            "use crate::{model::ModelName, store::Registry};\nuse crate::{cli::run};\n".to_string(),
        ),
        (
            PathBuf::from("cli.rs"),
            "use crate::engine::ops;\n".to_string(),
        ),
        (PathBuf::from("extra/mod.rs"), String::new()),
    ];
    let wrong = violations(&rule, &files);
    assert_eq!(
        wrong,
        vec![
            "src/store/journal.rs:3: `store` may not import `engine` (the module map allows: model)",
            "src/model/name.rs:1: `model` may not import `store` (the module map allows: nothing)",
            "src/engine/mod.rs:2: `engine` may not import `cli` (the module map allows: model, store)",
            "src/extra/mod.rs: module `extra` is not in the module map of src/lib.rs",
        ]
    );
}
