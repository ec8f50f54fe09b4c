//! The audit rules, grouped by the part of the catalog they read. Each is a pure function over
//! the introspected state and the service map, adding findings and declared exceptions.

pub mod cross_schema_dependency;
pub mod cross_schema_view;
pub mod privileges;
pub mod roles;
pub mod shared_role;
pub mod structure;

use crate::audit::{Audit, Exception};
use crate::catalog::model::{Dependency, ObjectKind, SchemaObject};
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
