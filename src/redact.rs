//! Redaction of secrets from text that came from outside (a service's answer) or from
//! configuration (a URL), before it reaches standard error, a log, the state store or a report.
//!
//! A service may echo what it was sent — the client secret in a token endpoint's
//! `error_description`, the bearer token in a 401 body — so masking only syncmap's own
//! formatting is not enough. Two kinds of rules apply:
//!
//! - the secrets known to the process: every [`crate::profile::Secret`] registers its value
//!   when it is made (client secrets, passwords and tokens read from the environment, and the
//!   access tokens obtained at run time), with its percent-encoded and JSON-escaped forms;
//! - generic rules for secrets syncmap never held: a URL's `user:password@`, the value after
//!   `Bearer ` or `Authorization:`, and `access_token`, `client_secret`, `password` (and a few
//!   more) as JSON or form fields.
//!
//! What is removed becomes [`MARKER`]. This module depends on nothing else in the crate, so any
//! layer can call it.

use std::sync::RwLock;

/// What a redacted value becomes.
pub const MARKER: &str = "[redacted]";

/// Shorter values are not registered: masking every `ab` of a message would make it unreadable
/// while hiding nothing worth hiding.
const MIN_LEN: usize = 4;

/// Field names whose values are secrets wherever they appear (JSON or form encoded).
const FIELDS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "password",
];

/// The secrets known to the process.
static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Redacts text: the registered secrets and the generic rules.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Literal values to mask, longest first (so a secret containing another is masked whole).
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor of `secrets` (with their encoded forms) and the generic rules.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(secrets: I) -> Redactor {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s.as_ref());
        }
        r
    }

    /// One more secret to mask.
    pub fn add(&mut self, secret: &str) {
        for form in forms(secret) {
            if form.len() >= MIN_LEN && !self.secrets.contains(&form) {
                self.secrets.push(form);
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// `text` with every secret and every generic match replaced by [`MARKER`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MARKER);
            }
        }
        generic(&out)
    }
}

/// Registers a secret for the process's [`redact`], as soon as syncmap holds it.
pub fn register(secret: &str) {
    if secret.len() < MIN_LEN {
        return;
    }
    // A poisoned lock only means a panic elsewhere; the list itself is still whole.
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    for form in forms(secret) {
        if form.len() >= MIN_LEN && !known.contains(&form) {
            known.push(form);
        }
    }
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Registers the password of HTTP basic authentication, also as the header carries it
/// (`base64(user:password)`), since a service may echo the header rather than the password.
pub fn register_basic(username: &str, password: &str) {
    register(password);
    register(&base64(format!("{username}:{password}").as_bytes()));
}

/// The `user:password` of a URL's authority (after `://`): up to its last `@` before the path,
/// so a password holding `?` or `#` is not cut short.
fn user_info(tail: &str) -> Option<&str> {
    let authority = &tail[..tail.find('/').unwrap_or(tail.len())];
    authority.rsplit_once('@').map(|(info, _)| info)
}

/// A URL and its query (`None` without one), the query found after the user-info, whose
/// password may hold a `?`.
pub fn split_query(url: &str) -> Option<(&str, &str)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let tail = &url[start..];
    let from = start + user_info(tail).map_or(0, |info| info.len() + 1);
    let at = from + url[from..].find('?')?;
    Some((&url[..at], &url[at + 1..]))
}

/// Registers the password of a URL's `user:password@`, as written and percent-decoded (the
/// generic rule masks the URL itself, not the password quoted elsewhere).
pub fn register_url(url: &str) {
    let Some((_, tail)) = url.split_once("://") else {
        return;
    };
    // A PostgreSQL URL may carry its password as a parameter instead (`?password=…`).
    if let Some((_, query)) = split_query(url) {
        for (name, value) in query.split('&').filter_map(|p| p.split_once('=')) {
            if name == "password" {
                register(value);
                register(&percent_encoding::percent_decode_str(value).decode_utf8_lossy());
            }
        }
    }
    let Some(info) = user_info(tail) else {
        return;
    };
    if let Some((user, password)) = info.split_once(':') {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        register(password);
        // The HTTP client sends user-info as basic authentication.
        register_basic(&decode(user), &decode(password));
    }
}

/// `text` redacted with the secrets registered so far and the generic rules.
pub fn redact(text: &str) -> String {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for s in known.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MARKER);
        }
    }
    drop(known);
    generic(&out)
}

/// The forms a secret travels in: as is, percent-encoded (a form body), JSON-escaped.
fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    for f in [encoded, json] {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// The rules for secrets not registered.
fn generic(text: &str) -> String {
    let mut out = userinfo(text);
    out = after(&out, "bearer ", token_end);
    out = after(&out, "authorization:", header_end);
    for field in FIELDS {
        out = after(&out, &format!("\"{field}\""), json_value);
        out = after(&out, &format!("{field}="), form_end);
    }
    out
}

/// `scheme://user:password@host` → `scheme://[redacted]@host`.
fn userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| "/?#\"'<> \t\r\n".contains(c))
            .unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str(MARKER);
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Replaces what `end` measures after each case-insensitive `needle` with [`MARKER`]; `end`
/// gets the text after the needle and gives `(skip, len)`: bytes kept, then bytes masked.
fn after(text: &str, needle: &str, end: fn(&str) -> Option<(usize, usize)>) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(i) = lower[from..].find(needle) {
        let start = from + i + needle.len();
        out.push_str(&text[from..start]);
        from = start;
        if let Some((skip, len)) = end(&text[start..]) {
            if len > 0 && !text[start + skip..].starts_with(MARKER) {
                out.push_str(&text[start..start + skip]);
                out.push_str(MARKER);
                from = start + skip + len;
            }
        }
    }
    out.push_str(&text[from..]);
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/=%".contains(c)
}

/// Tokens are long (a JWT runs to hundreds of characters); a shorter word after "bearer" is
/// prose ("the bearer token is not valid").
const MIN_TOKEN: usize = 16;

/// A bearer token's characters (RFC 6750's `b64token`).
fn token_end(s: &str) -> Option<(usize, usize)> {
    let skip = s.len() - s.trim_start_matches(' ').len();
    let len = s[skip..]
        .find(|c: char| !is_token_char(c))
        .unwrap_or(s.len() - skip);
    (len >= MIN_TOKEN).then_some((skip, len))
}

/// A header's value: to the end of the line, or of the quoted text holding it.
fn header_end(s: &str) -> Option<(usize, usize)> {
    let skip = s.len() - s.trim_start_matches([' ', '\t']).len();
    let len = s[skip..]
        .find(['\r', '\n', '"', '\'', ',', '}'])
        .unwrap_or(s.len() - skip);
    Some((skip, len))
}

/// A JSON string value after its field name: `: "…"`, escapes included.
fn json_value(s: &str) -> Option<(usize, usize)> {
    let colon = s.len() - s.trim_start().len();
    let s2 = s[colon..].strip_prefix(':')?;
    let space = s2.len() - s2.trim_start().len();
    let value = s2[space..].strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some((colon + 1 + space + 1, i)),
            _ => escaped = false,
        }
    }
    Some((colon + 1 + space + 1, value.len()))
}

/// A form field's value: to the next `&` or space.
fn form_end(s: &str) -> Option<(usize, usize)> {
    let len = s
        .find(|c: char| c == '&' || c.is_whitespace() || c == '"' || c == '\'')
        .unwrap_or(s.len());
    Some((0, len))
}

/// Standard base64 with padding (RFC 4648 §4), for the basic-auth header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_masked_in_every_form() {
        let r = Redactor::new(["p@ss w\"rd-1234"]);
        let text = "got p@ss w\"rd-1234, p%40ss%20w%22rd%2D1234 and p@ss w\\\"rd-1234";
        let out = r.redact(text);
        assert_eq!(out, "got [redacted], [redacted] and [redacted]");
    }

    #[test]
    fn generic_rules_mask_what_was_never_registered() {
        let r = Redactor::default();
        let cases = [
            (
                "GET https://bob:hunter22@host/x failed",
                "GET https://[redacted]@host/x failed",
            ),
            (
                "header Bearer eyJ0eXAi.abc-_x= sent",
                "header Bearer [redacted] sent",
            ),
            (
                "Authorization: Basic Ym9iOmh1bnRlcjIy\nnext",
                "Authorization: [redacted]\nnext",
            ),
            (
                r#"{"access_token": "tok\"en", "expires_in": 3}"#,
                r#"{"access_token": "[redacted]", "expires_in": 3}"#,
            ),
            (
                "grant_type=x&client_secret=abc%20d&scope=s",
                "grant_type=x&client_secret=[redacted]&scope=s",
            ),
            (r#"{"Password":"pw"}"#, r#"{"Password":"[redacted]"}"#),
        ];
        for (text, want) in cases {
            assert_eq!(r.redact(text), want, "{text}");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let r = Redactor::new(["abc"]);
        let text = "system `bc`: https://host/api?$filter=a eq 'abc' (HTTP 400), mail a@b";
        assert_eq!(r.redact(text), text, "short values are not registered");
        let text = "HTTP 401: The bearer token is not valid.";
        assert_eq!(r.redact(text), text, "prose about tokens is not a token");
        assert_eq!(redact("[redacted]@host"), "[redacted]@host");
    }

    #[test]
    fn registered_secrets_reach_the_process_redactor() {
        let secret = format!("reg-{}", uuid::Uuid::new_v4().simple());
        assert!(redact(&secret).contains(&secret));
        register(&secret);
        assert_eq!(redact(&format!("x {secret} y")), "x [redacted] y");
        register_url("https://bob:pa%24%24word@host/x");
        assert_eq!(
            redact("pa$$word and pa%24%24word"),
            "[redacted] and [redacted]"
        );
        assert_eq!(redact("Ym9iOnBhJCR3b3Jk"), MARKER, "base64 of bob:pa$$word");
        register_basic("bob", "hunter22");
        assert_eq!(redact("Ym9iOmh1bnRlcjIy"), MARKER);
        register_url("postgres://syncmap@db/x?sslmode=disable&password=s3cr%21t-pw");
        assert_eq!(
            redact("s3cr!t-pw or s3cr%21t-pw"),
            "[redacted] or [redacted]"
        );
        // A `?` or `#` in a password written as is does not cut it short.
        register_url("postgres://syncmap:qu?es#tion-pw@db/x?sslmode=require");
        assert_eq!(redact("qu?es#tion-pw"), MARKER);
    }

    #[test]
    fn a_query_is_found_after_the_password() {
        assert_eq!(
            split_query("postgres://u:a?b@h/db?sslmode=require"),
            Some(("postgres://u:a?b@h/db", "sslmode=require"))
        );
        assert_eq!(
            split_query("postgres://h/db?x=1"),
            Some(("postgres://h/db", "x=1"))
        );
        assert_eq!(split_query("postgres://u:a?b@h/db"), None);
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b"bob:hunter22"), "Ym9iOmh1bnRlcjIy");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }
}
