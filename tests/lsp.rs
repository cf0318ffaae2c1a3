//! The language server, end to end: every test starts the real `syncmap lsp` on a copy of the
//! standard mappings in a temporary folder, and talks to it over stdio with Content-Length framed
//! JSON-RPC, as an editor does. Each test reads as the exchange it makes: what the client sends,
//! and the exact answer expected.

// The helpers below are test code: a failed unwrap is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_syncmap");

/// How long the server may take to answer before the test fails (instead of hanging CI).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client speaking to one `syncmap lsp` process. Files are named relative to a temporary
/// folder holding a copy of the standard mappings in `mappings/`.
struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: mpsc::Receiver<Value>,
    /// Notifications that arrived while waiting for something else.
    pending: VecDeque<Value>,
    next_id: i64,
    dir: tempfile::TempDir,
    /// The answer to `initialize`.
    init: Value,
}

impl Client {
    /// Copies the standard mappings into a temporary folder, starts the server and initializes
    /// it as a client with default capabilities (UTF-16 positions).
    fn start() -> Client {
        Client::start_with(json!({}))
    }

    fn start_with(capabilities: Value) -> Client {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings"),
            &dir.path().join("mappings"),
        );
        let mut child = Command::new(BIN)
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN} lsp: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(msg) = read_message(&mut reader) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        let mut client = Client {
            child,
            stdin,
            incoming,
            pending: VecDeque::new(),
            next_id: 0,
            dir,
            init: Value::Null,
        };
        let root = client.uri("");
        let result = client.request(
            "initialize",
            json!({ "processId": null, "rootUri": root, "capabilities": capabilities }),
        );
        assert_eq!(result["serverInfo"]["name"], "syncmap");
        client.init = result;
        client.notify("initialized", json!({}));
        client
    }

    /// The `file:` URI of a file of the copy.
    fn uri(&self, name: &str) -> String {
        let path = self.dir.path().join(name);
        format!("file://{}", path.to_string_lossy().replace(' ', "%20"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn recv(&mut self) -> Value {
        self.incoming
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("no message from the server within {TIMEOUT:?}"))
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and returns its result, keeping notifications that come first.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let msg = self.answer(method, params);
        assert!(msg.get("error").is_none(), "{method} failed: {msg}");
        msg["result"].clone()
    }

    /// Sends a request and returns the whole answer, error or result.
    fn answer(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        loop {
            let msg = self.recv();
            if msg["id"] == id {
                return msg;
            }
            self.pending.push_back(msg);
        }
    }

    /// The next diagnostics published for a file.
    fn diagnostics(&mut self, name: &str) -> Value {
        let uri = self.uri(name);
        let is_it = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        };
        if let Some(i) = self.pending.iter().position(is_it) {
            return self.pending.remove(i).unwrap()["params"]["diagnostics"].clone();
        }
        loop {
            let msg = self.recv();
            if is_it(&msg) {
                return msg["params"]["diagnostics"].clone();
            }
            self.pending.push_back(msg);
        }
    }

    /// Opens a file of the copy with its text on disk.
    fn open(&mut self, name: &str) -> String {
        let text = std::fs::read_to_string(self.path(name)).unwrap();
        self.open_text(name, &text);
        text
    }

    /// Opens a buffer with this text (the file need not exist).
    fn open_text(&mut self, name: &str, text: &str) {
        let uri = self.uri(name);
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": {
                "uri": uri, "languageId": "syncmap", "version": 1, "text": text
            }}),
        );
    }

    /// Replaces the text between two positions, as an editor sends a keystroke.
    fn edit(&mut self, name: &str, version: i32, range: Value, text: &str) {
        let uri = self.uri(name);
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{ "range": range, "text": text }],
            }),
        );
    }

    fn at(&self, name: &str, line: u32, character: u32) -> Value {
        json!({ "textDocument": { "uri": self.uri(name) }, "position": pos(line, character) })
    }

    /// `shutdown`, then `exit`: the server must stop with code 0.
    fn shutdown(mut self) {
        assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        self.notify("exit", Value::Null);
        let status = wait(&mut self.child);
        assert_eq!(status, Some(0), "exit code after shutdown and exit");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to [`TIMEOUT`] for the process to end.
fn wait(child: &mut Child) -> Option<i32> {
    let start = std::time::Instant::now();
    while start.elapsed() < TIMEOUT {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the server did not exit within {TIMEOUT:?}");
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn pos(line: u32, character: u32) -> Value {
    json!({ "line": line, "character": character })
}

fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Value {
    json!({ "start": pos(l1, c1), "end": pos(l2, c2) })
}

/// The text of a line of a file (0-based), to show what a position points at.
fn line_of(text: &str, line: usize) -> &str {
    text.lines().nth(line).unwrap()
}

/// The first line (0-based) holding `needle`, so tests do not break when lines move.
fn line_with(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line holds {needle:?}")) as u32
}

#[test]
fn a_standard_mapping_opens_without_diagnostics() {
    let mut c = Client::start();
    assert_eq!(c.init["capabilities"]["positionEncoding"], "utf-16");
    c.open("mappings/customers.map");
    assert_eq!(c.diagnostics("mappings/customers.map"), json!([]));
    c.shutdown();
}

#[test]
fn a_misspelt_column_is_reported_as_you_type_and_cleared_when_fixed() {
    let mut c = Client::start();
    let text = c.open("mappings/customers.map");
    assert_eq!(c.diagnostics("mappings/customers.map"), json!([]));

    // `    phoneNumber      <-> telephone1 [truncate]`; delete the `1`.
    let l = line_with(&text, "phoneNumber      <-> telephone1");
    assert_eq!(&line_of(&text, l as usize)[25..35], "telephone1");
    c.edit("mappings/customers.map", 2, range(l, 34, l, 35), "");
    assert_eq!(
        c.diagnostics("mappings/customers.map"),
        json!([{
            "range": range(l, 25, l, 34),
            "severity": 1,
            "code": "E0203",
            "source": "syncmap",
            "message": "unknown column `telephone` in `dv.accounts`\nhelp: did you mean `telephone1`?",
        }])
    );

    // Typing it back clears the diagnostic.
    c.edit("mappings/customers.map", 3, range(l, 34, l, 34), "1");
    assert_eq!(c.diagnostics("mappings/customers.map"), json!([]));
    c.shutdown();
}

#[test]
fn a_failing_inline_test_is_reported_like_check_does() {
    let mut c = Client::start();
    let text = c.open("mappings/currencies.map");
    assert_eq!(c.diagnostics("mappings/currencies.map"), json!([]));
    // `        isocurrencycode: "EUR",` in the first test's expectation: expect lower case.
    assert_eq!(&line_of(&text, 18)[26..29], "EUR");
    c.edit("mappings/currencies.map", 2, range(18, 26, 18, 29), "eur");
    let diags = c.diagnostics("mappings/currencies.map");
    assert_eq!(diags.as_array().unwrap().len(), 1, "{diags}");
    assert_eq!(diags[0]["code"], "E0501");
    assert_eq!(diags[0]["range"]["start"], pos(17, 4));
    assert_eq!(
        diags[0]["message"],
        "test `a currency becomes a transaction currency` failed: 1 field differs\n\
         help: expected (-) and actual (+):\n\
         - isocurrencycode  \"eur\"\n\
         + isocurrencycode  \"EUR\"\n\
         \x20 currencyname     \"Euro\"\n\
         \x20 currencysymbol   \"€\"\n\
         \x20 exchangerate     1"
    );
    c.shutdown();
}

#[test]
fn errors_in_an_imported_file_and_its_schema_are_published_for_that_file() {
    let mut c = Client::start();
    // `other/extra.map` (its own workspace) imports a file outside its folder whose system's
    // schema snapshot is not valid JSON.
    std::fs::create_dir(c.path("lib")).unwrap();
    std::fs::create_dir(c.path("other")).unwrap();
    std::fs::write(
        c.path("lib/broken.map"),
        "system bc: business_central { schema = \"bad.json\" }\n",
    )
    .unwrap();
    std::fs::write(
        c.path("lib/bad.json"),
        "{\"format_version\": 1, \"tables\": [}\n",
    )
    .unwrap();
    c.open_text(
        "other/extra.map",
        "import \"../lib/broken.map\"\n\ntable extra: bc.customers -> bc.vendors {\n    displayName -> displayName\n}\n",
    );
    assert_eq!(c.diagnostics("other/extra.map"), json!([]));
    assert_eq!(
        c.diagnostics("lib/broken.map"),
        json!([{
            "range": range(0, 39, 0, 49),
            "severity": 1,
            "code": "E0209",
            "source": "syncmap",
            "message": "schema `../lib/bad.json` cannot be used: expected value at line 1 column 34\nhelp: fix the file, or write it again with `syncmap schema import METADATA.xml -o FILE`",
            "relatedInformation": [{
                "location": { "uri": c.uri("lib/bad.json"), "range": range(0, 33, 0, 34) },
                "message": "the problem is here",
            }],
        }])
    );
    c.shutdown();
}

#[test]
fn completion_in_a_field_mapping_lists_the_columns_of_the_side() {
    let mut c = Client::start();
    let text = c.open("mappings/customers.map");
    c.diagnostics("mappings/customers.map");
    let labels = |result: &Value| -> Vec<String> {
        result
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_string())
            .collect()
    };

    // Right of `<->` in `    phoneNumber      <-> telephone1 [truncate]`: Dataverse account
    // columns only (the destination of a two-way field is a column).
    let l = line_with(&text, "phoneNumber      <-> telephone1");
    assert_eq!(&line_of(&text, l as usize)[25..28], "tel");
    let right = c.request(
        "textDocument/completion",
        c.at("mappings/customers.map", l, 28),
    );
    insta::assert_snapshot!("right_of_two_way_arrow", labels(&right).join("\n"));
    let telephone = right
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "telephone1")
        .unwrap();
    assert_eq!(telephone["detail"], "string(50)");
    assert_eq!(
        telephone["documentation"]["value"],
        "max length 50 · nullable\n\nMain phone."
    );

    // Start of the same line: Business Central customer columns, then functions, then the
    // keywords that start other clauses.
    let left = c.request(
        "textDocument/completion",
        c.at("mappings/customers.map", l, 6),
    );
    insta::assert_snapshot!("start_of_field_line", labels(&left).join("\n"));
    let blocked = left
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "blocked")
        .unwrap();
    assert_eq!(blocked["detail"], "enum");
    assert_eq!(
        blocked["documentation"]["value"],
        "nullable\n\nMembers:\n\n- `\" \"`\n- `\"Ship\"`\n- `\"Invoice\"`\n- `\"All\"`\n\n\
         Which transactions are blocked; \" \" when none."
    );
    c.shutdown();
}

#[test]
fn completion_offers_tables_after_a_system_and_labels_in_strings() {
    let mut c = Client::start();
    c.open_text("mappings/new.map", "table t: bc.\n");
    let tables = c.request("textDocument/completion", c.at("mappings/new.map", 0, 12));
    let names: Vec<&str> = tables
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"customers") && names.contains(&"salespeoplePurchasers"),
        "{names:?}"
    );

    // Inside `"` compared with an option column: its labels, replacing the string's contents.
    c.open_text(
        "mappings/labels.map",
        "table t: bc.customers -> dv.accounts {\n    filter dv: statecode == \"Ac\"\n}\n",
    );
    let labels = c.request(
        "textDocument/completion",
        c.at("mappings/labels.map", 1, 31),
    );
    assert_eq!(
        labels,
        json!([
            {
                "label": "Active", "kind": 20, "detail": "Active = 0", "sortText": "0000",
                "textEdit": { "range": range(1, 29, 1, 31), "newText": "Active" },
            },
            {
                "label": "Inactive", "kind": 20, "detail": "Inactive = 1", "sortText": "0001",
                "textEdit": { "range": range(1, 29, 1, 31), "newText": "Inactive" },
            },
        ])
    );
    c.shutdown();
}

#[test]
fn hover_explains_columns_functions_and_table_mappings() {
    let mut c = Client::start();
    let text = c.open("mappings/salespeople.map");
    c.diagnostics("mappings/salespeople.map");

    // Line 12: `    code        <- upper(left(replace(fullname, " ", ""), 20)) [create only]`
    let line = line_of(&text, 12);
    assert_eq!(&line[19..24], "upper");
    let upper = c.request(
        "textDocument/hover",
        c.at("mappings/salespeople.map", 12, 20),
    );
    assert_eq!(
        upper,
        json!({
            "contents": {
                "kind": "markdown",
                "value": "```syncmap\nupper(text: string) -> string\n```\nThe text in upper case. Null gives null.",
            },
            "range": range(12, 19, 12, 24),
        })
    );

    assert_eq!(&line[38..46], "fullname");
    let fullname = c.request(
        "textDocument/hover",
        c.at("mappings/salespeople.map", 12, 40),
    );
    assert_eq!(
        fullname,
        json!({
            "contents": {
                "kind": "markdown",
                "value": "```syncmap\ndv.systemusers.fullname: string(200)\n```\nmax length 200 · nullable · read-only\n\nFirst and last name combined (primary name).",
            },
            "range": range(12, 38, 12, 46),
        })
    );

    // The table mapping's name, where it is declared.
    let mapping = c.request("textDocument/hover", c.at("mappings/salespeople.map", 2, 8));
    assert_eq!(
        mapping["contents"]["value"],
        "```syncmap\ntable salespeople: bc.salespeoplePurchasers <- dv.systemusers\n```\nRecords flow from right to left.\n\
         SALESPEOPLE: Dataverse users → Business Central salespeople, one way. Only licensed, \
         enabled,\ninteractive users take part."
    );
    c.shutdown();
}

#[test]
fn hover_on_a_diagnostic_shows_its_explanation_page() {
    let mut c = Client::start();
    c.open_text(
        "mappings/bad.map",
        "table t: bc.customers -> dv.accounts {\n    displayNam -> name\n}\n",
    );
    let diags = c.diagnostics("mappings/bad.map");
    assert!(
        diags
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "E0203"),
        "{diags}"
    );
    let hover = c.request("textDocument/hover", c.at("mappings/bad.map", 1, 6));
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(value.starts_with("# E0203"), "{value}");
    assert_eq!(value, syncmap::diagnostics::Code::E0203.page().trim_end());
    c.shutdown();
}

#[test]
fn definition_of_a_via_table_and_of_an_import() {
    let mut c = Client::start();
    let text = c.open("mappings/customers.map");
    c.diagnostics("mappings/customers.map");

    // `    currencyCode    <-> transactioncurrencyid via currencies.code [clear on failure]`
    let l = line_with(&text, "currencyCode     <-> transactioncurrencyid via");
    assert_eq!(&line_of(&text, l as usize)[51..61], "currencies");
    let via = c.request(
        "textDocument/definition",
        c.at("mappings/customers.map", l, 53),
    );
    // `table currencies: …` is line 4 of currencies.map.
    assert_eq!(
        via,
        json!({ "uri": c.uri("mappings/currencies.map"), "range": range(3, 6, 3, 16) })
    );

    c.open_text("mappings/extra.map", "import \"systems.map\"\n");
    let import = c.request("textDocument/definition", c.at("mappings/extra.map", 0, 10));
    assert_eq!(
        import,
        json!({ "uri": c.uri("mappings/systems.map"), "range": range(0, 0, 0, 0) })
    );

    // A system's schema path goes to the snapshot.
    c.open("mappings/systems.map");
    let schema = c.request(
        "textDocument/definition",
        c.at("mappings/systems.map", 3, 50),
    );
    assert_eq!(
        schema,
        json!({ "uri": c.uri("mappings/schemas/business-central.json"), "range": range(0, 0, 0, 0) })
    );
    c.shutdown();
}

#[test]
fn formatting_rewrites_the_whole_buffer_and_leaves_broken_ones_alone() {
    let mut c = Client::start();
    let messy = "table   t : bc.customers->dv.accounts{\n  displayName->name [truncate]\n      number -> accountnumber\n}\n";
    c.open_text("mappings/messy.map", messy);
    let options = json!({ "tabSize": 4, "insertSpaces": true });
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": c.uri("mappings/messy.map") }, "options": options }),
    );
    assert_eq!(
        edits,
        json!([{
            "range": range(0, 0, 4, 0),
            "newText": "table t: bc.customers -> dv.accounts {\n    displayName -> name [truncate]\n    number      -> accountnumber\n}\n",
        }])
    );

    c.open_text("mappings/broken.map", "table t: bc.customers -> {\n");
    let none = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": c.uri("mappings/broken.map") }, "options": options }),
    );
    assert_eq!(none, Value::Null);
    c.shutdown();
}

#[test]
fn document_symbols_outline_tables_with_their_fields() {
    let mut c = Client::start();
    c.open("mappings/currencies.map");
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": c.uri("mappings/currencies.map") } }),
    );
    let outline: Vec<Value> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let children: Vec<&Value> = s["children"]
                .as_array()
                .map(|c| c.iter().map(|c| &c["name"]).collect())
                .unwrap_or_default();
            json!([s["name"], s["kind"], s["detail"], children])
        })
        .collect();
    assert_eq!(
        outline,
        vec![
            json!([
                "currencies",
                5,
                "bc.currencies -> dv.transactioncurrencies",
                [
                    "code -> isocurrencycode",
                    "displayName -> currencyname",
                    "symbol -> currencysymbol",
                    "1 -> exchangerate"
                ]
            ]),
            json!([
                "a currency becomes a transaction currency",
                6,
                "test of currencies",
                []
            ]),
            json!([
                "an existing rate is not overwritten on update",
                6,
                "test of currencies",
                []
            ]),
        ]
    );
    assert_eq!(symbols[0]["selectionRange"], range(3, 6, 3, 16));
    c.shutdown();
}

#[test]
fn utf8_positions_are_used_when_the_client_offers_them() {
    let mut c =
        Client::start_with(json!({ "general": { "positionEncodings": ["utf-8", "utf-16"] } }));
    c.open_text(
        "mappings/utf8.map",
        "table t: bc.customers -> dv.accounts {\n    \"é\" -> nme\n}\n",
    );
    assert_eq!(c.init["capabilities"]["positionEncoding"], "utf-8");
    let diags = c.diagnostics("mappings/utf8.map");
    let e0203 = diags
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "E0203")
        .unwrap();
    // `    "é" -> nme`: `nme` starts at byte 12 (UTF-16 unit 11).
    assert_eq!(e0203["range"], range(1, 12, 1, 15));
    c.shutdown();
}

#[test]
fn an_import_outside_the_client_folder_is_not_read() {
    let mut c = Client::start();
    c.open_text(
        "mappings/evil.map",
        "import \"/etc/passwd\"\nimport \"../../outside.map\"\n",
    );
    let diags = c.diagnostics("mappings/evil.map");
    let codes: Vec<&str> = diags
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["E0215", "E0215"], "{diags}");
    assert!(!diags.to_string().contains("root:"), "{diags}");
    c.shutdown();
}

#[test]
fn a_hundred_thousand_nested_parentheses_are_e0106_not_a_crash() {
    let mut c = Client::start();
    let deep = format!(
        "table t: a.p -> b.q {{\n    {}x{} -> y\n}}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    c.open_text("mappings/deep.map", &deep);
    let diags = c.diagnostics("mappings/deep.map");
    assert_eq!(diags[0]["code"], "E0106", "{diags}");
    // The server is still there and answers.
    c.shutdown();
}

#[test]
fn a_misspelt_name_and_a_stray_comma_have_quick_fixes() {
    let mut c = Client::start();
    c.open_text(
        "mappings/typo.map",
        "table t: bc.customers -> dv.accounts {\n    displayNam -> name\n}\n",
    );
    c.diagnostics("mappings/typo.map");
    let actions = c.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": c.uri("mappings/typo.map") },
            "range": range(1, 6, 1, 6),
            "context": { "diagnostics": [] },
        }),
    );
    let fix = &actions[0];
    assert_eq!(fix["title"], "did you mean `displayName`?", "{actions}");
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["isPreferred"], true);
    let edits = &fix["edit"]["changes"][c.uri("mappings/typo.map").as_str()];
    assert_eq!(
        edits,
        &json!([{ "range": range(1, 4, 1, 14), "newText": "displayName" }]),
        "{actions}"
    );
    // Nothing is offered away from the diagnostic.
    let elsewhere = c.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": c.uri("mappings/typo.map") },
            "range": range(0, 0, 0, 3),
            "context": { "diagnostics": [] },
        }),
    );
    assert_eq!(elsewhere, json!([]));

    c.open_text(
        "mappings/comma.map",
        "table u: bc.customers -> dv.accounts {\n    displayName -> name,\n    city -> address1_city\n}\n",
    );
    c.diagnostics("mappings/comma.map");
    let actions = c.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": c.uri("mappings/comma.map") },
            "range": range(1, 0, 1, 24),
            "context": { "diagnostics": [] },
        }),
    );
    let edits = &actions[0]["edit"]["changes"][c.uri("mappings/comma.map").as_str()];
    assert_eq!(
        edits,
        &json!([{ "range": range(1, 23, 1, 24), "newText": "" }]),
        "{actions}"
    );
    c.shutdown();
}

#[test]
fn references_and_rename_reach_every_use_of_a_table_mapping_and_a_system() {
    let mut c = Client::start();
    let text = c.open("mappings/customers.map");
    c.diagnostics("mappings/customers.map");
    // `    currencyCode    <-> transactioncurrencyid via currencies.code [clear on failure]`
    let l = line_with(&text, "currencyCode     <-> transactioncurrencyid via");
    let at = c.at("mappings/customers.map", l, 52);
    let mut params = at.clone();
    params["context"] = json!({ "includeDeclaration": true });
    let refs = c.request("textDocument/references", params.clone());
    let places: BTreeSet<(String, u64)> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let uri = r["uri"].as_str().unwrap();
            let file = uri.rsplit('/').next().unwrap().to_string();
            (file, r["range"]["start"]["line"].as_u64().unwrap())
        })
        .collect();
    let files: BTreeSet<&str> = places.iter().map(|(f, _)| f.as_str()).collect();
    // Declared in currencies.map; used by customers and vendors (`via`, `after`) and the jobs.
    for f in ["currencies.map", "customers.map", "vendors.map", "jobs.map"] {
        assert!(files.contains(f), "{f} missing from {places:?}");
    }
    params["context"] = json!({ "includeDeclaration": false });
    let without = c.request("textDocument/references", params);
    assert_eq!(
        without.as_array().unwrap().len() + 1,
        refs.as_array().unwrap().len(),
        "the declaration is the one place left out"
    );

    // A table mapping's couplings are kept under its name: renaming it here is refused.
    let mut rename = at;
    rename["newName"] = json!("money");
    let refused = c.answer("textDocument/rename", rename);
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("state store")),
        "{refused}"
    );

    // A user function is renamed where it is declared and wherever it is called.
    let contacts = c.open("mappings/contacts.map");
    c.diagnostics("mappings/contacts.map");
    let decl = line_with(&contacts, "fn first_name(");
    let mut rename = c.at("mappings/contacts.map", decl, 4);
    rename["newName"] = json!("given_name");
    let edit = c.request("textDocument/rename", rename.clone());
    let edits: Vec<&Value> = edit["changes"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|e| e.as_array().unwrap())
        .collect();
    let calls = contacts.matches("first_name(").count();
    assert_eq!(edits.len(), calls, "{edit}");
    assert!(edits.iter().all(|e| e["newText"] == "given_name"));
    // Not to a name that is taken (another function, or a built-in one).
    for taken in ["last_name", "upper", ""] {
        rename["newName"] = json!(taken);
        assert!(
            c.answer("textDocument/rename", rename.clone())
                .get("error")
                .is_some(),
            "{taken}"
        );
    }

    // A system: its declaration, `bc.customers`, and the side named by it (`filter bc:`).
    let l = line_with(&text, "filter bc:");
    let col = line_of(&text, l as usize).find("bc").unwrap() as u32;
    let mut params = c.at("mappings/customers.map", l, col);
    params["context"] = json!({ "includeDeclaration": true });
    let refs = c.request("textDocument/references", params);
    let at = |file: &str, line: u32| {
        refs.as_array().unwrap().iter().any(|r| {
            r["uri"].as_str().unwrap().ends_with(file) && r["range"]["start"]["line"] == line
        })
    };
    let table_line = line_with(&text, "table customers: bc.customers");
    assert!(at("customers.map", l), "{refs}");
    assert!(at("customers.map", table_line), "{refs}");
    assert!(
        at(
            "systems.map",
            line_with(&c.open("mappings/systems.map"), "system bc")
        ),
        "{refs}"
    );
    c.shutdown();
}

#[test]
fn semantic_tokens_tell_mappings_columns_functions_and_systems_apart() {
    let mut c = Client::start();
    let text =
        "table t: bc.customers -> dv.accounts {\n    upper(displayName) -> name // shout\n}\n";
    c.open_text("mappings/colours.map", text);
    c.diagnostics("mappings/colours.map");
    let legend = c.init["capabilities"]["semanticTokensProvider"]["legend"]["tokenTypes"].clone();
    let r = c.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": c.uri("mappings/colours.map") } }),
    );
    let data: Vec<u64> = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    // Back to (line, column, length, type name) from the protocol's deltas.
    let (mut line, mut col) = (0, 0);
    let mut seen = Vec::new();
    for t in data.chunks(5) {
        line += t[0];
        col = if t[0] == 0 { col + t[1] } else { t[1] };
        let word: String = text.lines().nth(line as usize).unwrap()[col as usize..]
            .chars()
            .take(t[2] as usize)
            .collect();
        seen.push((word, legend[t[3] as usize].as_str().unwrap().to_string()));
    }
    let kind = |w: &str| {
        seen.iter()
            .find(|(word, _)| word == w)
            .map(|(_, k)| k.as_str())
    };
    assert_eq!(kind("table"), Some("keyword"), "{seen:?}");
    assert_eq!(kind("t"), Some("class"), "{seen:?}");
    assert_eq!(kind("bc"), Some("namespace"), "{seen:?}");
    assert_eq!(kind("customers"), Some("type"), "{seen:?}");
    assert_eq!(kind("upper"), Some("function"), "{seen:?}");
    assert_eq!(kind("displayName"), Some("property"), "{seen:?}");
    assert_eq!(kind("->"), Some("operator"), "{seen:?}");
    assert_eq!(kind("// shout"), Some("comment"), "{seen:?}");
    c.shutdown();
}
