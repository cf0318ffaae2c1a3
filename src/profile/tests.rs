//! Profiles as read from their text: defaults, selection, expansion, auth and secrets.

use super::*;

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |n| vars.get(n).cloned()
}

#[test]
fn http_settings_have_defaults_and_are_checked() {
    let p = Profile::parse_with(
        "[systems.dv]\nurl = \"https://x.crm.dynamics.com/api/data/v9.2\"\n",
        None,
        &env_of(&[]),
    )
    .unwrap();
    assert_eq!(p.systems["dv"].http, HttpSettings::default());
    let p = Profile::parse_with(
        "[systems.bc]\nurl = \"https://x/api/v2.0\"\nconcurrency = 8\nbatch_size = 1\ntimeout_secs = 5\nmax_retries = 0\napi = \"contoso/sync/v1.0\"\n",
        None,
        &env_of(&[]),
    )
    .unwrap();
    let h = &p.systems["bc"].http;
    assert_eq!(
        (h.concurrency, h.batch_size, h.timeout_secs, h.max_retries),
        (8, Some(1), 5, 0)
    );
    assert_eq!(h.api.as_deref(), Some("contoso/sync/v1.0"));
    assert_eq!(
        (h.batch, h.ieee754_compatible, h.client_keys),
        (None, false, None)
    );
    for (line, mode) in [
        ("batch = \"json\"", BatchMode::Json),
        ("batch = \"multipart\"", BatchMode::Multipart),
        ("batch = \"none\"", BatchMode::None),
    ] {
        let text = format!(
            "[systems.x]\nurl = \"https://x/odata\"\n{line}\nieee754_compatible = true\nclient_keys = true\n"
        );
        let p = Profile::parse_with(&text, None, &env_of(&[])).unwrap();
        let h = &p.systems["x"].http;
        assert_eq!(
            (h.batch, h.ieee754_compatible, h.client_keys),
            (Some(mode), true, Some(true)),
            "{line}"
        );
    }
    for bad in [
        "concurrency = 0",
        "batch_size = 0",
        "api = \"contoso/v1.0\"",
        "pagesize = 3",
        "batch = \"xml\"",
        "rate_limit = \"fast\"",
        "rate_limit = { requests = 0, seconds = 300 }",
        "rate_limit = { requests = 6000 }",
        "rate_limit = { requests = 6000, seconds = 18446744073709551615 }",
    ] {
        let text = format!("[systems.bc]\nurl = \"https://x/api/v2.0\"\n{bad}\n");
        let err = Profile::parse_with(&text, None, &env_of(&[])).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("at least 1")
                || err.contains("publisher/group/version")
                || err.contains("unknown field")
                || err.contains("unknown variant")
                || err.contains(
                    "`rate_limit = false` or `rate_limit = { requests = N, seconds = S }`"
                )
                || err.contains("at most 86400"),
            "{bad}: {err}"
        );
    }
    // The budget: the kind's own when absent, none with `false`, or as written.
    let budget = |line: &str| {
        let text = format!("[systems.bc]\nurl = \"https://x/api/v2.0\"\n{line}\n");
        Profile::parse_with(&text, None, &env_of(&[]))
            .unwrap()
            .systems["bc"]
            .http
            .rate_limit
    };
    assert_eq!(budget(""), None);
    assert_eq!(budget("rate_limit = true"), None);
    assert_eq!(budget("rate_limit = false"), Some(RateLimit::Off));
    assert_eq!(
        budget("rate_limit = { requests = 200, seconds = 10 }"),
        Some(RateLimit::Budget {
            requests: 200,
            seconds: 10
        })
    );
}

#[test]
fn parses_systems_state_and_defaults() {
    let p = Profile::parse(
        "[state]\nurl = \"sqlite://s.db\"\n[systems.bc]\nurl = \"sqlite://bc.db\"\n",
    )
    .unwrap();
    assert_eq!(p.systems["bc"].url, "sqlite://bc.db");
    assert_eq!(p.systems["bc"].auth, Auth::None);
    assert_eq!(p.run.batch_size, 500);
    assert_eq!(p.name, None);
    let err = Profile::parse("[systems.bc]\nurl = 1\n").unwrap_err();
    assert!(err.contains("url"), "{err}");
    assert!(
        Profile::parse("[stat]\n").is_err(),
        "unknown sections are errors"
    );
    assert_eq!(
        Profile::parse("").unwrap().state.url,
        "sqlite://.syncmap/state.db"
    );
}

#[test]
fn expands_variables_and_escapes() {
    let text = "[state]\nurl = \"sqlite://${DIR}/s.db\"\n\
                [systems.bc]\nurl = \"https://${HOST}/api?a=$${KEEP}&b=$x\"\ncompany = \"${CO}\"\n";
    let env = env_of(&[("DIR", "/data"), ("HOST", "bc.example"), ("CO", "CRONUS")]);
    let p = Profile::parse_with(text, None, &env).unwrap();
    assert_eq!(p.state.url, "sqlite:///data/s.db");
    assert_eq!(p.systems["bc"].url, "https://bc.example/api?a=${KEEP}&b=$x");
    assert_eq!(p.systems["bc"].company.as_deref(), Some("CRONUS"));
}

#[test]
fn a_missing_variable_names_itself_and_its_line() {
    let text = "[state]\nurl = \"sqlite://s.db\"\n\n[systems.bc]\nurl = \"https://${BC_HOST}/x\"\n";
    let err = Profile::parse_with(text, None, &env_of(&[])).unwrap_err();
    assert_eq!(
        err,
        ParseError::MissingVariable {
            line: 5,
            variable: "BC_HOST".into()
        }
    );
    let err = err.with_path(Path::new("conf/syncmap.toml")).to_string();
    assert_eq!(
        err,
        "profile `conf/syncmap.toml` line 5: environment variable `BC_HOST` is not set (used as `${BC_HOST}`)"
    );
    let err = Profile::parse_with("[state]\nurl = \"${OPEN\"\n", None, &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("closing"), "{err}");
    let err = Profile::parse_with("[state]\nurl = \"${A-B}\"\n", None, &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an environment variable name"), "{err}");
}

const NAMED: &str = r#"
[profiles.default.systems.bc]
url = "sqlite://dev-bc.db"

[profiles.prod.state]
url = "sqlite://prod-state.db"
[profiles.prod.systems.bc]
url = "https://api.businesscentral.dynamics.com/v2.0/${TENANT}/production/api/v2.0"
company = "CRONUS USA, Inc."
auth = { kind = "client_credentials", token_url = "https://login.example/${TENANT}/oauth2/v2.0/token", client_id = "app-id", client_secret_env = "BC_CLIENT_SECRET", scope = "https://api.businesscentral.dynamics.com/.default" }
[profiles.prod.run]
batch_size = 50
"#;

#[test]
fn named_profiles_are_selected_by_name_or_default() {
    // The default profile does not need TENANT: only the selected profile is expanded.
    let p = Profile::parse_with(NAMED, None, &env_of(&[])).unwrap();
    assert_eq!(p.name.as_deref(), Some("default"));
    assert_eq!(p.systems["bc"].url, "sqlite://dev-bc.db");
    assert_eq!(p.run.batch_size, 500);

    let p = Profile::parse_with(NAMED, Some("prod"), &env_of(&[("TENANT", "t1")])).unwrap();
    assert_eq!(p.name.as_deref(), Some("prod"));
    assert_eq!(p.state.url, "sqlite://prod-state.db");
    assert_eq!(p.run.batch_size, 50);
    let bc = &p.systems["bc"];
    assert_eq!(bc.company.as_deref(), Some("CRONUS USA, Inc."));
    assert_eq!(
        bc.auth,
        Auth::ClientCredentials {
            token_url: "https://login.example/t1/oauth2/v2.0/token".into(),
            client_id: "app-id".into(),
            client_secret_env: "BC_CLIENT_SECRET".into(),
            scope: Some("https://api.businesscentral.dynamics.com/.default".into()),
        }
    );

    let err = Profile::parse_with(NAMED, Some("test"), &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "no profile `test`; the file has: default, prod");
    let err = Profile::parse_with(NAMED, Some("prdo"), &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "no profile `prdo`; the file has: default, prod; did you mean `prod`?"
    );
    let no_default = NAMED.replace("profiles.default", "profiles.dev");
    let err = Profile::parse_with(&no_default, None, &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(dev, prod)") && err.contains("--env"),
        "{err}"
    );
    let err = Profile::parse_with("[systems.bc]\nurl = \"x\"\n", Some("prod"), &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no [profiles.prod]"), "{err}");
    let mixed = format!("[run]\nbatch_size = 1\n{NAMED}");
    assert!(Profile::parse_with(&mixed, None, &env_of(&[])).is_err());
}

fn auth_of(line: &str) -> Result<Auth, String> {
    let text = format!("[systems.bc]\nurl = \"u\"\nauth = {{ {line} }}\n");
    Profile::parse_with(&text, None, &env_of(&[]))
        .map(|p| p.systems["bc"].auth.clone())
        .map_err(|e| e.to_string())
}

#[test]
fn basic_auth_takes_an_empty_password_but_not_an_unset_one() {
    let text = "[systems.x]\nurl = \"u\"\nauth = { kind = \"basic\", username = \"u\", password_env = \"PW\" }\n";
    let p = Profile::parse_with(text, None, &env_of(&[])).unwrap();
    let x = &p.systems["x"];
    let empty = x.secret_from(&env_of(&[("PW", "")])).unwrap().unwrap();
    assert_eq!(empty.expose(), "");
    assert!(x.secret_from(&env_of(&[])).is_err());
    // A bearer token is never empty on purpose.
    let text = "[systems.x]\nurl = \"u\"\nauth = { kind = \"bearer\", token_env = \"T\" }\n";
    let p = Profile::parse_with(text, None, &env_of(&[])).unwrap();
    assert!(p.systems["x"].secret_from(&env_of(&[("T", "")])).is_err());
}

#[test]
fn auth_kinds_are_validated() {
    assert_eq!(
        auth_of(r#"kind = "bearer", token_env = "TOKEN""#),
        Ok(Auth::Bearer {
            token_env: "TOKEN".into()
        })
    );
    assert_eq!(
        auth_of(r#"kind = "basic", username = "u", password_env = "PW""#),
        Ok(Auth::Basic {
            username: "u".into(),
            password_env: "PW".into()
        })
    );
    assert_eq!(auth_of(r#"kind = "none""#), Ok(Auth::None));
    let err = auth_of(r#"kind = "oauth""#).unwrap_err();
    assert!(err.contains("unknown kind `oauth`"), "{err}");
    let err = auth_of(r#"kind = "basic", username = "u""#).unwrap_err();
    assert!(err.contains("needs `password_env`"), "{err}");
    let err = auth_of(r#"kind = "bearer", token_env = "T", username = "u""#).unwrap_err();
    assert!(
        err.contains("`username` does not belong to kind `bearer`"),
        "{err}"
    );
    let err = auth_of(r#"kind = "bearer", token = "T""#).unwrap_err();
    assert!(err.contains("token"), "unknown keys are errors: {err}");
}

#[test]
fn credentials_travel_over_https_or_stay_on_this_machine() {
    let profile = |url: &str, token_url: &str| {
        let text = format!(
            "[systems.bc]\nurl = \"{url}\"\nauth = {{ kind = \"client_credentials\", token_url = \"{token_url}\", client_id = \"c\", client_secret_env = \"S\" }}\n"
        );
        Profile::parse_with(&text, None, &env_of(&[])).map_err(|e| e.to_string())
    };
    assert!(profile("http://127.0.0.1:8081/x", "http://localhost:8081/t").is_ok());
    assert!(profile("https://bc.example/x", "https://login.example/t").is_ok());
    let err = profile("http://bc.example/x", "https://login.example/t").unwrap_err();
    assert!(err.contains("[systems.bc] `url` uses http://"), "{err}");
    let err = profile("https://bc.example/x", "http://login.example/t").unwrap_err();
    assert!(
        err.contains("[systems.bc] auth: `token_url` uses http://"),
        "{err}"
    );
    let err = profile("https://bc.example/x", "login.example/t").unwrap_err();
    assert!(
        err.contains("`token_url` must start with https://"),
        "{err}"
    );
}

#[test]
fn secrets_never_show_in_debug_or_errors() {
    const SECRET: &str = "s3cr3t-Value-9f1c";
    let env = env_of(&[("BC_SECRET", SECRET), ("PW", SECRET)]);
    // A secret put in a URL through `${…}` is expanded for use but never printed.
    let text = "[state]\nurl = \"postgres://u:${PW}@db/state\"\n[systems.bc]\nurl = \"https://x/${PW}\"\n\
                auth = { kind = \"client_credentials\", token_url = \"https://t\", client_id = \"c\", client_secret_env = \"BC_SECRET\" }\n";
    let p = Profile::parse_with(text, None, &env).unwrap();
    assert!(p.state.url.contains(SECRET), "the expanded value is usable");
    let debug = format!("{p:?} {:?} {:#?}", p.systems["bc"], p.state);
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(
        debug.contains("${PW}"),
        "Debug shows the file's text: {debug}"
    );
    assert!(
        debug.contains("BC_SECRET"),
        "Debug shows the variable's name: {debug}"
    );

    let secret = p.systems["bc"].secret_from(&env).unwrap().unwrap();
    assert_eq!(secret.expose(), SECRET);
    assert_eq!(format!("{secret:?} {secret}"), "*** ***");

    // Every error, with the secret in the environment, mentions names only.
    let mut errors: Vec<String> = Vec::new();
    let unset = p.systems["bc"].secret_from(&env_of(&[])).unwrap_err();
    assert!(
        unset.to_string().contains("`BC_SECRET` is not set"),
        "{unset}"
    );
    errors.push(unset.to_string());
    let empty = p.systems["bc"]
        .secret_from(&env_of(&[("BC_SECRET", "")]))
        .unwrap_err();
    errors.push(empty.to_string());
    for bad in [
        // The secret pasted where its variable's name goes.
        "[systems.bc]\nurl = \"u\"\nauth = { kind = \"bearer\", token_env = \"${PW}\" }\n"
            .to_string(),
        format!(
            "[systems.bc]\nurl = \"u\"\nauth = {{ kind = \"bearer\", token_env = \"{SECRET}\" }}\n"
        ),
        "[systems.bc]\nurl = \"${PW}\"\ncompany = \"${MISSING}\"\n".to_string(),
        "[systems.bc]\nurl = \"${PW}\"\n[run]\npage_size = 0\n".to_string(),
        "[state]\nurl = \"${PW}\"\n[systems.bc]\nurl = \"${PW}${NOPE\"\n".to_string(),
    ] {
        let e = Profile::parse_with(&bad, None, &env).unwrap_err();
        errors.push(e.to_string());
        errors.push(format!("{:?}", e.with_path(Path::new("p.toml"))));
    }
    for e in &errors {
        assert!(!e.contains(SECRET), "{e}");
    }
    assert!(errors.iter().any(|e| e.contains("`MISSING` is not set")));
}

#[test]
fn companies_are_read_and_checked() {
    const DV: &str = "[systems.dv]\nurl = \"https://x.crm.dynamics.com/api/data/v9.2\"\n\
        company_column = { name = \"bcbi_companyid\", table = \"bcbi_companies\", on = [\"accounts\"] }\n";
    let parse = |bc: &str, dv: &str| {
        Profile::parse_with(
            &format!("[systems.bc]\nurl = \"https://x/api/v2.0\"\n{bc}\n{dv}"),
            None,
            &env_of(&[]),
        )
    };
    let p = parse(
        "companies = [{ name = \"CRONUS UK Ltd.\", dataverse_id = \"0000000A-0000-4000-8000-000000000001\" }, \
         { name = \"CRONUS DE\", dataverse_id = \"0000000a-0000-4000-8000-000000000002\" }]",
        DV,
    )
    .unwrap();
    let names: Vec<String> = p.companies().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["CRONUS UK Ltd.", "CRONUS DE"]);
    let (system, column) = p.company_column().expect("the column");
    assert_eq!((system, column.column.as_str()), ("dv", "bcbi_companyid"));
    let de = p.for_company(&p.companies()[1]);
    assert_eq!(de.systems["bc"].company.as_deref(), Some("CRONUS DE"));
    assert!(de.companies().is_empty(), "one company's profile names one");
    // Without a company column, names alone do.
    let p = parse("companies = [\"A\", \"B\"]", "").unwrap();
    assert_eq!(p.companies().len(), 2);
    for (bc, dv, says) in [
        (
            "company = \"A\"\ncompanies = [\"B\"]",
            "",
            "both `company` and `companies`",
        ),
        ("companies = []", "", "`companies` is empty"),
        (
            "companies = [\"A\", \"a\"]",
            "",
            "company `a` is named twice",
        ),
        ("companies = [\"\"]", "", "an empty name"),
        (
            "companies = [{ name = \"A\", dataverse_id = \"not-a-guid\" }]",
            "",
            "`dataverse_id` is not a GUID",
        ),
        (
            "companies = [\"A\"]",
            DV,
            "company `A` needs `dataverse_id`",
        ),
        ("", DV, "no system names `companies`"),
    ] {
        let err = parse(bc, dv).unwrap_err().to_string();
        assert!(err.contains(says), "{bc} {dv}: {err}");
    }
}
