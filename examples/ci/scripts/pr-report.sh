#!/usr/bin/env bash
# Pull-request job: train the candidate, gate it against the stage's current version, and post
# the report (metrics with deltas and pass/fail, changed params and data versions, a chart) as
# a comment on the pull or merge request. The job fails when the gate fails.
#
#   TRAIN_CMD          trains the candidate; the last line it prints is its run id (required)
#   GITTRACK_MODEL / GITTRACK_STAGE   what to compare with  (default forecaster / prod)
#   GITTRACK_AGAINST   another reference: models:/NAME/STAGE, baseline or a run
#   GITTRACK_REMOTE    the git remote to bring runs and tags from        (default origin)
#   GITTRACK_REPORT_DIR   where comment.md, gate.json and gate.png go  (default gittrack-report)
#   CHART_URL          where the comment links the chart (default: gate.png beside it)
#   Posting: GitHub with GH_TOKEN + PR_NUMBER (the gh CLI); GitLab with GITLAB_TOKEN +
#   CI_MERGE_REQUEST_IID (+ CI_API_V4_URL, CI_PROJECT_ID); otherwise comment.md is left as is.
set -euo pipefail

: "${TRAIN_CMD:?set TRAIN_CMD to the command that trains the candidate}"
model="${GITTRACK_MODEL:-forecaster}"
stage="${GITTRACK_STAGE:-prod}"
against="${GITTRACK_AGAINST:-models:/$model/$stage}"
remote="${GITTRACK_REMOTE:-origin}"
report_dir="${GITTRACK_REPORT_DIR:-gittrack-report}"
mkdir -p "$report_dir"

git config user.name >/dev/null || git config user.name "${GITTRACK_CI_NAME:-gittrack CI}"
git config user.email >/dev/null || git config user.email "${GITTRACK_CI_EMAIL:-ci@gittrack.invalid}"

echo "== bring runs, baselines and registry tags from $remote"
gittrack pull "$remote"

echo "== train: $TRAIN_CMD"
bash -c "$TRAIN_CMD" | tee "$report_dir/train.log"
candidate="$(tail -n 1 "$report_dir/train.log")"

echo "== gate $candidate against $against"
set +e
gittrack gate "$candidate" --against "$against" --format md --chart "$report_dir/gate.png" \
  --chart-url "${CHART_URL:-gate.png}" -o "$report_dir/comment.md"
code=$?
set -e
if [ "$code" -gt 1 ] || [ ! -s "$report_dir/comment.md" ]; then
  echo "The gate could not run (exit $code)." >&2
  exit "$code"
fi
gittrack gate "$candidate" --against "$against" --json -o "$report_dir/gate.json" || true
cat "$report_dir/comment.md"

if [ -n "${GH_TOKEN:-}" ] && [ -n "${PR_NUMBER:-}" ]; then
  gh pr comment "$PR_NUMBER" --body-file "$report_dir/comment.md"
elif [ -n "${GITLAB_TOKEN:-}" ] && [ -n "${CI_MERGE_REQUEST_IID:-}" ]; then
  python3 -c 'import json,sys; print(json.dumps({"body": open(sys.argv[1]).read()}))' \
    "$report_dir/comment.md" > "$report_dir/note.json"
  curl --fail --silent --show-error --request POST \
    --header "PRIVATE-TOKEN: $GITLAB_TOKEN" --header "Content-Type: application/json" \
    --data @"$report_dir/note.json" \
    "$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes" >/dev/null
else
  echo "(no pull request to comment on: the report is $report_dir/comment.md)"
fi
exit "$code"
