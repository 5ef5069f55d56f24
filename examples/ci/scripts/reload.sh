#!/usr/bin/env bash
# Stage-tag job: a tag such as forecaster/prod/v3 (a promotion) or forecaster/prod/v3! (a
# rollback) was pushed; make the serving deployment load what the stage resolves to now.
#
#   GITTRACK_TAG       the pushed tag (default: CI_COMMIT_TAG or GITHUB_REF_NAME)
#   GITTRACK_SERVE_REPO   the repository `gittrack serve` reads, when this job can reach it:
#                      the tags are pulled into it (a server that follows its tags then
#                      reloads by itself)
#   GITTRACK_SERVE_PIDFILE   the pid of `gittrack serve`: it gets SIGHUP (reload now)
#   RELOAD_CMD         any other way to reload (kubectl rollout restart ..., an ssh command)
set -euo pipefail

tag="${GITTRACK_TAG:-${CI_COMMIT_TAG:-${GITHUB_REF_NAME:-}}}"
if [ -z "$tag" ]; then
  echo "No tag: set GITTRACK_TAG (CI_COMMIT_TAG and GITHUB_REF_NAME are read too)." >&2
  exit 2
fi
model="${tag%%/*}"
rest="${tag#*/}"
stage="${rest%%/*}"
if [ "$model" = "$tag" ] || [ "$stage" = "$rest" ]; then
  echo "Tag '$tag' is not a stage tag MODEL/STAGE/vN: nothing to reload." >&2
  exit 0
fi

repo_args=()
if [ -n "${GITTRACK_SERVE_REPO:-}" ]; then
  repo_args=(--repo "$GITTRACK_SERVE_REPO")
  echo "== bring the registry tags into $GITTRACK_SERVE_REPO"
  gittrack "${repo_args[@]}" pull "${GITTRACK_REMOTE:-origin}"
fi
echo "== $model/$stage now resolves to"
gittrack "${repo_args[@]}" models resolve "$model/$stage"

reloaded=no
if [ -n "${GITTRACK_SERVE_PIDFILE:-}" ]; then
  pid="$(cat "$GITTRACK_SERVE_PIDFILE")"
  echo "== SIGHUP to gittrack serve (pid $pid)"
  kill -HUP "$pid"
  reloaded=yes
fi
if [ -n "${RELOAD_CMD:-}" ]; then
  echo "== $RELOAD_CMD"
  bash -c "$RELOAD_CMD"
  reloaded=yes
fi
if [ "$reloaded" = no ] && [ -z "${GITTRACK_SERVE_REPO:-}" ]; then
  echo "Nothing to reload: set GITTRACK_SERVE_PIDFILE, GITTRACK_SERVE_REPO or RELOAD_CMD." >&2
  exit 2
fi
