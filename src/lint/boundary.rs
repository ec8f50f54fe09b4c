//! The boundary of one service as the manifest draws it: which schemas it owns, which it may
//! read, which schema names and roles belong to others. It turns "this statement touches schema
//! T in this way" into a rule, or into nothing when the manifest allows it.

use std::collections::{HashMap, HashSet};

use crate::finding::RuleId;
use crate::manifest::{Manifest, Service};

/// Schemas every role may use and no service owns.
const SYSTEM_SCHEMAS: &[&str] = &["pg_catalog", "information_schema", "pg_toast", "pg_temp"];

/// How a statement touches a schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads: queries, views, function calls, types, sequences, trigger functions.
    Read,
    /// Writes data or changes an existing object (DML, ALTER, DROP, COMMENT, ...).
    Write,
    /// Creates an object in the schema, or moves one there.
    Create,
    /// A foreign key pointing there.
    ForeignKey,
    /// Grants or revokes privileges there.
    Grant,
    /// Puts the schema in `search_path`.
    SearchPath,
}

/// One service's boundary.
#[derive(Debug, Clone)]
pub struct Boundary<'m> {
    pub service: &'m Service,
    /// Every schema the manifest names, and `public`.
    known: HashSet<&'m str>,
    /// The service's own schema, its declared reads and the shared schemas.
    readable: HashSet<&'m str>,
    /// Roles of other services and owners of shared schemas, with the schema they stand for.
    foreign_roles: HashMap<&'m str, &'m str>,
    /// With a fleet manifest: the schemas placed in another database than the service's,
    /// with that database's key.
    elsewhere: HashMap<&'m str, &'m str>,
}

impl<'m> Boundary<'m> {
    pub fn new(manifest: &'m Manifest, service: &'m Service) -> Self {
        let mut known: HashSet<&str> = manifest.managed_schemas().collect();
        known.insert(crate::pg::PUBLIC_SCHEMA);
        // A shared schema is readable in its own database only: PostgreSQL cannot query
        // across databases.
        let mut readable: HashSet<&str> = manifest
            .shared
            .iter()
            .filter(|s| s.database == service.database)
            .map(|s| s.schema.as_str())
            .collect();
        readable.insert(&service.schema);
        readable.extend(service.reads.iter().map(|r| r.schema.as_str()));
        let mut foreign_roles = HashMap::new();
        for other in manifest.services.iter().filter(|s| s.name != service.name) {
            foreign_roles.insert(other.owner.as_str(), other.schema.as_str());
            for role in &other.roles {
                foreign_roles.insert(role.name.as_str(), other.schema.as_str());
            }
        }
        for shared in &manifest.shared {
            foreign_roles.insert(shared.owner.as_str(), shared.schema.as_str());
        }
        let elsewhere = manifest
            .managed_schemas()
            .filter_map(|schema| {
                let database = manifest.database_of_schema(schema)?;
                (database != service.database).then_some((schema, database))
            })
            .collect();
        Boundary {
            service,
            known,
            readable,
            foreign_roles,
            elsewhere,
        }
    }

    /// The service's own schema.
    pub fn schema(&self) -> &'m str {
        &self.service.schema
    }

    /// Whether `schema` is named in the manifest (or is `public`).
    pub fn is_known(&self, schema: &str) -> bool {
        self.known.contains(schema)
    }

    /// Whether `schema` is one PostgreSQL provides to everyone.
    pub fn is_system(schema: &str) -> bool {
        SYSTEM_SCHEMAS.contains(&schema) || schema.starts_with("pg_temp_")
    }

    /// Whether `role` is the service's owner or one of its roles.
    pub fn is_own_role(&self, role: &str) -> bool {
        role == self.service.owner || self.service.roles.iter().any(|r| r.name == role)
    }

    /// The schema of another service (or shared schema) that `role` belongs to.
    pub fn foreign_role(&self, role: &str) -> Option<&'m str> {
        self.foreign_roles.get(role).copied()
    }

    /// The rule broken by touching `schema` this way, with a message; `None` when allowed.
    pub fn judge(&self, schema: &str, access: Access, what: &str) -> Option<(RuleId, String)> {
        if schema == self.schema() || Self::is_system(schema) {
            return None;
        }
        let own = self.schema();
        let judged = match access {
            Access::Read if self.readable.contains(schema) => return None,
            Access::SearchPath if self.readable.contains(schema) => return None,
            Access::Read => (
                RuleId::CrossSchemaReference,
                format!(
                    "`{what}` reads schema `{schema}`, which `{own}` does not declare in `reads`"
                ),
            ),
            Access::Create if schema == crate::pg::PUBLIC_SCHEMA => (
                RuleId::CreateInPublic,
                format!("`{what}` puts an object in schema `public`; create it in `{own}`"),
            ),
            Access::Create | Access::Write => (
                RuleId::CrossSchemaWrite,
                format!("`{what}` changes schema `{schema}`, which `{own}` does not own"),
            ),
            Access::ForeignKey => (
                RuleId::CrossSchemaFk,
                format!(
                    "foreign key to `{what}` in schema `{schema}`; keys across services couple them"
                ),
            ),
            Access::Grant => (
                RuleId::CrossSchemaGrant,
                format!(
                    "`{what}` grants or revokes privileges in schema `{schema}`, which `{own}` does not own"
                ),
            ),
            Access::SearchPath => (
                RuleId::SearchPathChange,
                format!("search_path names `{schema}`, which `{own}` may not read"),
            ),
        };
        match self.elsewhere.get(schema) {
            Some(database) => Some((
                judged.0,
                format!(
                    "{}; schema `{schema}` is in database `{database}`, not in `{own}`'s database `{}`: PostgreSQL cannot reach across databases, so this can never work",
                    judged.1, self.service.database
                ),
            )),
            None => Some(judged),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_of_declared_and_shared_schemas_pass_but_writes_do_not() {
        let manifest = crate::lint::tests::manifest();
        let billing = manifest.service("billing").unwrap();
        let boundary = Boundary::new(&manifest, billing);
        assert_eq!(boundary.judge("billing", Access::Write, "x"), None);
        assert_eq!(boundary.judge("pg_catalog", Access::Read, "x"), None);
        assert_eq!(boundary.judge("reference", Access::Read, "x"), None);
        assert_eq!(boundary.judge("reference", Access::SearchPath, "x"), None);
        let rule = |schema, access| boundary.judge(schema, access, "x").map(|(rule, _)| rule);
        assert_eq!(
            rule("reference", Access::Write),
            Some(RuleId::CrossSchemaWrite)
        );
        assert_eq!(
            rule("reference", Access::ForeignKey),
            Some(RuleId::CrossSchemaFk)
        );
        assert_eq!(
            rule("monolith", Access::Read),
            Some(RuleId::CrossSchemaReference)
        );
        assert_eq!(rule("public", Access::Create), Some(RuleId::CreateInPublic));
        assert_eq!(
            rule("public", Access::SearchPath),
            Some(RuleId::SearchPathChange)
        );
        assert_eq!(boundary.foreign_role("monolith_rw"), Some("monolith"));
        assert_eq!(boundary.foreign_role("reference_owner"), Some("reference"));
        assert_eq!(boundary.foreign_role("billing_rw"), None);
    }

    #[test]
    fn a_schema_in_another_database_is_never_reachable_and_the_message_says_so() {
        let manifest = Manifest::parse(
            std::path::Path::new("services.toml"),
            "version = 1\n[databases.app]\n[databases.pay]\n[services.orders]\ndatabase = \"app\"\n[services.billing]\ndatabase = \"pay\"\n[shared.reference]\ndatabase = \"pay\"\n[shared.codes]\ndatabase = \"app\"\n",
        )
        .unwrap();
        let orders = manifest.service("orders").unwrap();
        let boundary = Boundary::new(&manifest, orders);
        assert_eq!(boundary.judge("codes", Access::Read, "x"), None);
        let (rule, message) = boundary.judge("reference", Access::Read, "x").unwrap();
        assert_eq!(rule, RuleId::CrossSchemaReference);
        assert_eq!(
            message,
            "`x` reads schema `reference`, which `orders` does not declare in `reads`; schema `reference` is in database `pay`, not in `orders`'s database `app`: PostgreSQL cannot reach across databases, so this can never work"
        );
        let (rule, message) = boundary.judge("billing", Access::Write, "x").unwrap();
        assert_eq!(rule, RuleId::CrossSchemaWrite);
        assert!(message.ends_with("so this can never work"), "{message}");
    }
}
