//! Examples shown under each command's `--help`, and the options every command shares, said
//! once at the top.

/// Under `syncmap --help`.
pub const TOP: &str = "\
Every command also takes `--log-format human|json` (how log lines on standard error look;
filter them with SYNCMAP_LOG, e.g. `SYNCMAP_LOG=info`). Commands that read a plan take it from
`--plan`, else `plan.json` in the current folder, else `mappings/`, else the current folder
(`status`, `log`, `errors`, `retry` and `uncouple` then fall back to the plan of the latest run in
the state store); those that report take `--format human|json` (`--json` for short).

Start here:
  syncmap demo                          the standard mappings against local sandboxes
  syncmap init --defaults mappings      write the standard mappings to edit
  syncmap check                         type-check them
  syncmap run --mode full               sync with the systems in syncmap.toml";

/// Under `syncmap check --help`.
pub const CHECK: &str = "\
Examples:
  syncmap check
  syncmap check mappings/customers.map --format json
  syncmap check --format sarif > check.sarif";

/// Under `syncmap compile --help`.
pub const COMPILE: &str = "\
Examples:
  syncmap compile -o plan.json
  syncmap compile mappings -o plan.json && syncmap diff deployed.json plan.json
  syncmap compile -o plan.json --format json      {\"output\", \"digest\", \"table_mappings\", \"diagnostics\"}
  syncmap compile --format json > plan.json       without -o, standard output is the plan alone";

/// Under `syncmap diff --help`.
pub const DIFF: &str = "\
Examples:
  syncmap diff deployed.json plan.json
  syncmap diff deployed.json plan.json --format json";

/// Under `syncmap fmt --help`.
pub const FMT: &str = "\
Examples:
  syncmap fmt                           rewrite every .map file in place
  syncmap fmt --check                   change nothing; exit 1 when a file is not formatted
  syncmap fmt - < customers.map         format standard input to standard output";

/// Under `syncmap explain --help`.
pub const EXPLAIN: &str = "\
Examples:
  syncmap explain E0203
  syncmap explain                       list every code";

/// Under `syncmap test --help`.
pub const TEST: &str = "\
Examples:
  syncmap test
  syncmap test mappings/customers.map";

/// Under `syncmap init --help`.
pub const INIT: &str = "\
Examples:
  syncmap init --defaults mappings
  syncmap init --defaults mappings --force
  syncmap init --defaults mappings --format json   {\"dir\", \"files\": [the paths written]}";

/// Under `syncmap run --help`.
pub const RUN: &str = "\
Examples:
  syncmap run --mode full                         every record, the first time
  syncmap run                                     what changed since the last run
  syncmap run --table customers --dry-run         show what would change, write nothing
  syncmap run plan.json --profile prod.toml --format json
  syncmap run --company \"CRONUS UK Ltd.\"          one of the companies the profile names";

/// Under `syncmap schedule --help`.
pub const SCHEDULE: &str = "\
Examples:
  syncmap schedule
  syncmap schedule --metrics 127.0.0.1:9464 --log-format json
  syncmap schedule --once                         each job once, for cron
  syncmap schedule --once --format json           each job's name, run id, status and counts";

/// Under `syncmap worker --help`.
pub const WORKER: &str = "\
Examples:
  syncmap worker                                   on each machine, all sharing [state] url
  syncmap worker --metrics 127.0.0.1:9465 --log-format json
  syncmap worker --until-idle                      run what is due, then exit (for cron)
  syncmap worker --company \"CRONUS UK Ltd.\"        one of the companies the profile names

Workers share a store by units (a company's job's table mapping): each unit runs on one
worker at a time, in dependency order, and a killed worker's unit is taken over by another.
See docs/scaling.md.";

/// Under `syncmap demo --help`.
pub const DEMO: &str = "\
Examples:
  syncmap demo
  syncmap demo --format json";

/// Under `syncmap record --help`.
pub const RECORD: &str = "\
Examples:
  syncmap record customers --left 8c3e0000-0000-0000-0000-0000000000c1
  syncmap record customers --right 3f2504e0-4f89-11d3-9a0c-0305e82c3301 --dry-run";

/// Under `syncmap couple --help`.
pub const COUPLE: &str = "\
Examples:
  syncmap couple customers --left 8c3e0000-0000-0000-0000-0000000000c1 --right 3f2504e0-4f89-11d3-9a0c-0305e82c3301";

/// Under `syncmap uncouple --help`.
pub const UNCOUPLE: &str = "\
Examples:
  syncmap uncouple customers --left 8c3e0000-0000-0000-0000-0000000000c1
  syncmap uncouple customers --all                 every coupling, and the watermarks";

/// Under `syncmap match --help`.
pub const MATCH: &str = "\
Examples:
  syncmap match customers --dry-run
  syncmap match customers";

/// Under `syncmap status --help`.
pub const STATUS: &str = "\
Examples:
  syncmap status
  syncmap status --format json
  syncmap status --profile /etc/syncmap/syncmap.toml  from the store alone: its latest run's plan";

/// Under `syncmap log --help`.
pub const LOG: &str = "\
Examples:
  syncmap log
  syncmap log --status failed --since 2026-12-01
  syncmap log --run 42 --format json";

/// Under `syncmap errors --help`.
pub const ERRORS: &str = "\
Examples:
  syncmap errors
  syncmap errors customers --format json";

/// Under `syncmap retry --help`.
pub const RETRY: &str = "\
Examples:
  syncmap retry
  syncmap retry customers";

/// Under `syncmap resolve --help`.
pub const RESOLVE: &str = "\
Examples:
  syncmap resolve customers --left 0000001a-0000-4000-8000-000000000003 --take left --dry-run
  syncmap resolve customers --right 7f3c9a10-0000-4000-8000-00000000000a --take right
  syncmap resolve contacts --left 740bd36b-4de7-47f9-86fc-a05e83249b00 --restore
  syncmap resolve customers --all --take left --field creditLimit";

/// Under `syncmap show --help`.
pub const SHOW: &str = "\
Examples:
  syncmap show changes.json
  syncmap show changes.json --format json";

/// Under `syncmap apply --help`.
pub const APPLY: &str = "\
Examples:
  syncmap run --dry-run --mode full -o changes.json
  syncmap show changes.json
  syncmap apply changes.json";

/// Under `syncmap report --help`.
pub const REPORT: &str = "\
Examples:
  syncmap report -o report.html
  syncmap report plan.json --profile prod.toml --runs 50 -o report.html";

/// Under `syncmap doctor --help`.
pub const DOCTOR: &str = "\
Prints a block per system with a line per check (`ok`, `FAIL` or `skip`, and what was found or
what to do), then any drift of the live schemas from the snapshots as diagnostics, then a
summary. `--format json` prints `{\"ok\", \"systems\": [{\"system\", \"kind\", \"location\",
\"checks\"}], \"diagnostics\"}`; `--format sarif` the failed checks and the drift as SARIF 2.1.0.

Examples:
  syncmap doctor
  syncmap doctor --plan plan.json --profile prod.toml --format json";

/// Under `syncmap sandbox --help`.
pub const SANDBOX: &str = "\
Examples:
  syncmap sandbox
  syncmap sandbox --seed empty --lost-answer-rate 0.05";

/// Under `syncmap schema pull --help`.
pub const SCHEMA_PULL: &str = "\
Examples:
  syncmap schema pull dv -o mappings/schemas/dataverse.json";

/// Under `syncmap schema import --help`.
pub const SCHEMA_IMPORT: &str = "\
Examples:
  syncmap schema import metadata.xml -o mappings/schemas/shop.json
  syncmap schema import metadata.xml --tables customers,orders";

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// Every example parses: a renamed or removed flag breaks this test, not a reader's trust.
    #[test]
    fn every_example_is_a_valid_command_line() {
        let all = [
            TOP,
            CHECK,
            COMPILE,
            DIFF,
            FMT,
            EXPLAIN,
            TEST,
            INIT,
            RUN,
            SCHEDULE,
            DEMO,
            RECORD,
            COUPLE,
            UNCOUPLE,
            MATCH,
            STATUS,
            LOG,
            ERRORS,
            RETRY,
            RESOLVE,
            SHOW,
            APPLY,
            REPORT,
            DOCTOR,
            SANDBOX,
            SCHEMA_PULL,
            SCHEMA_IMPORT,
        ];
        let mut checked = 0;
        for text in all {
            for line in text.lines().filter(|l| l.starts_with("  syncmap ")) {
                // The command, without its comment (two spaces or more) and shell plumbing.
                let command = line.trim_start().split("  ").next().unwrap_or_default();
                let command = command.split(['&', '>', '<']).next().unwrap_or_default();
                let words: Vec<&str> = command.split_whitespace().collect();
                if let Err(e) = super::super::Cli::try_parse_from(&words) {
                    panic!("`{command}` does not parse: {e}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 40, "{checked} examples");
    }
}
