//! Loads a project: the `.map` files given, the files they import, and the schema snapshots their
//! systems name. All reading goes through a [`Loader`], so the compiler stages stay free of I/O
//! and the language server can serve unsaved editor buffers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::schema::{self, SchemaError, SystemSchema, TableSchema};
use crate::source::{FileId, SourceMap};
use crate::syntax::{self, ast};

/// Reads source texts for the compiler.
pub trait Loader {
    /// The text of the file at `path`.
    fn load(&self, path: &Path) -> std::io::Result<String>;

    /// Parses the text of the `.map` file at `path`. The language server overrides this to
    /// reuse the parse of a file whose text did not change since the last keystroke.
    fn parse(&self, file: FileId, path: &Path, text: &str) -> syntax::Parsed {
        let _ = path;
        syntax::parse_recovering(file, text)
    }

    /// Reads the schema snapshot at `path`. The language server overrides this to reuse
    /// snapshots whose text did not change since the last keystroke.
    fn schema(&self, path: &Path, text: &str) -> Result<SystemSchema, SchemaError> {
        let _ = path;
        schema::load(text)
    }

    /// The absolute, lexically normalized path of `path` as [`Loader::load`] would read it:
    /// [`load_within`] compares it with the project folder's.
    fn locate(&self, path: &Path) -> PathBuf {
        let base = std::env::current_dir().unwrap_or_default();
        normalize(&base.join(path))
    }

    /// [`Loader::locate`] with every symbolic link resolved, or `None` when there is no such
    /// file on disk (an unsaved buffer, a missing file), so that a link inside the project
    /// cannot lead out of it.
    fn real_path(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(self.locate(path)).ok()
    }
}

/// Reads from the file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// One parsed `.map` file.
#[derive(Debug, Clone)]
pub struct MapFile {
    /// Its id in the source map.
    pub id: FileId,
    /// Its normalized path.
    pub path: PathBuf,
    /// Its syntax tree.
    pub ast: ast::File,
}

/// A schema snapshot loaded for a system.
#[derive(Debug, Clone)]
pub struct LoadedSchema {
    /// The snapshot.
    pub schema: SystemSchema,
    /// Its text's id in the source map.
    pub file: FileId,
    /// The options of each choice column as a table (`accounts.paymenttermscode`), for
    /// option mappings.
    pub choices: Vec<TableSchema>,
}

impl LoadedSchema {
    /// A table of the snapshot, or the options of one of its choice columns.
    pub fn table(&self, name: &str) -> Option<&TableSchema> {
        self.schema
            .table(name)
            .or_else(|| self.choices.iter().find(|t| t.name == name))
    }
}

/// Everything the checker needs.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// Every text read: `.map` files and schemas.
    pub sources: SourceMap,
    /// Parsed `.map` files in load order (inputs first, then imports).
    pub files: Vec<MapFile>,
    /// Schemas by system alias.
    pub schemas: BTreeMap<String, LoadedSchema>,
    /// Systems whose schema could not be loaded (already reported).
    pub broken_systems: BTreeSet<String>,
    /// Files whose syntax errors were reported; some of their items are missing.
    pub broken_files: BTreeSet<FileId>,
    /// Names declared by items that did not parse: references to them are not reported again.
    pub broken_names: BTreeSet<String>,
    /// Whether an import could not be read (already reported): the systems it would declare are
    /// not reported as unknown again.
    pub unread_imports: bool,
    paths: BTreeMap<FileId, PathBuf>,
    /// The common folder of `paths`, kept as they are added: every origin and plan path is
    /// written relative to it, so it is asked for once per field mapping.
    root: Option<PathBuf>,
}

/// Why the project could not even be read (a usage or I/O problem, not a diagnostic).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An input file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An input file is a symbolic link out of the project folder (E0215 for an import).
    #[error("cannot read `{path}`: {why}")]
    Outside {
        /// The path given.
        path: String,
        /// Where it leads.
        why: String,
    },
}

impl Project {
    /// The common folder of every source, against which plan paths are written.
    pub fn root(&self) -> PathBuf {
        self.root.clone().unwrap_or_default()
    }

    /// A source's path relative to [`Project::root`], `/`-separated.
    pub fn relative_name(&self, id: FileId) -> String {
        let Some(path) = self.paths.get(&id) else {
            return String::new();
        };
        let root = self.root.as_deref().unwrap_or(Path::new(""));
        slash(path.strip_prefix(root).unwrap_or(path))
    }

    /// Records where a source was read from.
    fn add_path(&mut self, id: FileId, path: PathBuf) {
        let folder = path.parent().unwrap_or(Path::new("")).to_path_buf();
        self.root = Some(match self.root.take() {
            None => folder,
            Some(root) => common_folder([root, folder]),
        });
        self.paths.insert(id, path);
    }

    /// The normalized path of a source.
    pub fn path(&self, id: FileId) -> Option<&Path> {
        self.paths.get(&id).map(PathBuf::as_path)
    }
}

fn slash(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

/// The deepest folder that holds every one of `folders` (empty when they share none).
pub fn common_folder(folders: impl IntoIterator<Item = PathBuf>) -> PathBuf {
    let mut folders = folders.into_iter();
    let Some(mut root) = folders.next() else {
        return PathBuf::new();
    };
    for folder in folders {
        while !folder.starts_with(&root) {
            if !root.pop() {
                return PathBuf::new();
            }
        }
    }
    root
}

/// Removes `.` and resolves `..` without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Loads the given `.map` files, their imports and their schemas, wherever they are. A missing
/// input is a [`LoadError`]; everything else wrong becomes a diagnostic and loading goes on.
/// For files that may come from anyone, use [`load_within`].
pub fn load(inputs: &[PathBuf], loader: &dyn Loader) -> Result<(Project, Diagnostics), LoadError> {
    load_within(inputs, None, loader)
}

/// [`load`], reading nothing outside `root` when it is given: an import or schema path that
/// leads out of it (absolute, through `..` or through a symbolic link), an import that is not
/// a `.map` file and a schema that is not a `.json` file are E0215 and are not read, so a
/// mapping cannot make `check` read, or quote in a diagnostic, a file it has no business with.
pub fn load_within(
    inputs: &[PathBuf],
    root: Option<&Path>,
    loader: &dyn Loader,
) -> Result<(Project, Diagnostics), LoadError> {
    let fence = root.map(|r| Fence::new(r, loader));
    let mut project = Project::default();
    let mut diags = Diagnostics::new();
    let mut queue: Vec<Pending> = inputs.iter().map(|p| (normalize(p), None)).collect();
    let mut seen = BTreeSet::new();
    let mut index = 0;
    while index < queue.len() {
        let (path, from) = queue[index].clone();
        index += 1;
        if !seen.insert(path.clone()) {
            continue;
        }
        if let Some(fence) = &fence {
            if fence.keeps_out(&path, from, loader, &mut diags)? {
                project.unread_imports = true;
                continue;
            }
        }
        let text = match loader.load(&path) {
            Ok(t) => t,
            Err(e) => {
                let Some((file, span)) = from else {
                    return Err(LoadError::Read {
                        path: slash(&path),
                        source: e,
                    });
                };
                project.unread_imports = true;
                diags.push(unreadable_import(&path, &e, file, span));
                continue;
            }
        };
        let imports = add_map_file(&mut project, &mut diags, loader, path, text);
        queue.extend(imports);
    }
    load_schemas(&mut project, loader, fence.as_ref(), &mut diags);
    Ok((project, diags))
}

/// A file to read, with the import that named it (none for the inputs).
type Pending = (PathBuf, Option<(FileId, ast::Span)>);

/// Parses one `.map` file into the project; gives the files it imports, to read next.
fn add_map_file(
    project: &mut Project,
    diags: &mut Diagnostics,
    loader: &dyn Loader,
    path: PathBuf,
    text: String,
) -> Vec<Pending> {
    let id = project.sources.add(slash(&path), text);
    project.add_path(id, path.clone());
    let parsed = loader.parse(id, &path, &project.sources.get(id).text);
    if parsed.diagnostics.has_errors() {
        project.broken_files.insert(id);
    }
    diags.extend(parsed.diagnostics);
    project.broken_names.extend(parsed.broken_names);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut imports = Vec::new();
    for item in &parsed.file.items {
        if let ast::Item::Import(i) = item {
            imports.push((normalize(&dir.join(&i.path.value)), Some((id, i.path.span))));
        }
    }
    project.files.push(MapFile {
        id,
        path,
        ast: parsed.file,
    });
    imports
}

/// E0208 for an import that cannot be read.
fn unreadable_import(path: &Path, e: &std::io::Error, file: FileId, span: ast::Span) -> Diagnostic {
    let message = format!("cannot read `{}`: {}", slash(path), io_reason(e));
    Diagnostic::new(Code::E0208, file, span, message)
        .label("imported here")
        .help("import paths are relative to the importing file")
}

/// The project folder that [`load_within`] reads inside of.
struct Fence {
    shown: String,
    root: PathBuf,
    real_root: Option<PathBuf>,
}

impl Fence {
    fn new(root: &Path, loader: &dyn Loader) -> Self {
        Fence {
            shown: shown_root(root),
            root: loader.locate(root),
            real_root: loader.real_path(root),
        }
    }

    /// Whether the file at `path`, an input or imported from `from`, must not be read: E0215
    /// for an import, a [`LoadError`] for an input that links out of the folder.
    fn keeps_out(
        &self,
        path: &Path,
        from: Option<(FileId, ast::Span)>,
        loader: &dyn Loader,
        diags: &mut Diagnostics,
    ) -> Result<bool, LoadError> {
        let Some((file, span)) = from else {
            // A `.map` file found in the folder may still be a link to any file on the machine.
            return match self.linked_inside(path, loader) {
                Ok(()) => Ok(false),
                Err(why) => Err(LoadError::Outside {
                    path: slash(path),
                    why,
                }),
            };
        };
        let Err(why) = self.admit(path, "map", loader) else {
            return Ok(false);
        };
        let message = format!("cannot import `{}`: {why}", slash(path));
        diags.push(
            Diagnostic::new(Code::E0215, file, span, message)
                .label("imported here")
                .help("import `.map` files of the project folder only, by a path relative to the importing file"),
        );
        Ok(true)
    }

    /// Whether the file at `path` may be read, and why not.
    fn admit(&self, path: &Path, extension: &str, loader: &dyn Loader) -> Result<(), String> {
        if !loader.locate(path).starts_with(&self.root) {
            return Err(format!("it is outside the project folder `{}`", self.shown));
        }
        if path.extension().is_none_or(|e| e != extension) {
            return Err(format!("it is not a `.{extension}` file"));
        }
        self.linked_inside(path, loader)
    }

    /// Whether symbolic links keep the file at `path` inside the folder, and why not.
    fn linked_inside(&self, path: &Path, loader: &dyn Loader) -> Result<(), String> {
        if let (Some(real_root), Some(real)) = (&self.real_root, loader.real_path(path)) {
            if !real.starts_with(real_root) {
                return Err(format!(
                    "a symbolic link leads it outside the project folder `{}`",
                    self.shown
                ));
            }
        }
        Ok(())
    }
}

fn shown_root(root: &Path) -> String {
    let root = normalize(root);
    if root.as_os_str().is_empty() {
        ".".to_string()
    } else {
        slash(&root)
    }
}

fn load_schemas(
    project: &mut Project,
    loader: &dyn Loader,
    fence: Option<&Fence>,
    diags: &mut Diagnostics,
) {
    let mut wanted = Vec::new();
    for f in &project.files {
        for item in &f.ast.items {
            if let ast::Item::System(s) = item {
                wanted.push((f.id, f.path.clone(), s.clone()));
            }
        }
    }
    for (file, map_path, system) in wanted {
        if project.schemas.contains_key(&system.name.name)
            || project.broken_systems.contains(&system.name.name)
        {
            continue; // a second declaration of the name is the checker's to report
        }
        match load_schema(project, loader, fence, file, &map_path, &system) {
            Ok(mut loaded) => {
                override_modified_on(&mut loaded.schema, file, &system, diags);
                loaded.choices = schema::choices::choice_tables(&loaded.schema);
                project.schemas.insert(system.name.name.clone(), loaded);
            }
            Err(d) => {
                project.broken_systems.insert(system.name.name.clone());
                diags.push(*d);
            }
        }
    }
}

/// Applies `modified_on.TABLE = "COLUMN"` settings: the column a table's changes are read by,
/// where the snapshot found none or the wrong one (an import recognises the usual names and
/// the concurrency annotation, not every service's). E0214 for a table or column that cannot be.
fn override_modified_on(
    schema: &mut crate::schema::SystemSchema,
    file: FileId,
    system: &ast::System,
    diags: &mut Diagnostics,
) {
    for setting in &system.settings {
        let Some(table_name) = setting.key.name.strip_prefix("modified_on.") else {
            continue;
        };
        let column = &setting.value.value;
        let problem = match schema.tables.iter_mut().find(|t| t.name == table_name) {
            None => {
                let d = Diagnostic::new(
                    Code::E0214,
                    file,
                    setting.key.span,
                    format!(
                        "the snapshot of `{}` has no table `{table_name}`",
                        system.name.name
                    ),
                )
                .label("no such table")
                .help("name a table of the snapshot after `modified_on.`");
                diags.push(d);
                None
            }
            Some(t) => match t.column(column).map(|c| &c.ty) {
                Some(crate::schema::ColumnType::Datetime) => {
                    t.modified_on = Some(column.clone());
                    None
                }
                Some(_) => Some((
                    setting.value.span,
                    format!("`{table_name}.{column}` is not a date-time column"),
                )),
                None => Some((
                    setting.value.span,
                    format!("table `{table_name}` has no column `{column}`"),
                )),
            },
        };
        if let Some((span, message)) = problem {
            diags.push(
                Diagnostic::new(Code::E0214, file, span, message)
                    .label("cannot say when rows changed")
                    .help("name a date-time column the system sets on every write of the table"),
            );
        }
    }
}

fn load_schema(
    project: &mut Project,
    loader: &dyn Loader,
    fence: Option<&Fence>,
    file: FileId,
    map_path: &Path,
    system: &ast::System,
) -> Result<LoadedSchema, Box<Diagnostic>> {
    let setting = schema_setting(file, system)?;
    let span = setting.value.span;
    let dir = map_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let path = normalize(&dir.join(&setting.value.value));
    if let Some(why) = fence.and_then(|f| f.admit(&path, "json", loader).err()) {
        return Err(Diagnostic::new(
            Code::E0215,
            file,
            span,
            format!("cannot read schema `{}`: {why}", slash(&path)),
        )
        .label("named here")
        .help("keep schema snapshots (`.json`) in the project folder, named by a path relative to the file that declares the system").into());
    }
    let schema_id = read_schema(project, loader, &path, file, span)?;
    let text = &project.sources.get(schema_id).text;
    match loader.schema(&path, text) {
        Ok(schema) => Ok(LoadedSchema {
            schema,
            file: schema_id,
            choices: Vec::new(),
        }),
        Err(e) => Err(unusable_schema(&e, &path, text, schema_id, file, span).into()),
    }
}

/// The `schema = "…"` of a system, E0209 without one.
fn schema_setting(file: FileId, system: &ast::System) -> Result<&ast::Setting, Box<Diagnostic>> {
    system.settings.iter().find(|s| s.key.name == "schema").ok_or_else(|| {
        Diagnostic::new(
            Code::E0209,
            file,
            system.name.span,
            format!("system `{}` names no schema", system.name.name),
        )
        .label("declared here")
        .help("add `schema = \"schemas/NAME.json\"`; `syncmap schema import METADATA.xml -o schemas/NAME.json` writes one from the system's OData `$metadata`")
        .into()
    })
}

/// Reads a schema file into the project's sources, once however many systems name it.
fn read_schema(
    project: &mut Project,
    loader: &dyn Loader,
    path: &Path,
    file: FileId,
    span: ast::Span,
) -> Result<FileId, Box<Diagnostic>> {
    let text = loader.load(path).map_err(|e| {
        let d = Diagnostic::new(
            Code::E0209,
            file,
            span,
            format!("cannot read schema `{}`: {}", slash(path), io_reason(&e)),
        )
        .label("named here")
        .help("schema paths are relative to the file that declares the system");
        Box::new(d)
    })?;
    Ok(match project.sources.find(&slash(path)) {
        Some(id) => id,
        None => {
            let id = project.sources.add(slash(path), text);
            project.add_path(id, path.to_path_buf());
            id
        }
    })
}

/// E0209 for a schema file that was read but is no schema, pointing into it where it can.
fn unusable_schema(
    e: &SchemaError,
    path: &Path,
    text: &str,
    schema_id: FileId,
    file: FileId,
    span: ast::Span,
) -> Diagnostic {
    let mut d = Diagnostic::new(
        Code::E0209,
        file,
        span,
        format!("schema `{}` cannot be used: {e}", slash(path)),
    )
    .label("named here");
    if let SchemaError::Json { line, column, .. } = e {
        let offset = offset_of(text, *line, *column);
        d = d.with(
            schema_id,
            ast::Span::new(offset, (offset + 1).min(text.len())),
            "the problem is here",
        );
    }
    d.help("fix the file, or write it again with `syncmap schema import METADATA.xml -o FILE`")
}

/// Why a file could not be read, in words: the OS error text ends in "(os error 2)", which says
/// nothing to users and differs between platforms.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => e.to_string(),
    }
}

fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(
            normalize(Path::new("./a/b/../c.map")),
            PathBuf::from("a/c.map")
        );
        assert_eq!(normalize(Path::new("../x/./y")), PathBuf::from("../x/y"));
        assert_eq!(normalize(Path::new("/r/a/../b")), PathBuf::from("/r/b"));
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_out_of_the_project_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("project"), dir.path().join("outside"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.map"), "TOP SECRET {\n").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.map"), root.join("link.map")).unwrap();
        std::fs::write(root.join("main.map"), "import \"link.map\"\n").unwrap();
        let inputs = [root.join("main.map")];
        let (project, diags) = load_within(&inputs, Some(&root), &FsLoader).unwrap();
        let codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![Code::E0215], "{diags:?}");
        assert!(diags.iter().all(|d| d.message.contains("symbolic link")));
        assert!(project
            .sources
            .iter()
            .all(|(_, f)| !f.text.contains("SECRET")));
        // Nor is it read when it is given, or found in the folder, as an input.
        let linked = [root.join("link.map")];
        let err = load_within(&linked, Some(&root), &FsLoader).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        // Unconfined, the same link is followed: the check above is what stops it.
        let (project, _) = load(&inputs, &FsLoader).unwrap();
        assert!(project
            .sources
            .iter()
            .any(|(_, f)| f.text.contains("SECRET")));
    }

    #[test]
    fn offset_of_counts_lines_from_one() {
        assert_eq!(offset_of("ab\ncd", 2, 2), 4);
        assert_eq!(offset_of("ab", 1, 1), 0);
    }
}
