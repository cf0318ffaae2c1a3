//! Secrets against a misbehaving server: a redirect is never followed (the client secret would
//! go with it), a refused secret is asked once, and what a service echoes back — the secret, the
//! bearer token — never reaches standard output or error, a log, the state store or a report.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::json;
use syncmap::sandbox::{Faults, Seed};

use super::{walk, Env};
use crate::support::wire::{text, SECRET_ENV};

/// A server of the test's own, on loopback: what it answers, and how many requests it got.
struct Rogue {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicUsize>,
}

/// Starts a server answering every request with `answer(path)`.
fn rogue(
    env: &Env,
    answer: impl Fn(&str) -> axum::response::Response + Clone + Send + Sync + 'static,
) -> Rogue {
    let hits = Arc::new(AtomicUsize::new(0));
    let handler = move |State(hits): State<Arc<AtomicUsize>>, uri: Uri, _: HeaderMap| {
        let answer = answer.clone();
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            answer(uri.path())
        }
    };
    let app = axum::Router::new()
        .fallback(handler)
        .with_state(hits.clone());
    let listener = env
        .rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    env.rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Rogue { addr, hits }
}

/// The `host:port` of an `http://` URL.
fn host_of(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap();
    rest.split('/').next().unwrap()
}

/// Replaces the sandbox's URLs in the profile (`from` → `to`, every occurrence).
fn reroute(env: &Env, from: &str, to: &str) {
    let path = env.path().join("syncmap.toml");
    let profile = std::fs::read_to_string(&path).unwrap();
    assert!(profile.contains(from), "{profile}");
    std::fs::write(path, profile.replace(from, to)).unwrap();
}

fn sink(_: &str) -> axum::response::Response {
    StatusCode::OK.into_response()
}

#[test]
fn a_redirect_is_an_error_naming_its_target_and_nothing_follows_it() {
    let env = Env::start(Seed::Empty, |_| {});
    let elsewhere = rogue(&env, sink);
    // The token endpoint and the service both point elsewhere (307 keeps the POST and its form).
    let to = format!("http://u:leaked-pw@{}", elsewhere.addr);
    let redirector = rogue(&env, move |path: &str| {
        let status = if path.ends_with("/token") {
            StatusCode::TEMPORARY_REDIRECT
        } else {
            StatusCode::FOUND
        };
        (status, [("Location", format!("{to}{path}?stolen=1"))]).into_response()
    });
    let sb = env.sandbox();
    let token_url = sb.bc_token_url();
    let rogue_token = token_url.replace(host_of(&token_url), &redirector.addr.to_string());
    reroute(&env, &token_url, &rogue_token);
    let out = env.syncmap(&["run", "--mode", "full"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("token endpoint answered HTTP 307 redirecting to http://[redacted]@"),
        "{err}"
    );
    assert!(err.contains(&format!("{}/", elsewhere.addr)), "{err}");
    assert!(
        !err.contains("leaked-pw") && !err.contains("stolen"),
        "{err}"
    );
    assert_eq!(redirector.hits.load(Ordering::SeqCst), 1, "asked once");

    // The service itself redirecting: a 302 is an error, not data.
    reroute(&env, &rogue_token, &token_url);
    let dv = sb.dv_url();
    reroute(
        &env,
        &format!("url = \"{dv}\""),
        &format!(
            "url = \"{}\"",
            dv.replace(host_of(&dv), &redirector.addr.to_string())
        ),
    );
    let out = env.syncmap(&["run", "--mode", "full"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("answered HTTP 302 redirecting to"), "{err}");
    // `doctor`'s first look, without credentials, does not follow it either.
    let doctor = env
        .command(&["doctor", "maps", "--profile", "syncmap.toml"])
        .output()
        .unwrap();
    assert_eq!(doctor.status.code(), Some(1));
    let said = text(&doctor.stdout);
    assert!(
        said.contains("answers HTTP 302 redirecting to http://[redacted]@"),
        "{said}"
    );
    assert_eq!(elsewhere.hits.load(Ordering::SeqCst), 0, "nothing followed");
}

#[test]
fn a_refused_secret_is_asked_once_and_its_echo_is_not_shown() {
    let env = Env::start(Seed::Empty, |_| {});
    let endpoint = rogue(&env, |_: &str| {
        let body = json!({
            "error": "invalid_client",
            // A careless endpoint repeating the form it was sent.
            "error_description": "AADSTS7000215: bad secret: client_secret=whatever-was-sent",
        });
        (
            StatusCode::UNAUTHORIZED,
            [("Content-Type", "application/json")],
            body.to_string(),
        )
            .into_response()
    });
    let sb = env.sandbox();
    let token_url = sb.dv_token_url();
    reroute(
        &env,
        &token_url,
        &token_url.replace(host_of(&token_url), &endpoint.addr.to_string()),
    );
    let out = env.syncmap(&["run", "--mode", "full"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("invalid_client"), "{err}");
    assert!(err.contains("client_secret=[redacted]"), "{err}");
    assert_eq!(endpoint.hits.load(Ordering::SeqCst), 1, "no retry: {err}");
}

#[test]
fn an_unavailable_token_endpoint_is_retried_as_any_request() {
    let env = Env::start(Seed::Empty, |_| {});
    let endpoint = rogue(&env, |_: &str| {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    });
    let sb = env.sandbox();
    let token_url = sb.dv_token_url();
    reroute(
        &env,
        &token_url,
        &token_url.replace(host_of(&token_url), &endpoint.addr.to_string()),
    );
    let dv = format!("url = \"{}\"", sb.dv_url());
    reroute(&env, &dv, &format!("{dv}\nmax_retries = 2"));
    let out = env.syncmap(&["run", "--mode", "full"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        endpoint.hits.load(Ordering::SeqCst),
        3,
        "one try and two retries"
    );
}

/// Every byte a command printed and every file under `dir` but the profile (which holds the
/// URL's password as its author wrote it), named, for the canary's search.
fn everything(outputs: &[Output], dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all = Vec::new();
    for (i, o) in outputs.iter().enumerate() {
        all.push((format!("stdout of command {i}"), o.stdout.clone()));
        all.push((format!("stderr of command {i}"), o.stderr.clone()));
    }
    for f in walk(dir) {
        if f.file_name().is_some_and(|n| n != "syncmap.toml") {
            all.push((f.display().to_string(), std::fs::read(&f).unwrap()));
        }
    }
    all
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn secrets_a_service_echoes_reach_no_output_log_store_or_report() {
    let echo = |c: &mut syncmap::sandbox::SandboxConfig| {
        c.faults.echo_secrets = true;
        c.faults.refuse_writes = true;
    };
    let env = Env::start(Seed::Demo, echo);
    let url_password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let sb = env.sandbox();
    for url in [sb.bc_url(), sb.dv_url()] {
        let with_user = url.replace("http://", &format!("http://canary:{url_password}@"));
        // One request per write, so that each is refused on its own.
        reroute(
            &env,
            &format!("url = \"{url}\""),
            &format!("url = \"{with_user}\"\nmax_retries = 1\nbatch = \"none\""),
        );
    }
    let mut outputs = Vec::new();
    let logged = |env: &Env, args: &[&str]| {
        let mut all = vec!["--log-format", "json"];
        all.extend_from_slice(args);
        env.syncmap_command(&all)
            .env("SYNCMAP_LOG", "debug")
            .output()
            .unwrap()
    };
    // Every write refused, with an echo: records fail with the service's message.
    let refused = logged(&env, &["run", "--mode", "full"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    outputs.push(refused);

    // Every request failing: the run fails with the service's (echoing) message.
    let control = sb.control();
    control.set_faults(Faults {
        error_rate: 1.0,
        echo_secrets: true,
        ..Faults::default()
    });
    let failed = logged(&env, &["run", "--mode", "modified"]);
    assert_eq!(failed.status.code(), Some(2), "{}", text(&failed.stderr));
    outputs.push(failed);
    control.set_faults(Faults {
        echo_secrets: true,
        ..Faults::default()
    });

    // The token endpoint refusing a wrong secret, and echoing it.
    let wrong = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let doctor_args = ["doctor", "maps", "--profile", "syncmap.toml"];
    let doctor = env
        .command(&doctor_args)
        .env(SECRET_ENV, &wrong)
        .output()
        .unwrap();
    assert_eq!(
        doctor.status.code(),
        Some(1),
        "{}{}",
        text(&doctor.stdout),
        text(&doctor.stderr)
    );
    assert!(text(&doctor.stdout).contains("invalid_client"));
    outputs.push(doctor);
    outputs.push(env.command(&doctor_args).output().unwrap());

    for run in ["1", "2"] {
        outputs.push(env.syncmap(&["log", "--run", run]));
        outputs.push(env.syncmap(&["log", "--run", run, "--json"]));
    }
    outputs.push(env.syncmap(&["errors"]));
    outputs.push(env.syncmap(&["log"]));
    let report = env.syncmap(&["report", "-o", "report.html"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    outputs.push(report);

    let all = everything(&outputs, env.path());
    assert!(all.iter().any(|(name, _)| name.ends_with("report.html")));
    assert!(all.iter().any(|(name, _)| name.ends_with("state.db")));
    // The echoes arrived and were redacted, rather than never sent.
    let errors = text(&outputs[outputs.len() - 3].stdout);
    assert!(errors.contains("[redacted]"), "{errors}");
    for (what, needle) in [
        ("the client secret", env.secret.as_str()),
        ("the wrong secret", wrong.as_str()),
        ("the URL's password", url_password.as_str()),
        ("a bearer token", "sbx."),
    ] {
        for (name, bytes) in &all {
            assert!(!holds(bytes, needle), "{what} is in {name}");
        }
    }
}
