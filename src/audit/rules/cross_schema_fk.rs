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

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, lines};

    #[test]
    fn foreign_keys_between_services_are_found_and_those_inside_one_or_to_public_are_not() {
        let report = Cluster::new()
            .schema("billing", "billing_owner")
            .table("billing.invoices")
            .table("billing.payments")
            .schema("monolith", "monolith_owner")
            .table("monolith.customers")
            .table("public.legacy")
            .foreign_key("billing.invoices", "monolith.customers")
            .foreign_key("billing.payments", "billing.invoices")
            .foreign_key("billing.payments", "public.legacy")
            .audit_inferred();
        assert_eq!(
            lines(&report, "cross-schema-fk"),
            ["billing.invoices.invoices_fkey | billing -> monolith | -"]
        );
    }
}
