//! The command line, end to end: every test runs the real `syncmap` binary in a temporary folder
//! and asserts its exit code and what it prints. Output people read is snapshotted (under
//! `tests/snapshots/cli__*.snap`); JSON and SARIF are parsed and checked field by field.
//!
//! The centrepiece is `misspelling_any_standard_column_is_reported_in_every_format`: it misspells
//! every column named by every table mapping in `mappings/`, one at a time, and checks that
//! `check` points at it with E0203 and suggests the right name in all three output formats.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
/// SQLite systems shaped like the standard tables, for commands that need a real run.
mod support;
use syncmap::diagnostics::Code;
use syncmap::source::FileId;
use syncmap::syntax::{self, ast};

const BIN: &str = env!("CARGO_BIN_EXE_syncmap");

/// The repository root, where `mappings/` lives.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Stdout parsed as JSON, or a panic that shows what was printed.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FORCE_COLOR");
    cmd
}

/// Runs `syncmap ARGS` in `dir`.
fn run(dir: &Path, args: &[&str]) -> Run {
    let out = command(dir, args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `syncmap ARGS` in `dir` with `input` on standard input.
fn run_with_stdin(dir: &Path, args: &[&str], input: &str) -> Run {
    let mut child = command(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("write stdin: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for syncmap: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("create a temporary folder: {e}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("create folder: {e}"));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Copies a folder tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create folder: {e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read folder: {e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("folder entry: {e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("copy file: {e}"));
        }
    }
}

/// Every file under `dir`, as `/`-separated paths relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read folder: {e}")) {
            let path = entry.unwrap_or_else(|e| panic!("folder entry: {e}")).path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap_or_else(|e| panic!("under base: {e}"));
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A copy of the standard mappings at `DIR/mappings`.
fn standard_project() -> tempfile::TempDir {
    let dir = temp();
    copy_dir(&repo().join("mappings"), &dir.path().join("mappings"));
    dir
}

/// The schema snapshots of the standard mappings, for hand-written projects.
fn copy_schemas(to: &Path) {
    copy_dir(&repo().join("mappings/schemas"), &to.join("schemas"));
    std::fs::copy(repo().join("mappings/systems.map"), to.join("systems.map"))
        .unwrap_or_else(|e| panic!("copy systems.map: {e}"));
}

/// Masks temporary folders and the version in text that is snapshotted. (insta's `filters`
/// setting needs its `filters` feature, which the manifest does not enable.)
fn masked(text: &str, dirs: &[&Path]) -> String {
    let mut out = text.to_string();
    for d in dirs {
        let canonical = d.canonicalize().unwrap_or_else(|_| d.to_path_buf());
        for p in [canonical.as_path(), *d] {
            out = out.replace(&p.display().to_string(), "[TMP]");
        }
    }
    out.replace(
        concat!("syncmap ", env!("CARGO_PKG_VERSION")),
        "syncmap [VERSION]",
    )
}

// ------------------------------------------------------------------------------------------
// The standard mappings are clean.
// ------------------------------------------------------------------------------------------

#[test]
fn check_standard_mappings_finds_no_problems() {
    let r = run(repo(), &["check", "mappings/"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "no problems found\n");
    assert_eq!(r.stdout, "");
}

#[test]
fn standard_mappings_are_formatted() {
    let r = run(repo(), &["fmt", "--check", "mappings/"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "", "fmt --check printed a diff");
}

#[test]
fn standard_tests_pass() {
    let r = run(repo(), &["test", "mappings/"]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    let summary = lines.last().copied().unwrap_or_default();
    let (passed, failed) = summary
        .strip_suffix(" failed")
        .and_then(|s| s.split_once(" passed, "))
        .unwrap_or_else(|| panic!("no summary line in:\n{}", r.stdout));
    let passed: usize = passed.parse().expect("a count");
    assert_eq!(failed, "0");
    assert!(passed >= 5, "only {passed} tests");
    let ok = lines
        .iter()
        .filter(|l| l.starts_with("test ") && l.ends_with(" ... ok"))
        .count();
    assert_eq!(
        ok, passed,
        "one `... ok` line per passed test:\n{}",
        r.stdout
    );
}

// ------------------------------------------------------------------------------------------
// Done-criterion: a misspelt column anywhere in the standard mappings is caught and named.
// ------------------------------------------------------------------------------------------

/// Where a column name stands in a table mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// In a `filter` condition.
    Filter,
    /// One side of a `match` term.
    Match,
    /// Read by a one-way field mapping (bare, or inside an expression).
    Source,
    /// Written by a one-way field mapping.
    Destination,
    /// A column of a two-way (`<->`) field mapping, read and written.
    TwoWay,
    /// The column after `via table.`.
    Via,
}

/// One column name in one standard mapping file.
#[derive(Debug, Clone)]
struct Site {
    /// File name inside `mappings/`.
    file: String,
    kind: Kind,
    name: String,
    /// Byte range of the name.
    start: usize,
    end: usize,
    /// `system.table` the name must be a column of, as the message names it.
    table: String,
}

/// The left and right `system.table` of every table mapping, by mapping name.
type Sides = BTreeMap<String, (String, String)>;

fn parse_map(name: &str, text: &str) -> ast::File {
    syntax::parse(FileId(0), text).unwrap_or_else(|_| panic!("{name} does not parse"))
}

fn table_ref(t: &ast::TableRef) -> String {
    format!("{}.{}", t.system.name, t.table.name)
}

fn columns_of(expr: &ast::Expr, out: &mut Vec<(String, ast::Span)>) {
    match &expr.kind {
        ast::ExprKind::Column(c) => out.push((c.clone(), expr.span)),
        ast::ExprKind::Lit(_) => {}
        ast::ExprKind::Call { args, .. } => args.iter().for_each(|a| columns_of(a, out)),
        ast::ExprKind::Unary { expr, .. } => columns_of(expr, out),
        ast::ExprKind::Binary { lhs, rhs, .. } => {
            columns_of(lhs, out);
            columns_of(rhs, out);
        }
        ast::ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            columns_of(cond, out);
            columns_of(then, out);
            columns_of(otherwise, out);
        }
    }
}

/// Every column name of every filter, match rule and field mapping of the table mappings in
/// `files` (name → text).
fn column_sites(files: &BTreeMap<String, String>) -> Vec<Site> {
    let asts: Vec<(&String, ast::File)> = files
        .iter()
        .map(|(name, text)| (name, parse_map(name, text)))
        .collect();
    let mut sides = Sides::new();
    for (_, file) in &asts {
        for item in &file.items {
            if let ast::Item::Table(t) = item {
                sides.insert(
                    t.name.name.clone(),
                    (table_ref(&t.left), table_ref(&t.right)),
                );
            }
        }
    }
    let mut sites = Vec::new();
    for (name, file) in &asts {
        for item in &file.items {
            let ast::Item::Table(t) = item else { continue };
            let (left, right) = (table_ref(&t.left), table_ref(&t.right));
            let mut add = |kind: Kind, col: &str, span: ast::Span, table: &str| {
                sites.push(Site {
                    file: (*name).clone(),
                    kind,
                    name: col.to_string(),
                    start: span.start as usize,
                    end: span.end as usize,
                    table: table.to_string(),
                });
            };
            for ti in &t.items {
                match ti {
                    ast::TableItem::Filter(f) => {
                        let table = if f.side.name == t.left.system.name {
                            &left
                        } else {
                            &right
                        };
                        let mut cols = Vec::new();
                        columns_of(&f.expr, &mut cols);
                        for (c, span) in cols {
                            add(Kind::Filter, &c, span, table);
                        }
                    }
                    ast::TableItem::Match(m) => {
                        for term in &m.terms {
                            add(Kind::Match, &term.left.name, term.left.span, &left);
                            add(Kind::Match, &term.right.name, term.right.span, &right);
                        }
                    }
                    ast::TableItem::Field(fm) => {
                        let (lkind, rkind) = match fm.arrow.dir {
                            ast::Direction::Both => (Kind::TwoWay, Kind::TwoWay),
                            ast::Direction::ToRight => (Kind::Source, Kind::Destination),
                            ast::Direction::ToLeft => (Kind::Destination, Kind::Source),
                        };
                        for (expr, kind, table) in
                            [(&fm.left, lkind, &left), (&fm.right, rkind, &right)]
                        {
                            let mut cols = Vec::new();
                            columns_of(expr, &mut cols);
                            for (c, span) in cols {
                                add(kind, &c, span, table);
                            }
                        }
                        if let Some(ast::Transform::Via {
                            table: via,
                            column: Some(col),
                            ..
                        }) = &fm.transform
                        {
                            // The via column names a code on the side of the mapping gone
                            // through that is in the same system as this mapping's left side
                            // (Business Central, in every standard mapping).
                            let (vl, vr) = sides
                                .get(&via.name)
                                .unwrap_or_else(|| panic!("no table mapping `{}`", via.name));
                            let table = if vl.split('.').next() == Some(&t.left.system.name) {
                                vl.clone()
                            } else {
                                vr.clone()
                            };
                            add(Kind::Via, &col.name, col.span, &table);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    sites
}

/// The columns of the standard schema snapshots.
struct Columns {
    /// Every column name of either system, lower-cased.
    all: BTreeSet<String>,
    /// The column names of each `system.table`.
    by_table: BTreeMap<String, Vec<String>>,
}

/// Reads the schemas the systems of `mappings/systems.map` name.
fn standard_columns() -> Columns {
    let map_dir = repo().join("mappings");
    let systems = read(&map_dir.join("systems.map"));
    let mut cols = Columns {
        all: BTreeSet::new(),
        by_table: BTreeMap::new(),
    };
    for item in parse_map("systems.map", &systems).items {
        let ast::Item::System(s) = item else { continue };
        let path = s
            .settings
            .iter()
            .find(|st| st.key.name == "schema")
            .map(|st| map_dir.join(&st.value.value))
            .unwrap_or_else(|| panic!("system `{}` names no schema", s.name.name));
        let schema = syncmap::schema::load(&read(&path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let choices = syncmap::schema::choices::choice_tables(&schema);
        for t in schema.tables.iter().chain(&choices) {
            let names: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
            cols.all.extend(names.iter().map(|n| n.to_lowercase()));
            cols.by_table
                .insert(format!("{}.{}", s.name.name, t.name), names);
        }
    }
    assert!(
        cols.by_table.len() >= 9,
        "schemas not found: {:?}",
        cols.by_table.keys()
    );
    cols
}

/// A typo of `name`: the middle character dropped, the last dropped, the two middle ones swapped
/// or the middle one doubled, whichever comes first that is no column of either system and is
/// nearer (by edit distance) to `name` than to any other column of `table`, so exactly one
/// suggestion is right.
fn misspell(name: &str, table: &str, cols: &Columns) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mid = chars.len() / 2;
    let mut dropped = chars.clone();
    dropped.remove(mid);
    let mut last = chars.clone();
    last.pop();
    let mut swapped = chars.clone();
    swapped.swap(mid - 1, mid);
    let mut doubled = chars.clone();
    doubled.insert(mid, chars[mid]);
    let others: Vec<&String> = cols
        .by_table
        .get(table)
        .unwrap_or_else(|| panic!("no table `{table}` in the schemas"))
        .iter()
        .filter(|c| *c != name)
        .collect();
    [dropped, last, swapped, doubled]
        .into_iter()
        .map(|c| c.into_iter().collect::<String>())
        .find(|typo| {
            let d = strsim::levenshtein(typo, name);
            typo != name
                && !cols.all.contains(&typo.to_lowercase())
                && others.iter().all(|o| strsim::levenshtein(typo, o) > d)
        })
        .unwrap_or_else(|| panic!("no unambiguous misspelling of `{name}`"))
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Checks one misspelling in all three formats; returns what went wrong, if anything.
fn check_misspelling(project: &Path, site: &Site, typo: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let file = format!("mappings/{}", site.file);
    let (line, column) = line_col(text, site.start);
    let end_column = column + typo.chars().count();
    let did_you_mean = format!("did you mean `{}`?", site.name);
    let message = format!("unknown column `{typo}` in `{}`", site.table);
    let mut fail = |what: String| problems.push(what);

    // Human.
    let r = run(project, &["check", "mappings"]);
    if r.code != 1 {
        fail(format!("human: exit {} instead of 1", r.code));
    }
    for needle in [
        "syncmap::E0203".to_string(),
        message.clone(),
        did_you_mean.clone(),
        format!("[{file}:{line}:{column}]"),
    ] {
        if !r.stderr.contains(&needle) {
            fail(format!("human output lacks {needle:?}:\n{}", r.stderr));
        }
    }

    // JSON.
    let r = run(project, &["check", "--format", "json", "mappings"]);
    if r.code != 1 {
        fail(format!("json: exit {} instead of 1", r.code));
    }
    let diags = r.json();
    let items = diags.as_array().cloned().unwrap_or_default();
    let e0203: Vec<&Value> = items.iter().filter(|d| d["code"] == "E0203").collect();
    if e0203.len() != 1 {
        fail(format!(
            "json: {} E0203 diagnostics instead of 1:\n{diags:#}",
            e0203.len()
        ));
    }
    let hit = e0203.iter().find(|d| {
        d["file"] == file.as_str()
            && d["line"] == line
            && d["column"] == column
            && d["end_line"] == line
            && d["end_column"] == end_column
    });
    match hit {
        None => fail(format!(
            "json: no E0203 at {file}:{line}:{column}-{end_column}:\n{diags:#}"
        )),
        Some(d) => {
            if d["severity"] != "error" || d["message"] != message.as_str() {
                fail(format!("json: wrong severity or message: {d:#}"));
            }
            if !d["help"].as_str().unwrap_or("").contains(&did_you_mean) {
                fail(format!(
                    "json: help does not suggest `{}`: {d:#}",
                    site.name
                ));
            }
        }
    }

    // SARIF.
    let r = run(project, &["check", "--format", "sarif", "mappings"]);
    if r.code != 1 {
        fail(format!("sarif: exit {} instead of 1", r.code));
    }
    let log = r.json();
    if log["version"] != "2.1.0" {
        fail(format!("sarif: version {}", log["version"]));
    }
    let results = log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let hit = results.iter().find(|res| {
        let loc = &res["locations"][0]["physicalLocation"];
        res["ruleId"] == "E0203"
            && loc["artifactLocation"]["uri"] == file.as_str()
            && loc["region"]["startLine"] == line
            && loc["region"]["startColumn"] == column
            && loc["region"]["endColumn"] == end_column
    });
    match hit {
        None => fail(format!(
            "sarif: no E0203 result at {file}:{line}:{column}:\n{results:#?}"
        )),
        Some(res) => {
            if res["level"] != "error" {
                fail(format!("sarif: level {}", res["level"]));
            }
            let text = res["message"]["text"].as_str().unwrap_or("");
            if !text.contains(&message) || !text.contains(&did_you_mean) {
                fail(format!(
                    "sarif: message lacks the column or the hint: {text:?}"
                ));
            }
            let index = res["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize;
            if log["runs"][0]["tool"]["driver"]["rules"][index]["id"] != "E0203" {
                fail(format!("sarif: ruleIndex {index} is not the E0203 rule"));
            }
        }
    }
    problems
}

/// Checks that a misspelling causes no error besides its E0203 (JSON format only).
fn check_no_cascade(project: &Path, _site: &Site, _typo: &str, _text: &str) -> Vec<String> {
    let r = run(project, &["check", "--format", "json", "mappings"]);
    let diags = r.json();
    let others: Vec<String> = diags
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|d| d["severity"] == "error" && d["code"] != "E0203")
        .map(|d| {
            format!(
                "also {} at {}:{}:{}: {}",
                d["code"], d["file"], d["line"], d["column"], d["message"]
            )
        })
        .collect();
    others
}

type Checker = fn(&Path, &Site, &str, &str) -> Vec<String>;

/// Every column site of the standard mappings, with a coverage check of the walk itself so a
/// change to the syntax tree cannot make the misspelling tests vacuous.
fn standard_sites() -> (BTreeMap<String, String>, Vec<Site>) {
    let map_dir = repo().join("mappings");
    let files: BTreeMap<String, String> = files_under(&map_dir)
        .into_iter()
        .filter(|f| f.ends_with(".map"))
        .map(|f| {
            let text = read(&map_dir.join(&f));
            (f, text)
        })
        .collect();
    let sites = column_sites(&files);
    let files_with_tables: BTreeSet<&str> = files
        .iter()
        .filter(|(name, text)| {
            parse_map(name, text)
                .items
                .iter()
                .any(|i| matches!(i, ast::Item::Table(_)))
        })
        .map(|(name, _)| name.as_str())
        .collect();
    let covered: BTreeSet<&str> = sites.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(
        covered, files_with_tables,
        "every file with a table mapping has sites"
    );
    assert_eq!(files_with_tables.len(), 6, "{files_with_tables:?}");
    let kinds: BTreeSet<Kind> = sites.iter().map(|s| s.kind).collect();
    let all_kinds = [
        Kind::Filter,
        Kind::Match,
        Kind::Source,
        Kind::Destination,
        Kind::TwoWay,
        Kind::Via,
    ];
    assert_eq!(
        kinds,
        all_kinds.into_iter().collect(),
        "every kind of site is covered"
    );
    assert!(
        sites.len() >= 100,
        "only {} column sites found",
        sites.len()
    );
    for s in &sites {
        assert_eq!(&files[&s.file][s.start..s.end], s.name, "{s:?}");
    }
    (files, sites)
}

/// Misspells each site in turn, in a copy of the standard mappings per file (the files run in
/// parallel), and collects what `check` says wrong. Returns the number of sites and the problems.
fn misspell_each_site(check: Checker) -> (usize, Vec<String>) {
    let (files, sites) = standard_sites();
    let cols = standard_columns();
    let mut by_file: BTreeMap<&str, Vec<&Site>> = BTreeMap::new();
    for s in &sites {
        by_file.entry(s.file.as_str()).or_default().push(s);
    }
    let problems = std::thread::scope(|scope| {
        let handles: Vec<_> = by_file
            .iter()
            .map(|(file, sites)| {
                let original = &files[*file];
                let cols = &cols;
                scope.spawn(move || {
                    let project = standard_project();
                    let path = project.path().join("mappings").join(file);
                    let mut problems = Vec::new();
                    for site in sites {
                        let typo = misspell(&site.name, &site.table, cols);
                        let text =
                            format!("{}{typo}{}", &original[..site.start], &original[site.end..]);
                        write(&path, &text);
                        for p in check(project.path(), site, &typo, &text) {
                            problems.push(format!(
                                "{} `{}` → `{typo}` ({:?}): {p}",
                                site.file, site.name, site.kind
                            ));
                        }
                    }
                    write(&path, original);
                    problems
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a worker thread panicked"))
            })
            .collect::<Vec<String>>()
    });
    (sites.len(), problems)
}

/// The done-criterion. For EVERY column name of every filter, match rule (both sides), field
/// mapping (source and destination, bare or inside an expression such as
/// `first_name(displayName)`) and `via` column of every table mapping in `mappings/`, one at a
/// time: misspell it in a copy of the standard mappings and run `check` in the human, JSON and
/// SARIF formats. Each must exit 1 with exactly one E0203, at the line and column of the typo,
/// naming the typo and the table, and saying `did you mean `<original>`?`.
#[test]
fn misspelling_any_standard_column_is_reported_in_every_format() {
    let (count, problems) = misspell_each_site(check_misspelling);
    assert!(
        problems.is_empty(),
        "{} problems over {count} misspellings:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// A misspelt column should be the only error: nothing downstream of it may complain about the
/// unknown type it leaves behind.
#[test]
fn misspelling_a_standard_column_causes_no_other_error() {
    let (count, problems) = misspell_each_site(check_no_cascade);
    assert!(
        problems.is_empty(),
        "{} cascading errors over {count} misspellings:\n\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// What a person sees for one misspelt column.
#[test]
fn misspelt_column_human_output() {
    let dir = standard_project();
    let path = dir.path().join("mappings/customers.map");
    let text = read(&path);
    let bad = text.replacen("<-> telephone1 [truncate]", "<-> telephon1 [truncate]", 1);
    assert_ne!(bad, text);
    write(&path, &bad);
    let r = run(dir.path(), &["check", "mappings"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stdout, "");
    insta::assert_snapshot!(masked(&r.stderr, &[dir.path()]));
}

/// Given an absolute path, diagnostics name the file by that path, as written.
#[test]
fn absolute_paths_are_shown_as_given() {
    let dir = standard_project();
    let path = dir.path().join("mappings/customers.map");
    let text = read(&path);
    write(
        &path,
        &text.replacen("city             <->", "cty              <->", 1),
    );
    let maps = dir.path().join("mappings");
    let maps = maps
        .to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 temporary path"));
    let elsewhere = temp();
    let r = run(elsewhere.path(), &["check", "--format", "json", maps]);
    assert_eq!(r.code, 1, "{r:?}");
    let diags = r.json();
    assert_eq!(diags[0]["code"], "E0203", "{diags:#}");
    assert_eq!(
        diags[0]["file"],
        format!("{maps}/customers.map"),
        "{diags:#}"
    );
    let r = run(elsewhere.path(), &["check", maps]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!("[{maps}/customers.map:")),
        "{}",
        r.stderr
    );
}

/// `compile` refuses a project with errors: exit 1, the diagnostic, and no plan written.
#[test]
fn compile_with_errors_writes_no_plan() {
    let dir = standard_project();
    let path = dir.path().join("mappings/vendors.map");
    let text = read(&path);
    write(
        &path,
        &text.replacen("city           <->", "cty            <->", 1),
    );
    let r = run(dir.path(), &["compile", "mappings", "-o", "plan.json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("syncmap::E0203"), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `city`?"), "{}", r.stderr);
    assert!(!dir.path().join("plan.json").exists(), "a plan was written");
    assert_eq!(r.stdout, "");
}

// ------------------------------------------------------------------------------------------
// compile
// ------------------------------------------------------------------------------------------

fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                strings_in(x, out);
            }
        }
        _ => {}
    }
}

#[test]
fn compile_is_deterministic_ordered_and_relocatable() {
    let a = standard_project();
    let r1 = run(a.path(), &["compile", "mappings/", "-o", "plan.json"]);
    assert_eq!(r1.code, 0, "{r1:?}");
    let first = std::fs::read(a.path().join("plan.json")).expect("plan written");
    let r2 = run(a.path(), &["compile", "mappings/", "-o", "plan.json"]);
    assert_eq!(r2.code, 0, "{r2:?}");
    let second = std::fs::read(a.path().join("plan.json")).expect("plan written");
    assert!(first == second, "two compilations differ");
    assert!(
        r1.stderr
            .starts_with("wrote plan.json (7 table mappings, sha256:"),
        "{}",
        r1.stderr
    );

    // From inside the folder, with the default path, and to standard output.
    let inside = a.path().join("mappings");
    let r = run(&inside, &["compile", ".", "-o", "../plan-inside.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(std::fs::read(a.path().join("plan-inside.json")).expect("plan") == first);
    let r = run(&inside, &["compile"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.as_bytes() == first.as_slice(),
        "stdout plan differs"
    );

    // Another copy somewhere else, given by absolute path from yet another folder.
    let b = standard_project();
    let elsewhere = temp();
    let b_maps = b.path().join("mappings");
    let out = elsewhere.path().join("plan.json");
    let r = run(
        elsewhere.path(),
        &[
            "compile",
            b_maps.to_str().expect("utf-8 path"),
            "-o",
            out.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        std::fs::read(&out).expect("plan") == first,
        "plan depends on where it is compiled"
    );

    let text = String::from_utf8(first).expect("utf-8 plan");
    for path in [a.path(), b.path(), elsewhere.path(), repo()] {
        assert!(
            !text.contains(&path.display().to_string()),
            "plan contains {}",
            path.display()
        );
    }
    assert!(!text.contains("/work"), "plan contains /work");
    let plan: Value = serde_json::from_str(&text).expect("plan is JSON");
    let mut strings = Vec::new();
    strings_in(&plan, &mut strings);
    let absolute: Vec<&String> = strings.iter().filter(|s| s.starts_with('/')).collect();
    assert!(
        absolute.is_empty(),
        "absolute paths in the plan: {absolute:?}"
    );

    // Format 2: the option mappings sync choices' options, which format 1 runtimes cannot.
    assert_eq!(plan["format_version"], 2);
    let tables = plan["tables"].as_array().expect("tables");
    let names: Vec<&str> = tables
        .iter()
        .map(|t| t["name"].as_str().expect("table name"))
        .collect();
    let expected: BTreeSet<&str> = STANDARD_TABLES.into_iter().collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert_eq!(names.iter().copied().collect::<BTreeSet<_>>(), expected);
    for (i, t) in tables.iter().enumerate() {
        for dep in t["depends_on"].as_array().expect("depends_on") {
            let dep = dep.as_str().expect("dependency name");
            let at = names.iter().position(|n| *n == dep);
            assert!(
                at.is_some_and(|at| at < i),
                "`{}` comes before its dependency `{dep}`: {names:?}",
                names[i]
            );
        }
    }
    let deps = |name: &str| -> Vec<&str> {
        tables[names.iter().position(|n| *n == name).expect("table")]["depends_on"]
            .as_array()
            .expect("depends_on")
            .iter()
            .filter_map(Value::as_str)
            .collect()
    };
    for d in ["customers", "vendors"] {
        assert!(deps("contacts").contains(&d), "contacts depends on {d}");
    }
    for d in [
        "currencies",
        "salespeople",
        "payment_terms",
        "shipment_methods",
    ] {
        assert!(deps("customers").contains(&d), "customers depends on {d}");
    }
    assert!(
        deps("vendors").contains(&"payment_terms"),
        "vendors depend on payment terms"
    );
}

// ------------------------------------------------------------------------------------------
// fmt
// ------------------------------------------------------------------------------------------

const UNFORMATTED: &str = r#"// Customers, both ways.
table customers:bc.customers<->dv.accounts{
  filter bc:blocked==" "
      displayName <-> name [truncate]   // the name

  // addresses
  city<->address1_city [truncate]
}
test customers "a customer" {
  given bc { displayName: "Contoso", blocked: " " }
  expect dv { name: "Contoso" }
}
// the end
"#;

#[test]
fn fmt_check_shows_a_diff_and_changes_nothing() {
    let dir = temp();
    let path = dir.path().join("customers.map");
    write(&path, UNFORMATTED);
    let r = run(dir.path(), &["fmt", "--check", "customers.map"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(read(&path), UNFORMATTED, "fmt --check changed the file");
    assert!(r
        .stdout
        .starts_with("--- customers.map\n+++ customers.map (formatted)\n"));
    assert_eq!(
        r.stderr,
        "1 file is not formatted; run `syncmap fmt` to fix\n"
    );
    insta::assert_snapshot!(masked(&r.stdout, &[dir.path()]));
}

#[test]
fn fmt_rewrites_idempotently_and_keeps_comments() {
    let dir = temp();
    let path = dir.path().join("customers.map");
    write(&path, UNFORMATTED);
    let r = run(dir.path(), &["fmt", "customers.map"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "formatted customers.map\n");
    let formatted = read(&path);
    assert_ne!(formatted, UNFORMATTED);
    for comment in [
        "// Customers, both ways.",
        "// the name",
        "// addresses",
        "// the end",
    ] {
        assert!(
            formatted.contains(comment),
            "lost {comment:?}:\n{formatted}"
        );
    }
    // The formatted text still means the same: same items, same field mappings.
    for needle in [
        "table customers: bc.customers <-> dv.accounts {",
        "filter bc: blocked == \" \"",
        "<-> name [truncate]",
        "<-> address1_city [truncate]",
        "expect dv { name: \"Contoso\" }",
    ] {
        assert!(formatted.contains(needle), "lost {needle:?}:\n{formatted}");
    }

    let r = run(dir.path(), &["fmt", "--check", "customers.map"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "");
    let r = run(dir.path(), &["fmt", "customers.map"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "", "a formatted file was rewritten");
    assert_eq!(read(&path), formatted, "formatting is not idempotent");
}

#[test]
fn fmt_stdin_to_stdout() {
    let dir = temp();
    let r = run_with_stdin(dir.path(), &["fmt", "-"], UNFORMATTED);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    // The same text as formatting the file in place.
    let path = dir.path().join("customers.map");
    write(&path, UNFORMATTED);
    assert_eq!(run(dir.path(), &["fmt", "customers.map"]).code, 0);
    assert_eq!(r.stdout, read(&path));
    // Idempotent through stdin too, and `--check -` agrees.
    let again = run_with_stdin(dir.path(), &["fmt", "-"], &r.stdout);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout, r.stdout);
    let check = run_with_stdin(dir.path(), &["fmt", "--check", "-"], &r.stdout);
    assert_eq!(check.code, 0, "{check:?}");
    assert_eq!(check.stdout, "");
    let check = run_with_stdin(dir.path(), &["fmt", "--check", "-"], UNFORMATTED);
    assert_eq!(check.code, 1, "{check:?}");
    assert!(check
        .stdout
        .starts_with("--- <stdin>\n+++ <stdin> (formatted)\n"));
}

#[test]
fn fmt_standard_mappings_through_stdin_is_identity() {
    let map_dir = repo().join("mappings");
    for f in files_under(&map_dir).iter().filter(|f| f.ends_with(".map")) {
        let text = read(&map_dir.join(f));
        let r = run_with_stdin(repo(), &["fmt", "-"], &text);
        assert_eq!(r.code, 0, "{f}: {r:?}");
        assert!(r.stdout == text, "{f} is not in canonical form");
    }
}

#[test]
fn fmt_syntax_error_is_e0101() {
    let dir = temp();
    let path = dir.path().join("bad.map");
    let bad = "table x: a.b -> c.d {\n    foo <->\n}\n";
    write(&path, bad);
    for args in [&["fmt", "bad.map"][..], &["fmt", "--check", "bad.map"][..]] {
        let r = run(dir.path(), args);
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert!(r.stderr.contains("syncmap::E0101"), "{}", r.stderr);
        assert!(r.stderr.contains("[bad.map:3:1]"), "{}", r.stderr);
        assert!(r.stderr.ends_with("1 error found\n"), "{}", r.stderr);
        assert_eq!(r.stdout, "");
        assert_eq!(read(&path), bad, "a file with a syntax error was changed");
    }
    let r = run_with_stdin(dir.path(), &["fmt", "-"], bad);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("syncmap::E0101"), "{}", r.stderr);
    assert!(r.stderr.contains("[<stdin>:3:1]"), "{}", r.stderr);
    assert_eq!(r.stdout, "", "half-formatted output on a syntax error");
    insta::assert_snapshot!(masked(&r.stderr, &[dir.path()]));
}

// ------------------------------------------------------------------------------------------
// explain
// ------------------------------------------------------------------------------------------

#[test]
fn explain_prints_the_page() {
    let r = run(repo(), &["explain", "E0203"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("# E0203"), "{}", r.stdout);
    assert_eq!(r.stdout, Code::E0203.page());
    assert_eq!(r.stderr, "");
    for spelling in ["e0203", "syncmap::E0203"] {
        let other = run(repo(), &["explain", spelling]);
        assert_eq!(other.code, 0, "{spelling}: {other:?}");
        assert_eq!(other.stdout, r.stdout, "{spelling}");
    }
}

#[test]
fn explain_lists_every_code() {
    let r = run(repo(), &["explain"]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), Code::ALL.len(), "{}", r.stdout);
    for (line, code) in lines.iter().zip(Code::ALL) {
        let severity = format!("{:?}", code.severity()).to_lowercase();
        assert!(line.starts_with(code.as_str()), "{line}");
        assert!(line.contains(&severity), "{line}");
        assert!(line.ends_with(code.title()), "{line}");
    }
    assert!(
        r.stdout.contains("E0203  error    unknown column\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn explain_unknown_code_is_a_usage_error() {
    let r = run(repo(), &["explain", "E9999"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "error: `E9999` is not a syncmap diagnostic code; `syncmap explain` lists them\n"
    );
}

// ------------------------------------------------------------------------------------------
// test, and E0501 from check
// ------------------------------------------------------------------------------------------

const FAILING_TEST: &str = r#"table currencies: bc.currencies -> dv.transactioncurrencies {
    code        -> isocurrencycode [truncate]
    displayName -> currencyname
    symbol      -> currencysymbol
    1           -> exchangerate [create only]
}

test currencies "the name is copied" {
    given bc { code: "EUR", displayName: "Euro", symbol: "€" }
    expect dv { isocurrencycode: "EUR", currencyname: "Euro" }
}

test currencies "the code is upper-cased" {
    given bc { code: "eur", displayName: "Euro", symbol: "€" }
    expect dv { isocurrencycode: "EUR", currencyname: "Euro" }
}
"#;

#[test]
fn failing_inline_test_is_reported_with_a_diff() {
    let dir = temp();
    copy_schemas(dir.path());
    write(&dir.path().join("currencies.map"), FAILING_TEST);

    let r = run(dir.path(), &["test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("test the name is copied ... ok\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("test the code is upper-cased ... FAILED\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("  at currencies.map:13\n"),
        "{}",
        r.stdout
    );
    let diff: Vec<&str> = r.stdout.lines().map(str::trim_start).collect();
    assert!(diff
        .iter()
        .any(|l| l.starts_with("- isocurrencycode") && l.ends_with("\"EUR\"")));
    assert!(diff
        .iter()
        .any(|l| l.starts_with("+ isocurrencycode") && l.ends_with("\"eur\"")));
    assert!(r.stdout.ends_with("\n1 passed, 1 failed\n"), "{}", r.stdout);
    insta::assert_snapshot!(masked(&r.stdout, &[dir.path()]));

    let r = run(dir.path(), &["check"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("syncmap::E0501"), "{}", r.stderr);
    assert!(r.stderr.ends_with("1 error found\n"), "{}", r.stderr);
    let r = run(dir.path(), &["check", "--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let diags = r.json();
    let items = diags.as_array().expect("an array");
    assert_eq!(items.len(), 1, "{diags:#}");
    assert_eq!(items[0]["code"], "E0501");
    assert_eq!(items[0]["file"], "currencies.map");
    assert_eq!(items[0]["line"], 15);
    assert!(
        items[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("the code is upper-cased")),
        "{diags:#}"
    );
}

#[test]
fn test_on_a_project_that_does_not_compile_fails() {
    let dir = temp();
    copy_schemas(dir.path());
    write(
        &dir.path().join("currencies.map"),
        &FAILING_TEST.replace(
            "symbol      -> currencysymbol",
            "symbl       -> currencysymbol",
        ),
    );
    let r = run(dir.path(), &["test"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("syncmap::E0203"), "{}", r.stderr);
    assert!(
        !r.stdout.contains("passed"),
        "tests ran on a broken project"
    );
}

// ------------------------------------------------------------------------------------------
// init
// ------------------------------------------------------------------------------------------

#[test]
fn init_writes_the_standard_mappings() {
    let dir = temp();
    let r = run(dir.path(), &["init", "--defaults", "proj"]);
    assert_eq!(r.code, 0, "{r:?}");
    insta::assert_snapshot!(masked(&r.stderr, &[dir.path()]));
    let proj = dir.path().join("proj");
    let written = files_under(&proj);
    assert_eq!(
        written,
        files_under(&repo().join("mappings")),
        "init writes exactly the files of mappings/"
    );
    for f in &written {
        assert!(
            read(&proj.join(f)) == read(&repo().join("mappings").join(f)),
            "{f} differs from mappings/{f}"
        );
    }
    let r = run(dir.path(), &["check", "proj"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "no problems found\n");
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = temp();
    let proj = dir.path().join("proj");
    assert_eq!(run(dir.path(), &["init", "--defaults", "proj"]).code, 0);
    // A user edit, and a file the user removed.
    write(&proj.join("currencies.map"), "// mine\n");
    std::fs::remove_file(proj.join("jobs.map")).expect("remove jobs.map");

    let r = run(dir.path(), &["init", "--defaults", "proj"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.starts_with("error: files already exist: "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("proj/currencies.map"), "{}", r.stderr);
    assert!(
        r.stderr.contains("pass --force to overwrite them"),
        "{}",
        r.stderr
    );
    assert_eq!(
        read(&proj.join("currencies.map")),
        "// mine\n",
        "overwrote a file"
    );
    assert!(
        !proj.join("jobs.map").exists(),
        "wrote a file despite refusing"
    );

    let r = run(dir.path(), &["init", "--defaults", "proj", "--force"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        read(&proj.join("currencies.map")),
        read(&repo().join("mappings/currencies.map"))
    );
    assert!(proj.join("jobs.map").exists());
    assert_eq!(run(dir.path(), &["check", "proj"]).code, 0);
}

#[test]
fn init_needs_defaults() {
    let dir = temp();
    let r = run(dir.path(), &["init", "proj"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("--defaults"), "{}", r.stderr);
    assert!(!dir.path().join("proj").exists());
}

// ------------------------------------------------------------------------------------------
// schema import
// ------------------------------------------------------------------------------------------

fn csdl(name: &str) -> String {
    repo()
        .join("tests/fixtures/csdl")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn schema_import_writes_a_loadable_snapshot() {
    let dir = temp();
    let xml = csdl("dataverse-sample.xml");
    let r = run(dir.path(), &["schema", "import", &xml, "-o", "out.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "wrote out.json (6 tables)\n");
    let text = read(&dir.path().join("out.json"));
    let schema = syncmap::schema::load(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"accounts"), "{names:?}");
    let accounts = schema.table("accounts").expect("accounts");
    assert_eq!(accounts.key, "accountid");
    assert!(accounts.column("name").is_some());

    // Deterministic, and the same on standard output.
    let again = run(dir.path(), &["schema", "import", &xml]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout, text);

    let r = run(
        dir.path(),
        &[
            "schema", "import", &xml, "--tables", "accounts", "-o", "acc.json",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let only = syncmap::schema::load(&read(&dir.path().join("acc.json"))).expect("loads");
    let names: Vec<&str> = only.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["accounts"]);
    assert_eq!(only.tables[0], *accounts, "filtering changed the table");
}

#[test]
fn an_imported_service_keeps_enums_and_decimal_facets_for_check() {
    let dir = temp();
    let xml = csdl("independent-sales.xml");
    let r = run(dir.path(), &["schema", "import", &xml, "-o", "sales.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("entity set `orderLines` has a key of several properties"),
        "{}",
        r.stderr
    );
    std::fs::copy(
        repo().join("mappings/schemas/business-central.json"),
        dir.path().join("bc.json"),
    )
    .unwrap();
    write(
        &dir.path().join("sales.map"),
        r#"system bc: business_central { schema = "bc.json" }
system shop: odata { schema = "sales.json" }

table customers: bc.customers -> shop.customers {
    displayName -> name [truncate]
    "Preferred" -> category
    1.23456 -> creditLimit
}
"#,
    );
    let r = run(dir.path(), &["check", "sales.map", "--format", "json"]);
    assert_eq!(r.code, 0, "warnings only: {r:?}");
    let found: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let codes: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["W0006"], "{}", r.stdout);
    assert!(
        r.stdout
            .contains("5 digits after the point, but `creditLimit` holds 4"),
        "{}",
        r.stdout
    );
}

#[test]
fn schema_import_rejects_bad_input() {
    let dir = temp();
    write(&dir.path().join("bad.xml"), "<edmx:Edmx><unclosed\n");
    let r = run(
        dir.path(),
        &["schema", "import", "bad.xml", "-o", "out.json"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.starts_with("error: cannot import `bad.xml`: "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("not well-formed XML"), "{}", r.stderr);
    assert!(!dir.path().join("out.json").exists());

    let xml = csdl("dataverse-sample.xml");
    let r = run(
        dir.path(),
        &["schema", "import", &xml, "--tables", "nosuch"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("no entity set `nosuch`"), "{}", r.stderr);
    assert_eq!(r.stdout, "");

    let r = run(dir.path(), &["schema", "import", "missing.xml"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.starts_with("error: cannot read `missing.xml`: "),
        "{}",
        r.stderr
    );
}

// ------------------------------------------------------------------------------------------
// Usage and I/O problems exit 2.
// ------------------------------------------------------------------------------------------

#[test]
fn missing_path_is_exit_2() {
    let dir = temp();
    for cmd in ["check", "compile", "test", "fmt"] {
        let r = run(dir.path(), &[cmd, "does/not/exist"]);
        assert_eq!(r.code, 2, "{cmd}: {r:?}");
        assert!(
            r.stderr
                .starts_with("error: cannot read `does/not/exist`: "),
            "{cmd}: {}",
            r.stderr
        );
        assert_eq!(r.stdout, "", "{cmd}");
    }
}

#[test]
fn folder_without_map_files_is_exit_2() {
    let dir = temp();
    write(&dir.path().join("empty/readme.txt"), "nothing here\n");
    // Hidden folders and `target` are not searched.
    write(&dir.path().join("empty/.hidden/a.map"), "// hidden\n");
    write(&dir.path().join("empty/target/b.map"), "// build output\n");
    let r = run(dir.path(), &["check", "empty"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stderr, "error: no .map files found in empty\n");
    let r = run(&dir.path().join("empty"), &["check"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stderr, "error: no .map files found in .\n");
}

#[test]
fn bad_arguments_are_exit_2() {
    let dir = temp();
    for args in [
        &["frobnicate"][..],
        &["check", "--format", "xml"][..],
        &["compile", "--nope"][..],
        &[][..],
    ] {
        let r = run(dir.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("Usage:") || r.stderr.contains("--help"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stdout, "", "{args:?}");
    }
}

// ------------------------------------------------------------------------------------------
// check: clean and warning-only projects.
// ------------------------------------------------------------------------------------------

#[test]
fn check_json_on_a_clean_project_is_an_empty_array() {
    let r = run(repo(), &["check", "--format", "json", "mappings/"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "[]\n");
    assert_eq!(r.stderr, "");
    let r = run(repo(), &["check", "--format", "sarif", "mappings/"]);
    assert_eq!(r.code, 0, "{r:?}");
    let log = r.json();
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"][0]["tool"]["driver"]["name"], "syncmap");
    assert_eq!(log["runs"][0]["results"], Value::Array(Vec::new()));
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    let all: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(ids, all, "every code is a SARIF rule, in order");
}

/// Currencies without the symbol and rate Dataverse needs to create one: two W0004 warnings.
const WARNINGS_ONLY: &str = r#"table currencies: bc.currencies -> dv.transactioncurrencies {
    code        -> isocurrencycode [truncate]
    displayName -> currencyname
}
"#;

#[test]
fn warnings_alone_exit_0() {
    let dir = temp();
    copy_schemas(dir.path());
    write(&dir.path().join("currencies.map"), WARNINGS_ONLY);

    let r = run(dir.path(), &["check"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("syncmap::W0004"), "{}", r.stderr);
    assert!(r.stderr.ends_with("2 warnings found\n"), "{}", r.stderr);
    insta::assert_snapshot!(masked(&r.stderr, &[dir.path()]));

    let r = run(dir.path(), &["check", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let diags = r.json();
    let items = diags.as_array().expect("an array");
    assert_eq!(items.len(), 2, "{diags:#}");
    for d in items {
        assert_eq!(d["code"], "W0004");
        assert_eq!(d["severity"], "warning");
        assert_eq!(d["file"], "currencies.map");
    }

    let r = run(dir.path(), &["check", "--format", "sarif"]);
    assert_eq!(r.code, 0, "{r:?}");
    let log = r.json();
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert!(results
        .iter()
        .all(|r| r["level"] == "warning" && r["ruleId"] == "W0004"));

    // Compiling with warnings succeeds and still shows them.
    let r = run(dir.path(), &["compile", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("syncmap::W0004"), "{}", r.stderr);
    assert!(dir.path().join("plan.json").exists());
}

// ------------------------------------------------------------------------------------------
// diff: what a change to the mappings does, from two plans.
// ------------------------------------------------------------------------------------------

/// Replaces `from` (which must be there) with `to` in a file.
fn edit(path: &Path, from: &str, to: &str) {
    let text = read(path);
    assert!(text.contains(from), "`{from}` not in {}", path.display());
    write(path, &text.replacen(from, to, 1));
}

/// The standard mappings compiled to `old.json`, then changed and compiled to `new.json`: a
/// field added and a filter narrowed in customers, currencies made two-way, vendors removed.
fn changed_plans() -> tempfile::TempDir {
    let dir = standard_project();
    let r = run(dir.path(), &["compile", "mappings", "-o", "old.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let m = dir.path().join("mappings");
    edit(
        &m.join("customers.map"),
        "    creditLimit       -> creditlimit\n",
        "    creditLimit       -> creditlimit\n    \"Accounts\"        -> address1_primarycontactname [create only]\n",
    );
    edit(
        &m.join("customers.map"),
        r#"filter dv: statecode == "Active" and customertypecode == "Customer""#,
        r#"filter dv: statecode == "Active""#,
    );
    edit(
        &m.join("currencies.map"),
        "bc.currencies -> dv.transactioncurrencies",
        "bc.currencies <-> dv.transactioncurrencies",
    );
    edit(
        &m.join("currencies.map"),
        "displayName -> currencyname",
        "displayName <-> currencyname",
    );
    std::fs::remove_file(m.join("vendors.map")).unwrap_or_else(|e| panic!("remove: {e}"));
    edit(
        &m.join("jobs.map"),
        "job vendors { sync modified payment_terms, vendors every 30m idle 12h }\n",
        "",
    );
    edit(
        &m.join("contacts.map"),
        "after customers, vendors",
        "after customers",
    );
    let r = run(dir.path(), &["compile", "mappings", "-o", "new.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    dir
}

#[test]
fn diff_of_identical_plans_is_no_changes_exit_0() {
    let dir = standard_project();
    for out in ["a.json", "b.json"] {
        let r = run(dir.path(), &["compile", "mappings", "-o", out]);
        assert_eq!(r.code, 0, "{r:?}");
    }
    let r = run(dir.path(), &["diff", "a.json", "b.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "no changes\n");
    let r = run(dir.path(), &["diff", "a.json", "b.json", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let d = r.json();
    assert_eq!(d["changed"], false);
    assert_eq!(d["tables"], Value::Array(Vec::new()));
}

#[test]
fn diff_summarises_tables_fields_filters_and_directions() {
    let dir = changed_plans();
    let r = run(dir.path(), &["diff", "old.json", "new.json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let out = &r.stdout;
    for expected in [
        "- table vendors: bc.vendors <-> dv.accounts (26 field operations)\n",
        "~ table currencies: bc.currencies -> dv.transactioncurrencies → bc.currencies <-> dv.transactioncurrencies\n",
        "    ~ flow: -> → <->\n",
        "    ~ create: dv → dv, bc\n",
        "    ~ field currencyname (->)\n        ~ two-way: false → true\n",
        "    + pass bc <- dv: 1 field\n        + field displayName (<-): displayName <-> currencyname\n",
        "~ table customers: bc.customers <-> dv.accounts\n",
        "    ~ filter dv: statecode == 0 and customertypecode == 3 → statecode == 0\n",
        "        ~ odata: statecode eq 0 and customertypecode eq 3 → statecode eq 0\n",
        "    + field address1_primarycontactname (->): \"Accounts\" -> address1_primarycontactname [create only]\n",
        "~ table contacts: bc.contacts <-> dv.contacts\n",
        "    - after: vendors\n",
        "- job vendors: sync modified payment_terms, vendors every 30m idle 12h\n",
        "- source vendors.map: sha256:",
        "table mappings: 0 added, 3 changed, 1 removed; fields: 2 added, 1 changed, 0 removed\n",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Unchanged mappings and fields do not appear, though every id after the new field shifted.
    assert!(!out.contains("salespeople"), "{out}");
    assert!(!out.contains("field creditlimit"), "{out}");
    assert!(!out.contains("field owneridtype"), "{out}");

    // The other way round is the mirror image.
    let r = run(dir.path(), &["diff", "new.json", "old.json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout
            .contains("+ table vendors: bc.vendors <-> dv.accounts\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("    - pass bc <- dv: 1 field\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("    - field address1_primarycontactname (->): \"Accounts\" -> address1_primarycontactname [create only]\n"),
        "{}",
        r.stdout
    );

    let r = run(dir.path(), &["diff", "old.json", "new.json", "--json"]);
    assert_eq!(r.code, 1, "{r:?}");
    let d = r.json();
    assert_eq!(d["changed"], true);
    assert_eq!(d["counts"]["tables_removed"], 1);
    let tables = d["tables"].as_array().expect("tables");
    let customers = tables
        .iter()
        .find(|t| t["name"] == "customers")
        .expect("customers changed");
    assert_eq!(customers["change"], "changed");
    let details = customers["details"].as_array().expect("details");
    let filter = details
        .iter()
        .find(|e| e["kind"] == "filter")
        .expect("a filter change");
    assert_eq!(filter["name"], "dv");
    assert_eq!(filter["new"], "statecode == 0");
    let field = details
        .iter()
        .find(|e| e["kind"] == "field" && e["name"] == "address1_primarycontactname")
        .expect("the new field");
    assert_eq!(field["change"], "added");
    assert_eq!(field["pass"], "left_to_right");
    let vendors = tables
        .iter()
        .find(|t| t["name"] == "vendors")
        .expect("vendors");
    assert_eq!(vendors["change"], "removed");
}

#[test]
fn diff_of_a_file_that_is_not_a_plan_is_exit_2() {
    let dir = standard_project();
    let r = run(dir.path(), &["compile", "mappings", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{r:?}");
    write(&dir.path().join("bad.json"), "{\"tables\": []}");
    let r = run(dir.path(), &["diff", "plan.json", "bad.json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("`bad.json` is not a syncmap plan"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    let r = run(dir.path(), &["diff", "missing.json", "plan.json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("cannot read `missing.json`"),
        "{}",
        r.stderr
    );
    let plan = read(&dir.path().join("plan.json"));
    write(
        &dir.path().join("v9.json"),
        &plan.replacen("\"format_version\": 2", "\"format_version\": 9", 1),
    );
    let r = run(dir.path(), &["diff", "plan.json", "v9.json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("plan format 9"), "{}", r.stderr);
}

// ------------------------------------------------------------------------------------------
// Profiles: `${ENV}` expansion, named profiles, secrets.
// ------------------------------------------------------------------------------------------

/// Runs `syncmap ARGS` in `dir` with these environment variables set (`Some`) or removed.
fn run_env(dir: &Path, args: &[&str], vars: &[(&str, Option<&str>)]) -> Run {
    let mut cmd = command(dir, args);
    cmd.env_remove("SYNCMAP_ENV");
    for (k, v) in vars {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const SECRET_VALUE: &str = "Zx9-secret-value-never-printed";

const NAMED_PROFILES: &str = r#"[profiles.dev.state]
url = "sqlite://${SYNCMAP_TEST_STATE_DIR}/state.db"
[profiles.dev.systems.bc]
url = "sqlite://bc.db"
[profiles.dev.systems.dv]
url = "sqlite://dv.db"

[profiles.prod.systems.bc]
url = "https://api.businesscentral.dynamics.com/v2.0/${SYNCMAP_TEST_TENANT}/production/api/v2.0"
company = "CRONUS USA, Inc."
auth = { kind = "client_credentials", token_url = "https://login.example/token", client_id = "app", client_secret_env = "SYNCMAP_TEST_BC_SECRET" }
[profiles.prod.systems.dv]
url = "sqlite://dv.db"
"#;

#[test]
fn status_with_a_missing_profile_variable_is_exit_2_naming_it() {
    let dir = standard_project();
    write(&dir.path().join("syncmap.toml"), NAMED_PROFILES);
    let secret = [("SYNCMAP_TEST_BC_SECRET", Some(SECRET_VALUE))];

    let r = run_env(
        dir.path(),
        &["status", "--env", "prod"],
        &[secret[0], ("SYNCMAP_TEST_TENANT", None)],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        r.stderr,
        "error: profile `syncmap.toml` line 9: environment variable `SYNCMAP_TEST_TENANT` is not set (used as `${SYNCMAP_TEST_TENANT}`)\n"
    );
    assert!(!r.stdout.contains(SECRET_VALUE) && !r.stderr.contains(SECRET_VALUE));

    // `SYNCMAP_ENV` selects the same way; the dev profile's own variable is not needed for prod.
    let r = run_env(
        dir.path(),
        &["status"],
        &[
            ("SYNCMAP_ENV", Some("prod")),
            ("SYNCMAP_TEST_STATE_DIR", None),
            secret[0],
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("`SYNCMAP_TEST_TENANT` is not set"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET_VALUE), "{}", r.stderr);

    // The dev profile runs once its variable is set, and only then.
    let r = run_env(
        dir.path(),
        &["status", "--env", "dev"],
        &[("SYNCMAP_TEST_STATE_DIR", None)],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("line 2: environment variable `SYNCMAP_TEST_STATE_DIR`"),
        "{}",
        r.stderr
    );
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap_or_else(|e| panic!("create folder: {e}"));
    let state_dir = state.display().to_string();
    // The systems' databases must exist: a missing one is an error, not an empty system.
    for db in ["bc.db", "dv.db"] {
        std::fs::write(dir.path().join(db), b"").unwrap_or_else(|e| panic!("create {db}: {e}"));
    }
    let r = run_env(
        dir.path(),
        &["status", "--env", "dev"],
        &[("SYNCMAP_TEST_STATE_DIR", Some(&state_dir))],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("currencies"), "{}", r.stdout);
    assert!(
        state.join("state.db").exists(),
        "the expanded state URL was used"
    );

    // No selection in a file of several profiles, or an unknown one: a usage error listing them.
    let r = run_env(dir.path(), &["status"], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("several profiles (dev, prod)"),
        "{}",
        r.stderr
    );
    let r = run_env(dir.path(), &["status", "--env", "staging"], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("no profile `staging`; the file has: dev, prod"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_secret_pasted_into_the_profile_is_refused_without_being_printed() {
    let dir = standard_project();
    write(
        &dir.path().join("syncmap.toml"),
        &format!(
            "[systems.bc]\nurl = \"sqlite://bc.db\"\nauth = {{ kind = \"bearer\", token_env = \"{SECRET_VALUE}\" }}\n[systems.dv]\nurl = \"sqlite://dv.db\"\n"
        ),
    );
    let r = run_env(dir.path(), &["status"], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("`token_env` must name an environment variable"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET_VALUE), "{}", r.stderr);
}

#[test]
fn a_profile_name_selects_that_profile_of_syncmap_toml() {
    let dir = standard_project();
    write(&dir.path().join("syncmap.toml"), NAMED_PROFILES);
    // `--profile prod` is `--env prod` of ./syncmap.toml: prod's own variable is needed.
    let r = run_env(
        dir.path(),
        &["status", "--profile", "prod"],
        &[
            ("SYNCMAP_TEST_BC_SECRET", Some(SECRET_VALUE)),
            ("SYNCMAP_TEST_TENANT", None),
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("`SYNCMAP_TEST_TENANT` is not set"),
        "{}",
        r.stderr
    );
    // A name the file does not have is named in the error with those it has.
    let r = run_env(dir.path(), &["status", "--profile", "staging"], &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("syncmap.toml has no [profiles.staging]"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("dev, prod"), "{}", r.stderr);
}

#[test]
fn a_profile_named_without_its_extension_is_pointed_at_the_file() {
    let dir = temp();
    write(
        &dir.path().join("syncmap.toml"),
        "[state]\nurl = \"sqlite://.syncmap/state.db\"\n",
    );
    let mappings = repo().join("mappings").display().to_string();
    let r = run(
        dir.path(),
        &["status", "--plan", &mappings, "--profile", "syncmap"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--profile `syncmap` is no file")
            && r.stderr.contains("did you mean `--profile syncmap.toml`?"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("--env"), "{}", r.stderr);
}

#[test]
fn deep_nesting_is_e0106_in_check_compile_and_fmt() {
    let dir = temp();
    let deep = format!(
        "table t: a.p -> b.q {{\n    {}x{} -> y\n}}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    write(&dir.path().join("deep.map"), &deep);
    for args in [
        &["check", "deep.map"][..],
        &["compile", "deep.map", "-o", "plan.json"],
        &["fmt", "--check", "deep.map"],
    ] {
        let r = run(dir.path(), args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("syncmap::E0106"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = run_with_stdin(dir.path(), &["fmt", "-"], &deep);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("syncmap::E0106"), "{}", r.stderr);
}

#[test]
fn check_reads_nothing_outside_the_folder_given() {
    let dir = temp();
    write(&dir.path().join("secret.map"), "SECRET-TOKEN-123 {\n");
    write(
        &dir.path().join("project/main.map"),
        "import \"../secret.map\"\nimport \"/etc/passwd\"\n",
    );
    for path in ["project", "project/main.map"] {
        let r = run(dir.path(), &["check", path]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_eq!(
            r.stderr.matches("syncmap::E0215").count(),
            2,
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("SECRET-TOKEN"), "{}", r.stderr);
    }
    // Checking the folder that holds both makes the import part of the project.
    let r = run(dir.path(), &["check", "."]);
    assert_eq!(
        r.stderr.matches("syncmap::E0215").count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn a_plan_edited_after_compile_is_refused_by_run_and_doctor() {
    let dir = standard_project();
    let r = run(dir.path(), &["compile", "mappings", "-o", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan = read(&dir.path().join("plan.json"));
    // The profile and the store are opened before the plan: a profile without systems lets
    // `run` get as far as reading the plan, and no further.
    write(
        &dir.path().join("state-only.toml"),
        "[state]\nurl = \"sqlite://.syncmap/state.db\"\n",
    );
    // The reviewed plan gets as far as the systems.
    let r = run(
        dir.path(),
        &["run", "--plan", "plan.json", "--profile", "state-only.toml"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("has no [systems."), "{}", r.stderr);
    assert!(!r.stderr.contains("E0701"), "{}", r.stderr);
    let edited = plan.replacen("\"create_only\": true", "\"create_only\": false", 1);
    let edited = if edited == plan {
        plan.replacen("<->", "->", 1)
    } else {
        edited
    };
    let edited = if edited == plan {
        plan.replacen("\"blocked\"", "\"Blocked\"", 1)
    } else {
        edited
    };
    assert_ne!(edited, plan, "found nothing to edit");
    write(&dir.path().join("plan.json"), &edited);
    for args in [
        &["run", "--plan", "plan.json", "--profile", "state-only.toml"][..],
        &["doctor", "plan.json", "--profile", "none.toml"],
    ] {
        let r = run(dir.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("syncmap::E0701"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// Runs `syncmap ARGS` with standard output closed before it writes: the reader of a pipe
/// that went away (`syncmap check --format json | head -1`).
fn run_into_closed_pipe(dir: &Path, args: &[&str]) -> Run {
    let mut child = command(dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    drop(child.stdout.take());
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for syncmap: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_closed_pipe_ends_output_quietly() {
    let dir = temp();
    // Far more than a pipe holds, so some write comes after the reader is gone.
    write(
        &dir.path().join("dup.map"),
        &"fn f(x: int) -> int { x }\n".repeat(3000),
    );
    for args in [
        &["check", "--format", "json", "dup.map"][..],
        &["check", "--format", "sarif", "dup.map"],
    ] {
        let r = run_into_closed_pipe(dir.path(), args);
        assert_eq!(r.code, 141, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
}

#[cfg(unix)]
#[test]
fn check_follows_no_link_out_of_the_folder() {
    let dir = temp();
    write(&dir.path().join("secret.txt"), "SECRET-TOKEN-123 {\n");
    write(&dir.path().join("project/ok.map"), "");
    std::os::unix::fs::symlink(
        dir.path().join("secret.txt"),
        dir.path().join("project/evil.map"),
    )
    .unwrap();
    let r = run(dir.path(), &["check", "project"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert!(!r.stderr.contains("SECRET-TOKEN"), "{}", r.stderr);
}

// ------------------------------------------------------------------------------------------
// Inspection from the profile and the state store alone.
// ------------------------------------------------------------------------------------------

/// The table mappings of the standard mappings, sorted.
const STANDARD_TABLES: [&str; 7] = [
    "contacts",
    "currencies",
    "customers",
    "payment_terms",
    "salespeople",
    "shipment_methods",
    "vendors",
];

/// A folder holding only a profile whose state store is `state` (an absolute path).
fn profile_only(state: &Path) -> tempfile::TempDir {
    let dir = temp();
    write(
        &dir.path().join("syncmap.toml"),
        &format!("[state]\nurl = \"sqlite://{}\"\n", state.display()),
    );
    dir
}

/// The sorted, distinct strings at `key` of each object of an array.
fn names_at(v: &Value, key: &str) -> Vec<String> {
    let names: BTreeSet<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|o| {
            o[key]
                .as_str()
                .unwrap_or_else(|| panic!("no `{key}` in {o}"))
                .to_string()
        })
        .collect();
    names.into_iter().collect()
}

#[test]
fn status_log_and_errors_read_the_plan_the_store_kept() {
    let world = support::World::standard();
    world.seed_standard();
    // One account Dataverse refuses, so `errors` has a failure to show.
    world.sql(
        "dv",
        "CREATE TRIGGER refuse BEFORE INSERT ON accounts WHEN NEW.name = 'Fabrikam Inc.'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    );
    let r = run(world.path(), &["run", "--mode", "full", "--format", "json"]);
    assert_eq!(r.code, 1, "records failed: {r:?}");
    let run_id = r.json()["run_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{}", r.stdout));
    let b = profile_only(&world.path().join("state.db"));

    let r = run(b.path(), &["status"]);
    assert_eq!(r.code, 0, "{r:?}");
    let first_words: BTreeSet<&str> = r
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for t in STANDARD_TABLES {
        assert!(first_words.contains(t), "no `{t}` in:\n{}", r.stdout);
    }
    assert!(
        r.stdout
            .contains(&format!("last run: {run_id} (full manual")),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("using the plan of the latest run"),
        "{}",
        r.stderr
    );
    let r = run(b.path(), &["status", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(names_at(&v["tables"], "mapping"), STANDARD_TABLES);
    assert_eq!(v["last_run"]["id"], run_id);

    let r = run(b.path(), &["log", "--run", &run_id.to_string()]);
    assert_eq!(r.code, 0, "{r:?}");
    for t in STANDARD_TABLES {
        assert!(r.stdout.contains(t), "no `{t}` in:\n{}", r.stdout);
    }
    let r = run(b.path(), &["log", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let runs = r.json();
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    assert_eq!(runs[0]["id"], run_id);
    assert_eq!(names_at(&runs[0]["counts"], "mapping"), STANDARD_TABLES);

    let r = run(b.path(), &["errors"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("customers bc → dv `"), "{}", r.stdout);
    assert!(r.stdout.contains("(C-FAB · Fabrikam Inc.)"), "{}", r.stdout);
    assert!(r.stdout.contains("refused by the test"), "{}", r.stdout);
    let r = run(b.path(), &["errors", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let failures = r.json();
    assert_eq!(names_at(&failures, "mapping"), ["customers"]);
    assert_eq!(failures[0]["label"], "C-FAB · Fabrikam Inc.", "{failures}");
    // The same as in the folder of the mappings.
    assert_eq!(failures, world.cli(&["errors", "--format", "json"]).json());
    // Only the profile was needed: nothing was compiled or written beside it.
    assert_eq!(files_under(b.path()), ["syncmap.toml"]);
}

#[test]
fn without_a_plan_anywhere_inspection_says_where_it_looked() {
    let a = temp();
    let state = a.path().join("state.db");
    let b = profile_only(&state);
    for args in [
        &["status"][..],
        &["status", "--format", "json"],
        &["log"],
        &["log", "--format", "json"],
        &["errors"],
        &["errors", "--format", "json"],
    ] {
        let r = run(b.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert_eq!(r.stdout, "", "{args:?}");
        for said in [
            "--plan was not given",
            "no plan.json",
            ".map",
            "mappings/",
            "recorded by an earlier run",
            &format!("state store at sqlite://{}", state.display()),
        ] {
            assert!(
                r.stderr.contains(said),
                "{args:?}: no `{said}` in {}",
                r.stderr
            );
        }
        assert!(!r.stderr.contains("cannot read"), "{args:?}: {}", r.stderr);
    }
    // An explicit plan still wins over the store.
    let r = run(
        b.path(),
        &[
            "status",
            "--plan",
            &repo().join("mappings").display().to_string(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("no run yet"), "{}", r.stdout);
}

// ------------------------------------------------------------------------------------------
// `--format json` on init, compile and schedule --once.
// ------------------------------------------------------------------------------------------

#[test]
fn init_format_json_lists_the_files_it_wrote() {
    let dir = temp();
    let r = run(
        dir.path(),
        &["init", "--defaults", "proj", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    let v = r.json();
    assert_eq!(v["dir"], "proj");
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files: {v}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        files,
        [
            "proj/systems.map",
            "proj/currencies.map",
            "proj/salespeople.map",
            "proj/customers.map",
            "proj/options.map",
            "proj/vendors.map",
            "proj/contacts.map",
            "proj/jobs.map",
            "proj/schemas/business-central.json",
            "proj/schemas/dataverse.json",
        ]
    );
    let mut listed: Vec<String> = files
        .iter()
        .map(|f| f.trim_start_matches("proj/").to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, files_under(&dir.path().join("proj")));

    // Refusing to overwrite is the usual error, with nothing on standard output.
    let r = run(
        dir.path(),
        &["init", "--defaults", "proj", "--format", "json"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("pass --force to overwrite them"),
        "{}",
        r.stderr
    );
    let r = run(
        dir.path(),
        &["init", "--defaults", "proj", "--force", "--json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["files"].as_array().map(Vec::len), Some(10));
}

#[test]
fn compile_format_json_summarises_the_plan_written() {
    let dir = standard_project();
    let r = run(
        dir.path(),
        &["compile", "mappings", "-o", "plan.json", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    let v = r.json();
    let plan: Value = serde_json::from_str(&read(&dir.path().join("plan.json")))
        .unwrap_or_else(|e| panic!("plan.json: {e}"));
    assert_eq!(v["output"], "plan.json");
    assert_eq!(v["digest"], plan["digest"]);
    assert!(
        v["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{v}"
    );
    assert_eq!(v["table_mappings"], STANDARD_TABLES.len());
    assert_eq!(v["diagnostics"], Value::Array(Vec::new()));

    // Without `-o` standard output is the plan alone, whatever the format.
    let r = run(dir.path(), &["compile", "mappings", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, read(&dir.path().join("plan.json")));
}

#[test]
fn compile_format_json_carries_the_diagnostics_check_prints() {
    let dir = temp();
    copy_schemas(dir.path());
    write(&dir.path().join("currencies.map"), WARNINGS_ONLY);
    let check = run(dir.path(), &["check", "--format", "json"]).json();
    let r = run(
        dir.path(),
        &["compile", "-o", "plan.json", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "", "warnings are in the JSON, not on stderr");
    let v = r.json();
    assert_eq!(v["table_mappings"], 1);
    assert_eq!(v["diagnostics"], check);
    assert_eq!(names_at(&v["diagnostics"], "code"), ["W0004"]);
    // Without `-o` the warnings stay on standard error: standard output is the plan's.
    let r = run(dir.path(), &["compile", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("syncmap::W0004"), "{}", r.stderr);
    assert_eq!(r.stdout, read(&dir.path().join("plan.json")));

    // Errors: exit 1, the diagnostics on standard output and nothing written.
    std::fs::remove_file(dir.path().join("plan.json"))
        .unwrap_or_else(|e| panic!("remove plan.json: {e}"));
    write(
        &dir.path().join("currencies.map"),
        &WARNINGS_ONLY.replacen("displayName ->", "displayNam ->", 1),
    );
    let check = run(dir.path(), &["check", "--format", "json"]).json();
    let r = run(
        dir.path(),
        &["compile", "-o", "plan.json", "--format", "json"],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stderr, "");
    let v = r.json();
    assert_eq!(v["output"], Value::Null);
    assert_eq!(v["digest"], Value::Null);
    assert_eq!(v["table_mappings"], Value::Null);
    let e0203: Vec<&Value> = v["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics: {v}"))
        .iter()
        .filter(|d| d["code"] == "E0203")
        .collect();
    assert_eq!(e0203.len(), 1, "{v}");
    assert_eq!(e0203[0]["file"], "currencies.map");
    assert_eq!(e0203[0]["severity"], "error");
    assert_eq!(v["diagnostics"], check);
    assert!(!dir.path().join("plan.json").exists(), "a plan was written");
    let r = run(dir.path(), &["compile", "--format", "json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stderr, "");
    assert_eq!(r.json(), check);
}

#[test]
fn schedule_once_format_json_reports_each_job() {
    let world = support::World::standard();
    world.seed_standard();
    let r = run(world.path(), &["schedule", "--once", "--format", "json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    let jobs = v["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs: {v}"));
    let names: Vec<&str> = jobs.iter().filter_map(|j| j["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "currencies",
            "salespeople",
            "customers",
            "vendors",
            "contacts"
        ]
    );
    assert_eq!(v["runs"], 5);
    assert_eq!(v["failed_runs"], 0);
    assert_eq!(v["failed_records"], 0);
    assert_eq!(v["stopped"], false);
    // Each job is the run `log` lists, with its status.
    let log = run(world.path(), &["log", "--format", "json"]).json();
    let mut logged: Vec<(i64, String)> = log
        .as_array()
        .unwrap_or_else(|| panic!("{log}"))
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap_or(-1),
                r["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    logged.reverse();
    let reported: Vec<(i64, String)> = jobs
        .iter()
        .map(|j| {
            (
                j["run_id"].as_i64().unwrap_or(-2),
                j["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(reported, logged);
    assert!(jobs.iter().all(|j| j["status"] == "succeeded"), "{v}");
    // Modified-only jobs on a new store leave the uncoupled records alone (`only coupled`):
    // the two currencies, the one enabled salesperson and the two open customers (the world
    // has no payment terms or shipment methods, which the customers job syncs first).
    let skipped: Vec<i64> = jobs
        .iter()
        .map(|j| j["counts"]["skipped"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(skipped, [2, 1, 2, 0, 0], "{v}");
    assert!(jobs.iter().all(|j| j["counts"]["inserted"] == 0), "{v}");
}

#[test]
fn schedule_format_json_needs_once() {
    let world = support::World::standard();
    let r = run(world.path(), &["schedule", "--format", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("--format json needs --once"),
        "{}",
        r.stderr
    );
    // Nothing ran.
    let log = run(world.path(), &["log", "--format", "json"]).json();
    assert_eq!(log, Value::Array(Vec::new()));
}

/// A formatted mapping, and the same with typos `check --fix` repairs: misspelt names with one
/// close match, a string label, and a stray comma (which hides the names of its item until it
/// is gone).
const FIXABLE: &str = "import \"systems.map\"

table customers: bc.customers <-> dv.accounts {
    filter dv: customertypecode == \"Customer\"
    displayName  <-> name [truncate]
    city         <-> address1_city [truncate]
    upper(email)  -> emailaddress1
}
";

#[test]
fn check_fix_repairs_typos_and_keeps_the_file_formatted() {
    let dir = temp();
    copy_schemas(dir.path());
    let path = dir.path().join("customers.map");
    let broken = FIXABLE
        .replace("\"Customer\"", "\"Custmer\"")
        .replace("displayName  <->", "displayNam   <->")
        .replace("[truncate]\n    city", "[truncate],\n    city")
        .replace("address1_city", "adress1_city")
        .replace("upper(", "uper(");
    write(&path, &broken);
    assert_eq!(
        run(dir.path(), &["fmt", "--check", "customers.map"]).code,
        1
    );

    let shown = run(dir.path(), &["check", "--fix", "--diff", "customers.map"]);
    assert_eq!(shown.code, 1, "{shown:?}");
    assert_eq!(read(&path), broken, "--diff wrote the file");
    for line in [
        "+    displayName  <-> name [truncate]",
        "+    upper(email)  -> emailaddress1",
    ] {
        assert!(shown.stdout.contains(line), "{line}: {}", shown.stdout);
    }

    let fixed = run(dir.path(), &["check", "--fix", "customers.map"]);
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert!(fixed.stderr.contains("fixed "), "{fixed:?}");
    assert_eq!(read(&path), FIXABLE);
    assert_eq!(
        run(dir.path(), &["fmt", "--check", "customers.map"]).code,
        0
    );
    // Nothing left to fix: the diff is empty.
    let again = run(dir.path(), &["check", "--fix", "--diff", "customers.map"]);
    assert_eq!((again.code, again.stdout.as_str()), (0, ""), "{again:?}");
}
