#!/usr/bin/env bash
# benches/fleet.sh - the fleet plan against one big cluster (issue 12, item 6): a fleet of
# CLUSTERS servers holding SCHEMAS/CLUSTERS services each, against one server holding all
# SCHEMAS services, TABLES tables per service either way (default 4 x 2,500 vs 1 x 10,000).
#
#   benches/fleet.sh [SCHEMAS] [TABLES] [RUNS] [CLUSTERS]     (default 200 50 5 4)
#
# It builds dbsplit (release), starts CLUSTERS + 1 throwaway servers (fsync off,
# pg_stat_statements loaded), generates the converged "one schema per service" cluster with
# ../shared/peers/gen_large_cluster.py and loads it whole into the single server and in
# slices (services 1-50 on the first fleet server, 51-100 on the second, ...) into the fleet's;
# writes the v1 manifest of the single layout and the fleet manifest ([clusters.*],
# [databases.*], `database =` per service) of the other; applies both and checks that a second
# plan is empty. Then, RUNS interleaved rounds of `dbsplit plan` on each layout (wall time,
# median, and the ratio fleet / single), and one plan per layout with pg_stat_statements reset
# before it, to count the statements dbsplit sent to each target's database: a fixed number
# per target, whatever the number of tables.
#
# Environment:
#   PG_BIN     PostgreSQL's bin folder (default: pg_config --bindir, else Debian's 15)
#   PEERS_DIR  ../shared/peers (gen_large_cluster.py); default: beside the repository, or two
#              levels up from a worktree
#   DBSPLIT    the dbsplit binary to time (default: this repository's, built in release)
#   JOBS       --jobs of the fleet plan (default: dbsplit's, 4)
#   KEEP=1     keep the servers' folder (and print it)
set -euo pipefail

SCHEMAS=${1:-200}
TABLES=${2:-50}
RUNS=${3:-5}
CLUSTERS=${4:-4}
if ((SCHEMAS % CLUSTERS != 0)); then
  echo "SCHEMAS ($SCHEMAS) must be a multiple of CLUSTERS ($CLUSTERS)" >&2
  exit 2
fi
PER=$((SCHEMAS / CLUSTERS))

repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${PEERS_DIR:-} ]]; then
  PEERS_DIR=$repo/../shared/peers
  [[ -d $PEERS_DIR ]] || PEERS_DIR=$repo/../../shared/peers # from a worktree under wt/
fi
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
if [[ -z ${PG_BIN:-} ]]; then
  PG_BIN=$(pg_config --bindir 2>/dev/null || true)
  [[ -x $PG_BIN/initdb ]] || PG_BIN=/usr/lib/postgresql/15/bin
fi

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }

if [[ -z ${DBSPLIT:-} ]]; then
  log "building dbsplit (release)"
  (cd "$repo" && cargo build --release --locked -q)
  DBSPLIT=$repo/target/release/dbsplit
fi

# --- the servers: "single" and f1..fN --------------------------------------------------------
work=$(mktemp -d /tmp/dbsplit-fleet.XXXXXX)
chmod 755 "$work"
as_pg=()
if [[ $(id -u) == 0 ]]; then
  chown postgres: "$work"
  as_pg=(runuser -u postgres --)
fi
names=(single)
for k in $(seq 1 "$CLUSTERS"); do names+=("f$k"); done
declare -A PORT
cleanup() {
  for name in "${names[@]}"; do
    "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/$name" -m immediate stop >/dev/null 2>&1 || true
  done
  if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for name in "${names[@]}"; do
  port=$(free_port)
  PORT[$name]=$port
  "${as_pg[@]}" "$PG_BIN/initdb" -D "$work/$name" -U postgres -A trust --no-sync >/dev/null
  cat >>"$work/$name/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
fsync = off
synchronous_commit = off
full_page_writes = off
max_locks_per_transaction = 1024
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
shared_buffers = 64MB
wal_level = minimal
max_wal_senders = 0
max_wal_size = 128MB
min_wal_size = 32MB
EOF
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/$name" -l "$work/$name.log" -w start >/dev/null
done
PSQL=(env "PGOPTIONS=-c client_min_messages=warning" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)
dsn() { echo "host=127.0.0.1 port=${PORT[$1]} user=postgres dbname=$2"; }
log "servers $("$PG_BIN/postgres" --version): ${names[*]}, data in $work"

# --- the layouts ------------------------------------------------------------------------------
t0=$(now)
python3 "$PEERS_DIR/gen_large_cluster.py" --schemas "$SCHEMAS" --tables "$TABLES" --db big \
  --cross-fk 0 --specs-dir "$work/single-specs" --sql "$work/single.sql"
# The fleet: the same SQL and manifest, cut into CLUSTERS slices of PER services each.
python3 - "$work" "$CLUSTERS" "$PER" <<'EOF'
import re, sys
work, clusters, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sql = open(f"{work}/single.sql").read().splitlines()
def number(line):
    m = re.search(r"svc_(\d{4})", line)
    return int(m.group(1)) if m else None
for k in range(clusters):
    lo, hi = k * per + 1, (k + 1) * per
    out, block, keep = [], [], True
    for line in sql:
        if line == "BEGIN;":
            block = [line]
            continue
        if block:
            block.append(line)
            if line == "COMMIT;":
                n = next((number(l) for l in block if number(l)), None)
                if n is None or lo <= n <= hi:
                    out.extend(block)
                block = []
            continue
        n = number(line)
        if n is None or lo <= n <= hi:
            out.append(line)
    open(f"{work}/f{k + 1}.sql", "w").write("\n".join(out) + "\n")
EOF
manifest=$work/fleet.toml
{
  echo "# the generated services, $PER per cluster"
  echo "version = 1"
  for k in $(seq 1 "$CLUSTERS"); do
    printf '[clusters.f%s]\nurl = "host=127.0.0.1 port=%s user=postgres"\n' "$k" "${PORT[f$k]}"
    printf '[databases.d%s]\ncluster = "f%s"\nname = "big"\npublic_schema = "lockdown"\n' "$k" "$k"
  done
  awk -v per="$PER" '
    /^\[services\.svc_[0-9]+\]/ { n = substr($0, 15, 4) + 0; print; printf "database = \"d%d\"\n", int((n - 1) / per) + 1; next }
    /^\[services\./ || /^(owner|roles)/ { print }
  ' "$work/single-specs/services.toml"
} >"$manifest"
"${PSQL[@]}" "$(dsn single postgres)" -f "$work/single.sql" >/dev/null
for k in $(seq 1 "$CLUSTERS"); do
  "${PSQL[@]}" "$(dsn "f$k" postgres)" -f "$work/f$k.sql" >/dev/null &
done
wait
for name in "${names[@]}"; do
  "${PSQL[@]}" "$(dsn "$name" big)" -c "CREATE EXTENSION pg_stat_statements" >/dev/null
done
log "generated $SCHEMAS schemas x $TABLES tables, and $CLUSTERS slices of $PER, in $(since "$t0") s"

SINGLE=("$DBSPLIT" --manifest "$work/single-specs/services.toml" --database-url "$(dsn single big)")
FLEET=("$DBSPLIT" --manifest "$manifest")
JOBS_ARGS=()
[[ -n ${JOBS:-} ]] && JOBS_ARGS=(--jobs "$JOBS")
t0=$(now)
"${SINGLE[@]}" apply --yes >/dev/null
"${FLEET[@]}" apply --yes "${JOBS_ARGS[@]}" >/dev/null
for layout in SINGLE FLEET; do
  declare -n cmd=$layout
  extra=()
  [[ $layout == FLEET ]] && extra=("${JOBS_ARGS[@]}")
  if ! "${cmd[@]}" plan --exit-code "${extra[@]}" >"$work/plan.txt" 2>&1; then
    log "the $layout plan is not empty after apply:"
    head -n 20 "$work/plan.txt" >&2
    exit 2
  fi
done
for name in "${names[@]}"; do "${PSQL[@]}" "$(dsn "$name" big)" -c "VACUUM ANALYZE" >/dev/null; done
log "converged both layouts in $(since "$t0") s"

# --- timing -----------------------------------------------------------------------------------
declare -A TIMES
median() {
  # shellcheck disable=SC2086
  printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f\n", m}'
}
log "no-op plan, $RUNS interleaved rounds"
for round in $(seq 1 "$RUNS"); do
  t=$(now)
  "${SINGLE[@]}" plan >/dev/null
  TIMES[single]="${TIMES[single]:-} $(since "$t")"
  t=$(now)
  "${FLEET[@]}" plan "${JOBS_ARGS[@]}" >/dev/null
  TIMES[fleet]="${TIMES[fleet]:-} $(since "$t")"
  log "  round $round: single $(awk '{print $NF}' <<<"${TIMES[single]}") s, fleet $(awk '{print $NF}' <<<"${TIMES[fleet]}") s"
done

# --- statements per target ----------------------------------------------------------------------
reset() { "${PSQL[@]}" "$(dsn "$1" big)" -c "SELECT pg_stat_statements_reset()" >/dev/null; }
# Statements dbsplit ran in database big since the reset, and their calls (this query and the
# reset left out).
counted() {
  "${PSQL[@]}" -At "$(dsn "$1" big)" -c "
    SELECT count(*) || ' statements, ' || coalesce(sum(calls), 0) || ' calls'
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
    WHERE d.datname = 'big' AND s.query NOT LIKE '%pg_stat_statements%'"
}
reset single
"${SINGLE[@]}" plan >/dev/null
queries_single=$(counted single)
for k in $(seq 1 "$CLUSTERS"); do reset "f$k"; done
"${FLEET[@]}" plan "${JOBS_ARGS[@]}" >/dev/null
declare -A QUERIES
for k in $(seq 1 "$CLUSTERS"); do QUERIES[f$k]=$(counted "f$k"); done

# --- the table ----------------------------------------------------------------------------------
m_single=$(median "${TIMES[single]}")
m_fleet=$(median "${TIMES[fleet]}")
echo
echo "no-op plan, PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), $RUNS runs each, interleaved"
printf '%-52s %9s %8s\n' layout median_s ratio
printf '%-52s %9.3f %8s\n' "one cluster: $SCHEMAS schemas x $TABLES tables ($((SCHEMAS * TABLES)))" "$m_single" "1.00x"
printf '%-52s %9.3f %8s\n' "fleet: $CLUSTERS clusters x $PER schemas x $TABLES tables ($((PER * TABLES)) each)" "$m_fleet" \
  "$(awk -v a="$m_fleet" -v b="$m_single" 'BEGIN{printf "%.2fx", a / b}')"
echo
echo "statements one plan sent to each target's database (pg_stat_statements, since a reset):"
echo "  single/big: $queries_single"
for k in $(seq 1 "$CLUSTERS"); do echo "  f$k/big: ${QUERIES[f$k]}"; done
