//! Lint throughput: generates 2,000 migration files (about 20 MB of SQL) for three services in a
//! temp dir, then reads and lints them as `dbsplit lint` does, and prints files/s and MB/s.
//!
//! Run: `cargo bench --bench lint` (release). The target is under 2 s for the whole set.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use dbsplit::lint::{Input, SqlFile, lint};
use dbsplit::manifest::Manifest;

const FILES: usize = 2_000;
const BYTES_PER_FILE: usize = 10_000;
const SERVICES: [&str; 3] = ["monolith", "billing", "notifications"];

/// The manifest of the SQL corpus: services monolith, billing, notifications; shared reference.
const MANIFEST: &str = include_str!("../tests/lint/services.toml");

/// One block of typical migration SQL; `n` varies names, and every 7th block reaches across.
fn block(out: &mut String, service: &str, n: usize) {
    let other = SERVICES[(n + 1) % SERVICES.len()];
    let foreign = if n % 7 == 0 { other } else { service };
    let _ = write!(
        out,
        r#"-- step {n}: tables, an index, a view, a function and some data
CREATE TABLE IF NOT EXISTS t{n} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id bigint NOT NULL REFERENCES {foreign}.owners (id),
    note text NOT NULL DEFAULT 'created by step {n}; see monolith.users',
    amount numeric(12, 2) CHECK (amount >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS t{n}_owner_idx ON t{n} (owner_id) WHERE amount > 0;
CREATE OR REPLACE VIEW v{n} AS
    SELECT t.id, t.amount, r.code
    FROM t{n} t JOIN reference.currencies r ON r.code = t.note
    WHERE t.created_at > now() - interval '30 days';
CREATE OR REPLACE FUNCTION f{n}(p bigint) RETURNS bigint LANGUAGE plpgsql AS $fn$
BEGIN
    -- count the rows of {foreign}
    RETURN (SELECT count(*) FROM {foreign}.owners WHERE id = p);
END
$fn$;
INSERT INTO t{n} (owner_id, note, amount) VALUES (1, 'it''s {n}', 10.5), (2, E'a\'b', 3);
UPDATE t{n} SET amount = amount * 2 WHERE id IN (SELECT id FROM t{n} WHERE note LIKE '%x%');
COMMENT ON TABLE t{n} IS 'step {n} of {service}';
"#
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let manifest = Manifest::parse(&dir.path().join("services.toml"), MANIFEST)
        .expect("the bench manifest is valid");
    let started = Instant::now();
    let mut total = 0usize;
    for i in 0..FILES {
        let service = SERVICES[i % SERVICES.len()];
        let mut text = String::with_capacity(BYTES_PER_FILE + 2_000);
        let mut n = i * 100;
        while text.len() < BYTES_PER_FILE {
            block(&mut text, service, n);
            n += 1;
        }
        total += text.len();
        let folder = dir.path().join("migrations").join(service);
        std::fs::create_dir_all(&folder).expect("folders are made");
        let name = format!("{}_step_{i}.sql", 20250101000000u64 + i as u64);
        std::fs::write(folder.join(name), text).expect("files are written");
    }
    println!(
        "generated {FILES} files, {:.1} MB, in {:.2} s",
        total as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let input = read(&dir.path().join("migrations"));
    let read = started.elapsed().as_secs_f64();
    let findings = lint(&manifest, &input);
    let elapsed = started.elapsed().as_secs_f64();
    let mb = total as f64 / 1e6;
    println!(
        "read + lint: {} files, {mb:.1} MB, {} findings in {elapsed:.2} s (read {read:.2} s): {:.0} files/s, {:.1} MB/s",
        input.files.len(),
        findings.len(),
        input.files.len() as f64 / elapsed,
        mb / elapsed
    );
}

/// Reads every migration below `root`, as the lint command does.
fn read(root: &Path) -> Input {
    let mut input = Input::default();
    for service in SERVICES {
        let migrations = dbsplit::migrations::discover(&root.join(service))
            .expect("the generated names are valid");
        for migration in migrations {
            input.files.push(SqlFile {
                text: std::fs::read_to_string(&migration.path).expect("files are readable"),
                path: migration.path,
                service: service.to_string(),
            });
        }
    }
    input
}
