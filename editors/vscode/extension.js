// The Pipe extension's code: starts the language server `pipec lsp` for `.pipe` files.
// Highlighting, snippets and editing rules are declared in package.json; this file only wires
// the client. Plain JavaScript, no build step.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

/** How to start the server: the `pipec.path` setting (default `pipec`) with `lsp`, over stdio. */
function serverOptions() {
  const command = vscode.workspace.getConfiguration("pipec").get("path") || "pipec";
  return { command, args: ["lsp"] };
}

function clientOptions() {
  return {
    documentSelector: [{ scheme: "file", language: "pipe" }],
    synchronize: {
      // Files changed outside the editor (a `git checkout`, a generator) are re-read.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.pipe"),
    },
  };
}

function activate(context) {
  client = new LanguageClient("pipec", "pipec lsp", serverOptions(), clientOptions());
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("pipec.path")) {
        await client.stop();
        client = new LanguageClient("pipec", "pipec lsp", serverOptions(), clientOptions());
        await client.start();
      }
    })
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
