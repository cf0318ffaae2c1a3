//! Quick fixes: the edit each diagnostic's help describes (a name spelt as suggested, a stray
//! comma removed), offered wherever the cursor or selection meets the diagnostic. The ones
//! `syncmap check --fix` applies are marked preferred, so an editor's "fix all" takes them.

use std::collections::HashMap;

use lsp_types::{CodeAction, CodeActionKind, CodeActionOrCommand, TextEdit, Uri, WorkspaceEdit};

use super::convert::{Encoding, LineIndex};
use super::workspace::Analysis;
use crate::source::FileId;

/// The quick fixes of the diagnostics of `file` whose primary span meets the byte range
/// `from..=to` of the buffer at `uri`.
pub fn quick_fixes(
    analysis: &Analysis,
    file: FileId,
    uri: &Uri,
    (from, to): (usize, usize),
    enc: Encoding,
) -> Vec<CodeActionOrCommand> {
    let text = analysis.text(file);
    let index = LineIndex::new(text);
    analysis
        .diagnostics
        .iter()
        .filter(|d| d.primary.file == file)
        .filter(|d| d.primary.span.start as usize <= to && from <= d.primary.span.end as usize)
        .filter_map(|d| {
            let fix = d.fix.as_deref().filter(|f| f.file == file)?;
            let edit = TextEdit::new(index.range(text, fix.span, enc), fix.replacement.clone());
            let title = d
                .help
                .clone()
                .unwrap_or_else(|| format!("replace with `{}`", fix.replacement));
            Some(CodeActionOrCommand::CodeAction(CodeAction {
                title,
                kind: Some(CodeActionKind::QUICKFIX),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                    ..WorkspaceEdit::default()
                }),
                is_preferred: Some(fix.safe),
                ..CodeAction::default()
            }))
        })
        .collect()
}
