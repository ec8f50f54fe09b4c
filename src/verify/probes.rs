//! What to try as each role, and what the manifest says must happen: pure, from the manifest
//! and the tables found to probe.
//!
//! Every statement is one whose privilege check happens before any row is touched (`WHERE false`,
//! `LIMIT 0`, an empty `CREATE TABLE`), and each runs in a savepoint of a transaction that is
//! rolled back: nothing is ever written.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::manifest::{Access, Manifest, PublicSchema};
use crate::pg::ident::Ident;

/// The name of the table a CREATE probe tries to create (and never keeps).
pub const PROBE_TABLE: &str = "dbsplit_verify_probe";

/// What a statement did, or must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It ran.
    Allowed,
    /// PostgreSQL refused it with SQLSTATE 42501 (insufficient_privilege).
    Denied,
    /// Another error: the probe proves nothing (a lock timeout, a read-only server).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

/// What a probe tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Select,
    Insert,
    Update,
    Delete,
    Create,
}

/// One statement to try as a role, and what the manifest says must happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The schema the statement reaches.
    pub schema: String,
    pub kind: Kind,
    pub statement: String,
    pub expected: Outcome,
}

/// A role to verify and its probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub role: String,
    /// Its service; `None` for an observer.
    pub service: Option<String>,
    /// `owner`, `readwrite`, `readonly`, or `observer`.
    pub access: &'static str,
    pub probes: Vec<Probe>,
}

/// A table found in a schema, to probe that schema with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// Its first column, for the UPDATE probe; `None` for a table without columns.
    pub column: Option<String>,
}

/// What the catalog says about one schema to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub present: bool,
    pub table: Option<Table>,
}

/// What a role may do in a schema, per the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct May {
    read: bool,
    write: bool,
    create: bool,
}

const NOTHING: May = May {
    read: false,
    write: false,
    create: false,
};
const READ: May = May {
    read: true,
    write: false,
    create: false,
};

/// The roles to verify (those of `services`, or every service role and observer when it is
/// empty) with their probes over the schemas in `found`. A schema missing from `found` or
/// without a table gets only the CREATE probe.
pub fn subjects(
    manifest: &Manifest,
    services: &[String],
    found: &BTreeMap<String, Found>,
) -> Vec<Subject> {
    let mut subjects = Vec::new();
    for service in &manifest.services {
        if !services.is_empty() && !services.contains(&service.name) {
            continue;
        }
        for role in &service.roles {
            let access = role.access;
            let may = |schema: &str| {
                if schema == service.schema {
                    May {
                        read: true,
                        write: access != Access::ReadOnly,
                        create: access == Access::Owner,
                    }
                } else if service.reads.iter().any(|r| r.schema == schema) {
                    READ
                } else {
                    NOTHING
                }
            };
            subjects.push(Subject {
                role: role.name.clone(),
                service: Some(service.name.clone()),
                access: access.as_str(),
                probes: probes_for(manifest, found, may),
            });
        }
    }
    if services.is_empty() {
        for observer in &manifest.observers {
            let may = |schema: &str| {
                if observer.reads.iter().any(|r| r == schema) {
                    READ
                } else {
                    NOTHING
                }
            };
            subjects.push(Subject {
                role: observer.name.clone(),
                service: None,
                access: "observer",
                probes: probes_for(manifest, found, may),
            });
        }
    }
    subjects
}

/// Every managed schema's probes, then CREATE in public when it is locked down.
fn probes_for(
    manifest: &Manifest,
    found: &BTreeMap<String, Found>,
    may: impl Fn(&str) -> May,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    for schema in manifest.managed_schemas() {
        let may = may(schema);
        let table = found.get(schema).and_then(|f| f.table.as_ref());
        if let Some(table) = table {
            table_probes(schema, table, may, &mut probes);
        }
        probes.push(create(schema, may.create));
    }
    let public_present = found
        .get(crate::pg::PUBLIC_SCHEMA)
        .is_some_and(|f| f.present);
    if manifest.database.public_schema == PublicSchema::Lockdown && public_present {
        probes.push(create(crate::pg::PUBLIC_SCHEMA, false));
    }
    probes
}

fn expect(allowed: bool) -> Outcome {
    if allowed {
        Outcome::Allowed
    } else {
        Outcome::Denied
    }
}

fn table_probes(schema: &str, table: &Table, may: May, probes: &mut Vec<Probe>) {
    let name = format!("{}.{}", Ident(schema), Ident(&table.name));
    let mut push = |kind, statement: String, allowed| {
        probes.push(Probe {
            schema: schema.to_string(),
            kind,
            statement,
            expected: expect(allowed),
        })
    };
    push(
        Kind::Select,
        format!("SELECT 1 FROM {name} LIMIT 0"),
        may.read,
    );
    push(
        Kind::Insert,
        format!("INSERT INTO {name} SELECT WHERE false"),
        may.write,
    );
    if let Some(column) = &table.column {
        push(
            Kind::Update,
            format!("UPDATE {name} SET {} = DEFAULT WHERE false", Ident(column)),
            may.write,
        );
    }
    push(
        Kind::Delete,
        format!("DELETE FROM {name} WHERE false"),
        may.write,
    );
}

fn create(schema: &str, allowed: bool) -> Probe {
    Probe {
        schema: schema.to_string(),
        kind: Kind::Create,
        statement: format!("CREATE TABLE {}.{} ()", Ident(schema), Ident(PROBE_TABLE)),
        expected: expect(allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn example() -> Manifest {
        let text = include_str!("../../services.toml.example");
        Manifest::parse(Path::new("services.toml.example"), text).expect("the example is valid")
    }

    fn found_everywhere(manifest: &Manifest) -> BTreeMap<String, Found> {
        manifest
            .managed_schemas()
            .chain(["public"])
            .map(|s| {
                let found = Found {
                    present: true,
                    table: Some(Table {
                        name: "t".to_string(),
                        column: Some("id".to_string()),
                    }),
                };
                (s.to_string(), found)
            })
            .collect()
    }

    fn expected(subject: &Subject, schema: &str) -> Vec<(Kind, Outcome)> {
        subject
            .probes
            .iter()
            .filter(|p| p.schema == schema)
            .map(|p| (p.kind, p.expected))
            .collect::<Vec<_>>()
    }

    #[test]
    fn each_access_level_gets_what_the_manifest_says() {
        use Kind::*;
        use Outcome::*;
        let manifest = example();
        let subjects = subjects(&manifest, &[], &found_everywhere(&manifest));
        let by_role = |role: &str| {
            subjects
                .iter()
                .find(|s| s.role == role)
                .expect("the role is verified")
        };
        let all = |outcome| {
            vec![
                (Select, outcome),
                (Insert, outcome),
                (Update, outcome),
                (Delete, outcome),
            ]
        };
        let with_create = |mut probes: Vec<(Kind, Outcome)>, outcome| {
            probes.push((Create, outcome));
            probes
        };
        let rw = by_role("billing_rw");
        assert_eq!(expected(rw, "billing"), with_create(all(Allowed), Denied));
        assert_eq!(expected(rw, "monolith"), with_create(all(Denied), Denied));
        let read = vec![
            (Select, Allowed),
            (Insert, Denied),
            (Update, Denied),
            (Delete, Denied),
            (Create, Denied),
        ];
        assert_eq!(expected(rw, "reference"), read);
        assert_eq!(expected(by_role("billing_ro"), "billing"), read);
        let migrator = by_role("billing_migrator");
        assert_eq!(
            expected(migrator, "billing"),
            with_create(all(Allowed), Allowed)
        );
        let notifications = by_role("notifications_rw");
        assert_eq!(
            expected(notifications, "reference"),
            with_create(all(Denied), Denied)
        );
        assert_eq!(expected(notifications, "public"), vec![(Create, Denied)]);
    }

    #[test]
    fn statements_quote_every_name_and_touch_no_row() {
        let manifest = example();
        let subjects = subjects(
            &manifest,
            &["billing".to_string()],
            &found_everywhere(&manifest),
        );
        assert_eq!(subjects.len(), 3, "billing's three roles only");
        let statements: Vec<&str> = subjects[0]
            .probes
            .iter()
            .filter(|p| p.schema == "monolith")
            .map(|p| p.statement.as_str())
            .collect();
        assert_eq!(
            statements,
            [
                r#"SELECT 1 FROM "monolith"."t" LIMIT 0"#,
                r#"INSERT INTO "monolith"."t" SELECT WHERE false"#,
                r#"UPDATE "monolith"."t" SET "id" = DEFAULT WHERE false"#,
                r#"DELETE FROM "monolith"."t" WHERE false"#,
                r#"CREATE TABLE "monolith"."dbsplit_verify_probe" ()"#,
            ]
        );
    }

    #[test]
    fn an_observer_reads_what_it_names_and_writes_nothing() {
        let text = format!(
            "{}\n[observers.analytics]\nreads = [\"billing\"]\nreason = \"reports\"\n",
            include_str!("../../services.toml.example")
        );
        let manifest = Manifest::parse(Path::new("services.toml"), &text).expect("valid");
        let found = found_everywhere(&manifest);
        let all = subjects(&manifest, &[], &found);
        let observer = all.last().expect("the observer is verified");
        assert_eq!(
            (observer.role.as_str(), observer.access),
            ("analytics", "observer")
        );
        let allowed: Vec<(&str, Kind)> = observer
            .probes
            .iter()
            .filter(|p| p.expected == Outcome::Allowed)
            .map(|p| (p.schema.as_str(), p.kind))
            .collect();
        assert_eq!(allowed, [("billing", Kind::Select)]);
        let named = subjects(&manifest, &["billing".to_string()], &found);
        assert!(
            named.iter().all(|s| s.access != "observer"),
            "--service leaves observers out"
        );
    }

    #[test]
    fn a_schema_without_a_table_gets_the_create_probe_only() {
        let manifest = example();
        let subjects = subjects(&manifest, &[], &BTreeMap::new());
        let rw = &subjects[0];
        assert!(rw.probes.iter().all(|p| p.kind == Kind::Create));
        assert!(
            rw.probes.iter().all(|p| p.schema != "public"),
            "public is probed only when it exists"
        );
    }
}
