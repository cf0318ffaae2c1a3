// Starts `syncmap lsp` for .map files. Everything else (diagnostics, completion, hover, go to
// definition, formatting, outline) comes from the server; highlighting from the TextMate grammar.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("syncmap").get("path") || "syncmap";
  const serverOptions = { command, args: ["lsp"] };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "syncmap" },
      { scheme: "untitled", language: "syncmap" },
    ],
  };
  client = new LanguageClient("syncmap", "syncmap", serverOptions, clientOptions);
  client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `Cannot start \`${command} lsp\`: ${err.message}. Set "syncmap.path" to the syncmap executable.`,
    );
  });
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
