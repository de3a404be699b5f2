//! The README stays true: every `hudi-pg-sync` command in it parses with the real CLI and uses
//! only subcommands and flags that the CLI tests or `make run` exercise, every `make` target it
//! names exists, its Lambda configuration table matches `hps_lambda::config::ENV_VARS`
//! (names, which function reads or requires each, defaults), its configuration-file reference
//! is the one `hps_config::reference_table` generates from the keys the parser accepts, and
//! its type-map summary rows are rows of the full, tested type map. Its links are checked with
//! every other doc's (`doc_links.rs`).

use std::collections::BTreeSet;

use clap::Parser;
use hps_lambda::config::{ENV_VARS, Role};
use hps_testkit::workspace_root;

fn read(rel: &str) -> String {
    std::fs::read_to_string(workspace_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Lines of the ```sh blocks, continuation lines joined, comments dropped.
fn sh_lines(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut cur = String::new();
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = match t.find(" #") {
            Some(i) => &t[..i],
            None if t.starts_with('#') => "",
            None => t,
        };
        cur.push_str(code.trim_end_matches('\\'));
        cur.push(' ');
        if !code.ends_with('\\') {
            if !cur.trim().is_empty() {
                out.push(cur.trim().to_string());
            }
            cur.clear();
        }
    }
    out
}

/// Split a shell line into words (double and single quotes; `$VAR` kept literally).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Text of the files that exercise the CLI: its tests and the `make run` script.
fn exercising_sources() -> String {
    let root = workspace_root();
    let mut s = read("scripts/run-demo.sh");
    for e in std::fs::read_dir(root.join("shared/cli/tests"))
        .unwrap()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "rs") {
            s.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
    }
    s
}

#[test]
fn cli_commands_parse_and_are_exercised() {
    let readme = read("README.md");
    let exercised = exercising_sources();
    let mut seen = 0;
    for line in sh_lines(&readme) {
        let w = words(&line);
        if w.first().map(String::as_str) != Some("hudi-pg-sync") {
            continue;
        }
        seen += 1;
        if let Err(e) = hudi_pg_sync::cli::Cli::try_parse_from(&w) {
            panic!("README command does not parse: {line}\n{e}");
        }
        let sub = &w[1];
        assert!(
            exercised.contains(&format!("\"{sub}\""))
                || exercised.contains(&format!("hudi-pg-sync {sub} ")),
            "README uses `hudi-pg-sync {sub}`, which no CLI test nor make run runs"
        );
        for flag in w.iter().filter(|a| a.starts_with("--")) {
            assert!(
                exercised.contains(&format!("\"{flag}\""))
                    || exercised.contains(&format!("{flag} ")),
                "README uses {flag} ({line}), which no CLI test nor make run passes"
            );
        }
    }
    assert!(
        seen >= 10,
        "only {seen} hudi-pg-sync commands found in the README"
    );
}

#[test]
fn make_targets_exist() {
    let readme = read("README.md");
    let makefile = read("Makefile");
    let targets: BTreeSet<&str> = makefile
        .lines()
        .filter_map(|l| l.split_once(':').map(|(t, _)| t))
        .filter(|t| !t.is_empty() && !t.starts_with(['\t', '#', '.', '$']) && !t.contains(' '))
        .collect();
    let mut named = BTreeSet::new();
    for line in sh_lines(&readme) {
        let w = words(&line);
        if w.first().map(String::as_str) == Some("make") {
            named.insert(w[1].clone());
        }
    }
    for part in readme.split("`make ").skip(1) {
        if let Some(t) = part.split(['`', ' ']).next() {
            named.insert(t.to_string());
        }
    }
    assert!(named.contains("run") && named.contains("test"), "{named:?}");
    for t in &named {
        assert!(
            targets.contains(t.as_str()),
            "README names `make {t}`, the Makefile has no such target"
        );
    }
}

fn block<'a>(md: &'a str, name: &str) -> &'a str {
    let begin = format!("<!-- {name}:begin -->");
    let end = format!("<!-- {name}:end -->");
    let a = md.find(&begin).unwrap_or_else(|| panic!("{begin} missing")) + begin.len();
    let b = md.find(&end).unwrap_or_else(|| panic!("{end} missing"));
    &md[a..b]
}

fn table_rows(block: &str) -> Vec<Vec<String>> {
    block
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .skip(1)
        .map(|l| {
            let l = l.trim();
            let inner = l.strip_prefix('|').unwrap_or(l);
            let inner = inner.strip_suffix('|').unwrap_or(inner);
            inner.split('|').map(|c| c.trim().to_string()).collect()
        })
        .collect()
}

#[test]
fn lambda_configuration_table_matches_env_vars() {
    let readme = read("README.md");
    let rows = table_rows(block(&readme, "lambda-config"));
    let names: Vec<String> = rows
        .iter()
        .map(|r| r[0].trim_matches('`').to_string())
        .collect();
    let expected: Vec<String> = ENV_VARS.iter().map(|v| v.name.to_string()).collect();
    assert_eq!(
        names, expected,
        "README Lambda table and ENV_VARS differ (names or order)"
    );
    for (row, v) in rows.iter().zip(ENV_VARS) {
        for (cell, role) in [(&row[1], Role::Detector), (&row[2], Role::Loader)] {
            let want = if v.required_for(role) {
                "required"
            } else if v.used_by(role) {
                "optional"
            } else {
                ""
            };
            assert_eq!(cell, want, "{} for {role:?}", v.name);
        }
        let default = v.default.map(|d| format!("`{d}`")).unwrap_or_default();
        assert_eq!(row[3], default, "default of {}", v.name);
        assert!(!row[4].is_empty(), "{} has no meaning", v.name);
    }
}

#[test]
fn configuration_reference_is_generated_from_the_code() {
    let readme = read("README.md");
    let documented = block(&readme, "config-reference").trim();
    let generated = hps_config::reference_table();
    assert_eq!(
        documented,
        generated.trim(),
        "README configuration reference differs from hps_config::KEYS; replace the block with:\n{generated}"
    );
}

#[test]
fn type_map_summary_rows_are_rows_of_the_tested_type_map() {
    let readme = read("README.md");
    let full = read("shared/postgres/docs/type-map.md");
    let full_rows = table_rows(block(&full, "type-map"));
    let summary = table_rows(block(&readme, "type-map-summary"));
    assert!(summary.len() >= 10);
    for r in &summary {
        assert!(
            full_rows.contains(r),
            "README type-map row {r:?} is not in shared/postgres/docs/type-map.md"
        );
    }
}
