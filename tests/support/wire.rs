//! Both sandboxes started in the test's process, a folder with a profile for them and the
//! standard mappings (`maps/`), and the real `syncmap` binary run against them over HTTP: the
//! services choose Business Central's keys, answer with their own ETags, page with next links and
//! can lose answers after doing the work. What a test checks it reads back through the
//! services' APIs (as a person would) and from the state store's file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;
use syncmap::sandbox::person::{Person, Service};
use syncmap::sandbox::{AuthConfig, Sandbox, SandboxConfig, Seed};
use syncmap::state::Counts;

/// The variable the profiles name for the client secret.
pub const SECRET_ENV: &str = "SYNCMAP_TEST_SECRET";

/// The sandboxes, the folder and the runtime serving them while the test thread waits.
pub struct Wire {
    /// Serves the sandboxes (and the test's own requests).
    pub rt: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    dir: tempfile::TempDir,
    /// The client secret both services accept; no output may hold it.
    pub secret: String,
}

impl Wire {
    /// Empty sandboxes (`tune` may change that), the standard mappings in `maps/`.
    pub fn start(tune: impl FnOnce(&mut SandboxConfig)) -> Wire {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let secret = format!("s3cr3t-{}", uuid::Uuid::new_v4().simple());
        let mut config = SandboxConfig {
            seed: Seed::Empty,
            auth: AuthConfig {
                client_secret: secret.clone(),
                ..AuthConfig::default()
            },
            ..SandboxConfig::default()
        };
        tune(&mut config);
        let sandbox = rt.block_on(Sandbox::start(config)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let w = Wire {
            rt,
            sandbox: Some(sandbox),
            dir,
            secret,
        };
        w.write_profile("");
        let init = w.command(&["init", "--defaults", "maps"]).output().unwrap();
        assert!(init.status.success(), "{}", text(&init.stderr));
        w
    }

    /// Writes `syncmap.toml` for the sandboxes, with `extra` after it (a `[run]` section, or a
    /// state store of its own).
    pub fn write_profile(&self, extra: &str) {
        let profile = format!("{}\n{extra}", self.sandbox().profile_toml(SECRET_ENV));
        std::fs::write(self.path().join("syncmap.toml"), profile).unwrap();
    }

    /// Rewrites the profile so requests are not paced to the sandbox's budget: the client
    /// meets its throttling as 429s, as one that was not told the budget does.
    pub fn without_pacing(&self) {
        let path = self.path().join("syncmap.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("rate_limit = ") {
                    "rate_limit = false"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&path, text + "\n").unwrap();
    }

    /// The running sandboxes.
    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().unwrap()
    }

    /// The test's folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The mappings the runs use.
    pub fn maps(&self) -> PathBuf {
        self.path().join("maps")
    }

    /// The state store's file.
    pub fn state_path(&self) -> PathBuf {
        self.path().join(".syncmap").join("state.db")
    }

    /// A folder of mappings beside `maps/`: the standard systems and snapshots, and `files`
    /// (name, text) instead of the standard table mappings.
    pub fn project(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.path().join(name);
        std::fs::create_dir_all(dir.join("schemas")).unwrap();
        for f in [
            "systems.map",
            "schemas/business-central.json",
            "schemas/dataverse.json",
        ] {
            std::fs::copy(self.maps().join(f), dir.join(f)).unwrap();
        }
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir
    }

    /// `syncmap ARGS --plan PLAN --profile syncmap.toml` to its end; no output may hold the
    /// secret or a token.
    pub fn syncmap_with(&self, plan: &Path, args: &[&str]) -> Output {
        self.syncmap_as(plan, "syncmap.toml", args)
    }

    /// `syncmap ARGS --plan maps --profile PROFILE` to its end, as [`Wire::syncmap_with`].
    pub fn syncmap_in(&self, profile: &str, args: &[&str]) -> Output {
        self.syncmap_as(&self.maps(), profile, args)
    }

    fn syncmap_as(&self, plan: &Path, profile: &str, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .arg("--plan")
            .arg(plan)
            .args(["--profile", profile])
            .output()
            .unwrap();
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !all.contains(&self.secret),
            "the secret appeared in {args:?}"
        );
        // Every token the sandboxes issue starts so.
        assert!(!all.contains("sbx."), "a token appeared in {args:?}");
        out
    }

    /// The binary, in the test folder, with the secret in its environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_syncmap"));
        c.args(args)
            .env(SECRET_ENV, &self.secret)
            .env_remove("SYNCMAP_ENV")
            .env_remove("SYNCMAP_LOG")
            .current_dir(self.path());
        c
    }

    /// `syncmap ARGS --plan maps --profile syncmap.toml`, as a command to start.
    pub fn syncmap_command(&self, args: &[&str]) -> Command {
        let mut c = self.command(args);
        c.args(["--plan", "maps", "--profile", "syncmap.toml"]);
        c
    }

    /// Runs `syncmap ARGS --plan maps --profile syncmap.toml` to its end; no output may hold the
    /// secret.
    pub fn syncmap(&self, args: &[&str]) -> Output {
        self.syncmap_with(&self.maps(), args)
    }

    /// `syncmap run --json ARGS`, which must go through (exit 0 or 1: some records may fail);
    /// its report.
    pub fn run(&self, args: &[&str]) -> Json {
        self.run_with(&self.maps(), args)
    }

    /// `syncmap run --json ARGS` of the mappings in `plan`, as [`Wire::run`].
    pub fn run_with(&self, plan: &Path, args: &[&str]) -> Json {
        let mut all = vec!["run", "--json"];
        all.extend_from_slice(args);
        let out = self.syncmap_with(plan, &all);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "syncmap {all:?} failed:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Someone using the systems' own apps (Dataverse changes made as an ordinary user).
    pub fn person(&self) -> Person<'_> {
        Person::new(self.sandbox(), &self.secret)
    }

    /// Every row of a table of a service, following next links.
    pub fn rows(&self, service: Service, table: &str) -> Vec<Json> {
        self.rt
            .block_on(self.person().rows(service, table))
            .unwrap()
    }

    /// Creates rows as a person would, several requests at a time; the rows as stored.
    pub fn create_many(&self, service: Service, table: &str, bodies: Vec<Json>) -> Vec<Json> {
        self.create_many_as(self.person(), service, table, bodies)
    }

    /// [`Wire::create_many`] in one Business Central company, by name.
    pub fn create_many_in(&self, company: &str, table: &str, bodies: Vec<Json>) -> Vec<Json> {
        let person = self.person().in_company(company);
        self.create_many_as(person, Service::BusinessCentral, table, bodies)
    }

    /// Every row of a table of one Business Central company, by name.
    pub fn rows_in(&self, company: &str, table: &str) -> Vec<Json> {
        let person = self.person().in_company(company);
        self.rt
            .block_on(person.rows(Service::BusinessCentral, table))
            .unwrap()
    }

    fn create_many_as(
        &self,
        person: Person<'_>,
        service: Service,
        table: &str,
        bodies: Vec<Json>,
    ) -> Vec<Json> {
        self.rt.block_on(async {
            let mut out = Vec::with_capacity(bodies.len());
            for chunk in bodies.chunks(16) {
                let made = futures_util::future::join_all(
                    chunk
                        .iter()
                        .map(|b| person.create(service, table, b.clone())),
                )
                .await;
                for m in made {
                    out.push(m.unwrap());
                }
            }
            out
        })
    }

    /// Changes a row the way a person would.
    pub fn patch(&self, service: Service, table: &str, key: &str, body: Json) {
        self.rt
            .block_on(self.person().patch(service, table, key, body))
            .unwrap();
    }

    /// A client-credentials token of one service, as a client outside syncmap gets it.
    pub async fn token(&self, http: &reqwest::Client, service: Service) -> String {
        let s = self.sandbox();
        let url = match service {
            Service::Dataverse => s.dv_token_url(),
            Service::BusinessCentral => s.bc_token_url(),
        };
        let token: Json = http
            .post(url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", s.auth().client_id.as_str()),
                ("client_secret", self.secret.as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        token["access_token"].as_str().unwrap().to_string()
    }

    /// The state store, read directly.
    pub fn state(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.state_path()).unwrap()
    }

    /// One number from the state store.
    pub fn state_count(&self, sql: &str) -> i64 {
        self.state().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        if let Some(s) = self.sandbox.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

/// Bytes as text, for messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// How many times each value occurs: a duplicate shows as a count of 2, a loss as a missing key,
/// so comparing two of these compares multisets (a subset check would miss both).
pub fn multiset<I: IntoIterator<Item = String>>(items: I) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in items {
        *out.entry(i).or_insert(0) += 1;
    }
    out
}

/// A text field of a row as the service sent it (`""` for null).
pub fn field(row: &Json, name: &str) -> String {
    row[name].as_str().unwrap_or_default().to_string()
}

/// Totals of a run report's counts over its passes, read as the engine's own `Counts`.
pub fn totals(report: &Json) -> Counts {
    let mut out = Counts::default();
    for p in report["tables"].as_array().into_iter().flatten() {
        out.add(&serde_json::from_value(p.clone()).unwrap());
    }
    out
}
