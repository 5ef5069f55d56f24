#!/usr/bin/env bash
# Scheduled job: retrain on the new data, gate the candidate against the stage's current
# version, and on a pass register + promote it and push the runs and tags.
#
#   RETRAIN_CMD        trains the candidate (and scores prod on the same hold-out); the last
#                      line it prints is the candidate's run id          (required)
#   GITTRACK_MODEL     the registered model                               (default forecaster)
#   GITTRACK_STAGE     the stage to promote to                            (default prod)
#   GITTRACK_REMOTE    the git remote runs and tags travel through        (default origin)
#   GITTRACK_ARTIFACT_REMOTE   where artifacts go (read by gittrack itself; s3://..., a path)
#   GITTRACK_PUSH_TOKEN / GITTRACK_PUSH_USER   credentials for the git remote, from CI
#                      variables. They stay in the environment: git asks the credential
#                      helper below for them when it connects, so they are never written to
#                      .git/config, a run record, a tag or the log.
#
# Exit: 0 promoted and pushed, 1 the gate failed (prod left alone; the report says why) or an
# error, 2 a usage error.
set -euo pipefail

: "${RETRAIN_CMD:?set RETRAIN_CMD to the command that trains the candidate}"
model="${GITTRACK_MODEL:-forecaster}"
stage="${GITTRACK_STAGE:-prod}"
remote="${GITTRACK_REMOTE:-origin}"
report_dir="${GITTRACK_REPORT_DIR:-gittrack-report}"
mkdir -p "$report_dir"

with_credentials() {
  if [ -n "${GITTRACK_PUSH_TOKEN:-}" ]; then
    # shellcheck disable=SC2016 # expanded by git's shell when it asks, not here
    GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=credential.helper \
      GIT_CONFIG_VALUE_0='!f() { test "$1" = get || exit 0; echo "username=${GITTRACK_PUSH_USER:-oauth2}"; echo "password=${GITTRACK_PUSH_TOKEN}"; }; f' \
      "$@"
  else
    "$@"
  fi
}

git config user.name >/dev/null || git config user.name "${GITTRACK_CI_NAME:-gittrack CI}"
git config user.email >/dev/null || git config user.email "${GITTRACK_CI_EMAIL:-ci@gittrack.invalid}"

echo "== bring runs, baselines and registry tags from $remote"
with_credentials gittrack pull "$remote"

echo "== retrain: $RETRAIN_CMD"
bash -c "$RETRAIN_CMD" | tee "$report_dir/retrain.log"
candidate="$(tail -n 1 "$report_dir/retrain.log")"

echo "== gate $candidate against $model/$stage, promote on a pass"
set +e
gittrack promote "$model" "$candidate" "$stage" --if-gate -m "scheduled retraining" \
  --json > "$report_dir/promotion.json"
code=$?
set -e
python3 - "$report_dir/promotion.json" <<'PY' || true
import json, sys
doc = json.load(open(sys.argv[1]))
gate = doc.get("gate") or {}
for rule in gate.get("rules", []):
    print(f"  {rule['rule']}: {rule['reason']}")
if doc["promoted"]:
    print(f"promoted {doc['model']} v{doc['version']} to {doc['stage']} ({doc['tag']})")
else:
    print(f"not promoted: {doc['stage']} stays at {doc['model']} v{doc['previous']}")
PY
if [ "$code" -ne 0 ]; then
  echo "The gate failed: $stage is left alone." >&2
  exit "$code"
fi

echo "== push runs and tags to $remote"
with_credentials gittrack push "$remote"
