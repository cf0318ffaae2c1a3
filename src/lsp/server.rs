//! The server's state and its message handling: open buffers, workspaces, and one handler per
//! request. It is driven one message at a time by [`super::run`] (or directly, by benchmarks);
//! everything it sends goes to an outbox the caller drains.
//!
//! Checking is deferred: edits mark their workspace dirty, and the workspace is checked when no
//! further message is waiting (so a burst of keystrokes is checked once) or before a request is
//! answered (so answers always reflect the latest text).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use lsp_server::{ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidChangeWatchedFiles, DidCloseTextDocument, DidOpenTextDocument,
    DidSaveTextDocument, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    References, RegisterCapability, Rename, Request as _, SemanticTokensFullRequest, Shutdown,
};
use lsp_types::{
    CodeActionParams, CodeActionProviderCapability, CodeActionResponse, CompletionOptions,
    CompletionParams, CompletionResponse, DidChangeTextDocumentParams, DidChangeWatchedFilesParams,
    DidChangeWatchedFilesRegistrationOptions, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, DocumentFormattingParams,
    DocumentSymbolParams, DocumentSymbolResponse, FileSystemWatcher, GlobPattern,
    GotoDefinitionParams, GotoDefinitionResponse, Hover, HoverContents, HoverParams,
    HoverProviderCapability, InitializeParams, InitializeResult, Location, MarkupContent,
    MarkupKind, OneOf, PositionEncodingKind, PublishDiagnosticsParams, Range, ReferenceParams,
    Registration, RegistrationParams, RenameParams, SemanticTokens, SemanticTokensFullOptions,
    SemanticTokensOptions, SemanticTokensParams, SemanticTokensResult,
    SemanticTokensServerCapabilities, ServerCapabilities, ServerInfo, TextDocumentSyncCapability,
    TextDocumentSyncKind, TextDocumentSyncOptions, TextDocumentSyncSaveOptions, TextEdit, Uri,
    WorkspaceEdit,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::source::FileId;
use crate::syntax;

use super::actions;
use super::completion;
use super::convert::{self, Encoding, FileLocator, LineIndex};
use super::definition::{self, Place};
use super::documents::{Document, Documents};
use super::hover;
use super::references;
use super::semantic;
use super::symbols;
use super::workspace::{Analysis, Workspace};

/// The language server.
#[derive(Debug)]
pub struct Server {
    encoding: Encoding,
    docs: Documents,
    workspaces: Vec<Workspace>,
    /// Roots of workspaces to check before the next answer.
    dirty: BTreeSet<PathBuf>,
    /// The diagnostics last sent for each URI, to send only what changed.
    published: HashMap<Uri, Vec<lsp_types::Diagnostic>>,
    outbox: Vec<Message>,
    watch_files: bool,
    /// The client's workspace folders: imports and schemas are read inside them only.
    client_roots: Vec<PathBuf>,
    shutdown: bool,
}

impl Server {
    /// A server for a client that sent these `initialize` parameters.
    pub fn new(params: &InitializeParams) -> Self {
        let utf8 = params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8));
        let watch_files = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false);
        #[allow(deprecated)] // `root_uri` is what clients without workspace folders send
        let client_roots = params
            .workspace_folders
            .iter()
            .flatten()
            .map(|f| &f.uri)
            .chain(params.root_uri.as_ref())
            .filter_map(convert::path_of)
            .collect();
        Server {
            client_roots,
            encoding: if utf8 {
                Encoding::Utf8
            } else {
                Encoding::Utf16
            },
            docs: Documents::default(),
            workspaces: Vec::new(),
            dirty: BTreeSet::new(),
            published: HashMap::new(),
            outbox: Vec::new(),
            watch_files,
            shutdown: false,
        }
    }

    /// The answer to `initialize`: what this server does.
    pub fn initialize_result(&self) -> InitializeResult {
        let capabilities = ServerCapabilities {
            position_encoding: Some(match self.encoding {
                Encoding::Utf8 => PositionEncodingKind::UTF8,
                Encoding::Utf16 => PositionEncodingKind::UTF16,
            }),
            text_document_sync: Some(TextDocumentSyncCapability::Options(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                    ..TextDocumentSyncOptions::default()
                },
            )),
            completion_provider: Some(CompletionOptions {
                trigger_characters: Some(vec![".".into(), "\"".into(), "[".into()]),
                ..CompletionOptions::default()
            }),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            definition_provider: Some(OneOf::Left(true)),
            document_formatting_provider: Some(OneOf::Left(true)),
            document_symbol_provider: Some(OneOf::Left(true)),
            code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
            references_provider: Some(OneOf::Left(true)),
            rename_provider: Some(OneOf::Left(true)),
            semantic_tokens_provider: Some(
                SemanticTokensServerCapabilities::SemanticTokensOptions(SemanticTokensOptions {
                    legend: semantic::legend(),
                    full: Some(SemanticTokensFullOptions::Bool(true)),
                    ..SemanticTokensOptions::default()
                }),
            ),
            ..ServerCapabilities::default()
        };
        InitializeResult {
            capabilities,
            server_info: Some(ServerInfo {
                name: "syncmap".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
        }
    }

    /// After `initialized`: asks the client to report changes to `.map` files and schema
    /// snapshots on disk, when it can (a schema regenerated by `schema import` is then picked up
    /// at once, not at the next keystroke).
    pub fn initialized(&mut self) {
        if !self.watch_files {
            return;
        }
        let watchers = ["**/*.map", "**/*.json"]
            .into_iter()
            .map(|glob| FileSystemWatcher {
                glob_pattern: GlobPattern::String(glob.to_string()),
                kind: None,
            })
            .collect();
        let params = RegistrationParams {
            registrations: vec![Registration {
                id: "syncmap-watch".to_string(),
                method: DidChangeWatchedFiles::METHOD.to_string(),
                register_options: serde_json::to_value(DidChangeWatchedFilesRegistrationOptions {
                    watchers,
                })
                .ok(),
            }],
        };
        self.outbox.push(
            Request::new(
                RequestId::from("syncmap-watch".to_string()),
                RegisterCapability::METHOD.to_string(),
                params,
            )
            .into(),
        );
    }

    /// Whether `shutdown` was received.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown
    }

    /// Whether some workspace waits to be checked.
    pub fn is_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Takes what the server has to send.
    pub fn take_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.outbox)
    }

    /// Handles one message from the client.
    pub fn handle(&mut self, msg: Message) {
        match msg {
            Message::Request(req) => {
                self.flush();
                let id = req.id.clone();
                let response = match self.request(req) {
                    Ok(result) => Response::new_ok(id, result),
                    Err((code, message)) => Response::new_err(id, code as i32, message),
                };
                self.outbox.push(response.into());
            }
            Message::Notification(n) => self.notification(n),
            // The client's answer to `client/registerCapability`: nothing to do.
            Message::Response(_) => {}
        }
    }

    /// Checks the workspaces that changed and publishes their diagnostics.
    pub fn flush(&mut self) {
        for root in std::mem::take(&mut self.dirty) {
            if let Some(i) = self.workspaces.iter().position(|w| w.root == root) {
                self.workspaces[i].check(&self.docs);
                self.publish(i);
            }
        }
    }

    fn request(&mut self, req: Request) -> Result<Value, (ErrorCode, String)> {
        let result = match req.method.as_str() {
            Completion::METHOD => {
                let p: CompletionParams = params(req.params)?;
                let pos = p.text_document_position;
                to_value(self.completion(&pos.text_document.uri, pos.position))
            }
            HoverRequest::METHOD => {
                let p: HoverParams = params(req.params)?;
                let pos = p.text_document_position_params;
                to_value(self.hover(&pos.text_document.uri, pos.position))
            }
            GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = params(req.params)?;
                let pos = p.text_document_position_params;
                to_value(self.definition(&pos.text_document.uri, pos.position))
            }
            Formatting::METHOD => {
                let p: DocumentFormattingParams = params(req.params)?;
                to_value(self.formatting(&p.text_document.uri))
            }
            DocumentSymbolRequest::METHOD => {
                let p: DocumentSymbolParams = params(req.params)?;
                to_value(self.symbols(&p.text_document.uri))
            }
            CodeActionRequest::METHOD => {
                let p: CodeActionParams = params(req.params)?;
                to_value(self.code_actions(&p.text_document.uri, p.range))
            }
            References::METHOD => {
                let p: ReferenceParams = params(req.params)?;
                let pos = p.text_document_position;
                let with_declaration = p.context.include_declaration;
                to_value(self.references(&pos.text_document.uri, pos.position, with_declaration))
            }
            Rename::METHOD => {
                let p: RenameParams = params(req.params)?;
                let pos = p.text_document_position;
                let edit = self.rename(&pos.text_document.uri, pos.position, &p.new_name);
                to_value(edit.map_err(|why| (ErrorCode::InvalidRequest, why))?)
            }
            SemanticTokensFullRequest::METHOD => {
                let p: SemanticTokensParams = params(req.params)?;
                to_value(self.semantic_tokens(&p.text_document.uri))
            }
            Shutdown::METHOD => {
                self.shutdown = true;
                Ok(Value::Null)
            }
            other => Err((
                ErrorCode::MethodNotFound,
                format!("syncmap lsp does not handle `{other}`"),
            )),
        }?;
        Ok(result)
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Ok(p) = params::<DidOpenTextDocumentParams>(n.params) {
                    self.did_open(p);
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Ok(p) = params::<DidChangeTextDocumentParams>(n.params) {
                    self.did_change(p);
                }
            }
            DidSaveTextDocument::METHOD => {
                let Ok(p) = params::<DidSaveTextDocumentParams>(n.params) else {
                    return;
                };
                if let Some(path) = convert::path_of(&p.text_document.uri) {
                    self.touch(&path, true);
                }
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = params::<DidCloseTextDocumentParams>(n.params) else {
                    return;
                };
                if let Some(Document {
                    path: Some(path), ..
                }) = self.docs.close(&p.text_document.uri)
                {
                    self.touch(&path, true);
                }
            }
            DidChangeWatchedFiles::METHOD => {
                let Ok(p) = params::<DidChangeWatchedFilesParams>(n.params) else {
                    return;
                };
                for change in p.changes {
                    if let Some(path) = convert::path_of(&change.uri) {
                        self.touch(&path, true);
                    }
                }
            }
            // `initialized`, `$/cancelRequest` (answers are immediate), `$/setTrace`, …
            _ => {}
        }
    }

    /// A document opened: its workspace rescans, since the file may be new to it.
    fn did_open(&mut self, p: DidOpenTextDocumentParams) {
        let doc = p.text_document;
        self.docs.open(doc.uri.clone(), doc.text, doc.version);
        if let Some(path) = self.docs.get(&doc.uri).and_then(|d| d.path.clone()) {
            let root = self.workspace_for(&path);
            if let Some(w) = self.workspaces.iter_mut().find(|w| w.root == root) {
                w.rescan();
            }
            self.dirty.insert(root);
        }
    }

    /// A document edited: the edits apply to the buffer, and its workspaces are checked again.
    fn did_change(&mut self, p: DidChangeTextDocumentParams) {
        let enc = self.encoding;
        if let Some(doc) = self.docs.get_mut(&p.text_document.uri) {
            doc.apply(p.content_changes, enc);
            doc.version = p.text_document.version;
            let path = doc.path.clone();
            if let Some(path) = path {
                self.touch(&path, false);
            }
        }
    }

    /// Marks the workspaces a changed file belongs to as dirty; `rescan` when files may have
    /// appeared or gone.
    fn touch(&mut self, path: &Path, rescan: bool) {
        for w in &mut self.workspaces {
            if w.contains(path) || w.reads(path) {
                if rescan {
                    w.rescan();
                }
                self.dirty.insert(w.root.clone());
            }
        }
    }

    /// The root of the workspace of a file, created when no workspace holds it: its folder. A
    /// new workspace takes in the workspaces of its subfolders, so no file is checked twice.
    fn workspace_for(&mut self, path: &Path) -> PathBuf {
        if let Some(w) = self
            .workspaces
            .iter()
            .filter(|w| w.contains(path))
            .max_by_key(|w| w.root.components().count())
        {
            return w.root.clone();
        }
        let root = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
        let fence = self
            .client_roots
            .iter()
            .filter(|r| root.starts_with(r))
            .min_by_key(|r| r.components().count())
            .cloned()
            .unwrap_or_else(|| root.clone());
        let mut w = Workspace::new(root.clone(), fence);
        for old in self.workspaces.iter().filter(|o| o.root.starts_with(&root)) {
            w.reported.extend(old.reported.iter().cloned());
        }
        self.workspaces.retain(|o| !o.root.starts_with(&root));
        self.workspaces.push(w);
        root
    }

    /// The workspace analysis and file id of an open buffer, with the buffer.
    fn lookup(&self, uri: &Uri) -> Option<(&Document, Option<(&Analysis, FileId)>)> {
        let doc = self.docs.get(uri)?;
        let found = doc.path.as_deref().and_then(|path| {
            self.workspaces.iter().find_map(|w| {
                let a = w.analysis.as_ref()?;
                Some((a, a.file(path)?.id))
            })
        });
        Some((doc, found))
    }

    fn completion(&self, uri: &Uri, pos: lsp_types::Position) -> Option<CompletionResponse> {
        let doc = self.docs.get(uri)?;
        let analysis = doc.path.as_deref().and_then(|p| {
            self.workspaces
                .iter()
                .filter(|w| w.contains(p) || w.reads(p))
                .find_map(|w| w.analysis.as_ref())
        });
        let offset = doc.index.offset(&doc.text, pos, self.encoding);
        let items = completion::complete(&completion::Request {
            text: &doc.text,
            offset,
            index: &doc.index,
            encoding: self.encoding,
            analysis,
        });
        Some(CompletionResponse::Array(items))
    }

    fn hover(&self, uri: &Uri, pos: lsp_types::Position) -> Option<Hover> {
        let (doc, Some((analysis, file))) = self.lookup(uri)? else {
            return None;
        };
        let offset = doc.index.offset(&doc.text, pos, self.encoding);
        let (markdown, span) = hover::hover(analysis, file, offset)?;
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: markdown,
            }),
            range: span.map(|s| doc.index.range(&doc.text, s, self.encoding)),
        })
    }

    fn definition(&self, uri: &Uri, pos: lsp_types::Position) -> Option<GotoDefinitionResponse> {
        let (doc, Some((analysis, file))) = self.lookup(uri)? else {
            return None;
        };
        let offset = doc.index.offset(&doc.text, pos, self.encoding);
        let location = match definition::definition(analysis, file, offset)? {
            Place::Source(id, span) => self.location(analysis, id, span)?,
            Place::File(path) => Location::new(self.uri_for(&path)?, Range::default()),
        };
        Some(GotoDefinitionResponse::Scalar(location))
    }

    /// What each word of a buffer is.
    fn semantic_tokens(&self, uri: &Uri) -> Option<SemanticTokensResult> {
        let (doc, file) = self.tree(uri)?;
        Some(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: None,
            data: semantic::tokens(&doc.text, &file, self.encoding),
        }))
    }

    /// Where a span of a source of the analysis is, for the client.
    fn location(
        &self,
        analysis: &Analysis,
        id: FileId,
        span: syntax::ast::Span,
    ) -> Option<Location> {
        let text = analysis.text(id);
        let range = LineIndex::new(text).range(text, span, self.encoding);
        Some(Location::new(self.uri_for(&analysis.path(id)?)?, range))
    }

    /// Every place the declared name under the cursor is written (its declaration as asked).
    fn references(
        &self,
        uri: &Uri,
        pos: lsp_types::Position,
        with_declaration: bool,
    ) -> Option<Vec<Location>> {
        let (doc, Some((analysis, file))) = self.lookup(uri)? else {
            return None;
        };
        let offset = doc.index.offset(&doc.text, pos, self.encoding);
        let symbol = references::symbol_at(analysis, file, offset)?;
        let declaration = references::declaration(analysis, &symbol);
        let places = references::occurrences(analysis, &symbol).into_iter();
        let places = places.filter(|p| with_declaration || Some(*p) != declaration);
        Some(
            places
                .filter_map(|(id, span)| self.location(analysis, id, span))
                .collect(),
        )
    }

    /// The edits that rename the declared name under the cursor everywhere it is written.
    fn rename(
        &self,
        uri: &Uri,
        pos: lsp_types::Position,
        new_name: &str,
    ) -> Result<Option<WorkspaceEdit>, String> {
        let Some((doc, Some((analysis, file)))) = self.lookup(uri) else {
            return Ok(None);
        };
        let offset = doc.index.offset(&doc.text, pos, self.encoding);
        let Some(symbol) = references::symbol_at(analysis, file, offset) else {
            return Ok(None);
        };
        references::rename(analysis, &symbol, new_name, |id, span| {
            self.location(analysis, id, span)
        })
    }

    /// The quick fixes of the diagnostics the range meets.
    fn code_actions(&self, uri: &Uri, range: Range) -> Option<CodeActionResponse> {
        let (doc, Some((analysis, file))) = self.lookup(uri)? else {
            return Some(Vec::new());
        };
        let from = doc.index.offset(&doc.text, range.start, self.encoding);
        let to = doc.index.offset(&doc.text, range.end, self.encoding);
        Some(actions::quick_fixes(
            analysis,
            file,
            uri,
            (from, to),
            self.encoding,
        ))
    }

    /// The whole document formatted, as one edit; no edit when it is formatted already, and
    /// none when it does not parse (the formatter needs a whole tree).
    fn formatting(&self, uri: &Uri) -> Option<Vec<TextEdit>> {
        let doc = self.docs.get(uri)?;
        let file = syntax::parse(FileId(0), &doc.text).ok()?;
        let formatted = syntax::format::format(&doc.text, &file);
        if formatted == doc.text {
            return Some(Vec::new());
        }
        let end = doc.index.position(&doc.text, doc.text.len(), self.encoding);
        Some(vec![TextEdit::new(
            Range::new(lsp_types::Position::new(0, 0), end),
            formatted,
        )])
    }

    fn symbols(&self, uri: &Uri) -> Option<DocumentSymbolResponse> {
        let (doc, file) = self.tree(uri)?;
        Some(DocumentSymbolResponse::Nested(symbols::symbols(
            &doc.text,
            &file,
            &doc.index,
            self.encoding,
        )))
    }

    /// A buffer and its syntax tree: from the workspace's last check where the buffer is in
    /// one, else the buffer parsed on its own.
    fn tree(&self, uri: &Uri) -> Option<(&Document, Cow<'_, syntax::ast::File>)> {
        let (doc, found) = self.lookup(uri)?;
        let file = match found {
            Some((a, id)) => Cow::Borrowed(&a.project.files.iter().find(|f| f.id == id)?.ast),
            None => Cow::Owned(syntax::parse_recovering(FileId(0), &doc.text).file),
        };
        Some((doc, file))
    }

    /// The URI to show for a path: the client's own for an open buffer.
    fn uri_for(&self, path: &Path) -> Option<Uri> {
        match self.docs.by_path(path) {
            Some((uri, _)) => Some(uri.clone()),
            None => convert::uri_of(path),
        }
    }

    /// Sends the diagnostics of a workspace's last check that differ from those last sent: for
    /// every file with diagnostics, every open file of the workspace (an empty list says it is
    /// clean), and every file that had some before (to clear them).
    fn publish(&mut self, i: usize) {
        let w = &self.workspaces[i];
        let mut by_path: BTreeMap<PathBuf, Vec<lsp_types::Diagnostic>> = BTreeMap::new();
        if let Some(a) = &w.analysis {
            let locator = Locator::new(a, self);
            for d in a.diagnostics.iter() {
                let Some(path) = a.path(d.primary.file) else {
                    continue;
                };
                if let Some(ld) = convert::diagnostic(d, &locator, self.encoding) {
                    by_path.entry(path).or_default().push(ld);
                }
            }
        }
        let mut targets: BTreeSet<PathBuf> = by_path.keys().cloned().collect();
        targets.extend(w.reported.iter().cloned());
        targets.extend(
            self.docs
                .files()
                .filter(|(_, _, p)| w.contains(p) || w.reads(p))
                .map(|(_, _, p)| p.to_path_buf()),
        );
        let reported = by_path.keys().cloned().collect();
        let mut out = Vec::new();
        for path in targets {
            let diagnostics = by_path.remove(&path).unwrap_or_default();
            let (uri, version) = match self.docs.by_path(&path) {
                Some((uri, doc)) => (uri.clone(), Some(doc.version)),
                None => match convert::uri_of(&path) {
                    Some(uri) => (uri, None),
                    None => continue,
                },
            };
            if self.published.get(&uri) == Some(&diagnostics) {
                continue;
            }
            self.published.insert(uri.clone(), diagnostics.clone());
            out.push(
                Notification::new(
                    PublishDiagnostics::METHOD.to_string(),
                    PublishDiagnosticsParams {
                        uri,
                        diagnostics,
                        version,
                    },
                )
                .into(),
            );
        }
        self.workspaces[i].reported = reported;
        self.outbox.extend(out);
    }
}

/// The URIs, texts and line indexes of the files diagnostics point into.
struct Locator<'a> {
    files: HashMap<FileId, (Uri, &'a str, LineIndex)>,
}

impl<'a> Locator<'a> {
    fn new(a: &'a Analysis, server: &Server) -> Self {
        let mut ids: BTreeSet<FileId> = BTreeSet::new();
        for d in a.diagnostics.iter() {
            ids.insert(d.primary.file);
            ids.extend(d.secondary.iter().map(|l| l.file));
        }
        let files = ids
            .into_iter()
            .filter_map(|id| {
                let uri = server.uri_for(&a.path(id)?)?;
                let text = a.text(id);
                Some((id, (uri, text, LineIndex::new(text))))
            })
            .collect();
        Locator { files }
    }
}

impl FileLocator for Locator<'_> {
    fn locate(&self, file: FileId) -> Option<(Uri, &str, &LineIndex)> {
        self.files
            .get(&file)
            .map(|(uri, text, index)| (uri.clone(), *text, index))
    }
}

fn params<P: DeserializeOwned>(v: Value) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(v).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, (ErrorCode, String)> {
    serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}
