#!/usr/bin/env bash
# benches/apply.sh - the cold apply of the legacy cluster of ../shared/peers: dbsplit next to its
# peers and next to its floor, in one run, so that the figures compare as ratios (absolute
# seconds on a shared machine vary by 2x).
#
#   benches/apply.sh [SCHEMAS] [TABLES] [RUNS]      (default 200 50 1: 10,000 tables)
#
# It starts a throwaway PostgreSQL server (fsync off, max_locks_per_transaction = 1024 so that
# every tool's cold apply fits one transaction) and, RUNS rounds of, tools interleaved, each on
# its own fresh copy of the legacy cluster (every object owned by the superuser, no service
# roles: CREATE DATABASE ... TEMPLATE; the roles the previous tool created are dropped):
#
#   dbsplit    this repository's binary (release): `apply --yes`, then `plan --exit-code` must
#              be empty (not timed)
#   floor      the statements dbsplit's apply executed in the same round (DBSPLIT_APPLY_SCRIPT),
#              in the same messages, sent by psql in one transaction: the server's share
#   base       the binary DBSPLIT_BASE, or one built from BASE_REF, when either is set
#   pgbedrock  pgbedrock 0.4.2 `configure --live`, when PEERS_VENV has it
#   pgroles    pgroles 0.15 `apply`, when PGROLES is set
#
# then prints the medians, each one's ratio to dbsplit's (above 1: dbsplit is faster), and the
# statements dbsplit sent and in how many round trips. Last, it restarts the server with the
# default max_locks_per_transaction (64) and applies once more with this dbsplit: the plan no
# longer fits one transaction, so it is applied in transactions of whole services; the run
# must converge (`plan --exit-code` is then empty), and one line says so.
#
# A tool that fails is reported with the end of its stderr and left out of the table; any other
# failure stops the run with the line and command that failed.
#
# Environment:
#   PG_BIN        PostgreSQL's bin folder (default: pg_config --bindir, else Debian's 15)
#   PEERS_DIR     ../shared/peers (gen_large_cluster.py); default: beside the repository, or
#                 two levels up from a worktree
#   PEERS_VENV    venv with pgbedrock 0.4.2 (default: $PEERS_DIR/.venv); left out when missing
#   PGROLES       a pgroles 0.15 binary; left out when unset
#   APPLY_PEERS   the peers to time (default: "pgbedrock pgroles", those available)
#   DBSPLIT       the dbsplit binary to time (default: this repository's, built in release)
#   DBSPLIT_BASE  another dbsplit binary timed next to this one (e.g. a build of main)
#   BASE_REF      build the base from this commit instead (`git archive` under /tmp, sharing
#                 this repository's target/ for the dependencies; a release build: minutes)
#   SKIP_DEFAULT=1  leave out the run on default lock settings
#   KEEP=1        keep the server's folder (and print it)
set -Eeuo pipefail
trap 'echo "benches/apply.sh: line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR

SCHEMAS=${1:-200}
TABLES=${2:-50}
RUNS=${3:-1}

repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${PEERS_DIR:-} ]]; then
  PEERS_DIR=$repo/../shared/peers
  [[ -d $PEERS_DIR ]] || PEERS_DIR=$repo/../../shared/peers # from a worktree under wt/
fi
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
PEERS_VENV=${PEERS_VENV:-$PEERS_DIR/.venv}
if [[ -z ${PG_BIN:-} ]]; then
  PG_BIN=$(pg_config --bindir 2>/dev/null || true)
  [[ -x $PG_BIN/initdb ]] || PG_BIN=/usr/lib/postgresql/15/bin
fi

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }

work=$(mktemp -d /tmp/dbsplit-apply.XXXXXX)
chmod 755 "$work"

if [[ -z ${DBSPLIT:-} ]]; then
  log "building dbsplit (release)"
  (cd "$repo" && cargo build --release --locked -q)
  DBSPLIT=$repo/target/release/dbsplit
fi
if [[ -z ${DBSPLIT_BASE:-} && -n ${BASE_REF:-} ]]; then
  log "building the base from $BASE_REF (release)"
  mkdir -p "$work/base-src"
  (cd "$repo" && git archive "$BASE_REF") | tar -x -C "$work/base-src"
  (cd "$work/base-src" && CARGO_TARGET_DIR=$repo/target cargo build --release --locked -q)
  # The shared target/ holds one dbsplit binary: keep the base's, then rebuild this one.
  cp "$repo/target/release/dbsplit" "$work/dbsplit-base"
  rm -rf "$work/base-src"
  DBSPLIT_BASE=$work/dbsplit-base
  if [[ $DBSPLIT == "$repo/target/release/dbsplit" ]]; then
    (cd "$repo" && cargo build --release --locked -q)
  fi
fi

# --- the server ---------------------------------------------------------------------------
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
wal_level = minimal
max_wal_senders = 0
max_wal_size = 128MB
min_wal_size = 32MB
EOF
start() { "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null; }
start
DSN="host=127.0.0.1 port=$port user=postgres dbname=big"
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)
admin() { PGOPTIONS="-c client_min_messages=warning" "${PSQL[@]}" "host=127.0.0.1 port=$port user=postgres dbname=postgres" "$@"; }
log "server $("$PG_BIN/postgres" --version) on port $port, data in $work"

# --- the legacy cluster -------------------------------------------------------------------
specs=$work/specs
t0=$(now)
python3 "$PEERS_DIR/gen_large_cluster.py" --schemas "$SCHEMAS" --tables "$TABLES" \
  --db legacy_template --state legacy --sql "$work/legacy.sql"
# The specs name the database the tools apply to: each copy is called big.
python3 "$PEERS_DIR/gen_large_cluster.py" --schemas "$SCHEMAS" --tables "$TABLES" \
  --db big --specs-dir "$specs" --sql /dev/null
admin -f "$work/legacy.sql" >/dev/null
log "generated the legacy cluster ($SCHEMAS schemas x $TABLES tables) in $(since "$t0") s"

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
APPLY[dbsplit]="DBSPLIT_APPLY_SCRIPT=\"$work/floor.sql\" \"$DBSPLIT\" apply --yes --manifest \"$specs/services.toml\" --database-url \"$DSN\""
APPLY[floor]="\"${PSQL[0]}\" -X -q -1 -v ON_ERROR_STOP=1 -o /dev/null \"$DSN\" -f \"$work/floor.sql\""
APPLY[base]="\"${DBSPLIT_BASE:-}\" apply --yes --manifest \"$specs/services.toml\" --database-url \"$DSN\""
APPLY[pgbedrock]="\"$PEERS_VENV/bin/pgbedrock\" configure \"$specs/pgbedrock.yml\" -h 127.0.0.1 -p $port -U postgres -d big --live"
APPLY[pgroles]="\"${PGROLES:-}\" apply -f \"$specs/pgroles.yml\" --database-url \"postgres://postgres@127.0.0.1:$port/big\""
tools=(dbsplit floor)
[[ -n ${DBSPLIT_BASE:-} ]] && tools+=(base)
for peer in ${APPLY_PEERS:-pgbedrock pgroles}; do
  case $peer in
    pgbedrock) [[ -x $PEERS_VENV/bin/pgbedrock ]] || { log "no pgbedrock at $PEERS_VENV: left out"; continue; } ;;
    pgroles) [[ -x ${PGROLES:-} ]] || { log "PGROLES is not set to a pgroles binary: left out"; continue; } ;;
    *) log "unknown peer $peer: left out"; continue ;;
  esac
  tools+=("$peer")
done

declare -A TIMES
# Runs a tool on the fresh copy, times it; a failure is reported (the end of its stderr) and
# returns 1, which the caller handles: never an exit under set -e.
timed() {
  local label=$1 cmd=$2 t rc=0 took
  t=$(now)
  (cd "$specs" && eval "$cmd") >"$work/$label.out" 2>"$work/$label.err" || rc=$?
  took=$(since "$t")
  if [[ $rc != 0 ]]; then
    log "  $label failed (exit $rc): $(tail -n 3 "$work/$label.err" | tr '\n' ' ')"
    return 1
  fi
  TIMES[$label]="${TIMES[$label]:-} $took"
  log "  $label: $took s"
}
converged() {
  if ! "$DBSPLIT" plan --exit-code --manifest "$specs/services.toml" --database-url "$DSN" >"$work/after-$1.plan" 2>&1; then
    log "  the cluster is not converged after $1 (see $work/after-$1.plan; KEEP=1 keeps it)"
    NOT_CONVERGED+=("$1")
  fi
}
NOT_CONVERGED=()
median() {
  [[ -n ${1// /} ]] || { echo -; return; }
  # shellcheck disable=SC2086
  printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {if (NR == 0) {print "-"; exit}
    m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f\n", m}'
}
# "Applied N changes (S statements in R round trips...)": the statements and round trips.
sent() {
  grep -o '([0-9]* statements[^)]*)' "$work/$1.out" | tail -n 1 || true
}

log "cold apply, each on a fresh copy of the legacy cluster"
for round in $(seq 1 "$RUNS"); do
  for tool in "${tools[@]}"; do
    if [[ $tool == floor && ! -s $work/floor.sql ]]; then
      log "  floor: no script from dbsplit's apply in this round: left out"
      continue
    fi
    fresh_legacy
    if timed "$tool" "${APPLY[$tool]}"; then
      case $tool in dbsplit | base | floor) converged "$tool" ;; esac
    fi
  done
done

reference=$(median "${TIMES[dbsplit]:-}")
printf '\ncold apply of %s schemas x %s tables (PostgreSQL %s), median of %s:\n' \
  "$SCHEMAS" "$TABLES" "$("$PG_BIN/postgres" --version | awk '{print $3}')" "$RUNS"
printf '%-10s %9s %14s  %s\n' tool seconds "x dbsplit's" "what it sent"
for tool in "${tools[@]}"; do
  m=$(median "${TIMES[$tool]:-}")
  ratio=$(awk -v a="$m" -v b="$reference" 'BEGIN{if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a/b}')
  case $tool in
    dbsplit | base) what=$(sent "$tool") ;;
    floor) what="the same statements in the same messages, psql, one transaction" ;;
    *) what="" ;;
  esac
  printf '%-10s %9s %14s  %s\n' "$tool" "$m" "$ratio" "$what"
done
if ((${#NOT_CONVERGED[@]})); then
  printf 'NOT converged after: %s\n' "${NOT_CONVERGED[*]}"
fi

# --- default lock settings ------------------------------------------------------------------
if [[ ${SKIP_DEFAULT:-0} != 1 ]]; then
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -m fast stop >/dev/null
  echo "max_locks_per_transaction = 64" >>"$work/data/postgresql.conf"
  start
  fresh_legacy
  NOT_CONVERGED=()
  if timed default-dbsplit "${APPLY[dbsplit]}"; then
    converged "dbsplit on default settings"
    m=$(median "${TIMES[default-dbsplit]}")
    printf 'default max_locks_per_transaction (64): dbsplit %s s (%s), %s, %s\n' "$m" \
      "$(awk -v a="$m" -v b="$reference" 'BEGIN{if (b == "-" || b == 0) print "-"; else printf "%.2fx its time at 1024", a/b}')" \
      "$(grep -o 'applied in [0-9]* transactions' "$work/default-dbsplit.out" || echo 'one transaction')" \
      "$( ((${#NOT_CONVERGED[@]})) && echo 'NOT converged' || echo 'converged (plan --exit-code empty)')"
  else
    printf 'default max_locks_per_transaction (64): dbsplit FAILED: %s\n' "$(tail -n 2 "$work/default-dbsplit.err" | tr '\n' ' ')"
  fi
fi
