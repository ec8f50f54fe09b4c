#!/usr/bin/env bash
# The steps of the dbsplit GitHub Action (action.yml), as a script a test can run: the runner's
# environment (GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, RUNNER_TEMP) and the action's inputs as
# INPUT_* variables in, annotations on stdout, a job summary, outputs and the exit code out.
#
#   INPUT_COMMAND       check (default: lint, and with a database URL plan --exit-code and
#                       audit), lint, plan, audit or validate
#   INPUT_MANIFEST      the manifest (default services.toml)
#   INPUT_DATABASE_URL  the server, for plan and audit (never printed)
#   INPUT_FAIL_ON       error (default) or warning: the findings of lint and audit that fail
#   INPUT_ARGS          more arguments for every dbsplit command run (split on whitespace)
#
# Exit code: the worst of the commands run (0 clean, 1 found something, 2 trouble). Outputs:
# `lint`, `plan`, `audit`, `validate` (each command's exit code) and `exit-code`.
set -uo pipefail

command=${INPUT_COMMAND:-check}
fail_on=${INPUT_FAIL_ON:-error}
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
outputs=${GITHUB_OUTPUT:-/dev/null}
temp=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/dbsplit.XXXXXX")
trap 'rm -rf "$temp"' EXIT

export DBSPLIT_MANIFEST=${INPUT_MANIFEST:-services.toml}
export NO_COLOR=1
if [ -n "${INPUT_DATABASE_URL:-}" ]; then
  # The URL may hold a password: keep it out of the log.
  echo "::add-mask::${INPUT_DATABASE_URL}"
  export DATABASE_URL=$INPUT_DATABASE_URL
fi
read -r -a extra <<<"${INPUT_ARGS:-}"

case "$fail_on" in
  error | warning) ;;
  *)
    echo "::error title=dbsplit::fail-on must be error or warning, not ${fail_on}"
    exit 2
    ;;
esac

worst=0
# Records the exit code of `name` as an output and in the worst so far.
record() {
  local name=$1 code=$2
  echo "${name}=${code}" >>"$outputs"
  if [ "$code" -gt "$worst" ]; then worst=$code; fi
}

# Runs dbsplit, its stderr kept in $temp/stderr (and shown in the log); prints the exit code.
dbsplit_run() {
  local code=0
  dbsplit "$@" 2>"$temp/stderr" || code=$?
  cat "$temp/stderr" >&2
  return "$code"
}

# The summary's section for a command that failed with trouble: its messages.
trouble() {
  local name=$1 code=$2
  {
    echo "### dbsplit ${name}: failed (exit ${code})"
    echo
    echo '```'
    cat "$temp/stderr"
    echo '```'
    echo
  } >>"$summary"
  local first
  first=$(head -n 1 "$temp/stderr" | sed 's/%/%25/g')
  echo "::error title=dbsplit ${name}::${first:-dbsplit ${name} exited ${code}}"
}

# lint or audit: annotations in the log, the findings table in the summary.
findings() {
  local name=$1 code=0
  dbsplit_run "$name" --format github --fail-on "$fail_on" "${extra[@]}" || code=$?
  if [ "$code" -ge 2 ]; then
    trouble "$name" "$code"
  else
    local table=0
    {
      echo "### dbsplit ${name}"
      echo
      dbsplit_run "$name" --format markdown --fail-on "$fail_on" "${extra[@]}" || table=$?
      echo
    } >>"$summary"
    if [ "$table" -ge 2 ]; then trouble "$name" "$table" && code=$table; fi
  fi
  record "$name" "$code"
}

# plan --exit-code: the plan in the log and the summary; when changes are pending, a notice per change
# (naming the service's team and contact) and an error.
plan() {
  local code=0
  dbsplit_run plan --format markdown --exit-code "${extra[@]}" >"$temp/plan.md" || code=$?
  cat "$temp/plan.md"
  if [ "$code" -ge 2 ]; then
    trouble plan "$code"
  else
    { cat "$temp/plan.md"; echo; } >>"$summary"
    if [ "$code" -eq 1 ]; then
      local notices=0
      dbsplit_run plan --format github "${extra[@]}" || notices=$?
      if [ "$notices" -ge 2 ]; then trouble plan "$notices" && code=$notices; fi
      echo "::error title=dbsplit plan::the cluster does not match the manifest: changes are pending (see the job summary)"
    fi
  fi
  record plan "$code"
}

validate() {
  local code=0
  dbsplit_run validate "${extra[@]}" || code=$?
  if [ "$code" -ne 0 ]; then trouble validate "$code"; fi
  record validate "$code"
}

need_url() {
  if [ -z "${INPUT_DATABASE_URL:-}" ]; then
    echo "::error title=dbsplit::${1} needs the database-url input"
    record "$1" 2
    return 1
  fi
}

case "$command" in
  check)
    findings lint
    if [ -n "${INPUT_DATABASE_URL:-}" ]; then
      plan
      findings audit
    fi
    ;;
  lint) findings lint ;;
  plan) need_url plan && plan ;;
  audit) need_url audit && findings audit ;;
  validate) validate ;;
  *)
    echo "::error title=dbsplit::command must be check, lint, plan, audit or validate, not ${command}"
    worst=2
    ;;
esac
echo "exit-code=${worst}" >>"$outputs"
exit "$worst"
