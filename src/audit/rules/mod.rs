//! The audit rules, grouped by the part of the catalog they read. Each is a pure function over
//! the introspected state and the service map, adding findings and declared exceptions.

pub mod privileges;
pub mod roles;
pub mod structure;

use crate::catalog::model::{ObjectKind, SchemaObject};

/// `schema.name`, or `schema.name(args)` for a routine.
pub fn qualified(schema: &str, object: &SchemaObject) -> String {
    match &object.args {
        Some(args) => format!("{schema}.{}({args})", object.name),
        None => format!("{schema}.{}", object.name),
    }
}

/// Whether objects of this kind hold rows that can be written.
pub fn is_table(kind: ObjectKind) -> bool {
    matches!(
        kind,
        ObjectKind::Table | ObjectKind::PartitionedTable | ObjectKind::ForeignTable
    )
}
