//! Which URLs may carry credentials: `https://` everywhere, `http://` only to this machine
//! (a local sandbox), where no network sees the secret or the token.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks a service or token endpoint URL; the error says what to write instead.
pub fn check(url: &str, what: &str) -> Result<(), String> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = lower.strip_prefix("http://") {
        return if is_loopback(host(rest)) {
            Ok(())
        } else {
            Err(format!(
                "`{what}` uses http:// to a host that is not this machine; credentials would cross the network unencrypted: use https:// (http:// is accepted for 127.0.0.0/8, ::1 and localhost only)"
            ))
        };
    }
    Err(format!("`{what}` must start with https://"))
}

/// The host of what follows `scheme://`, without user-info, port and brackets.
fn host(after_scheme: &str) -> &str {
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or(after_scheme);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host == "localhost"
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
        || host.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        for ok in [
            "https://api.example/v2.0",
            "HTTPS://x",
            "http://127.0.0.1:8081/v2.0",
            "http://127.9.9.9/x",
            "http://[::1]:80/x",
            "http://localhost/x",
            "http://LOCALHOST.:1",
            "http://u:p@127.0.0.1/x",
        ] {
            assert!(check(ok, "url").is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example/v2.0",
            "http://127.0.0.1.evil.example/x",
            "http://localhost@evil.example/x",
            "http://10.0.0.1/x",
            "http://[::2]/x",
            "ftp://x",
            "token",
        ] {
            let err = check(bad, "token_url").unwrap_err();
            assert!(
                err.contains("`token_url`") && err.contains("https://"),
                "{bad}: {err}"
            );
        }
    }
}
