//! Profiles (`syncmap.toml`): where each system and the state store live, and how to
//! authenticate. Secrets never go in the file: `*_env` settings name environment variables that
//! are read when a connector needs them, and `${NAME}` in any string value is replaced by the
//! environment variable `NAME` when the profile is loaded.
//!
//! A file holds one profile (top-level `[state]`, `[systems.NAME]`, `[run]`) or several named ones
//! (`[profiles.NAME.state]`, `[profiles.NAME.systems.X]`, …), chosen with `--env NAME`.
//!
//! Nothing read from the environment is ever printed: `Debug` shows the file's text (`${NAME}`,
//! not its value), errors name variables and never their values, and secrets come back wrapped
//! in [`Secret`], whose `Debug` and `Display` print `***`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod companies;
mod events;
mod file;
mod transport;

pub use companies::{Company, CompanyColumn};
pub use events::{ListenConfig, PollConfig};

/// The environment variable that selects a named profile when `--env` is not given.
pub const ENV_VAR: &str = "SYNCMAP_ENV";

/// The profile used when a file has `[profiles]` and none is selected.
pub const DEFAULT_PROFILE: &str = "default";

/// A loaded profile, with every `${NAME}` replaced.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The selected `[profiles.NAME]`, or `None` for a file with one unnamed profile.
    pub name: Option<String>,
    /// Where the state store lives.
    pub state: StateConfig,
    /// Connection details by system alias.
    pub systems: BTreeMap<String, SystemConfig>,
    /// Tuning of runs.
    pub run: RunConfig,
    /// Where `syncmap schedule` serves Business Central's webhook notifications, if it does.
    pub listen: Option<ListenConfig>,
    /// How often `syncmap schedule` probes Dataverse's change tracking between runs.
    pub poll: PollConfig,
    /// The folder of the profile file: relative paths in it are taken from here.
    pub base: PathBuf,
}

/// `[state]`.
#[derive(Clone)]
pub struct StateConfig {
    /// `sqlite://PATH`.
    pub url: String,
    /// The URL as written, for `Debug`.
    written: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            url: default_state_url(),
            written: default_state_url(),
        }
    }
}

impl fmt::Debug for StateConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text of the file, not the expanded URL: `${…}` may hold a password.
        f.debug_struct("StateConfig")
            .field("url", &self.written)
            .finish()
    }
}

fn default_state_url() -> String {
    "sqlite://.syncmap/state.db".into()
}

/// `[systems.NAME]`.
#[derive(Clone)]
pub struct SystemConfig {
    /// The system alias (`NAME`), for messages.
    pub name: String,
    /// `sqlite://PATH` or the service's base URL.
    pub url: String,
    /// The company, for services that hold several (Business Central).
    pub company: Option<String>,
    /// The companies one plan syncs, one after another, instead of one `company`.
    pub companies: Vec<Company>,
    /// The column that says which company a row belongs to (Dataverse's company id), when
    /// each company keeps to its own rows.
    pub company_column: Option<CompanyColumn>,
    /// How to authenticate.
    pub auth: Auth,
    /// How the HTTP connectors talk to the service.
    pub http: HttpSettings,
    /// The settings as written, for `Debug`.
    written: Box<Written>,
}

/// How an HTTP connector talks to its service: `[systems.NAME]` settings besides `url`,
/// `company` and `auth`. None of them is secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Requests in flight at once, at most.
    pub concurrency: usize,
    /// Writes per `$batch` request; the service's own limit when absent (Dataverse 1000,
    /// Business Central 100); `1` sends one request per write.
    pub batch_size: Option<usize>,
    /// Seconds before a request is given up (and retried).
    pub timeout_secs: u64,
    /// Retries of a throttled or failed request before the record fails for this run.
    pub max_retries: u32,
    /// A Business Central custom API route, `publisher/group/version`, instead of API v2.0.
    pub api: Option<String>,
    /// How writes travel; the kind's own way when absent (multipart for Dataverse, JSON for
    /// Business Central and other OData services).
    pub batch: Option<BatchMode>,
    /// Whether to speak `IEEE754Compatible=true`: decimals written as JSON strings, so
    /// services (and proxies) that parse JSON numbers as doubles keep every digit.
    pub ieee754_compatible: bool,
    /// Whether creates carry the key they make the row with, so a create resent after a lost
    /// answer finds its row instead of making a second; the kind's own way when absent
    /// (Dataverse yes; Business Central no, its `id` is read-only; other OData services no).
    pub client_keys: Option<bool>,
    /// Whether creates may travel in Dataverse's bulk action `CreateMultiple` where the run
    /// needs no version of the rows they make (a mapping that flows one way, with nothing
    /// flowing back); Dataverse's default is yes, and other kinds have no such action.
    pub bulk_creates: Option<bool>,
    /// The service's request budget, which requests are paced to stay within; the kind's
    /// documented limit when absent (Dataverse and Business Central: 6,000 requests per five
    /// minutes), [`RateLimit::Off`] for none.
    pub rate_limit: Option<RateLimit>,
    /// How modified-only runs find what changed.
    pub changes: ChangeReads,
}

/// `changes = "modified_on" | "tracking"`: how modified-only runs find a system's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReads {
    /// Rows whose modified-on is after the last run's (the reference's way).
    #[default]
    ModifiedOn,
    /// The system's own record of changes (Dataverse change tracking), deletions included;
    /// tables whose changes the system does not track are read by modified-on.
    Tracking,
}

/// `rate_limit = { requests = 6000, seconds = 300 }` or `rate_limit = false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// Requests are not paced (a 429 is still waited out).
    Off,
    /// At most `requests` in any window of `seconds`.
    Budget {
        /// Requests per window.
        requests: u32,
        /// The window, in seconds.
        seconds: u64,
    },
}

/// `batch = "json" | "multipart" | "none"`: how a system's writes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchMode {
    /// JSON `$batch` (OData 4.01).
    Json,
    /// `multipart/mixed` `$batch` (OData 4.0).
    Multipart,
    /// One request per write.
    None,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            concurrency: default_concurrency(),
            batch_size: None,
            timeout_secs: default_timeout(),
            max_retries: default_retries(),
            api: None,
            batch: None,
            ieee754_compatible: false,
            client_keys: None,
            bulk_creates: None,
            rate_limit: None,
            changes: ChangeReads::ModifiedOn,
        }
    }
}

fn default_concurrency() -> usize {
    4
}

fn default_timeout() -> u64 {
    60
}

fn default_retries() -> u32 {
    6
}

/// A system's settings before `${…}` expansion.
#[derive(Clone, Debug)]
struct Written {
    url: String,
    company: Option<String>,
    auth: Auth,
}

impl fmt::Debug for SystemConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text of the file, not the expanded values: `${…}` may hold anything.
        f.debug_struct("SystemConfig")
            .field("name", &self.name)
            .field("url", &self.written.url)
            .field("company", &self.written.company)
            .field("companies", &self.companies)
            .field("company_column", &self.company_column)
            .field("auth", &self.written.auth)
            .finish()
    }
}

/// How a system authenticates. Secrets are not here: only the names of the environment
/// variables that hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No authentication (local databases, the sandbox).
    None,
    /// OAuth 2.0 client credentials (Business Central, Dataverse).
    ClientCredentials {
        /// The token endpoint.
        token_url: String,
        /// The application (client) id.
        client_id: String,
        /// The environment variable holding the client secret.
        client_secret_env: String,
        /// The scope asked for, if the service needs one.
        scope: Option<String>,
    },
    /// A fixed bearer token.
    Bearer {
        /// The environment variable holding the token.
        token_env: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The environment variable holding the password.
        password_env: String,
    },
}

impl Auth {
    /// The `kind` as written in the profile.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::ClientCredentials { .. } => "client_credentials",
            Auth::Bearer { .. } => "bearer",
            Auth::Basic { .. } => "basic",
        }
    }

    /// The environment variable holding the secret, and what the secret is.
    pub fn secret_env(&self) -> Option<(&str, &'static str)> {
        match self {
            Auth::None => None,
            Auth::ClientCredentials {
                client_secret_env, ..
            } => Some((client_secret_env, "client secret")),
            Auth::Bearer { token_env } => Some((token_env, "bearer token")),
            Auth::Basic { password_env, .. } => Some((password_env, "password")),
        }
    }
}

/// A secret read from the environment. It prints as `***`; [`Secret::expose`] gives the value
/// to the code that sends it, and nothing else should call it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret: read from the environment, obtained from a token endpoint, or generated (the
    /// demo's sandbox secret). It is registered with [`crate::redact`].
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        // Known from now on, so a service that echoes it back cannot make syncmap print it.
        crate::redact::register(&value);
        Secret(value)
    }

    /// The secret's value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a system's secret is not available.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The variable is not set.
    #[error(
        "environment variable `{variable}` is not set; it holds the {what} of system `{system}`"
    )]
    Unset {
        /// The variable's name.
        variable: String,
        /// What it holds.
        what: &'static str,
        /// The system alias.
        system: String,
    },
    /// The variable is set but empty.
    #[error(
        "environment variable `{variable}` is empty; it holds the {what} of system `{system}`"
    )]
    Empty {
        /// The variable's name.
        variable: String,
        /// What it holds.
        what: &'static str,
        /// The system alias.
        system: String,
    },
}

impl SystemConfig {
    /// The system's secret (client secret, bearer token or password), read from the environment
    /// now so a changed secret is picked up; `None` for `auth = { kind = "none" }`.
    pub fn secret(&self) -> Result<Option<Secret>, SecretError> {
        self.secret_from(&|name| std::env::var(name).ok())
    }

    fn secret_from(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, SecretError> {
        let Some((variable, what)) = self.auth.secret_env() else {
            return Ok(None);
        };
        match env(variable) {
            None => Err(SecretError::Unset {
                variable: variable.into(),
                what,
                system: self.name.clone(),
            }),
            // Some services take basic auth with an empty password: set but empty is a choice
            // there. Everywhere else it is a mistake.
            Some(v) if v.is_empty() && !matches!(self.auth, Auth::Basic { .. }) => {
                Err(SecretError::Empty {
                    variable: variable.into(),
                    what,
                    system: self.name.clone(),
                })
            }
            Some(v) => Ok(Some(Secret::new(v))),
        }
    }
}

/// `[run]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Rows read per page.
    #[serde(default = "default_page")]
    pub page_size: usize,
    /// Rows processed (and written) per batch.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// How many runs' write logs (`syncmap log --run ID`) the state store keeps: the newest
    /// (of each company, when the profile names several); older ones are pruned as a run
    /// starts. Runs and their counts are kept regardless.
    #[serde(default = "default_history_runs")]
    pub history_runs: usize,
    /// A pass reads only keys and versions first (and the rest by key, where needed) when the
    /// other direction wrote at least this many rows in the run; 0 never does.
    #[serde(default = "default_versions_first_from")]
    pub versions_first_from: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            page_size: default_page(),
            batch_size: default_batch(),
            history_runs: default_history_runs(),
            versions_first_from: default_versions_first_from(),
        }
    }
}

fn default_history_runs() -> usize {
    50
}

fn default_versions_first_from() -> u64 {
    // Below a thousand rows, what the narrower read saves is a few requests' worth of bytes.
    1000
}

fn default_page() -> usize {
    1000
}
fn default_batch() -> usize {
    // A batch is a commit of the state store and of a local system: 500 rows spread each
    // commit's cost (its sync to disk above all) well while memory stays small; a service's
    // write limit splits it further where needed.
    500
}

/// Why a profile could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("cannot read profile `{path}`: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid profile.
    #[error("profile `{path}` is not valid: {message}")]
    Invalid {
        /// The path.
        path: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// `--profile NAME` names neither a file nor a profile of `syncmap.toml`.
    #[error("--profile `{name}` is no file, and {default} has no [profiles.{name}] section{hint}")]
    NoSuchProfile {
        /// The name given.
        name: String,
        /// The file searched for a profile of that name.
        default: String,
        /// `; did you mean …` when a file or profile of a close name exists.
        hint: String,
    },
    /// A `${NAME}` names an environment variable that is not set.
    #[error("profile `{path}` line {line}: environment variable `{variable}` is not set (used as `${{{variable}}}`)")]
    MissingVariable {
        /// The path.
        path: String,
        /// The line of the string using it, from 1.
        line: usize,
        /// The variable's name.
        variable: String,
    },
}

/// A problem found while parsing, before the file's path is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not a valid profile.
    Invalid(String),
    /// A `${NAME}` whose variable is not set, on this line.
    MissingVariable {
        /// The line, from 1.
        line: usize,
        /// The variable.
        variable: String,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Invalid(m) => f.write_str(m),
            ParseError::MissingVariable { line, variable } => write!(
                f,
                "line {line}: environment variable `{variable}` is not set"
            ),
        }
    }
}

impl ParseError {
    fn with_path(self, path: &Path) -> ProfileError {
        let path = path.display().to_string();
        match self {
            ParseError::Invalid(message) => ProfileError::Invalid { path, message },
            ParseError::MissingVariable { line, variable } => ProfileError::MissingVariable {
                path,
                line,
                variable,
            },
        }
    }
}

impl Profile {
    /// Reads a profile file; in a file with `[profiles]`, the one `$SYNCMAP_ENV` names, or
    /// `default`.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        Self::load_env(path, None)
    }

    /// Reads a profile file, selecting `[profiles.NAME]` by `env`, else by `$SYNCMAP_ENV`, else
    /// `default`. A file without `[profiles]` takes no name.
    ///
    /// `--profile prod`, a bare name that is no file, selects `[profiles.prod]` of the
    /// `syncmap.toml` in the current folder (when `env` names none).
    pub fn load_env(path: &Path, env: Option<&str>) -> Result<Profile, ProfileError> {
        let named = path
            .to_str()
            .filter(|n| env.is_none() && !path.exists() && file::is_profile_name(n))
            .map(str::to_string);
        let default_file = Path::new("syncmap.toml");
        let (path, env) = match &named {
            Some(name) if default_file.exists() => (default_file, Some(name.as_str())),
            _ => (path, env),
        };
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let from_env = std::env::var(ENV_VAR).ok().filter(|v| !v.is_empty());
        let name = env.map(str::to_string).or(from_env);
        let parsed = Self::parse_with(&text, name.as_deref(), &|n| std::env::var(n).ok());
        let mut p = match (parsed, &named) {
            // `--profile NAME` was taken for a profile of syncmap.toml because no file has
            // that name; say so, rather than blame `--env`, and point at a file that does exist.
            (Err(ParseError::Invalid(why)), Some(n)) => {
                let file = format!("{n}.toml");
                // The profiles the file does have (and a close one), as `select` words them.
                let has = why
                    .split_once("; the file has: ")
                    .map(|(_, rest)| format!("; it has {rest}"))
                    .unwrap_or_default();
                let hint = if Path::new(&file).is_file() {
                    format!("{has}; did you mean `--profile {file}`?")
                } else {
                    has
                };
                return Err(ProfileError::NoSuchProfile {
                    name: n.clone(),
                    default: default_file.display().to_string(),
                    hint,
                });
            }
            (parsed, _) => parsed.map_err(|e| e.with_path(path))?,
        };
        p.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(p)
    }

    /// Parses profile text, expanding `${NAME}` from the process environment.
    pub fn parse(text: &str) -> Result<Profile, String> {
        Self::parse_with(text, None, &|n| std::env::var(n).ok()).map_err(|e| e.to_string())
    }

    /// Parses profile text: selects the profile `name` (see [`Profile::load_env`]) and expands
    /// `${NAME}` with `env`.
    pub fn parse_with(
        text: &str,
        name: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Profile, ParseError> {
        file::profile(text, name, env)
    }

    /// The state store URL with a relative SQLite path taken from the profile's folder.
    pub fn state_url(&self) -> String {
        match self.state.url.strip_prefix("sqlite://") {
            Some(p) if !Path::new(p).is_absolute() => {
                format!("sqlite://{}", self.base.join(p).display())
            }
            _ => self.state.url.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
