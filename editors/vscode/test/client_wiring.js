// Loads extension.js in plain Node with a minimal stand-in for the `vscode` module (which only
// exists inside VS Code) and the installed vscode-languageclient, whose LanguageClient class is
// replaced by a recorder: checks that activation wires a client that starts `pipec lsp` (or the
// `pipec.path` setting) for the `pipe` language. VS Code itself is not run.
"use strict";

const assert = require("assert");
const Module = require("module");
const path = require("path");

const folder = path.resolve(__dirname, "..");
let configured = undefined;
const watchers = [];
const vscodeStub = {
  workspace: {
    getConfiguration(section) {
      assert.strictEqual(section, "pipec");
      return { get: (key) => (key === "path" ? configured : undefined) };
    },
    createFileSystemWatcher(glob) {
      watchers.push(glob);
      return { glob, dispose() {} };
    },
    onDidChangeConfiguration() {
      return { dispose() {} };
    },
  },
};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === "vscode") return "vscode";
  return resolve.call(this, request, parent, ...rest);
};
require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: vscodeStub };

// The real package must be installed and resolvable from the extension folder.
const clientPath = require.resolve("vscode-languageclient/node", { paths: [folder] });
assert.ok(clientPath.startsWith(path.join(folder, "node_modules")), clientPath);
const installed = require(path.join(folder, "node_modules/vscode-languageclient/package.json"));
const pinned = require(path.join(folder, "package.json")).dependencies["vscode-languageclient"];
assert.strictEqual(installed.version, pinned);

const clients = [];
class RecordingClient {
  constructor(id, name, server, options) {
    Object.assign(this, { id, name, server, options, started: 0 });
    clients.push(this);
  }
  start() {
    this.started += 1;
    return Promise.resolve();
  }
  stop() {
    return Promise.resolve();
  }
}
require.cache[clientPath] = {
  id: clientPath,
  filename: clientPath,
  loaded: true,
  exports: { LanguageClient: RecordingClient },
};

const extension = require(path.join(folder, "extension.js"));
const context = { subscriptions: [] };
Promise.resolve(extension.activate(context)).then(() => {
  assert.strictEqual(clients.length, 1);
  const c = clients[0];
  assert.strictEqual(c.id, "pipec");
  assert.deepStrictEqual(c.server, { command: "pipec", args: ["lsp"] });
  assert.deepStrictEqual(c.options.documentSelector, [{ scheme: "file", language: "pipe" }]);
  assert.strictEqual(c.started, 1);
  assert.deepStrictEqual(watchers, ["**/*.pipe"]);
  assert.strictEqual(context.subscriptions.length, 1);

  // The `pipec.path` setting names the executable.
  configured = "/opt/pipec/bin/pipec";
  extension.activate({ subscriptions: [] });
  assert.deepStrictEqual(clients[1].server, { command: "/opt/pipec/bin/pipec", args: ["lsp"] });

  const pkg = require(path.join(folder, "package.json"));
  assert.strictEqual(pkg.main, "./extension.js");
  assert.ok(pkg.activationEvents.includes("onLanguage:pipe"));
  assert.strictEqual(pkg.contributes.configuration.properties["pipec.path"].default, "pipec");
  console.log("extension.js wires LanguageClient(pipec lsp) for `pipe` files");
});
