#!/usr/bin/env bash
# benches/peers.sh - dbsplit next to its peers on the generated cluster of ../shared/peers, in one
# run, so that the figures compare as ratios (absolute seconds on a shared machine vary by 2x).
#
#   benches/peers.sh [SCHEMAS] [TABLES] [RUNS]      (default 200 50 5: 10,000 tables)
#
# It builds dbsplit (release), starts a throwaway PostgreSQL server (fsync off,
# max_locks_per_transaction = 1024 so that every tool's cold apply fits one transaction), and:
#
#   1. cold apply: for each tool, a fresh copy of the legacy cluster (every object owned by the
#      superuser, no service roles: CREATE DATABASE ... TEMPLATE), the tool's apply, timed once
#      per round (APPLY_RUNS rounds, default 1), tools interleaved; the roles a tool created
#      are dropped before the next;
#   2. no-op plan: the converged cluster (the generator's SQL, then `ldap2pg --real` once for
#      ldap2pg's fixpoint when ldap2pg is there, then `dbsplit apply`), after which `dbsplit
#      plan --exit-code` must be empty; then RUNS interleaved rounds of: `dbsplit plan`, dbsplit's
#      plan queries alone run by psql on one connection (the floor: src/catalog/queries/*.sql),
#      `dbsplit audit`, audit's queries alone, and each peer's dry run (through run-peers.sh);
#   3. a table of medians and each one's ratio to dbsplit's.
#
# Environment:
#   PG_BIN        PostgreSQL's bin folder (default: pg_config --bindir, else Debian's 15)
#   PEERS_DIR     ../shared/peers (gen_large_cluster.py, run-peers.sh); default: beside the
#                 repository, or two levels up from a worktree
#   PEERS_VENV    venv with pgbedrock 0.4.2 and ldap2pg 5.9 (run-peers.sh creates one when
#                 missing; python-ldap needs libldap2-dev and libsasl2-dev)
#   PGROLES       a pgroles 0.15 binary (`cargo install pgroles-cli --version 0.15.0 --locked
#                 --root DIR`); left out when unset
#   PEERS         peers to run (default: "pgbedrock ldap2pg", plus pgroles when PGROLES is set)
#   APPLY_PEERS   peers whose cold apply is timed (default: PEERS; ldap2pg's takes ~45 s)
#   APPLY_RUNS    rounds of cold applies (default 1)
#   SKIP_APPLY=1  only the no-op plan
#   DBSPLIT       the dbsplit binary to time (default: this repository's, built in release)
#   DBSPLIT_BASE  another dbsplit binary (e.g. a build of main) timed next to this one
#   KEEP=1        keep the server's folder (and print it)
set -euo pipefail

SCHEMAS=${1:-200}
TABLES=${2:-50}
RUNS=${3:-5}
APPLY_RUNS=${APPLY_RUNS:-1}

repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${PEERS_DIR:-} ]]; then
  PEERS_DIR=$repo/../shared/peers
  [[ -d $PEERS_DIR ]] || PEERS_DIR=$repo/../../shared/peers # from a worktree under wt/
fi
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
export PEERS_CACHE=${PEERS_CACHE:-$repo/target/peers}
export PEERS_VENV=${PEERS_VENV:-$PEERS_CACHE/venv}
if [[ -z ${PG_BIN:-} ]]; then
  PG_BIN=$(pg_config --bindir 2>/dev/null || true)
  [[ -x $PG_BIN/initdb ]] || PG_BIN=/usr/lib/postgresql/15/bin
fi
PEERS=${PEERS:-"pgbedrock ldap2pg${PGROLES:+ pgroles}"}
APPLY_PEERS=${APPLY_PEERS:-$PEERS}

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }

if [[ -z ${DBSPLIT:-} ]]; then
  log "building dbsplit (release)"
  (cd "$repo" && cargo build --release --locked -q)
  DBSPLIT=$repo/target/release/dbsplit
fi
BASE=${DBSPLIT_BASE:-}

# --- the server ---------------------------------------------------------------------------
work=$(mktemp -d /tmp/dbsplit-peers.XXXXXX)
chmod 755 "$work"
as_pg=()
if [[ $(id -u) == 0 ]]; then
  chown postgres: "$work"
  as_pg=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
"${as_pg[@]}" "$PG_BIN/initdb" -D "$work/data" -U postgres -A trust --no-sync >/dev/null
cat >>"$work/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
fsync = off
synchronous_commit = off
full_page_writes = off
max_locks_per_transaction = 1024
# The machine is shared: keep the WAL small (checkpoints are cheap with fsync off).
wal_level = minimal
max_wal_senders = 0
max_wal_size = 128MB
min_wal_size = 32MB
EOF
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
DSN="host=127.0.0.1 port=$port user=postgres dbname=big"
URL="postgres://postgres@127.0.0.1:$port/big"
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)
admin() { PGOPTIONS="-c client_min_messages=warning" "${PSQL[@]}" "host=127.0.0.1 port=$port user=postgres dbname=postgres" "$@"; }
log "server $("$PG_BIN/postgres" --version) on port $port, data in $work"

# --- the clusters -------------------------------------------------------------------------
specs=$work/specs
gen=$PEERS_DIR/gen_large_cluster.py
t0=$(now)
python3 "$gen" --schemas "$SCHEMAS" --tables "$TABLES" --db legacy_template --state legacy \
  --sql "$work/legacy.sql"
python3 "$gen" --schemas "$SCHEMAS" --tables "$TABLES" --db big --specs-dir "$specs" \
  --sql "$work/converged.sql"
admin -f "$work/legacy.sql" >/dev/null
log "generated the legacy cluster ($SCHEMAS schemas x $TABLES tables) in $(since "$t0") s"

# Every role but postgres and the built-in ones, as pgbedrock wants a cluster with no others.
drop_roles() {
  admin -At -c "SELECT format('DROP ROLE %I;', rolname) FROM pg_roles
                WHERE rolname <> 'postgres' AND rolname NOT LIKE 'pg\_%'" >"$work/drop.sql"
  admin -f "$work/drop.sql" >/dev/null
}
fresh_legacy() {
  admin -c "DROP DATABASE IF EXISTS big WITH (FORCE)" >/dev/null
  drop_roles
  admin -c "CREATE DATABASE big TEMPLATE legacy_template" >/dev/null
}

declare -A APPLY
APPLY[dbsplit]="\"$DBSPLIT\" apply --yes --manifest \"$specs/services.toml\" --database-url \"$DSN\""
APPLY[pgbedrock]="\"$PEERS_VENV/bin/pgbedrock\" configure \"$specs/pgbedrock.yml\" -h 127.0.0.1 -p $port -U postgres -d big --live"
APPLY[ldap2pg]="PGDSN=\"$DSN\" \"$PEERS_VENV/bin/ldap2pg\" -c \"$specs/ldap2pg.yml\" --real --no-color"
[[ -n $BASE ]] && APPLY[base]="\"$BASE\" apply --yes --manifest \"$specs/services.toml\" --database-url \"$DSN\""
[[ -n ${PGROLES:-} ]] && APPLY[pgroles]="\"$PGROLES\" apply -f \"$specs/pgroles.yml\" --database-url \"$URL\""

declare -A TIMES
record() { TIMES[$1]="${TIMES[$1]:-} $2"; }
median() {
  # shellcheck disable=SC2086
  printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {if (NR == 0) {print "-"; exit}
    m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f\n", m}'
}
# Runs a command, times it, keeps its output; a failure is reported, not fatal.
timed() {
  local label=$1 cmd=$2 t rc=0
  t=$(now)
  (cd "$specs" && eval "$cmd") >"$work/$label.out" 2>"$work/$label.err" || rc=$?
  local took
  took=$(since "$t")
  if [[ $rc != 0 && $rc != 1 ]]; then
    log "  $label failed (exit $rc): $(tail -n 3 "$work/$label.err" | tr '\n' ' ')"
    return
  fi
  record "$label" "$took"
  log "  $label: $took s"
}

available() {
  case $1 in
    pgbedrock | ldap2pg) [[ -x $PEERS_VENV/bin/$1 ]] ;;
    pgroles) [[ -n ${PGROLES:-} && -x ${PGROLES:-} ]] ;;
    base | audit-base) [[ -n $BASE ]] ;;
    *) true ;;
  esac
}

if [[ ${SKIP_APPLY:-0} != 1 ]]; then
  # The venv, once, before anything is timed (run-peers.sh creates it when missing).
  if [[ ! -x $PEERS_VENV/bin/pgbedrock ]]; then
    PEERS="" "$PEERS_DIR/run-peers.sh" "$DSN" "$specs" 1 >/dev/null 2>&1 || true
  fi
  log "cold apply, each on a fresh copy of the legacy cluster"
  for round in $(seq 1 "$APPLY_RUNS"); do
    for tool in dbsplit base $APPLY_PEERS; do
      available "$tool" || continue
      fresh_legacy
      timed "apply-$tool" "${APPLY[$tool]}"
      if [[ $tool == dbsplit ]] &&
        ! "$DBSPLIT" plan --exit-code --manifest "$specs/services.toml" --database-url "$DSN" >/dev/null; then
        log "  the cluster is not converged after dbsplit apply"
      fi
    done
  done
fi

# --- the converged cluster and the no-op plan ---------------------------------------------
admin -c "DROP DATABASE IF EXISTS big WITH (FORCE)" >/dev/null
drop_roles
t0=$(now)
admin -f "$work/converged.sql" >/dev/null
if available ldap2pg; then
  PGDSN="$DSN" "$PEERS_VENV/bin/ldap2pg" -c "$specs/ldap2pg.yml" --real --no-color >/dev/null 2>&1 ||
    log "ldap2pg --real failed on the converged cluster"
fi
"$DBSPLIT" apply --yes --manifest "$specs/services.toml" --database-url "$DSN" >/dev/null
if ! "$DBSPLIT" plan --exit-code --manifest "$specs/services.toml" --database-url "$DSN" >"$work/plan.txt"; then
  log "dbsplit plan is not empty on the cluster dbsplit just converged:"
  head -n 20 "$work/plan.txt" >&2
  exit 2
fi
"${PSQL[@]}" "$DSN" -c "VACUUM ANALYZE" >/dev/null
log "converged the cluster in $(since "$t0") s"

# The floor: dbsplit's own catalog queries, back to back on one connection by psql.
queries=$repo/src/catalog/queries
floor_sql() {
  for name in "$@"; do
    cat "$queries/$name.sql"
    printf ';\n'
  done
}
# The same names and order as catalog::introspect::query_names.
plan_queries=(database passwords schemas relations roles role_settings columns types role_dependents functions default_acls pooler_auth)
audit_queries=("${plan_queries[@]}" foreign_keys dependencies function_bodies)
floor_sql "${plan_queries[@]}" >"$work/floor-plan.sql"
# audit reads `linked` with the relations (catalog::introspect::RELATIONS_LINKED); plan
# does not, on a converged cluster.
floor_sql "${audit_queries[@]}" | sed 's|false /\* linked \*/|true|' >"$work/floor-audit.sql"

declare -A PLAN
PLAN[dbsplit]="\"$DBSPLIT\" plan --manifest \"$specs/services.toml\" --database-url \"$DSN\""
PLAN[floor]="\"${PSQL[0]}\" -X -q -v ON_ERROR_STOP=1 -o /dev/null \"$DSN\" -f \"$work/floor-plan.sql\""
PLAN[audit]="\"$DBSPLIT\" audit --manifest \"$specs/services.toml\" --database-url \"$DSN\""
PLAN[base]="\"$BASE\" plan --manifest \"$specs/services.toml\" --database-url \"$DSN\""
PLAN[audit-base]="\"$BASE\" audit --manifest \"$specs/services.toml\" --database-url \"$DSN\""
PLAN[audit-floor]="\"${PSQL[0]}\" -X -q -v ON_ERROR_STOP=1 -o /dev/null \"$DSN\" -f \"$work/floor-audit.sql\""

# A peer's dry run, timed by run-peers.sh (one run; its own commands, its own clock).
peer_dry_run() {
  local tool=$1 line
  line=$(PEERS=$tool PGROLES=${PGROLES:-} DBSPLIT_CMD="" "$PEERS_DIR/run-peers.sh" "$DSN" "$specs" 1 2>>"$work/run-peers.err" |
    awk -v t="$tool" '$1 == t {print $4, $7}')
  if [[ -z $line ]]; then
    log "  $tool: no figure from run-peers.sh (see $work/run-peers.err)"
    return
  fi
  read -r took rc <<<"$line"
  record "plan-$tool" "$took"
  log "  plan-$tool: $took s (exit $rc)"
}

log "no-op plan, $RUNS interleaved rounds"
for round in $(seq 1 "$RUNS"); do
  for label in dbsplit base floor audit audit-base audit-floor; do
    available "$label" || continue
    timed "plan-$label" "${PLAN[$label]}"
  done
  for tool in $PEERS; do
    available "$tool" && peer_dry_run "$tool"
  done
done
peak_rss=$(/usr/bin/time -f %M "$DBSPLIT" plan --manifest "$specs/services.toml" --database-url "$DSN" 2>&1 >/dev/null | tail -n 1)

# --- the table ----------------------------------------------------------------------------
row() {
  local label=$1 what=$2 base=$3 m b
  [[ -n ${TIMES[$label]:-} ]] || return 0
  m=$(median "${TIMES[$label]}")
  b=$(median "${TIMES[$base]:-}")
  awk -v w="$what" -v m="$m" -v b="$b" -v n="$(wc -w <<<"${TIMES[$label]}")" \
    'BEGIN {r = (b == "-" || b == 0) ? "-" : sprintf("%.2fx", m / b); printf "%-44s %4d %9.3f %10s\n", w, n, m, r}'
}
echo
echo "$SCHEMAS schemas x $TABLES tables ($((SCHEMAS * TABLES)) tables and as many sequences), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}')"
printf '%-44s %4s %9s %10s\n' work runs median_s vs_dbsplit
row plan-dbsplit "no-op plan: dbsplit plan" plan-dbsplit
row plan-base "  dbsplit base ($BASE)" plan-dbsplit
row plan-floor "  its catalog queries alone (psql)" plan-dbsplit
for tool in $PEERS; do row "plan-$tool" "  $tool dry run" plan-dbsplit; done
row plan-audit "audit: dbsplit audit" plan-audit
row plan-audit-base "  dbsplit base" plan-audit
row plan-audit-floor "  its catalog queries alone (psql)" plan-audit
row apply-dbsplit "cold apply: dbsplit apply" apply-dbsplit
row apply-base "  dbsplit base" apply-dbsplit
for tool in $APPLY_PEERS; do row "apply-$tool" "  $tool" apply-dbsplit; done
echo "peak RSS of dbsplit plan: $((peak_rss / 1024)) MiB"
