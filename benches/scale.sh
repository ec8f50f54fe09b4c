#!/usr/bin/env bash
# benches/scale.sh - dbsplit plan's time and peak memory as the cluster grows, and the cold
# apply of the largest cluster on a server with default settings (lock table included).
#
#   benches/scale.sh [SIZES...]     (default: 200x50 500x100 1000x100: 10k, 50k, 100k tables)
#
# For each size SCHEMASxTABLES, on one throwaway PostgreSQL server (fsync off), it creates the
# converged cluster of ../shared/peers/gen_large_cluster.py (each table has a bigserial key:
# as many sequences as tables), converges it with `dbsplit apply`, checks that `dbsplit plan
# --exit-code` is empty, then times RUNS no-op plans (median wall time, peak RSS from
# /usr/bin/time) next to dbsplit's catalog queries alone run by psql on one connection (the
# floor). Then, unless SKIP_COLD=1, the legacy cluster of the largest size (every object the
# superuser's, no service roles) on a second server left at its default settings
# (max_locks_per_transaction = 64): `dbsplit apply` must converge it and the plan after it must
# be empty. The machine is shared: compare figures within one run.
#
# Environment:
#   PG_BIN        PostgreSQL's bin folder (default: pg_config --bindir, else Debian's 15)
#   PEERS_DIR     ../shared/peers (gen_large_cluster.py); default: beside the repository, or
#                 two levels up from a worktree
#   DBSPLIT       the dbsplit binary (default: this repository's, built in release)
#   RUNS          no-op plans per size (default 3)
#   SKIP_COLD=1   no cold apply on the default server
#   KEEP=1        keep the servers' folder (and print it)
set -euo pipefail

SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(200x50 500x100 1000x100)
RUNS=${RUNS:-3}

repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${PEERS_DIR:-} ]]; then
  PEERS_DIR=$repo/../shared/peers
  [[ -d $PEERS_DIR ]] || PEERS_DIR=$repo/../../shared/peers # from a worktree under wt/
fi
gen=$(cd "$PEERS_DIR" && pwd)/gen_large_cluster.py
if [[ -z ${PG_BIN:-} ]]; then
  PG_BIN=$(pg_config --bindir 2>/dev/null || true)
  [[ -x $PG_BIN/initdb ]] || PG_BIN=/usr/lib/postgresql/15/bin
fi
if [[ -z ${DBSPLIT:-} ]]; then
  (cd "$repo" && cargo build --release --locked -q)
  DBSPLIT=$repo/target/release/dbsplit
fi

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f", m}'; }

work=$(mktemp -d /tmp/dbsplit-scale.XXXXXX)
chmod 755 "$work"
as_pg=()
if [[ $(id -u) == 0 ]]; then
  chown postgres: "$work"
  as_pg=(runuser -u postgres --)
fi
servers=()
cleanup() {
  for data in "${servers[@]}"; do
    "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
  done
  if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# start NAME EXTRA_CONF: a server in $work/NAME; prints its port.
start() {
  local name=$1 extra=$2 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as_pg[@]}" "$PG_BIN/initdb" -D "$work/$name" -U postgres -A trust --no-sync >/dev/null
  cat >>"$work/$name/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 256MB
$extra
EOF
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/$name" -l "$work/$name.log" -w start >/dev/null
  servers+=("$work/$name")
  echo "$port"
}

PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)
queries=$repo/src/catalog/queries
# The same names and order as catalog::introspect::query_names (benches/peers.sh's list).
plan_queries=$(sed -n 's/^plan_queries=(\(.*\))$/\1/p' "$repo/benches/peers.sh")
for name in $plan_queries; do
  cat "$queries/$name.sql"
  printf ';\n'
done >"$work/floor.sql"

# The server the plans are timed on keeps its default lock table too: plan takes no locks
# beyond one per catalog it reads.
port=$(start converged "")
admin() { PGOPTIONS="-c client_min_messages=warning" "${PSQL[@]}" "host=127.0.0.1 port=$1 user=postgres dbname=postgres" "${@:2}"; }
log "server $("$PG_BIN/postgres" --version) in $work"

rows=()
for size in "${SIZES[@]}"; do
  schemas=${size%x*}
  tables=${size#*x}
  db=s${schemas}x$tables
  dsn="host=127.0.0.1 port=$port user=postgres dbname=$db"
  specs=$work/specs-$db
  t0=$(now)
  python3 "$gen" --schemas "$schemas" --tables "$tables" --db "$db" --specs-dir "$specs" \
    --sql "$work/$db.sql"
  # Roles are cluster-wide: the previous size's are dropped first (the generator drops and
  # creates the ones it names).
  admin "$port" -f "$work/$db.sql" >/dev/null
  "$DBSPLIT" apply --yes --manifest "$specs/services.toml" --database-url "$dsn" >"$work/$db.apply" 2>&1 ||
    { log "dbsplit apply failed on $db: $(tail -n 3 "$work/$db.apply")"; exit 2; }
  if ! "$DBSPLIT" plan --exit-code --manifest "$specs/services.toml" --database-url "$dsn" >"$work/$db.plan"; then
    log "dbsplit plan is not empty on $db after dbsplit apply:"
    head -n 20 "$work/$db.plan" >&2
    exit 2
  fi
  "${PSQL[@]}" "$dsn" -c "VACUUM ANALYZE" >/dev/null
  log "$db: generated and converged in $(since "$t0") s"
  times=() floors=() rss=0
  for _ in $(seq 1 "$RUNS"); do
    line=$(/usr/bin/time -f '%e %M' "$DBSPLIT" plan --manifest "$specs/services.toml" --database-url "$dsn" 2>&1 >/dev/null | tail -n 1)
    read -r took kb <<<"$line"
    times+=("$took")
    ((kb > rss)) && rss=$kb
    t=$(now)
    "${PSQL[@]}" -o /dev/null "$dsn" -f "$work/floor.sql"
    floors+=("$(since "$t")")
  done
  m=$(median "${times[@]}")
  f=$(median "${floors[@]}")
  rows+=("$(awk -v t=$((schemas * tables)) -v m="$m" -v f="$f" -v k="$rss" -v s="$size" \
    'BEGIN {printf "%-10s %8d %9.3f %9.3f %7.2fx %9.1f %11.2f", s, t, m, f, m / f, k / 1024, k / 1024 / (t / 1000)}')")
  admin "$port" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
done

echo
echo "dbsplit plan, no-op, PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), $RUNS runs each (median)"
printf '%-10s %8s %9s %9s %8s %9s %11s\n' size tables plan_s floor_s vs_floor rss_MiB MiB_per_1k
printf '%s\n' "${rows[@]}"

if [[ ${SKIP_COLD:-0} != 1 ]]; then
  size=${SIZES[-1]}
  schemas=${size%x*}
  tables=${size#*x}
  cold=$(start cold "")
  dsn="host=127.0.0.1 port=$cold user=postgres dbname=legacy"
  python3 "$gen" --schemas "$schemas" --tables "$tables" --db legacy --state legacy --sql "$work/legacy.sql"
  python3 "$gen" --schemas "$schemas" --tables "$tables" --db legacy --specs-dir "$work/specs-legacy" \
    --sql /dev/null
  admin "$cold" -f "$work/legacy.sql" >/dev/null
  locks=$("${PSQL[@]}" -At "$dsn" -c "SHOW max_locks_per_transaction")
  line=$(/usr/bin/time -f '%e %M' "$DBSPLIT" apply --yes --manifest "$work/specs-legacy/services.toml" \
    --database-url "$dsn" 2>&1 >"$work/cold.out" | tail -n 1) || true
  read -r took kb <<<"$line"
  converged=no
  "$DBSPLIT" plan --exit-code --manifest "$work/specs-legacy/services.toml" --database-url "$dsn" >/dev/null 2>&1 &&
    converged=yes
  echo
  echo "cold apply of the legacy cluster $size ($((schemas * tables)) tables), max_locks_per_transaction = $locks:"
  echo "  ${took:-?} s, peak RSS $((${kb:-0} / 1024)) MiB, converged: $converged"
  grep -iE '^(applied|applying|error)' "$work/cold.out" | head -n 5 | sed 's/^/  /'
fi
