#!/bin/sh
# The syncmap steps of a CI pipeline, runnable anywhere: github-actions.yml beside this file
# calls it, and so does the test that proves it green on this repository's own mappings.
#
#   check.sh [MAPPINGS]        check (SARIF into syncmap.sarif, and readable in the log),
#                              fmt --check, test, compile -o plan.json; exit 1 if any fails
#   check.sh diff OLD NEW      compile two folders of mappings (a pull request's base and head)
#                              and print what changes between the plans; exit 0 whether or not
#                              they differ, 2 when one does not compile
#
# $SYNCMAP names the binary (default `syncmap`); $SYNCMAP_OUT the folder written to (default
# the current one). Under GitHub Actions the plan diff also goes to the job summary.
set -u
syncmap="${SYNCMAP:-syncmap}"
out="${SYNCMAP_OUT:-.}"

if [ "${1:-}" = diff ]; then
    old="${2:?usage: check.sh diff OLD_MAPPINGS NEW_MAPPINGS}"
    new="${3:?usage: check.sh diff OLD_MAPPINGS NEW_MAPPINGS}"
    if [ ! -d "$old" ]; then
        echo "the base has no mappings ($old): every table mapping is new"
        exit 0
    fi
    "$syncmap" compile "$old" -o "$out/plan-base.json" || exit 2
    "$syncmap" compile "$new" -o "$out/plan-head.json" || exit 2
    "$syncmap" diff "$out/plan-base.json" "$out/plan-head.json" > "$out/plan-diff.txt"
    status=$?
    cat "$out/plan-diff.txt"
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        {
            echo "### What this change does to the syncmap plan"
            echo '```'
            cat "$out/plan-diff.txt"
            echo '```'
        } >> "$GITHUB_STEP_SUMMARY"
    fi
    # 0: the same plan; 1: they differ, which is what a review wants to see, not a failure.
    [ "$status" -le 1 ] && exit 0
    exit "$status"
fi

mappings="${1:-mappings}"
failed=0
run() {
    echo "\$ syncmap $*"
    "$syncmap" "$@" || failed=1
}
# SARIF first, so that code scanning gets the diagnostics even when a later step fails.
"$syncmap" check --format sarif "$mappings" > "$out/syncmap.sarif" || failed=1
run check "$mappings"
run fmt --check "$mappings"
run test "$mappings"
run compile "$mappings" -o "$out/plan.json"
exit "$failed"
