//! Every link and document citation in the repository resolves:
//! - markdown links `[text](target)` in every `.md` file and in the doc comments of every `.rs`
//!   file: the target file exists (relative to the linking file), and a `#anchor` into a
//!   markdown file names one of its headings;
//! - citations of documents in Rust comments and markdown text (`docs/hudi-format.md §6.1`,
//!   `README.md`): the file exists (relative to the crate, else to the workspace root) and a `§N` or `§N.M` names
//!   a numbered section `## N.` of it (and item `M.` of that section's list);
//! - nothing outside tests cites the handbook beside the repository (`../shared/…`): a user of
//!   the crates never has it. Tests may, since they read their fixtures from there.

use std::path::{Path, PathBuf};

use hps_testkit::workspace_root;

const SKIP_DIRS: &[&str] = &["target", ".git", ".venv", "node_modules", ".aws-sam"];

fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            if !SKIP_DIRS.contains(&name.as_str()) {
                walk(&p, ext, out);
            }
        } else if name.ends_with(ext) {
            out.push(p);
        }
    }
}

fn files(ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(&workspace_root(), ext, &mut out);
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(workspace_root())
        .unwrap_or(p)
        .display()
        .to_string()
}

/// The targets of the markdown links `](target)` in `text`.
fn md_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|part| part.split(')').next())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && !t.contains(char::is_whitespace))
        .collect()
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn headings(md: &str) -> Vec<String> {
    let mut in_code = false;
    md.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            !in_code && l.starts_with('#')
        })
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .collect()
}

/// Check one link of `from` (a file); `Err` says what is wrong.
fn check_link(from: &Path, target: &str) -> Result<(), String> {
    if ["http://", "https://", "mailto:"]
        .iter()
        .any(|s| target.starts_with(s))
    {
        return Ok(());
    }
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let file = if path.is_empty() {
        from.to_path_buf()
    } else {
        from.parent().unwrap_or(Path::new(".")).join(path)
    };
    if !file.exists() {
        return Err(format!("links to missing {target}"));
    }
    if anchor.is_empty() || file.extension().is_none_or(|e| e != "md") {
        return Ok(());
    }
    let md = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    if headings(&md).iter().any(|h| slug(h) == anchor) {
        Ok(())
    } else {
        Err(format!("links to {target}: no heading with that anchor"))
    }
}

#[test]
fn markdown_links_resolve() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for f in files(".md") {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for t in md_links(&text) {
            checked += 1;
            if let Err(e) = check_link(&f, &t) {
                bad.push(format!("{}: {e}", rel(&f)));
            }
        }
    }
    for f in files(".rs") {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for line in text.lines().filter(|l| is_doc_comment(l)) {
            for t in md_links(line) {
                // intra-doc links (`[Type](crate::x)`) are rustdoc's to check
                if t.contains("::") || !t.contains('.') {
                    continue;
                }
                checked += 1;
                if let Err(e) = check_link(&f, &t) {
                    bad.push(format!("{}: {e}", rel(&f)));
                }
            }
        }
    }
    assert!(
        checked > 15,
        "only {checked} links found: is the walk broken?"
    );
    assert!(
        bad.is_empty(),
        "links that do not resolve:\n{}",
        bad.join("\n")
    );
}

fn is_doc_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//!") || t.starts_with("///")
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

/// A document cited in a comment: its path as written and the section after it (`6.1` for
/// `§6.1` after the path).
#[derive(Debug)]
struct Citation {
    path: String,
    section: Option<String>,
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// Document citations in one comment line: paths ending in `.md` that name a `docs/` file or a
/// README (other `.md` names in comments are generated outputs, such as the bench report).
fn citations(line: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    let mut rest = line;
    let mut offset = 0;
    while let Some(i) = rest.find(".md") {
        let end = offset + i + 3;
        let after = &line[end..];
        if after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            rest = &line[end..];
            offset = end;
            continue;
        }
        let start = line[..end]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_path_char(*c))
            .last()
            .map_or(end, |(j, _)| j);
        let path = line[start..end].trim_start_matches("./").to_string();
        if path.contains("docs/") || path.ends_with("README.md") {
            let section = after
                .trim_start()
                .strip_prefix('§')
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.')
                        .collect::<String>()
                })
                .map(|s| s.trim_end_matches('.').to_string())
                .filter(|s| !s.is_empty());
            out.push(Citation { path, section });
        }
        rest = &line[end..];
        offset = end;
    }
    out
}

/// The directory of the crate holding `file` (nearest `Cargo.toml`).
fn crate_dir(file: &Path) -> PathBuf {
    let root = workspace_root();
    let mut d = file.parent();
    while let Some(dir) = d {
        if dir.join("Cargo.toml").exists() || dir == root {
            return dir.to_path_buf();
        }
        d = dir.parent();
    }
    root
}

fn is_test_file(file: &Path) -> bool {
    let r = rel(file);
    r.starts_with("tests/") || r.contains("/tests/") || r.ends_with("tests.rs")
}

/// `§N` must be a heading `## N.`; `§N.M` also item `M.` of that section's numbered list.
fn check_section(md: &str, section: &str) -> Result<(), String> {
    let mut parts = section.split('.');
    let n = parts.next().unwrap_or_default();
    let m = parts.next();
    let head = format!("## {n}.");
    let Some(start) = md.lines().position(|l| l.starts_with(&head)) else {
        return Err(format!("no section {head}"));
    };
    let Some(m) = m else {
        return Ok(());
    };
    let item = format!("{m}. ");
    let found = md
        .lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with("## "))
        .any(|l| l.starts_with(&item));
    if found {
        Ok(())
    } else {
        Err(format!("section {n} has no item {m}."))
    }
}

fn check_citation(file: &Path, c: &Citation) -> Result<(), String> {
    let root = workspace_root();
    let here = file.parent().unwrap_or(Path::new("."));
    let inside = [here, &crate_dir(file), &root]
        .iter()
        .map(|d| normalize(&d.join(&c.path)))
        .find(|p| p.starts_with(&root) && p.exists());
    let Some(doc) = inside else {
        return if c.path.starts_with("../") && is_test_file(file) {
            Ok(()) // a test citing the handbook beside its fixtures
        } else if c.path.starts_with("../") {
            Err(format!(
                "cites {} outside the repository (a user never has it)",
                c.path
            ))
        } else {
            Err(format!("cites missing {}", c.path))
        };
    };
    match &c.section {
        None => Ok(()),
        Some(s) => {
            let md = std::fs::read_to_string(&doc).map_err(|e| e.to_string())?;
            check_section(&md, s).map_err(|e| format!("cites {} §{s}: {e}", c.path))
        }
    }
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in p.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn document_citations_resolve() {
    let mut bad = Vec::new();
    let mut checked = 0;
    for f in files(".rs").into_iter().chain(files(".md")) {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        let code = f.extension().is_some_and(|e| e == "rs");
        let lines = text.lines().enumerate();
        for (i, line) in lines.filter(|(_, l)| !code || is_comment(l)) {
            for c in citations(line) {
                checked += 1;
                if let Err(e) = check_citation(&f, &c) {
                    bad.push(format!("{}:{}: {e}", rel(&f), i + 1));
                }
            }
        }
    }
    assert!(
        checked > 10,
        "only {checked} citations found: is the scan broken?"
    );
    assert!(
        bad.is_empty(),
        "citations that do not resolve:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scanners_find_what_they_should() {
    let c = citations("//! merge (docs/hudi-format.md §6.2–6.4), see README.md and x.mdx");
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(c[0].path, "docs/hudi-format.md");
    assert_eq!(c[0].section.as_deref(), Some("6.2"));
    assert_eq!(c[1].path, "README.md");
    assert_eq!(c[1].section, None);
    assert_eq!(
        md_links("see [a](docs/x.md#part-one) and [b](https://e.org)"),
        vec!["docs/x.md#part-one", "https://e.org"]
    );
    assert_eq!(slug("6. Incremental windows"), "6-incremental-windows");
    let md = "# T\n## 6. W\n1. one\n2. two\n## 7. X\n3. three\n";
    assert!(check_section(md, "6").is_ok());
    assert!(check_section(md, "6.2").is_ok());
    assert!(check_section(md, "6.3").is_err());
    assert!(check_section(md, "8").is_err());
}
