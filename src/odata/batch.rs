//! The multipart/mixed `$batch` format (OData v4.0 Part 1 §11.7.7), as Dataverse speaks it.
//!
//! A batch body is a MIME multipart message. Each part is either one `application/http`
//! operation (an embedded HTTP request or response, head and body) or a change set: a nested
//! `multipart/mixed` whose operations the service applies all-or-nothing. Requests inside a
//! change set carry a MIME `Content-ID` so later operations (and the responses) can refer to
//! them.
//!
//! Encoding is exact and canonical (CRLF everywhere, one header per line) so a real service
//! accepts it; decoding is liberal (LF-only lines, preamble and epilogue, quoted boundaries,
//! header names in any case, a head without its closing blank line) because the sandbox must
//! accept what any client sends, and the connector must read whatever a service returns.
//! Decoding never panics: malformed input is a [`WireError::Malformed`] saying what is wrong.
//!
//! A delimiter is recognized only at the start of a line, so bodies may contain CRLFs and
//! `--`; like every multipart format, a body must not contain a line starting with
//! `--boundary`, which [`new_boundary`] makes practically impossible by using a random UUID.

use std::collections::HashSet;

/// One operation of a batch request: an HTTP request without the connection around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PATCH`, `DELETE`, ...
    pub method: String,
    /// The request target as written in the request line: absolute, or relative to the
    /// service root, or `$n` referring to an earlier change-set operation.
    pub url: String,
    /// Headers in order, names as written.
    pub headers: Vec<(String, String)>,
    /// The body, empty when there is none.
    pub body: Vec<u8>,
}

/// One operation of a batch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code; the reason phrase is derived from it on encode and dropped on decode.
    pub status: u16,
    /// Headers in order, names as written.
    pub headers: Vec<(String, String)>,
    /// The body, empty when there is none.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first header of that name, compared case-insensitively as HTTP requires.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl HttpResponse {
    /// The first header of that name, compared case-insensitively as HTTP requires.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One part of a batch: a lone operation, or a change set (all-or-nothing, nested multipart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part<T> {
    /// An operation on its own; its failure does not undo the others.
    Single(T),
    /// Operations the service applies atomically.
    ChangeSet(Vec<T>),
}

/// Why a batch body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body does not follow the multipart batch format; the text says where and how.
    #[error("malformed batch: {0}")]
    Malformed(String),
}

/// A fresh boundary: `prefix` followed by a random UUID in simple form (`batch_3f2a…`).
///
/// Random so that no body can plausibly contain a line starting with the delimiter.
pub fn new_boundary(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// The `Content-Type` header value of a batch with that boundary:
/// `multipart/mixed; boundary=…`, the boundary quoted only when it must be.
pub fn content_type(boundary: &str) -> String {
    let is_token = !boundary.is_empty()
        && boundary
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if is_token {
        format!("multipart/mixed; boundary={boundary}")
    } else {
        let escaped = boundary.replace('\\', "\\\\").replace('"', "\\\"");
        format!("multipart/mixed; boundary=\"{escaped}\"")
    }
}

/// The `boundary` parameter of a `Content-Type` value, unquoted; `None` when there is none.
///
/// The parameter name matches in any case and the value may be a token or a quoted string
/// (with backslash escapes), since both appear in the wild.
pub fn boundary_of(content_type: &str) -> Option<String> {
    parameters(content_type)
        .into_iter()
        .find(|(name, value)| name.eq_ignore_ascii_case("boundary") && !value.is_empty())
        .map(|(_, value)| value)
}

/// The `name=value` parameters after the media type, values unquoted.
fn parameters(content_type: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some((_, mut rest)) = content_type.split_once(';') else {
        return out;
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return out;
        }
        let Some(eq) = rest
            .find(['=', ';'])
            .filter(|&i| rest.get(i..i + 1) == Some("="))
        else {
            // A parameter without a value: skip it.
            rest = rest.split_once(';').map_or("", |(_, r)| r);
            continue;
        };
        let name = rest.get(..eq).unwrap_or("").trim().to_string();
        let after = rest.get(eq + 1..).unwrap_or("").trim_start();
        if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut escaped = false;
            let mut end = quoted.len();
            for (i, c) in quoted.char_indices() {
                if escaped {
                    value.push(c);
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = i + 1;
                    break;
                } else {
                    value.push(c);
                }
            }
            out.push((name, value));
            let tail = quoted.get(end..).unwrap_or("");
            rest = tail.split_once(';').map_or("", |(_, r)| r);
        } else {
            let (value, tail) = after.split_once(';').unwrap_or((after, ""));
            out.push((name, value.trim().to_string()));
            rest = tail;
        }
    }
}

/// The body of a batch request with that boundary (pass the same boundary to
/// [`content_type`] for the header).
///
/// Operations in a change set get a MIME `Content-ID`: the request's own `Content-ID` header
/// when it has one (moved from the embedded headers to the MIME part, where OData expects it),
/// otherwise the next number not taken in the batch, counting from 1. A lone request with a
/// `Content-ID` header has it moved the same way. Decoding puts it back as the last header.
pub fn encode_requests(boundary: &str, parts: &[Part<HttpRequest>]) -> Vec<u8> {
    encode(boundary, parts, "changeset_")
}

/// Reads a batch request body; `content_type` is the batch's `Content-Type` header value.
pub fn decode_requests(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<Part<HttpRequest>>, WireError> {
    decode(content_type, body)
}

/// The body of a batch response with that boundary, framed like [`encode_requests`]
/// (change-set responses carry their request's `Content-ID`, or their 1-based number).
pub fn encode_responses(boundary: &str, parts: &[Part<HttpResponse>]) -> Vec<u8> {
    encode(boundary, parts, "changesetresponse_")
}

/// Reads a batch response body; `content_type` is the response's `Content-Type` value.
pub fn decode_responses(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<Part<HttpResponse>>, WireError> {
    decode(content_type, body)
}

/// What requests and responses have in common, so framing is written once.
trait Message: Sized {
    fn start_line(&self) -> String;
    fn headers(&self) -> &[(String, String)];
    fn body(&self) -> &[u8];
    fn headers_mut(&mut self) -> &mut Vec<(String, String)>;
    fn from_head(
        start_line: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Self, String>;
}

impl Message for HttpRequest {
    fn start_line(&self) -> String {
        format!("{} {} HTTP/1.1", self.method, self.url)
    }
    fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
    fn headers_mut(&mut self) -> &mut Vec<(String, String)> {
        &mut self.headers
    }
    fn from_head(
        line: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Self, String> {
        // Split at the first and last space by hand rather than with httparse's request
        // parser: a URL written with raw spaces or quotes (seen in hand-made batches) is
        // still unambiguous between the method and the version.
        let bad = || format!("unparsable request line {}", shown(line));
        let (method, rest) = line.split_once(' ').ok_or_else(bad)?;
        let (url, version) = rest.rsplit_once(' ').ok_or_else(bad)?;
        let url = url.trim();
        let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_alphabetic());
        if !method_ok || url.is_empty() || !version.starts_with("HTTP/") {
            return Err(bad());
        }
        Ok(HttpRequest {
            method: method.to_string(),
            url: url.to_string(),
            headers,
            body,
        })
    }
}

impl Message for HttpResponse {
    fn start_line(&self) -> String {
        match reason(self.status) {
            "" => format!("HTTP/1.1 {}", self.status),
            r => format!("HTTP/1.1 {} {r}", self.status),
        }
    }
    fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
    fn body(&self) -> &[u8] {
        &self.body
    }
    fn headers_mut(&mut self) -> &mut Vec<(String, String)> {
        &mut self.headers
    }
    fn from_head(
        line: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Self, String> {
        let bad = || format!("unparsable status line {}", shown(line));
        let (version, rest) = line.split_once(' ').ok_or_else(bad)?;
        let code = rest.trim_start().split(' ').next().unwrap_or("");
        if !version.starts_with("HTTP/") || code.len() != 3 {
            return Err(bad());
        }
        let status: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=999).contains(&status) {
            return Err(bad());
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// The standard reason phrase of a status code (RFC 9110 and the common extensions), empty
/// for codes without one; only cosmetic, clients go by the number.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "",
    }
}

const CONTENT_ID: &str = "Content-ID";

/// Header names and values in order, as read.
type Headers = Vec<(String, String)>;

fn encode<T: Message>(boundary: &str, parts: &[Part<T>], changeset_prefix: &str) -> Vec<u8> {
    // Explicit IDs are collected first so that generated numbers never collide with them,
    // whichever comes first in the batch.
    let taken: HashSet<&str> = parts
        .iter()
        .flat_map(|p| match p {
            Part::Single(m) => std::slice::from_ref(m),
            Part::ChangeSet(ms) => ms.as_slice(),
        })
        .filter_map(|m| find_header(m.headers(), CONTENT_ID))
        .collect();
    let mut next: u64 = 1;
    let mut fresh = || loop {
        let id = next.to_string();
        next += 1;
        if !taken.contains(id.as_str()) {
            return id;
        }
    };
    let mut out = Vec::new();
    for part in parts {
        push_line(&mut out, &format!("--{boundary}"));
        match part {
            Part::Single(m) => {
                let id = find_header(m.headers(), CONTENT_ID).map(str::to_string);
                write_operation(&mut out, m, id.as_deref());
            }
            Part::ChangeSet(ms) => {
                let cs = new_boundary(changeset_prefix);
                push_line(&mut out, &format!("Content-Type: {}", content_type(&cs)));
                push_line(&mut out, "");
                for m in ms {
                    push_line(&mut out, &format!("--{cs}"));
                    let id = match find_header(m.headers(), CONTENT_ID) {
                        Some(id) => id.to_string(),
                        None => fresh(),
                    };
                    write_operation(&mut out, m, Some(&id));
                    // The line break before a delimiter belongs to the delimiter.
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(format!("--{cs}--").as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    push_line(&mut out, &format!("--{boundary}--"));
    out
}

/// MIME part headers, blank line, then the embedded HTTP message (without the line break
/// that ends the part).
fn write_operation<T: Message>(out: &mut Vec<u8>, m: &T, content_id: Option<&str>) {
    push_line(out, "Content-Type: application/http");
    push_line(out, "Content-Transfer-Encoding: binary");
    if let Some(id) = content_id {
        push_line(out, &format!("{CONTENT_ID}: {}", one_line(id)));
    }
    push_line(out, "");
    push_line(out, &one_line(&m.start_line()));
    for (name, value) in m.headers() {
        if !name.eq_ignore_ascii_case(CONTENT_ID) {
            push_line(out, &format!("{}: {}", one_line(name), one_line(value)));
        }
    }
    push_line(out, "");
    out.extend_from_slice(m.body());
}

/// A header or start line with any line break flattened, so a stray CR or LF in a value
/// cannot end the head early and smuggle in headers or parts.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn malformed(msg: String) -> WireError {
    WireError::Malformed(msg)
}

fn decode<T: Message>(content_type: &str, body: &[u8]) -> Result<Vec<Part<T>>, WireError> {
    let boundary = boundary_of(content_type).ok_or_else(|| {
        malformed(format!(
            "no boundary parameter in Content-Type {}",
            shown(content_type)
        ))
    })?;
    let mut out = Vec::new();
    for (i, raw) in split_parts(body, &boundary)
        .map_err(|e| malformed(format!("batch: {e}")))?
        .into_iter()
        .enumerate()
    {
        let label = format!("part {}", i + 1);
        let (mime, content) =
            headers_and_rest(raw).map_err(|e| malformed(format!("{label}: {e}")))?;
        match classify(&mime).map_err(|e| malformed(format!("{label}: {e}")))? {
            Kind::Operation => out.push(Part::Single(
                operation(&mime, content).map_err(|e| malformed(format!("{label}: {e}")))?,
            )),
            Kind::ChangeSet(cs) => {
                let inner = split_parts(content, &cs)
                    .map_err(|e| malformed(format!("change set in {label}: {e}")))?;
                let mut ops = Vec::with_capacity(inner.len());
                for (j, raw) in inner.into_iter().enumerate() {
                    let label = format!("part {} of the change set in {label}", j + 1);
                    let read = || -> Result<T, String> {
                        let (mime, content) = headers_and_rest(raw)?;
                        match classify(&mime)? {
                            Kind::Operation => operation(&mime, content),
                            Kind::ChangeSet(_) => Err("change sets cannot be nested".into()),
                        }
                    };
                    ops.push(read().map_err(|e| malformed(format!("{label}: {e}")))?);
                }
                out.push(Part::ChangeSet(ops));
            }
        }
    }
    Ok(out)
}

enum Kind {
    Operation,
    ChangeSet(String),
}

fn classify(mime: &[(String, String)]) -> Result<Kind, String> {
    let ct = find_header(mime, "Content-Type")
        .ok_or("no Content-Type; expected application/http or a multipart/mixed change set")?;
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/http") {
        Ok(Kind::Operation)
    } else if media.eq_ignore_ascii_case("multipart/mixed") {
        boundary_of(ct)
            .map(Kind::ChangeSet)
            .ok_or_else(|| format!("change set without a boundary in {}", shown(ct)))
    } else {
        Err(format!(
            "Content-Type is {}, expected application/http",
            shown(ct)
        ))
    }
}

/// The embedded HTTP message of an `application/http` part, with the part's MIME
/// `Content-ID` carried into its headers when the message has none of its own.
fn operation<T: Message>(mime: &[(String, String)], content: &[u8]) -> Result<T, String> {
    let (line, rest) = match content.iter().position(|&b| b == b'\n') {
        Some(nl) => (
            content.get(..nl).unwrap_or_default(),
            content.get(nl + 1..).unwrap_or_default(),
        ),
        // Only a start line: the line break after it was taken by the delimiter.
        None => (content, &[][..]),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = std::str::from_utf8(line).map_err(|_| "start line is not UTF-8".to_string())?;
    if line.trim().is_empty() {
        return Err("empty HTTP message".into());
    }
    let (headers, body) = if rest.is_empty() {
        (Vec::new(), &[][..])
    } else {
        headers_and_rest(rest)?
    };
    let body = match find_header(&headers, "Content-Length") {
        Some(len) => {
            let len: usize = len
                .trim()
                .parse()
                .map_err(|_| format!("invalid Content-Length {}", shown(len)))?;
            body.get(..len).ok_or_else(|| {
                format!(
                    "Content-Length is {len} but the part holds {} bytes of body",
                    body.len()
                )
            })?
        }
        None => body,
    };
    let mut message = T::from_head(line, headers, body.to_vec())?;
    if let Some(id) = find_header(mime, CONTENT_ID) {
        if find_header(message.headers(), CONTENT_ID).is_none() {
            message
                .headers_mut()
                .push((CONTENT_ID.to_string(), id.to_string()));
        }
    }
    Ok(message)
}

/// A header block and what follows its blank line. A block that is not closed by a blank
/// line is taken as complete with nothing after it: the Microsoft examples put the
/// delimiter right after the last header of a GET, so the blank line is the delimiter's
/// line break.
fn headers_and_rest(bytes: &[u8]) -> Result<(Headers, &[u8]), String> {
    if let Some((n, headers)) = header_block(bytes)? {
        return Ok((headers, bytes.get(n..).unwrap_or_default()));
    }
    let mut closed = bytes.to_vec();
    if !closed.ends_with(b"\n") {
        closed.extend_from_slice(b"\r\n");
    }
    closed.extend_from_slice(b"\r\n");
    match header_block(&closed)? {
        Some((_, headers)) => Ok((headers, &[][..])),
        None => Err("unterminated header block".into()),
    }
}

/// A header block ending in a blank line: bytes consumed and the headers, or `None` when
/// the blank line is missing. Grows the header buffer instead of failing on many headers.
fn header_block(bytes: &[u8]) -> Result<Option<(usize, Headers)>, String> {
    let mut capacity = 32;
    loop {
        let mut buf = vec![httparse::EMPTY_HEADER; capacity];
        match httparse::parse_headers(bytes, &mut buf) {
            Ok(httparse::Status::Complete((n, headers))) => {
                let headers = headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).trim().to_string();
                        (h.name.to_string(), value)
                    })
                    .collect();
                return Ok(Some((n, headers)));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) if capacity < 4096 => capacity *= 4,
            Err(e) => return Err(format!("unparsable headers ({e})")),
        }
    }
}

/// The contents of the parts of a multipart body, between the delimiter lines. The preamble
/// before the first delimiter and the epilogue after the closing one are ignored.
fn split_parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, String> {
    let dash = format!("--{boundary}").into_bytes();
    let closing = || format!("no closing delimiter --{boundary}--");
    let (_, mut after) = find_delimiter(body, 0, &dash)
        .ok_or_else(|| format!("no delimiter --{boundary} in the body"))?;
    let mut parts = Vec::new();
    loop {
        let rest = body.get(after..).unwrap_or_default();
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding (spaces and tabs) may follow a delimiter before its line break.
        let padding = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let start = match rest.get(padding..).unwrap_or_default() {
            [b'\r', b'\n', ..] => after + padding + 2,
            [b'\n', ..] => after + padding + 1,
            [] => return Err(closing()),
            _ => return Err(format!("text after the delimiter --{boundary}")),
        };
        let (end, next) = find_delimiter(body, start, &dash).ok_or_else(closing)?;
        parts.push(body.get(start..end).unwrap_or_default());
        after = next;
    }
}

/// The next delimiter line at or after `from`: where the preceding content ends (before the
/// line break that belongs to the delimiter) and where the text after `--boundary` begins.
fn find_delimiter(body: &[u8], from: usize, dash: &[u8]) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let i = at
            + body
                .get(at..)?
                .windows(dash.len().max(1))
                .position(|w| w == dash)?;
        at = i + 1;
        let line_start = i == 0 || i.checked_sub(1).and_then(|j| body.get(j)) == Some(&b'\n');
        let after = i + dash.len();
        // `--b` must not be taken for the start of `--b2`: only `--`, padding or a line
        // break (or the end) may follow a delimiter.
        let whole = match body.get(after) {
            None | Some(b'\r' | b'\n' | b' ' | b'\t') => true,
            Some(b'-') => body.get(after + 1) == Some(&b'-'),
            _ => false,
        };
        if !line_start || !whole {
            continue;
        }
        let mut end = i;
        if end > from && body.get(end - 1) == Some(&b'\n') {
            end -= 1;
            if end > from && body.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
        }
        return Some((end, after));
    }
}

/// Text for an error message: quoted, and cut short so a huge line does not flood a log.
fn shown(s: &str) -> String {
    let short: String = s.chars().take(80).collect();
    if short.len() < s.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn req(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn err_text(r: Result<impl std::fmt::Debug, WireError>) -> String {
        match r {
            Err(WireError::Malformed(m)) => m,
            Ok(v) => panic!("expected an error, decoded {v:?}"),
        }
    }

    #[test]
    fn boundaries_are_fresh_and_parse_back() {
        let a = new_boundary("batch_");
        assert!(a.starts_with("batch_"));
        assert_eq!(a.len(), "batch_".len() + 32);
        assert_ne!(a, new_boundary("batch_"));
        assert_eq!(content_type(&a), format!("multipart/mixed; boundary={a}"));
        assert_eq!(boundary_of(&content_type(&a)).as_deref(), Some(a.as_str()));
        // A boundary with characters outside a token is quoted, and still parses back.
        let odd = "a b:c\"d";
        assert_eq!(
            content_type(odd),
            "multipart/mixed; boundary=\"a b:c\\\"d\""
        );
        assert_eq!(boundary_of(&content_type(odd)).as_deref(), Some(odd));
    }

    #[test]
    fn boundary_parameter_parsing() {
        let b = |ct: &str| boundary_of(ct);
        assert_eq!(
            b("multipart/mixed;boundary=batch_1").as_deref(),
            Some("batch_1")
        );
        assert_eq!(
            b("multipart/mixed; BOUNDARY = \"batch_1\"").as_deref(),
            Some("batch_1")
        );
        assert_eq!(
            b("multipart/mixed; charset=\"a;boundary=no\"; boundary=yes").as_deref(),
            Some("yes")
        );
        assert_eq!(
            b("multipart/mixed; flag; boundary=x; q=1").as_deref(),
            Some("x")
        );
        assert_eq!(b("multipart/mixed"), None);
        assert_eq!(b("multipart/mixed; boundary="), None);
        assert_eq!(b("multipart/mixed; boundary=\"\""), None);
        assert_eq!(
            b("multipart/mixed; boundary=\"unterminated").as_deref(),
            Some("unterminated")
        );
        assert_eq!(b(";;;="), None);
    }

    #[test]
    fn header_lookup_ignores_case() {
        let r = req(
            "GET",
            "x",
            &[("content-type", "a"), ("Content-Type", "b")],
            "",
        );
        assert_eq!(r.header("CONTENT-TYPE"), Some("a"));
        assert_eq!(r.header("Accept"), None);
        let r = resp(200, &[("OData-EntityId", "u")], "");
        assert_eq!(r.header("odata-entityid"), Some("u"));
    }

    #[test]
    fn requests_round_trip_with_change_sets_and_awkward_bodies() {
        let parts = vec![
            Part::Single(req(
                "GET",
                "https://org.crm.dynamics.com/api/data/v9.2/accounts?$select=name&$top=1",
                &[("Accept", "application/json")],
                "",
            )),
            Part::ChangeSet(vec![
                req(
                    "POST",
                    "accounts",
                    &[
                        ("Content-Type", "application/json; type=entry"),
                        ("Content-ID", "1"),
                    ],
                    "{\"name\":\"a\r\n--b\r\n--batch_x\"}\r\n",
                ),
                req(
                    "PATCH",
                    "$1",
                    &[("If-Match", "*"), ("Content-ID", "2")],
                    "--\r\n\r\n",
                ),
            ]),
            Part::Single(req("DELETE", "accounts(1)", &[], "")),
            Part::ChangeSet(vec![]),
        ];
        let boundary = "batch_x";
        let body = encode_requests(boundary, &parts);
        let decoded = decode_requests(&content_type(boundary), &body).unwrap();
        assert_eq!(decoded, parts);
        // The delimiter text in the body did not end the part early, and nothing was lost.
        assert!(String::from_utf8_lossy(&body).contains("--b\r\n--batch_x\"}"));
    }

    #[test]
    fn encoding_follows_the_dataverse_shape() {
        let parts = vec![
            Part::ChangeSet(vec![req(
                "POST",
                "tasks",
                &[("Content-Type", "application/json")],
                "{}",
            )]),
            Part::Single(req("GET", "tasks", &[("Accept", "application/json")], "")),
        ];
        let body = String::from_utf8(encode_requests("batch_B", &parts)).unwrap();
        let cs = boundary_of(body.lines().nth(1).unwrap()).unwrap();
        assert!(cs.starts_with("changeset_"));
        let expected = format!(
            "--batch_B\r\n\
             Content-Type: multipart/mixed; boundary={cs}\r\n\
             \r\n\
             --{cs}\r\n\
             Content-Type: application/http\r\n\
             Content-Transfer-Encoding: binary\r\n\
             Content-ID: 1\r\n\
             \r\n\
             POST tasks HTTP/1.1\r\n\
             Content-Type: application/json\r\n\
             \r\n\
             {{}}\r\n\
             --{cs}--\r\n\
             --batch_B\r\n\
             Content-Type: application/http\r\n\
             Content-Transfer-Encoding: binary\r\n\
             \r\n\
             GET tasks HTTP/1.1\r\n\
             Accept: application/json\r\n\
             \r\n\
             \r\n\
             --batch_B--\r\n"
        );
        assert_eq!(body, expected);
    }

    #[test]
    fn content_ids_are_numbered_around_explicit_ones() {
        let parts = vec![
            Part::ChangeSet(vec![
                req("POST", "a", &[], ""),
                req("POST", "b", &[("content-id", "2")], ""),
            ]),
            Part::ChangeSet(vec![req("POST", "c", &[], "")]),
        ];
        let body = encode_requests("b", &parts);
        let text = String::from_utf8_lossy(&body);
        // The generated IDs skip 2, which the caller chose; the explicit one moved to MIME.
        assert_eq!(text.matches("Content-ID: 1\r\n").count(), 1);
        assert_eq!(text.matches("Content-ID: 2\r\n").count(), 1);
        assert_eq!(text.matches("Content-ID: 3\r\n").count(), 1);
        assert!(!text.contains("content-id"));
        let decoded = decode_requests("multipart/mixed; boundary=b", &body).unwrap();
        let ids: Vec<_> = decoded
            .iter()
            .flat_map(|p| match p {
                Part::ChangeSet(ms) => ms.clone(),
                Part::Single(m) => vec![m.clone()],
            })
            .map(|m| (m.url.clone(), m.header("Content-ID").unwrap().to_string()))
            .collect();
        assert_eq!(
            ids,
            [("a", "1"), ("b", "2"), ("c", "3")].map(|(u, i)| (u.to_string(), i.to_string()))
        );
    }

    #[test]
    fn responses_round_trip() {
        let parts = vec![
            Part::ChangeSet(vec![
                resp(
                    204,
                    &[
                        ("OData-Version", "4.0"),
                        ("OData-EntityId", "https://o/api/data/v9.2/tasks(1)"),
                        ("Content-ID", "1"),
                    ],
                    "",
                ),
                resp(
                    201,
                    &[("Content-Type", "application/json"), ("Content-ID", "2")],
                    "{\"a\":\"x\r\n--changesetresponse_\"}",
                ),
            ]),
            Part::Single(resp(
                200,
                &[("Content-Type", "application/json")],
                "{\"value\":[]}\r\n",
            )),
            Part::Single(resp(
                400,
                &[],
                "{\"error\":{\"code\":\"0x0\",\"message\":\"--\"}}",
            )),
            Part::Single(resp(299, &[], "")),
        ];
        let body = encode_responses("batchresponse_1", &parts);
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("HTTP/1.1 204 No Content\r\n"));
        assert!(text.contains("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.contains("HTTP/1.1 299\r\n"));
        assert!(text.contains("boundary=changesetresponse_"));
        let decoded = decode_responses("multipart/mixed; boundary=batchresponse_1", &body).unwrap();
        assert_eq!(decoded, parts);
    }

    #[test]
    fn decodes_the_microsoft_docs_shape() {
        let body = "--batch_AAA123\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET https://org.crm.dynamics.com/api/data/v9.2/accounts?$top=1 HTTP/1.1\r\nAccept: application/json\r\n\r\n--batch_AAA123--";
        let parts = decode_requests(
            "multipart/mixed; boundary=\"batch_AAA123\"",
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            parts,
            vec![Part::Single(req(
                "GET",
                "https://org.crm.dynamics.com/api/data/v9.2/accounts?$top=1",
                &[("Accept", "application/json")],
                ""
            ))]
        );
    }

    #[test]
    fn decodes_a_dataverse_change_set_response() {
        let body = "--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f\r\n\
Content-Type: multipart/mixed; boundary=changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc\r\n\
\r\n\
--changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
Content-ID: 1\r\n\
\r\n\
HTTP/1.1 204 No Content\r\n\
OData-Version: 4.0\r\n\
Location: [Organization URI]/api/data/v9.2/tasks(a59c24d3-6cb8-4a6b-bb0f-0f1a4b3d5c6e)\r\n\
OData-EntityId: [Organization URI]/api/data/v9.2/tasks(a59c24d3-6cb8-4a6b-bb0f-0f1a4b3d5c6e)\r\n\
\r\n\
\r\n\
--changesetresponse_ff83b4f1-ab48-430c-b81c-926a2c596abc--\r\n\
--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f\r\n\
Content-Type: application/http\r\n\
Content-Transfer-Encoding: binary\r\n\
\r\n\
HTTP/1.1 200 OK\r\n\
Content-Type: application/json; odata.metadata=minimal\r\n\
OData-Version: 4.0\r\n\
\r\n\
{\"value\":[]}\r\n\
--batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f--\r\n";
        let ct = "multipart/mixed; boundary=batchresponse_c1bd45c1-dd81-470d-b897-e965846aad2f";
        let parts = decode_responses(ct, body.as_bytes()).unwrap();
        assert_eq!(parts.len(), 2);
        let Part::ChangeSet(cs) = &parts[0] else {
            panic!("expected a change set, got {:?}", parts[0])
        };
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].status, 204);
        assert_eq!(cs[0].header("content-id"), Some("1"));
        assert!(cs[0].body.is_empty());
        assert!(cs[0]
            .header("OData-EntityId")
            .unwrap()
            .ends_with("tasks(a59c24d3-6cb8-4a6b-bb0f-0f1a4b3d5c6e)"));
        let Part::Single(r) = &parts[1] else {
            panic!("expected a single response")
        };
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"value\":[]}");
    }

    #[test]
    fn decoding_is_liberal() {
        // LF only, a preamble and an epilogue, lower-case header names, a quoted boundary,
        // padding after a delimiter, a Content-Length shorter than the part.
        let body = "This is a preamble.\n\
--b1 \t\n\
content-type: multipart/mixed; boundary=\"cs 1\"\n\
\n\
--cs 1\n\
content-type: Application/HTTP\n\
content-id: 7\n\
\n\
POST /accounts HTTP/1.1\n\
content-type: application/json\n\
content-length: 2\n\
\n\
{}trailing\n\
--cs 1--\n\
--b1\n\
CONTENT-TYPE: application/http\n\
\n\
GET accounts HTTP/1.0\n\
--b1--\n\
epilogue --b1\n";
        let parts = decode_requests("Multipart/Mixed; Boundary=\"b1\"", body.as_bytes()).unwrap();
        assert_eq!(
            parts,
            vec![
                Part::ChangeSet(vec![req(
                    "POST",
                    "/accounts",
                    &[
                        ("content-type", "application/json"),
                        ("content-length", "2"),
                        ("Content-ID", "7")
                    ],
                    "{}"
                )]),
                Part::Single(req("GET", "accounts", &[], "")),
            ]
        );
    }

    #[test]
    fn inner_content_id_wins_over_the_mime_one() {
        let body = "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n\
                    POST x HTTP/1.1\r\nContent-ID: 9\r\n\r\n\r\n--b--";
        let parts = decode_requests("multipart/mixed; boundary=b", body.as_bytes()).unwrap();
        let Part::Single(r) = &parts[0] else {
            panic!("expected a single request")
        };
        assert_eq!(r.headers, vec![("Content-ID".to_string(), "9".to_string())]);
    }

    #[test]
    fn a_url_with_raw_spaces_survives() {
        let body = "--b\nContent-Type: application/http\n\n\
                    GET accounts?$filter=name eq 'a b' HTTP/1.1\n\n--b--";
        let parts = decode_requests("multipart/mixed; boundary=b", body.as_bytes()).unwrap();
        assert_eq!(
            parts,
            vec![Part::Single(req(
                "GET",
                "accounts?$filter=name eq 'a b'",
                &[],
                ""
            ))]
        );
    }

    #[test]
    fn a_longer_boundary_is_not_a_delimiter() {
        let body = "--b\r\nContent-Type: application/http\r\n\r\n\
                    POST x HTTP/1.1\r\n\r\n--bb\r\n--b-\r\n\r\n--b--";
        let parts = decode_requests("multipart/mixed; boundary=b", body.as_bytes()).unwrap();
        assert_eq!(
            parts,
            vec![Part::Single(req("POST", "x", &[], "--bb\r\n--b-\r\n"))]
        );
    }

    #[test]
    fn many_headers_are_not_an_error() {
        let headers: Vec<(String, String)> = (0..100)
            .map(|i| (format!("X-{i}"), i.to_string()))
            .collect();
        let r = HttpRequest {
            method: "GET".into(),
            url: "x".into(),
            headers,
            body: vec![],
        };
        let parts = vec![Part::Single(r)];
        let body = encode_requests("b", &parts);
        assert_eq!(
            decode_requests("multipart/mixed; boundary=b", &body).unwrap(),
            parts
        );
    }

    #[test]
    fn empty_batch_round_trips() {
        let body = encode_responses("b", &[]);
        assert_eq!(body, b"--b--\r\n");
        assert_eq!(
            decode_responses("multipart/mixed; boundary=b", &body).unwrap(),
            vec![]
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        let ct = "multipart/mixed; boundary=b";
        let op = "Content-Type: application/http\r\n\r\nGET x HTTP/1.1\r\n\r\n";
        let cases: Vec<(&str, String, &str)> = vec![
            ("multipart/mixed", format!("--b\r\n{op}\r\n--b--"), "no boundary parameter"),
            (ct, String::new(), "no delimiter --b"),
            (ct, "hello".into(), "no delimiter --b"),
            (ct, format!("--b\r\n{op}"), "no closing delimiter --b--"),
            (ct, "--b".into(), "no closing delimiter"),
            (ct, "--b\r\n".into(), "no closing delimiter"),
            (ct, "--bxx\r\n--b junk\r\n--b--".into(), "text after the delimiter"),
            (
                ct,
                "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--".into(),
                "part 1: Content-Type is \"text/plain\", expected application/http",
            ),
            (ct, "--b\r\n\r\nGET x HTTP/1.1\r\n--b--".into(), "part 1: no Content-Type"),
            (
                ct,
                "--b\r\nContent-Type: application/http\r\n--b--".into(),
                "part 1: empty HTTP message",
            ),
            (
                ct,
                "--b\r\nContent-Type: application/http\r\nGET x HTTP/1.1\r\n\r\n--b--".into(),
                "part 1: unparsable headers",
            ),
            (
                ct,
                "--b\r\nContent-Type: application/http\r\n\r\nGET\r\n\r\n--b--".into(),
                "part 1: unparsable request line \"GET\"",
            ),
            (
                ct,
                "--b\r\nContent-Type: application/http\r\n\r\nGET x FTP/1\r\n\r\n--b--".into(),
                "unparsable request line",
            ),
            (
                ct,
                "--b\r\nContent-Type: application/http\r\n\r\n\r\n--b--".into(),
                "empty HTTP message",
            ),
            (
                ct,
                "--b\r\nContent-Type: application/http\r\n\r\nPOST x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc\r\n--b--"
                    .into(),
                "Content-Length is 10 but the part holds 3 bytes",
            ),
            (
                ct,
                "--b\r\nContent-Type: application/http\r\n\r\nPOST x HTTP/1.1\r\nContent-Length: -1\r\n\r\n\r\n--b--"
                    .into(),
                "invalid Content-Length \"-1\"",
            ),
            (
                ct,
                "--b\r\nContent-Type: application/http\r\n\r\nPOST x HTTP/1.1\r\nbad header\r\n\r\n\r\n--b--".into(),
                "unparsable headers",
            ),
            (
                ct,
                "--b\r\nContent-Type: multipart/mixed\r\n\r\n--b--".into(),
                "change set without a boundary",
            ),
            (
                ct,
                format!("--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n{op}\r\n--b--"),
                "change set in part 1: no closing delimiter --c--",
            ),
            (
                ct,
                "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n--d--\r\n--c--\r\n--b--".into(),
                "part 1 of the change set in part 1: change sets cannot be nested",
            ),
        ];
        for (ct, body, expected) in cases {
            let msg = err_text(decode_requests(ct, body.as_bytes()));
            assert!(
                msg.contains(expected),
                "body {body:?}: error {msg:?} does not contain {expected:?}"
            );
        }
        let msg = err_text(decode_responses(
            ct,
            b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 OK\r\n\r\n\r\n--b--",
        ));
        assert!(
            msg.contains("unparsable status line \"HTTP/1.1 OK\""),
            "{msg}"
        );
        let msg = err_text(decode_responses(
            ct,
            b"--b\r\nContent-Type: application/http\r\n\r\nGET x HTTP/1.1\r\n\r\n\r\n--b--",
        ));
        assert!(msg.contains("unparsable status line"), "{msg}");
        let e = WireError::Malformed("x".into());
        assert_eq!(e.to_string(), "malformed batch: x");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: prefixes and byte flips of a valid batch.
        let parts = vec![
            Part::ChangeSet(vec![req("POST", "a", &[("Content-Length", "2")], "{}")]),
            Part::Single(req("GET", "b", &[("Accept", "x")], "")),
        ];
        let body = encode_requests("b", &parts);
        let ct = "multipart/mixed; boundary=b";
        for cut in 0..body.len() {
            let _ = decode_requests(ct, &body[..cut]);
            let _ = decode_responses(ct, &body[..cut]);
        }
        let mut seed: u32 = 12345;
        for _ in 0..2000 {
            let mut b = body.clone();
            for _ in 0..3 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let i = (seed >> 8) as usize % b.len();
                b[i] = (seed >> 20) as u8;
            }
            let _ = decode_requests(ct, &b);
        }
        for ct in [
            "",
            ";",
            "multipart/mixed; boundary=\"",
            "; boundary=\\",
            "é; boundary=é",
        ] {
            let _ = decode_requests(ct, b"--\xff\r\n");
        }
    }
}
