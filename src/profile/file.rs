//! The profile file as written, and how it becomes a [`Profile`]: selecting a named profile,
//! expanding `${NAME}` and checking each system's settings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{
    transport, Auth, BatchMode, ChangeReads, HttpSettings, ListenConfig, ParseError, PollConfig,
    Profile, RateLimit, RunConfig, StateConfig, SystemConfig, Written, DEFAULT_PROFILE, ENV_VAR,
};

/// The whole file: one unnamed profile, or `[profiles.NAME]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    state: Option<RawState>,
    systems: Option<BTreeMap<String, RawSystem>>,
    run: Option<RunConfig>,
    listen: Option<ListenConfig>,
    poll: Option<PollConfig>,
    profiles: Option<BTreeMap<String, RawProfile>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    state: Option<RawState>,
    #[serde(default)]
    systems: BTreeMap<String, RawSystem>,
    #[serde(default)]
    run: RunConfig,
    listen: Option<ListenConfig>,
    #[serde(default)]
    poll: PollConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    url: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    url: Spanned<String>,
    company: Option<Spanned<String>>,
    companies: Option<Vec<super::companies::RawCompany>>,
    company_column: Option<super::companies::RawCompanyColumn>,
    auth: Option<RawAuth>,
    concurrency: Option<usize>,
    batch_size: Option<usize>,
    timeout_secs: Option<u64>,
    max_retries: Option<u32>,
    api: Option<String>,
    batch: Option<BatchMode>,
    ieee754_compatible: Option<bool>,
    client_keys: Option<bool>,
    bulk_creates: Option<bool>,
    rate_limit: Option<RawRateLimit>,
    changes: Option<ChangeReads>,
}

/// The longest request-budget window a profile may give: a day. Services count in minutes;
/// the bound keeps window arithmetic far from overflowing.
const MAX_RATE_WINDOW_SECS: u64 = 86_400;

/// `rate_limit = false` (or `true`, the kind's own budget) or `{ requests, seconds }`.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "`rate_limit = false` or `rate_limit = { requests = N, seconds = S }`"
)]
enum RawRateLimit {
    Switch(bool),
    Budget { requests: u32, seconds: u64 },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    kind: Spanned<String>,
    token_url: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    client_secret_env: Option<Spanned<String>>,
    scope: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
}

/// Parses profile text: selects the profile `name` and expands `${NAME}` with `env`.
pub(super) fn profile(
    text: &str,
    name: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Profile, ParseError> {
    let doc: FileDoc = toml::from_str(text).map_err(|e| ParseError::Invalid(e.to_string()))?;
    let (selected, raw) = select(doc, name)?;
    let x = Expander { text, env };
    let state = match raw.state.and_then(|s| s.url) {
        Some(url) => StateConfig {
            url: x.expand(&url)?,
            written: url.into_inner(),
        },
        None => StateConfig::default(),
    };
    let mut systems = BTreeMap::new();
    for (alias, s) in raw.systems {
        let config = system(&x, &alias, s)?;
        systems.insert(alias, config);
    }
    if raw.run.page_size == 0 || raw.run.batch_size == 0 {
        return Err(ParseError::Invalid(
            "`run.page_size` and `run.batch_size` must be at least 1".into(),
        ));
    }
    let profile = Profile {
        name: selected,
        state,
        systems,
        run: raw.run,
        listen: raw.listen,
        poll: raw.poll,
        base: PathBuf::new(),
    };
    super::companies::check(&profile)?;
    Ok(profile)
}

/// The profile a file and a name select.
fn select(doc: FileDoc, name: Option<&str>) -> Result<(Option<String>, RawProfile), ParseError> {
    let flat = doc.state.is_some()
        || doc.systems.is_some()
        || doc.run.is_some()
        || doc.listen.is_some()
        || doc.poll.is_some();
    let Some(mut profiles) = doc.profiles else {
        if let Some(n) = name {
            return Err(ParseError::Invalid(format!(
                "profile `{n}` was asked for (--env or ${ENV_VAR}), but the file has no [profiles.{n}] section"
            )));
        }
        return Ok((
            None,
            RawProfile {
                state: doc.state,
                systems: doc.systems.unwrap_or_default(),
                run: doc.run.unwrap_or_default(),
                listen: doc.listen,
                poll: doc.poll.unwrap_or_default(),
            },
        ));
    };
    // Top-level settings next to named profiles would leave it unclear which applies; a file
    // is one or the other.
    if flat {
        return Err(ParseError::Invalid(
            "a file with [profiles.NAME] sections keeps [state], [systems], [run], [listen] and [poll] inside each profile, not at the top level".into(),
        ));
    }
    let known = profiles.keys().cloned().collect::<Vec<_>>().join(", ");
    let wanted = name.unwrap_or(DEFAULT_PROFILE);
    match profiles.remove(wanted) {
        Some(p) => Ok((Some(wanted.to_string()), p)),
        None if name.is_none() => Err(ParseError::Invalid(format!(
            "the file has several profiles ({known}); choose one with --env NAME or ${ENV_VAR}"
        ))),
        None => {
            let hint = crate::diagnostics::suggest(wanted, profiles.keys().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            Err(ParseError::Invalid(format!(
                "no profile `{wanted}`; the file has: {known}{hint}"
            )))
        }
    }
}

/// Replaces `${NAME}` in the strings of one file.
struct Expander<'a> {
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Expander<'_> {
    /// The line of a value, from 1.
    fn line(&self, s: &Spanned<String>) -> usize {
        let start = s.span().start.min(self.text.len());
        self.text
            .get(..start)
            .map_or(1, |before| before.matches('\n').count() + 1)
    }

    /// `s` with each `${NAME}` replaced by the variable and `$${` by `${`.
    fn expand(&self, s: &Spanned<String>) -> Result<String, ParseError> {
        let value = s.get_ref();
        let mut out = String::with_capacity(value.len());
        let mut rest = value.as_str();
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let Some(end) = tail.find('}') else {
                    return Err(ParseError::Invalid(format!(
                        "line {}: `${{` without a closing `}}` (write `$${{` for a literal `${{`)",
                        self.line(s)
                    )));
                };
                let var = &tail[..end];
                if !is_env_name(var) {
                    return Err(ParseError::Invalid(format!(
                        "line {}: `${{{var}}}` is not an environment variable name (letters, digits and `_`)",
                        self.line(s)
                    )));
                }
                match (self.env)(var) {
                    Some(v) => out.push_str(&v),
                    None => {
                        return Err(ParseError::MissingVariable {
                            line: self.line(s),
                            variable: var.into(),
                        })
                    }
                }
                rest = &tail[end + 1..];
            } else {
                out.push('$');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn opt(&self, s: &Option<Spanned<String>>) -> Result<Option<String>, ParseError> {
        s.as_ref().map(|s| self.expand(s)).transpose()
    }
}

/// A profile name given where a file was expected: letters, digits, `-` and `_` only.
pub(super) fn is_profile_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A portable environment variable name: letters, digits and `_`, not starting with a digit.
fn is_env_name(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn system(x: &Expander<'_>, alias: &str, s: RawSystem) -> Result<SystemConfig, ParseError> {
    let url = x.expand(&s.url)?;
    if url
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("http:"))
    {
        transport::check(&url, "url")
            .map_err(|e| ParseError::Invalid(format!("[systems.{alias}] {e}")))?;
    }
    let company = x.opt(&s.company)?;
    if company.as_deref() == Some("") {
        return Err(ParseError::Invalid(format!(
            "[systems.{alias}] `company` is empty; leave it out for services without companies"
        )));
    }
    let (auth, written_auth) = auths(x, alias, s.auth.as_ref())?;
    let http = http_settings(alias, &s)?;
    let companies = super::companies::companies(alias, s.companies, company.as_deref())?;
    Ok(SystemConfig {
        name: alias.into(),
        url,
        company,
        companies,
        company_column: s.company_column.map(Into::into),
        auth,
        http,
        written: Box::new(Written {
            url: s.url.into_inner(),
            company: s.company.map(Spanned::into_inner),
            auth: written_auth,
        }),
    })
}

/// A system's `auth`, expanded and checked, and as written.
fn auths(x: &Expander<'_>, alias: &str, a: Option<&RawAuth>) -> Result<(Auth, Auth), ParseError> {
    Ok(match a {
        None => (Auth::None, Auth::None),
        Some(a) => (
            auth(alias, a, &|v| x.opt(v), true)?,
            // The settings as written, unexpanded, for `Debug`; their shape was just checked.
            auth(
                alias,
                a,
                &|v| Ok(v.as_ref().map(|v| v.get_ref().clone())),
                false,
            )
            .unwrap_or(Auth::None),
        ),
    })
}

/// A system's HTTP tuning, with defaults for what is left out.
fn http_settings(alias: &str, s: &RawSystem) -> Result<HttpSettings, ParseError> {
    let defaults = HttpSettings::default();
    let http = HttpSettings {
        concurrency: s.concurrency.unwrap_or(defaults.concurrency),
        batch_size: s.batch_size,
        timeout_secs: s.timeout_secs.unwrap_or(defaults.timeout_secs),
        max_retries: s.max_retries.unwrap_or(defaults.max_retries),
        api: s.api.clone(),
        batch: s.batch,
        ieee754_compatible: s.ieee754_compatible.unwrap_or(false),
        client_keys: s.client_keys,
        bulk_creates: s.bulk_creates,
        changes: s.changes.unwrap_or_default(),
        rate_limit: match s.rate_limit {
            None | Some(RawRateLimit::Switch(true)) => None,
            Some(RawRateLimit::Switch(false)) => Some(RateLimit::Off),
            Some(RawRateLimit::Budget { requests, seconds }) => {
                if requests == 0 || seconds == 0 {
                    return Err(ParseError::Invalid(format!(
                        "[systems.{alias}] `rate_limit`: `requests` and `seconds` must be at least 1"
                    )));
                }
                if seconds > MAX_RATE_WINDOW_SECS {
                    return Err(ParseError::Invalid(format!(
                        "[systems.{alias}] `rate_limit`: `seconds` is at most {MAX_RATE_WINDOW_SECS} (a day)"
                    )));
                }
                Some(RateLimit::Budget { requests, seconds })
            }
        },
    };
    if http.concurrency == 0 || http.batch_size == Some(0) || http.timeout_secs == 0 {
        return Err(ParseError::Invalid(format!(
            "[systems.{alias}] `concurrency`, `batch_size` and `timeout_secs` must be at least 1"
        )));
    }
    if let Some(api) = &http.api {
        if api.split('/').filter(|p| !p.is_empty()).count() != 3 {
            return Err(ParseError::Invalid(format!(
                "[systems.{alias}] `api = \"{api}\"`: a custom API route is `publisher/group/version`"
            )));
        }
    }
    Ok(http)
}

type Value<'a> = &'a dyn Fn(&Option<Spanned<String>>) -> Result<Option<String>, ParseError>;

/// Checks `auth = { … }` and builds it, with `value` giving each setting's text;
/// `check` checks the values too; the text as written (for `Debug`) is only shaped.
fn auth(alias: &str, a: &RawAuth, value: Value<'_>, check: bool) -> Result<Auth, ParseError> {
    let kind = a.kind.get_ref().as_str();
    let keys = auth_keys(alias, kind)?;
    let got = auth_values(alias, kind, a, keys, value, check)?;
    if let Some(url) = got.get("token_url").filter(|_| check) {
        transport::check(url, "token_url")
            .map_err(|e| ParseError::Invalid(format!("[systems.{alias}] auth: {e}")))?;
    }
    Ok(build_auth(kind, got))
}

/// The settings a kind of `auth` requires, and those it takes besides.
type AuthKeys = (&'static [&'static str], &'static [&'static str]);

fn auth_keys(alias: &str, kind: &str) -> Result<AuthKeys, ParseError> {
    Ok(match kind {
        "none" => (&[], &[]),
        "client_credentials" => (&["token_url", "client_id", "client_secret_env"], &["scope"]),
        "bearer" => (&["token_env"], &[]),
        "basic" => (&["username", "password_env"], &[]),
        other => {
            return Err(ParseError::Invalid(format!(
                "[systems.{alias}] auth: unknown kind `{other}`; expected client_credentials, bearer, basic or none"
            )))
        }
    })
}

/// The text of each setting given, once each is known to belong to `kind` and every required
/// one is there.
fn auth_values(
    alias: &str,
    kind: &str,
    a: &RawAuth,
    (required, optional): AuthKeys,
    value: Value<'_>,
    check: bool,
) -> Result<BTreeMap<&'static str, String>, ParseError> {
    let all = [
        ("token_url", &a.token_url),
        ("client_id", &a.client_id),
        ("client_secret_env", &a.client_secret_env),
        ("scope", &a.scope),
        ("token_env", &a.token_env),
        ("username", &a.username),
        ("password_env", &a.password_env),
    ];
    let mut got: BTreeMap<&str, String> = BTreeMap::new();
    for (key, v) in all {
        let given = v.is_some();
        if given && !required.contains(&key) && !optional.contains(&key) {
            return Err(ParseError::Invalid(format!(
                "[systems.{alias}] auth: `{key}` does not belong to kind `{kind}`"
            )));
        }
        if !given && required.contains(&key) {
            return Err(ParseError::Invalid(format!(
                "[systems.{alias}] auth: kind `{kind}` needs `{key}`"
            )));
        }
        if let Some(text) = value(v)? {
            if check && text.is_empty() {
                return Err(ParseError::Invalid(format!(
                    "[systems.{alias}] auth: `{key}` is empty"
                )));
            }
            // A `*_env` holding something else than a variable name is most likely the secret
            // itself pasted in: say so without repeating it.
            if check && key.ends_with("_env") && !is_env_name(&text) {
                return Err(ParseError::Invalid(format!(
                    "[systems.{alias}] auth: `{key}` must name an environment variable (letters, digits and `_`); the secret itself never goes in the profile"
                )));
            }
            got.insert(key, text);
        }
    }
    Ok(got)
}

fn build_auth(kind: &str, mut got: BTreeMap<&str, String>) -> Auth {
    // Every required key was checked above, so the defaults below are never used.
    let mut take = |k: &str| got.remove(k).unwrap_or_default();
    match kind {
        "client_credentials" => Auth::ClientCredentials {
            token_url: take("token_url"),
            client_id: take("client_id"),
            client_secret_env: take("client_secret_env"),
            scope: Some(take("scope")).filter(|s| !s.is_empty()),
        },
        "bearer" => Auth::Bearer {
            token_env: take("token_env"),
        },
        "basic" => Auth::Basic {
            username: take("username"),
            password_env: take("password_env"),
        },
        _ => Auth::None,
    }
}
