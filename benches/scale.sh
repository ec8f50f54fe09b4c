#!/usr/bin/env bash
# benches/scale.sh - dbsplit on growing clusters: the cold apply of the legacy cluster on a
# server left at its default settings (max_locks_per_transaction = 64, the lock table
# included), then the no-op plan of the cluster it converged, with peak memory, so that one
# run shows whether time and memory grow linearly with the number of objects.
#
#   benches/scale.sh [SIZES...]     (default: 100x100 300x100 1000x100: 10k, 30k, 100k tables)
#
# For each size SCHEMASxTABLES, on one throwaway PostgreSQL server (fsync off, otherwise
# default settings), in one data folder reused from size to size:
#
#   1. (up to COLD_MAX tables) the legacy cluster of ../shared/peers/gen_large_cluster.py (svc_NNNN.t_NNNN, each table
#      with a bigserial key: as many sequences as tables; every object the superuser's, no
#      service roles), created by one server-side DO block that commits per schema (the
#      generator's SQL file, one statement per round trip, takes minutes at 100,000 tables);
#   2. `dbsplit apply --yes` of the generator's services.toml, timed once with its peak RSS
#      (/usr/bin/time); it must converge: `dbsplit plan --exit-code` is then empty;
#   3. RUNS no-op plans (median wall time, peak RSS) next to dbsplit's catalog queries alone
#      run by psql on one connection (the floor);
#
# then the database and the roles are dropped before the next size. The machine is shared:
# compare the figures within one run (ratios, and the time per 1,000 tables across sizes).
#
# Environment:
#   PG_BIN        PostgreSQL's bin folder (default: pg_config --bindir, else Debian's 15)
#   PEERS_DIR     ../shared/peers (gen_large_cluster.py); default: beside the repository, or
#                 two levels up from a worktree
#   DBSPLIT       the dbsplit binary (default: this repository's, built in release)
#   RUNS          no-op plans per size (default 3)
#   COLD_MAX      the largest size (tables) whose cold apply is timed (default 100000): above it
#                 the converged cluster is made on the server instead and `dbsplit apply` only
#                 completes it (its time is then shown in parentheses)
#   KEEP=1        keep the server's folder (and print it)
set -euo pipefail

SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(100x100 300x100 1000x100)
RUNS=${RUNS:-3}
COLD_MAX=${COLD_MAX:-100000}

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
cleanup() {
  "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  if [[ ${KEEP:-0} == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$PG_BIN/initdb" -D "$work/data" -U postgres -A trust --no-sync >/dev/null
# Default settings but durability (fsync) and WAL volume: the lock table is the default one.
cat >>"$work/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = 1GB
EOF
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)
admin() { PGOPTIONS="-c client_min_messages=warning" "${PSQL[@]}" "host=127.0.0.1 port=$port user=postgres dbname=${2:-postgres}" -c "$1"; }
locks=$("${PSQL[@]}" -At "host=127.0.0.1 port=$port user=postgres dbname=postgres" -c "SHOW max_locks_per_transaction")
log "server $("$PG_BIN/postgres" --version), max_locks_per_transaction = $locks, in $work"

queries=$repo/src/catalog/queries
# The same names and order as catalog::introspect::query_names (benches/peers.sh's list).
plan_queries=$(sed -n 's/^plan_queries=(\(.*\))$/\1/p' "$repo/benches/peers.sh")
for name in $plan_queries; do
  cat "$queries/$name.sql"
  printf ';\n'
done >"$work/floor.sql"

# legacy SCHEMAS TABLES DB: the generator's legacy cluster, made on the server.
legacy() {
  local schemas=$1 tables=$2 db=$3
  admin "CREATE DATABASE $db" >/dev/null
  admin "DO \$\$
BEGIN
  FOR i IN 1..$schemas LOOP
    EXECUTE format('CREATE SCHEMA %I', 'svc_' || lpad(i::text, 4, '0'));
    FOR t IN 1..$tables LOOP
      EXECUTE format('CREATE TABLE %I.%I (id bigserial PRIMARY KEY, payload text, created_at timestamptz NOT NULL DEFAULT now())',
                     'svc_' || lpad(i::text, 4, '0'), 't_' || lpad(t::text, 4, '0'));
    END LOOP;
    COMMIT;
  END LOOP;
END
\$\$" "$db" >/dev/null
  admin "GRANT CREATE ON SCHEMA public TO PUBLIC" "$db" >/dev/null
  admin "VACUUM ANALYZE" "$db" >/dev/null
}

# converged SCHEMAS TABLES DB: the generator's converged cluster, made on the server (for the
# sizes whose cold apply is skipped); `dbsplit apply` then adds what dbsplit alone sets.
converged() {
  local schemas=$1 tables=$2 db=$3
  admin "CREATE DATABASE $db" >/dev/null
  admin "DO \$\$
DECLARE s text; o text; r text;
BEGIN
  FOR i IN 1..$schemas LOOP
    s := 'svc_' || lpad(i::text, 4, '0'); o := s || '_owner'; r := s || '_ro';
    EXECUTE format('CREATE ROLE %I LOGIN', o);
    EXECUTE format('CREATE ROLE %I LOGIN', r);
    EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', s, o);
    EXECUTE format('SET LOCAL ROLE %I', o);
    FOR t IN 1..$tables LOOP
      EXECUTE format('CREATE TABLE %I.%I (id bigserial PRIMARY KEY, payload text, created_at timestamptz NOT NULL DEFAULT now())',
                     s, 't_' || lpad(t::text, 4, '0'));
    END LOOP;
    RESET ROLE;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, r);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', s, r);
    EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO %I', o, s, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON SEQUENCES TO %I', o, s, r);
    COMMIT;
  END LOOP;
END
\$\$" "$db" >/dev/null
  admin "REVOKE CREATE ON SCHEMA public FROM PUBLIC" "$db" >/dev/null
  admin "VACUUM ANALYZE" "$db" >/dev/null
}

rows=()
for size in "${SIZES[@]}"; do
  schemas=${size%x*}
  tables=${size#*x}
  count=$((schemas * tables))
  db=s${schemas}x$tables
  dsn="host=127.0.0.1 port=$port user=postgres dbname=$db"
  specs=$work/specs-$db
  python3 "$gen" --schemas "$schemas" --tables "$tables" --db "$db" --specs-dir "$specs" --sql /dev/null
  t0=$(now)
  state=legacy
  ((count > COLD_MAX)) && state=converged
  "$state" "$schemas" "$tables" "$db"
  log "$db: $state cluster of $count tables made in $(since "$t0") s"

  line=$(/usr/bin/time -f '%e %M' "$DBSPLIT" apply --yes --manifest "$specs/services.toml" \
    --database-url "$dsn" 2>&1 >"$work/$db.apply" | tail -n 1) || true
  read -r apply_s apply_kb <<<"$line"
  if ! "$DBSPLIT" plan --exit-code --manifest "$specs/services.toml" --database-url "$dsn" >"$work/$db.plan" 2>&1; then
    log "$db: the cold apply did not converge (plan not empty, or apply failed):"
    tail -n 5 "$work/$db.apply" >&2
    head -n 10 "$work/$db.plan" >&2
    apply_s="failed"
  fi
  [[ $state == legacy ]] || apply_s="($apply_s)"
  log "$db: apply of the $state cluster $apply_s s, peak RSS $((${apply_kb:-0} / 1024)) MiB: $(grep -E '^Applied' "$work/$db.apply" | head -n 1)"
  admin "VACUUM ANALYZE" "$db" >/dev/null

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
  rows+=("$(awk -v t="$count" -v m="$m" -v f="$f" -v k="$rss" -v s="$size" -v a="$apply_s" -v ak="${apply_kb:-0}" \
    'BEGIN {printf "%-9s %7d %8.3f %8.3f %7.2fx %7.1f %9.1f %9s %8.1f", s, t, m, f, m / f, k / 1024, m * 1000 / (t / 1000), a, ak / 1024}')")
  log "${rows[-1]}"

  admin "DROP DATABASE $db WITH (FORCE)" >/dev/null
  # Roles are cluster-wide: the next size starts without service roles, as a legacy cluster.
  "${PSQL[@]}" -At "host=127.0.0.1 port=$port user=postgres dbname=postgres" \
    -c "SELECT format('DROP ROLE %I;', rolname) FROM pg_roles WHERE rolname <> 'postgres' AND rolname NOT LIKE 'pg\_%'" >"$work/drop.sql"
  admin "\i $work/drop.sql" >/dev/null
done

echo
echo "dbsplit on growing clusters, PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), default settings (max_locks_per_transaction = $locks); no-op plan: median of $RUNS"
printf '%-9s %7s %8s %8s %8s %7s %9s %9s %8s\n' size tables plan_s floor_s vs_floor rss_MiB ms_per_1k apply_s apply_MiB
printf '%s\n' "${rows[@]}"
