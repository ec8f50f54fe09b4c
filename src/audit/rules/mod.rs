//! The audit rules, one file per rule named as its id (`cross_schema_fk.rs` is
//! `cross-schema-fk`), each with its database-free unit tests over a hand-built state
//! (`crate::audit::testing`). Each `check` is a pure function over the introspected state and
//! the service map, adding findings and declared exceptions; what several rules share is here.

pub mod connection_budget;
pub mod cross_schema_dependency;
pub mod cross_schema_fk;
pub mod cross_schema_grant;
pub mod cross_schema_view;
pub mod drift;
pub mod foreign_owner;
pub mod privileged_service_role;
pub mod public_grant;
pub mod public_schema_create;
pub mod public_schema_objects;
pub mod role_membership_leak;
pub mod search_path_leak;
pub mod shared_credentials;
pub mod shared_role;
pub mod shared_writer;

use crate::audit::{Audit, Exception};
use crate::catalog::model::{Acl, Dependency, ObjectKind, Privilege, Privileges, SchemaObject};
use crate::finding::{Finding, Location, RuleId};

/// `schema.name`, or `schema.name(args)` for a routine.
pub fn qualified(schema: &str, object: &SchemaObject) -> String {
    match &object.args {
        Some(args) => format!("{schema}.{}({args})", object.name),
        None => format!("{schema}.{}", object.name),
    }
}

/// Whether objects of this kind are relations (what a view or a query reads).
pub fn is_relation(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::Table
            | ObjectKind::PartitionedTable
            | ObjectKind::View
            | ObjectKind::MaterializedView
            | ObjectKind::ForeignTable
            | ObjectKind::Sequence
    )
}

/// Whether objects of this kind hold rows that can be written.
pub fn is_table(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::Table | ObjectKind::PartitionedTable | ObjectKind::ForeignTable
    )
}

/// Reports `dep` as a finding of `rule` when it goes from one service's schema into another
/// service's; as a declared exception when the target is a declared read or shared schema.
pub fn crossing(audit: &mut Audit<'_>, rule: RuleId, dep: &Dependency, message: String) {
    let (Some(service), Some(target)) = (
        audit.services.of_schema(&dep.schema),
        audit.services.of_schema(&dep.target_schema),
    ) else {
        return;
    };
    if service == target {
        return;
    }
    let object = format!("{}.{}", dep.schema, dep.object);
    if let Some(reason) = audit.services.may_read(service, &dep.target_schema) {
        audit.exceptions.push(Exception {
            rule,
            object,
            role: None,
            reason,
        });
        return;
    }
    audit.findings.push(
        Finding::new(rule, Location::Object { object }, message)
            .schema(&dep.schema)
            .target_schema(&dep.target_schema),
    );
}

/// Privileges that only read: what a declared read or an observer may hold.
pub fn read_only(privileges: &Privileges) -> bool {
    privileges
        .iter()
        .all(|p| matches!(p, Privilege::Select | Privilege::Usage))
}

/// One ACL of a service schema, with what it is on, for the rules to walk.
pub struct Target<'a> {
    pub schema: &'a str,
    /// What the ACL is on: named by [`Target::object`] only when a rule reports it.
    on: On<'a>,
    pub noun: &'static str,
    pub kind: Option<ObjectKind>,
    pub owner: &'a str,
    pub acl: &'a Acl,
}

enum On<'a> {
    Schema,
    Object(&'a SchemaObject),
    Column(&'a SchemaObject, &'a str),
}

impl Target<'_> {
    /// `schema`, `schema.table`, `schema.table.column`, `schema.f(args)`.
    pub fn object(&self) -> String {
        match self.on {
            On::Schema => self.schema.to_string(),
            On::Object(object) => qualified(self.schema, object),
            On::Column(object, column) => format!("{}.{column}", qualified(self.schema, object)),
        }
    }
}

/// The ACLs of the service schemas and of everything in them (columns included), one at a
/// time: nothing is collected or named yet, as most ACLs hold nothing to report, and naming
/// (or even listing) 20,000 objects for each rule that walks them cost more than the walk.
/// It borrows the audit's database and services, not the audit, which the caller may fill
/// meanwhile.
pub fn targets<'a>(audit: &Audit<'a>) -> impl Iterator<Item = Target<'a>> + 'a {
    let services = audit.services;
    audit
        .db
        .schemas
        .iter()
        .filter(move |(name, _)| services.of_schema(name).is_some())
        .flat_map(|(name, schema)| {
            let own = Target {
                schema: name,
                on: On::Schema,
                noun: "schema",
                kind: None,
                owner: &schema.owner,
                acl: &schema.acl,
            };
            std::iter::once(own).chain(schema.objects.values().flat_map(move |object| {
                let columns = object.columns.iter().map(move |(column, acl)| Target {
                    schema: name,
                    on: On::Column(object, column),
                    noun: "column",
                    kind: Some(object.kind),
                    owner: &object.owner,
                    acl,
                });
                columns.chain(std::iter::once(Target {
                    schema: name,
                    on: On::Object(object),
                    noun: object.kind.noun(),
                    kind: Some(object.kind),
                    owner: &object.owner,
                    acl: &object.acl,
                }))
            }))
        })
}
