//! `syncmap sandbox`: local emulators of Business Central and Dataverse, until Ctrl-C.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::ValueEnum;
use syncmap::sandbox::{AuthConfig, Faults, Limits, Sandbox, SandboxConfig, Seed};

use super::CliError;

/// What the services start with.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SeedArg {
    /// A small world for the standard mappings.
    Demo,
    /// Only the companies and Dataverse's own rows.
    Empty,
}

/// `syncmap sandbox`.
#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// The address to listen on; loopback unless you mean to share the sandbox.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The Business Central port (0 picks a free one).
    #[arg(long, default_value_t = 8081)]
    bc_port: u16,
    /// The Dataverse port (0 picks a free one).
    #[arg(long, default_value_t = 8082)]
    dv_port: u16,
    /// Keep the data in this folder (two SQLite files) instead of in memory.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// What the services start with.
    #[arg(long, value_enum, default_value = "demo")]
    seed: SeedArg,
    /// Accept requests without a token.
    #[arg(long)]
    no_auth: bool,
    /// The environment variable holding the client secret the token endpoints accept.
    #[arg(long, value_name = "VAR", default_value = "SYNCMAP_SANDBOX_SECRET")]
    client_secret_env: String,
    /// Make up a client secret and print it once (when the variable is not set).
    #[arg(long)]
    generate_secret: bool,
    /// How long tokens are valid, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    token_ttl: u64,
    /// Answer 429 beyond N requests per SECS seconds, per service (`6000/300` is the real limit).
    #[arg(long, value_name = "N/SECS", value_parser = parse_throttle)]
    throttle: Option<(u32, Duration)>,
    /// The fraction of requests answered 503.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    fail_rate: f64,
    /// The fraction of requests whose connection is closed without an answer, before they are
    /// processed.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    drop_rate: f64,
    /// The fraction of requests that write whose answer is lost after they were processed
    /// (committed): the client cannot tell whether the write happened.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = parse_rate)]
    lost_answer_rate: f64,
    /// Milliseconds added to every answer.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay: u64,
    /// Serve pages of N rows whatever `Prefer: odata.maxpagesize` asks.
    #[arg(long, value_name = "N")]
    ignore_page_size: Option<usize>,
    /// Next-page links relative to the request URL.
    #[arg(long)]
    relative_links: bool,
    /// Next-page links by offset (`$skip=N`) instead of `$skiptoken`.
    #[arg(long)]
    skip_paging: bool,
    /// Also serve `numbers`, a plain OData table keyed by integers, on the Dataverse port.
    #[arg(long)]
    integer_keys: bool,
    /// Companies seeded like the first besides it (`CRONUS 2`, `CRONUS 3`…), each with its
    /// Dataverse company row: to try a profile that syncs many companies.
    #[arg(long, value_name = "N", default_value_t = 0)]
    more_companies: usize,
    /// Answer refused values (400s naming a column) with 500, as some services do.
    #[arg(long)]
    refusals_as_500: bool,
    /// How long Business Central waits after a change before it sends the webhook
    /// notifications queued for a subscriber (`500ms`, `2s`, `1m`). The real service waits
    /// 30s; the sandbox's default is short so webhooks can be watched at work.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    notify_delay: Duration,
}

fn parse_throttle(s: &str) -> Result<(u32, Duration), String> {
    let (n, secs) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not N/SECS, such as 6000/300"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a number of requests"))?;
    let secs: u64 = secs
        .trim()
        .parse()
        .map_err(|_| format!("`{secs}` is not a number of seconds"))?;
    if n == 0 || secs == 0 {
        return Err("both numbers must be at least 1".into());
    }
    Ok((n, Duration::from_secs(secs)))
}

/// A duration with its unit: `250ms`, `2s` or `1m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 500ms, 2s or 1m"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "" => Err(format!("`{s}` needs a unit: ms, s or m (such as {s}s)")),
        other => Err(format!("`{other}` is not a unit of time: use ms, s or m")),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not between 0 and 1"))
    }
}

/// Runs the sandbox until SIGINT or SIGTERM.
pub fn run(args: SandboxArgs) -> Result<ExitCode, CliError> {
    let var = args.client_secret_env.clone();
    let (auth, generated) = auth(&args)?;
    let config = config(args, auth);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(serve(config, var, generated))
}

/// How the token endpoints authenticate clients, and whether the secret is to be made up.
fn auth(args: &SandboxArgs) -> Result<(AuthConfig, bool), CliError> {
    let var = &args.client_secret_env;
    if !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || var.is_empty() {
        return Err(CliError::Usage(format!(
            "--client-secret-env must name an environment variable (letters, digits, `_`), not `{var}`"
        )));
    }
    let from_env = std::env::var(var).ok().filter(|s| !s.is_empty());
    let mut auth = AuthConfig {
        required: !args.no_auth,
        token_ttl: Duration::from_secs(args.token_ttl.max(1)),
        ..AuthConfig::default()
    };
    let mut generated = false;
    match from_env {
        Some(secret) => auth.client_secret = secret,
        None if args.no_auth => {}
        None if args.generate_secret => generated = true,
        None => {
            return Err(CliError::Usage(format!(
                "the client secret is read from ${var}, which is not set: set it, pass \
                 --generate-secret to have one made up and printed, or --no-auth"
            )))
        }
    }
    Ok((auth, generated))
}

fn config(args: SandboxArgs, auth: AuthConfig) -> SandboxConfig {
    SandboxConfig {
        bind: args.bind,
        bc_port: args.bc_port,
        dv_port: args.dv_port,
        data: args.data,
        seed: match args.seed {
            SeedArg::Demo => Seed::Demo,
            SeedArg::Empty => Seed::Empty,
        },
        auth,
        limits: Limits {
            requests_per_window: args.throttle,
            ignore_page_size: args.ignore_page_size,
            relative_links: args.relative_links,
            skip_paging: args.skip_paging,
            refusals_as_500: args.refusals_as_500,
            notify_delay: args.notify_delay,
            ..Limits::default()
        },
        faults: Faults {
            error_rate: args.fail_rate,
            drop_rate: args.drop_rate,
            lost_answer_rate: args.lost_answer_rate,
            delay: Duration::from_millis(args.delay),
            seed: 0,
            echo_secrets: false,
            refuse_writes: false,
        },
        integer_keys: args.integer_keys,
        more_companies: args.more_companies,
    }
}

/// Starts the services, says where they are and how to reach them, and waits for a signal.
async fn serve(config: SandboxConfig, var: String, generated: bool) -> Result<ExitCode, CliError> {
    let notify_delay = config.limits.notify_delay;
    let sandbox = Sandbox::start(config)
        .await
        .map_err(|e| CliError::Io(e.to_string()))?;
    println!("Business Central: {}", sandbox.bc_url());
    println!("Dataverse:        {}", sandbox.dv_url());
    let companies = sandbox.company_names();
    let many = companies.len() > 1;
    match many {
        true => println!("Companies:        {}", companies.join(", ")),
        false => println!("Company:          {}", sandbox.company_name()),
    }
    println!(
        "Webhooks:         {}/subscriptions (notified {:?} after a change)",
        sandbox.bc_url(),
        notify_delay
    );
    if generated {
        println!();
        println!("Generated client secret (shown once; export it for syncmap):");
        println!("    export {var}={}", sandbox.auth().client_secret);
    }
    println!();
    println!("# syncmap.toml");
    // With several companies seeded, the profile syncs them all (see docs/scaling.md).
    let profile = match many {
        true => sandbox.companies_profile_toml_as(0, &var),
        false => None,
    };
    print!("{}", profile.unwrap_or_else(|| sandbox.profile_toml(&var)));
    println!();
    println!("Press Ctrl-C to stop.");
    let stop = syncmap::schedule::Stop::default();
    super::signals::stop_on_signals(stop.clone(), "stopping the sandbox", None)?;
    stop.wait().await;
    eprintln!("stopping…");
    sandbox.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2").unwrap_err().contains("needs a unit"));
        assert!(parse_duration("2h").unwrap_err().contains("`h`"));
        assert!(parse_duration("s").is_err());
    }
}
