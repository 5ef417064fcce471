//! The layering rule holds: every `crate::` path in `src/` names a module its own module may
//! import, as the module map in `src/lib.rs` says. A wrong import fails here naming its file and
//! line, before review has to notice it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module map: each module and the modules it may import (`None`: every module).
type Rule = BTreeMap<String, Option<BTreeSet<String>>>;

/// The map's rows out of lib.rs, top to bottom: `//! | `module` | what | may import |`.
fn rows(lib: &str) -> Vec<(String, Option<BTreeSet<String>>)> {
    lib.lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let module = cells[0].trim_end_matches('`').to_string();
            let allowed = match cells.get(2).copied().unwrap_or_default() {
                "every module" => None,
                "-" => Some(BTreeSet::new()),
                list => Some(list.split(',').map(|m| m.trim().to_string()).collect()),
            };
            (module, allowed)
        })
        .collect()
}

/// The module map as a lookup.
fn rule(lib: &str) -> Rule {
    rows(lib).into_iter().collect()
}

/// The top-level module a source file belongs to (`None` for lib.rs, main.rs and binaries).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

/// The source with its comments and the contents of its string and char literals blanked
/// (newlines kept, so line numbers hold): `"http://..."` is neither a comment nor a path.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.push_str("  ");
            i += 2;
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !ident_before(&chars, i) {
            // A raw string: r"..." or r#"..."#.
            let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
            let end: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let body_start = i + 2 + hashes;
            let rest: String = chars[body_start..].iter().collect();
            let len = rest
                .find(&end)
                .map_or(rest.chars().count(), |at| rest[..at].chars().count());
            for c in &chars[i..(body_start + len + end.len()).min(chars.len())] {
                out.push(blank(*c));
            }
            i = body_start + len + end.len();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let skip = if chars[i] == '\\' { 2 } else { 1 };
                for c in &chars[i..(i + skip).min(chars.len())] {
                    out.push(blank(*c));
                }
                i += skip;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            let len = if next == Some('\\') { 4 } else { 3 };
            let len = chars[i..]
                .iter()
                .skip(1)
                .position(|c| *c == '\'')
                .map_or(len, |p| p + 2);
            out.extend(std::iter::repeat_n(' ', len));
            i += len;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// `'x'` or `'\n'`, not a lifetime (`'a`).
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// The identifiers a path names at its top: `a::b` gives `a`; a group `{a::x, b::{y, z}}`
/// gives `a` and `b`.
fn heads(rest: &str) -> Vec<String> {
    let ident = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.trim_start().strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(ident(&group[start..at]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(ident(&group[start..at]));
                start = at + 1;
            }
            _ => {}
        }
    }
    items
}

/// How deep a file's module sits: `store/mod.rs` and `cli.rs` are 1, `store/journal.rs` 2.
fn depth_of(relative: &Path) -> usize {
    let parts: Vec<&str> = relative
        .iter()
        .filter_map(|p| p.to_str())
        .map(|p| p.strip_suffix(".rs").unwrap_or(p))
        .collect();
    parts.len() - usize::from(parts.last() == Some(&"mod"))
}

/// Each top-level module a file's code names, with its line: `crate::` paths (groups across
/// lines included) and `super::` chains that climb to the crate's root.
fn imports(relative: &Path, text: &str) -> Vec<(usize, String)> {
    let code = code_only(text);
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if at > 0
            && code[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        for head in heads(&code[at + "crate::".len()..]) {
            found.push((line_of(at), head));
        }
    }
    let depth = depth_of(relative);
    for (at, _) in code.match_indices("super::") {
        // Not the tail of a longer name (`mysuper::`), nor a later link of a chain.
        let part_of_name = code[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if part_of_name || code[..at].trim_end().ends_with("::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut climbs = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = after.trim_start();
        }
        if climbs >= depth {
            for head in heads(rest) {
                found.push((line_of(at), head));
            }
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
        for (line, imported) in imports(relative, text) {
            // Only the crate's own modules are layers (a `super::` chain may name an item).
            if imported == module || !rule.contains_key(&imported) || allowed.contains(&imported) {
                continue;
            }
            out.push(format!(
                "src/{}:{line}: `{module}` may not import `{imported}` (the module map allows: {})",
                relative.display(),
                if allowed.is_empty() {
                    "nothing".to_string()
                } else {
                    allowed.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            ));
        }
    }
    out
}

/// Rows that name a module not above them: the map must read as floors, lowest first.
fn out_of_order(lib: &str) -> Vec<String> {
    let mut above = BTreeSet::new();
    let mut wrong = Vec::new();
    for (module, allowed) in rows(lib) {
        for name in allowed
            .iter()
            .flatten()
            .filter(|name| !above.contains(*name))
        {
            wrong.push(format!(
                "`{module}` may import `{name}`, which is not above it"
            ));
        }
        above.insert(module);
    }
    wrong
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
    // The map reads as floors, lowest first, and claims no import nothing makes: a row that
    // allows more than its module uses misleads whoever reads it.
    let disorder = out_of_order(&lib);
    assert!(disorder.is_empty(), "{}", disorder.join("\n"));
    let unused = allowed_but_unused(&rule, &files);
    assert!(
        unused.is_empty(),
        "the module map allows imports no file makes:\n{}",
        unused.join("\n")
    );
}

/// Allowances of the map that no file of the module uses, as "`a` may import `b`".
fn allowed_but_unused(rule: &Rule, files: &[(PathBuf, String)]) -> Vec<String> {
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    for (relative, text) in files {
        if let Some(module) = module_of(relative) {
            for (_, imported) in imports(relative, text) {
                used.insert((module.clone(), imported));
            }
        }
    }
    let mut out = Vec::new();
    for (module, allowed) in rule {
        for name in allowed.iter().flatten() {
            if !used.contains(&(module.clone(), name.clone())) {
                out.push(format!(
                    "`{module}` may import `{name}` but none of its files does"
                ));
            }
        }
    }
    out
}

#[test]
fn a_wrong_import_is_named_with_its_file_and_line() {
    let lib = "//! | `model` | data | - |\n//! | `store` | disk | model |\n//! | `engine` | ops | model, store |\n//! | `cli` | commands | every module |\n";
    let rule = rule(lib);
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_string());
    let files = vec![
        file(
            "store/journal.rs",
            "//! The journal.\nuse crate::model::Outcome;\nuse crate::engine::ops::Plan;\n",
        ),
        file(
            "model/name.rs",
            "fn f() { let _ = crate::store::Registry::open; }\n// crate::engine in a comment\n",
        ),
        file(
            "engine/mod.rs",
            "use crate::{model::ModelName, store::Registry};\nuse crate::{cli::run};\n",
        ),
        // A group across lines, and a nested one whose later item is the wrong one.
        file(
            "store/registry/mod.rs",
            "use crate::{\n    model::Outcome,\n    engine::ops,\n};\nuse crate::{model::{A, B}, engine::C};\n",
        ),
        // `super::` from a top-level module's mod.rs climbs to the crate's root.
        file(
            "store/mod.rs",
            "use super::engine::ops;\nuse super::registry::Registry;\nmod tests { use super::*; }\n",
        ),
        file(
            "store/backup.rs",
            "use super::super::engine;\nuse super::lock;\n",
        ),
        // Paths inside strings are text: "http://crate::engine" is no import, nor a comment.
        file(
            "model/url.rs",
            "const A: &str = \"http://x crate::engine\"; const B: &str = r#\"crate::cli\"#;\nuse crate::store::X;\n",
        ),
        file("cli.rs", "use crate::engine::ops;\n"),
        file("extra/mod.rs", ""),
    ];
    let wrong = violations(&rule, &files);
    assert_eq!(
        wrong,
        vec![
            "src/store/journal.rs:3: `store` may not import `engine` (the module map allows: model)",
            "src/model/name.rs:1: `model` may not import `store` (the module map allows: nothing)",
            "src/engine/mod.rs:2: `engine` may not import `cli` (the module map allows: model, store)",
            "src/store/registry/mod.rs:1: `store` may not import `engine` (the module map allows: model)",
            "src/store/registry/mod.rs:5: `store` may not import `engine` (the module map allows: model)",
            "src/store/mod.rs:1: `store` may not import `engine` (the module map allows: model)",
            "src/store/backup.rs:1: `store` may not import `engine` (the module map allows: model)",
            "src/model/url.rs:2: `model` may not import `store` (the module map allows: nothing)",
            "src/extra/mod.rs: module `extra` is not in the module map of src/lib.rs",
        ]
    );
}

#[test]
fn a_map_that_lets_a_floor_import_one_above_it_is_refused() {
    let lib = "//! | `model` | data | - |\n//! | `store` | disk | model, engine |\n//! | `engine` | ops | model, store |\n";
    assert_eq!(
        out_of_order(lib),
        vec!["`store` may import `engine`, which is not above it"]
    );
}
