//! The `echo_secrets` fault: error answers that repeat the caller's credentials, so tests can
//! show that nothing a service sends back makes syncmap print or store a secret.

use super::query::percent_decode;
use super::request::{Req, Resp};

/// What the caller sent that must not come back out of syncmap: every `Authorization` value,
/// the bare bearer token, and a form's `client_secret`.
pub(crate) fn credentials(req: &Req) -> String {
    let mut out = Vec::new();
    for (name, value) in &req.headers {
        if name.eq_ignore_ascii_case("authorization") {
            out.push(format!("header {value}"));
            if let Some((_, token)) = value.split_once(' ') {
                out.push(format!("token {}", token.trim()));
            }
        }
    }
    let form = String::from_utf8_lossy(&req.body);
    let secret = form
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| percent_decode(n) == "client_secret")
        .map(|(_, v)| percent_decode(v));
    if let Some(s) = secret {
        out.push(format!("secret {s}"));
    }
    out.join(" ")
}

/// `answer` with `echo` put at the start of every error message in its body (OData's
/// `"message"`, Entra's `"error_description"`, also inside a `$batch`), when it is an error or
/// a `$batch` that may hold errors.
pub(crate) fn into_answer(answer: &mut Resp, echo: &str) {
    if echo.is_empty() {
        return;
    }
    let Ok(body) = std::str::from_utf8(&answer.body) else {
        return;
    };
    // A multipart part with a Content-Length would no longer match its body.
    if body.to_ascii_lowercase().contains("content-length") {
        return;
    }
    let quoted = serde_json::to_string(&format!("{echo} ")).unwrap_or_default();
    let inside = quoted.trim_end_matches('"');
    let mut text = body.to_string();
    for field in ["\"message\":\"", "\"error_description\":\""] {
        text = text.replace(field, &format!("{}{}", &field[..field.len() - 1], inside));
    }
    answer.body = text.into_bytes();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn echoes_land_in_every_message() {
        let req = Req {
            method: "POST".into(),
            path: "/t/oauth2/v2.0/token".into(),
            query: String::new(),
            headers: vec![("Authorization".into(), "Bearer tok123".into())],
            body: b"grant_type=client_credentials&client_secret=s%2F1".to_vec(),
            origin: "http://localhost".into(),
        };
        let echo = credentials(&req);
        assert_eq!(echo, "header Bearer tok123 token tok123 secret s/1");
        let mut answer = Resp::error(400, "X", "bad");
        into_answer(&mut answer, &echo);
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(
            body["error"]["message"],
            "header Bearer tok123 token tok123 secret s/1 bad"
        );
    }
}
