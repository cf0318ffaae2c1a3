//! A workspace is the folder of an opened `.map` file: its `.map` files (searched the way
//! `syncmap check DIR` searches) form one project, checked as a whole after every change, with
//! open buffers read instead of the files on disk. Between checks it keeps the parse of every
//! file whose text did not change and every schema snapshot whose file did not change, so a
//! keystroke re-parses only the buffer typed in.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::diagnostics::Diagnostics;
use crate::project::{self, Loader, MapFile, Project};
use crate::schema::{SchemaError, SystemSchema, TableSchema};
use crate::source::FileId;
use crate::syntax::{self, ast};

use super::documents::Documents;

/// The result of the last check of a workspace.
#[derive(Debug)]
pub struct Analysis {
    /// The folder the project's relative paths start from.
    pub root: PathBuf,
    /// Every source read, parsed, with the schemas loaded.
    pub project: Project,
    /// What `syncmap check` would report, inline tests included.
    pub diagnostics: Diagnostics,
}

impl Analysis {
    /// The absolute path of a source.
    pub fn path(&self, id: FileId) -> Option<PathBuf> {
        self.project
            .path(id)
            .map(|p| project::normalize(&self.root.join(p)))
    }

    /// The parsed `.map` file at an absolute path.
    pub fn file(&self, path: &Path) -> Option<&MapFile> {
        self.project
            .files
            .iter()
            .find(|f| self.path(f.id).as_deref() == Some(path))
    }

    /// The text of a source.
    pub fn text(&self, id: FileId) -> &str {
        &self.project.sources.get(id).text
    }

    /// Every item of every file, with the file it is in.
    pub fn items(&self) -> impl Iterator<Item = (FileId, &ast::Item)> {
        self.project
            .files
            .iter()
            .flat_map(|f| f.ast.items.iter().map(move |i| (f.id, i)))
    }

    /// The table mapping with this name.
    pub fn table(&self, name: &str) -> Option<(FileId, &ast::Table)> {
        self.items().find_map(|(f, i)| match i {
            ast::Item::Table(t) if t.name.name == name => Some((f, t)),
            _ => None,
        })
    }

    /// The system declared with this alias.
    pub fn system(&self, alias: &str) -> Option<(FileId, &ast::System)> {
        self.items().find_map(|(f, i)| match i {
            ast::Item::System(s) if s.name.name == alias => Some((f, s)),
            _ => None,
        })
    }

    /// The schema table of `system.table`, when both are known.
    pub fn schema_table(&self, system: &str, table: &str) -> Option<&TableSchema> {
        self.project.schemas.get(system)?.table(table)
    }
}

/// A text read from disk, with what identifies its version.
#[derive(Debug)]
struct DiskText {
    modified: Option<SystemTime>,
    len: u64,
    text: String,
}

/// What a workspace keeps between checks.
#[derive(Debug, Default)]
struct Cache {
    disk: HashMap<PathBuf, DiskText>,
    parses: HashMap<PathBuf, (String, syntax::Parsed)>,
    schemas: HashMap<PathBuf, (String, SystemSchema)>,
}

impl Cache {
    /// Forgets what the last check did not read, so closed or deleted files do not pile up.
    fn retain(&mut self, used: &BTreeSet<PathBuf>) {
        self.disk.retain(|p, _| used.contains(p));
        self.parses.retain(|p, _| used.contains(p));
        self.schemas.retain(|p, _| used.contains(p));
    }
}

/// A folder checked as one project.
#[derive(Debug)]
pub struct Workspace {
    /// The folder.
    pub root: PathBuf,
    /// The folder nothing is read outside of: the client's workspace folder that holds `root`,
    /// or `root` itself, so an opened file cannot make the server read `/etc/passwd`.
    pub fence: PathBuf,
    /// Its `.map` files on disk, relative to `root`; refreshed when files are opened, saved or
    /// changed on disk, not on every keystroke.
    files: Vec<PathBuf>,
    cache: RefCell<Cache>,
    /// The last check.
    pub analysis: Option<Analysis>,
    /// Files that were given diagnostics by the last check, to clear them once fixed.
    pub reported: BTreeSet<PathBuf>,
}

impl Workspace {
    /// A workspace for a folder, reading nothing outside `fence`.
    pub fn new(root: PathBuf, fence: PathBuf) -> Self {
        let mut w = Workspace {
            root,
            fence,
            files: Vec::new(),
            cache: RefCell::default(),
            analysis: None,
            reported: BTreeSet::new(),
        };
        w.rescan();
        w
    }

    /// Finds the `.map` files under the root again.
    pub fn rescan(&mut self) {
        let mut found = Vec::new();
        let mut budget = WALK_BUDGET;
        walk(&self.root, &mut found, &mut budget);
        self.files = found
            .into_iter()
            .filter_map(|p| p.strip_prefix(&self.root).ok().map(Path::to_path_buf))
            .collect();
    }

    /// Whether a path lies in the root folder.
    pub fn contains(&self, path: &Path) -> bool {
        path.starts_with(&self.root)
    }

    /// Whether the last check read this file (an import outside the root, a schema).
    pub fn reads(&self, path: &Path) -> bool {
        self.analysis.as_ref().is_some_and(|a| {
            a.project
                .sources
                .iter()
                .any(|(id, _)| a.path(id).as_deref() == Some(path))
        })
    }

    /// Checks the project as `syncmap check` would, inline tests included, reading open
    /// buffers instead of the files on disk.
    pub fn check(&mut self, docs: &Documents) {
        let mut inputs: BTreeSet<PathBuf> = self.files.iter().cloned().collect();
        // New buffers not saved yet are part of the project too.
        for (_, _, path) in docs.files() {
            if path.extension().is_some_and(|e| e == "map") {
                if let Ok(rel) = path.strip_prefix(&self.root) {
                    inputs.insert(rel.to_path_buf());
                }
            }
        }
        let inputs: Vec<PathBuf> = inputs.into_iter().collect();
        if inputs.is_empty() {
            self.analysis = None;
            return;
        }
        let loader = WorkspaceLoader {
            root: &self.root,
            docs,
            cache: &self.cache,
        };
        // A `.map` file that is a link out of the fence is left out rather than failing the
        // whole workspace: the server does not read it.
        let fence = std::fs::canonicalize(&self.fence).ok();
        let inputs: Vec<PathBuf> = inputs
            .into_iter()
            .filter(|p| match (&fence, loader.real_path(p)) {
                (Some(fence), Some(real)) => real.starts_with(fence),
                _ => true,
            })
            .collect();
        let compiled = match crate::compile_within(&inputs, &self.fence, &loader) {
            Ok(c) => c,
            Err(e) => {
                // A file vanished between the scan and the read: look again next time.
                eprintln!("syncmap lsp: {e}");
                self.rescan();
                return;
            }
        };
        let mut diagnostics = compiled.diagnostics;
        if let (Some(model), Some(plan)) = (&compiled.model, &compiled.plan) {
            let results = crate::testing::run_all(model, plan);
            diagnostics.extend(crate::testing::diagnostics(&results));
            diagnostics.sort();
        }
        let analysis = Analysis {
            root: self.root.clone(),
            project: compiled.project,
            diagnostics,
        };
        let used: BTreeSet<PathBuf> = analysis
            .project
            .sources
            .iter()
            .filter_map(|(id, _)| analysis.path(id))
            .collect();
        self.cache.borrow_mut().retain(&used);
        self.analysis = Some(analysis);
    }
}

/// How many folder entries a scan looks at at most. A `.map` file opened from a home folder
/// would otherwise make the server walk the whole disk below it before its first answer.
const WALK_BUDGET: usize = 20_000;

/// Every `.map` file under a folder, skipping hidden folders and `target` as `check` does.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, budget: &mut usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if !name.starts_with('.') && name != "target" {
                walk(&p, out, budget);
            }
        } else if p.extension().is_some_and(|e| e == "map") {
            out.push(p);
        }
    }
}

/// Reads a workspace's sources: open buffers first, then the disk, reusing texts, parses and
/// schemas that did not change since the last check.
struct WorkspaceLoader<'a> {
    root: &'a Path,
    docs: &'a Documents,
    cache: &'a RefCell<Cache>,
}

impl WorkspaceLoader<'_> {
    fn absolute(&self, path: &Path) -> PathBuf {
        project::normalize(&self.root.join(path))
    }
}

impl Loader for WorkspaceLoader<'_> {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        let abs = self.absolute(path);
        if let Some((_, doc)) = self.docs.by_path(&abs) {
            return Ok(doc.text.clone());
        }
        let meta = std::fs::metadata(&abs)?;
        if meta.is_dir() {
            return Err(std::io::ErrorKind::IsADirectory.into());
        }
        let modified = meta.modified().ok();
        let mut cache = self.cache.borrow_mut();
        if let Some(d) = cache.disk.get(&abs) {
            if d.modified == modified && modified.is_some() && d.len == meta.len() {
                return Ok(d.text.clone());
            }
        }
        let text = std::fs::read_to_string(&abs)?;
        cache.disk.insert(
            abs,
            DiskText {
                modified,
                len: meta.len(),
                text: text.clone(),
            },
        );
        Ok(text)
    }

    fn parse(&self, file: FileId, path: &Path, text: &str) -> syntax::Parsed {
        let abs = self.absolute(path);
        let mut cache = self.cache.borrow_mut();
        if let Some((old, parsed)) = cache.parses.get(&abs) {
            if old == text {
                let mut parsed = parsed.clone();
                // The same file may get another id when the project's files change.
                for d in &mut parsed.diagnostics.0 {
                    d.primary.file = file;
                    for l in &mut d.secondary {
                        l.file = file;
                    }
                }
                return parsed;
            }
        }
        let parsed = syntax::parse_recovering(file, text);
        cache.parses.insert(abs, (text.to_string(), parsed.clone()));
        parsed
    }

    fn locate(&self, path: &Path) -> PathBuf {
        self.absolute(path)
    }

    fn schema(&self, path: &Path, text: &str) -> Result<SystemSchema, SchemaError> {
        let abs = self.absolute(path);
        let mut cache = self.cache.borrow_mut();
        if let Some((old, schema)) = cache.schemas.get(&abs) {
            if old == text {
                return Ok(schema.clone());
            }
        }
        let schema = crate::schema::load(text)?;
        cache
            .schemas
            .insert(abs, (text.to_string(), schema.clone()));
        Ok(schema)
    }
}
