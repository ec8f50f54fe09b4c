//! `cross-schema-fk`: foreign keys from one service's schema into another's.

use crate::audit::Audit;
use crate::finding::{Finding, Location, RuleId};

/// Foreign keys from one service's schema into another's (declared reads and shared schemas
/// included: a foreign key is more than a read, it blocks the other side's deletes).
pub fn check(audit: &mut Audit<'_>) {
    for fk in &audit.db.foreign_keys {
        if fk.schema == fk.target_schema {
            continue;
        }
        let (Some(_), Some(_)) = (
            audit.services.of_schema(&fk.schema),
            audit.services.of_schema(&fk.target_schema),
        ) else {
            continue;
        };
        let object = format!("{}.{}.{}", fk.schema, fk.table, fk.name);
        audit.findings.push(
            Finding::new(
                RuleId::CrossSchemaFk,
                Location::Object { object },
                format!(
                    "foreign key `{}` on `{}.{}` references `{}.{}`",
                    fk.name, fk.schema, fk.table, fk.target_schema, fk.target_table
                ),
            )
            .schema(&fk.schema)
            .target_schema(&fk.target_schema),
        );
    }
}
