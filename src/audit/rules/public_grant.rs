//! `public-grant`: privileges on a service schema or its objects granted to PUBLIC.

use crate::audit::Audit;
use crate::catalog::model::{Grantee, ObjectKind, Privilege};
use crate::finding::{Finding, Location, RuleId};
use crate::plan::change::keywords;

use super::targets;

/// Privileges on a service's schema or objects granted to PUBLIC. Types keep PostgreSQL's
/// default USAGE for PUBLIC, which couples nothing.
pub fn check(audit: &mut Audit<'_>) {
    for target in targets(audit) {
        let Some(privileges) = target.acl.get(&Grantee::Public) else {
            continue;
        };
        let mut privileges = privileges.clone();
        if matches!(target.kind, Some(ObjectKind::Type | ObjectKind::Domain)) {
            privileges.remove(&Privilege::Usage);
        }
        if privileges.is_empty() {
            continue;
        }
        audit.findings.push(
            Finding::new(
                RuleId::PublicGrant,
                Location::Object {
                    object: target.object(),
                },
                format!(
                    "PUBLIC holds {} on {} `{}`",
                    keywords(&privileges),
                    target.noun,
                    target.object()
                ),
            )
            .schema(target.schema)
            .target_schema(target.schema),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, lines};
    use crate::catalog::model::ObjectKind;
    use crate::catalog::model::Privilege::*;

    #[test]
    fn privileges_granted_to_public_are_found_but_a_types_default_usage_is_not() {
        let report = Cluster::new()
            .schema("billing", "billing_owner")
            .table("billing.invoices")
            .object(ObjectKind::Type, "billing.state")
            .object(ObjectKind::Function, "billing.total(bigint)")
            .grant(&[Select], "billing.invoices", "PUBLIC")
            .grant(&[Usage], "billing.state", "PUBLIC")
            .grant(&[Execute], "billing.total(bigint)", "PUBLIC")
            .grant(&[Usage], "billing", "PUBLIC")
            .table("public.t")
            .grant(&[Select], "public.t", "PUBLIC")
            .audit_inferred();
        assert_eq!(
            lines(&report, "public-grant"),
            [
                "billing | billing -> billing | -",
                "billing.invoices | billing -> billing | -",
                "billing.total(bigint) | billing -> billing | -",
            ]
        );
    }
}
