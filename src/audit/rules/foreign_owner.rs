//! `foreign-owner`: objects in a service's schema not owned by the service's owner role.

use crate::audit::Audit;
use crate::finding::{Finding, Location, RuleId};

use super::qualified;

/// Objects in a service's schema not owned by the service's owner role. A sequence owned by a
/// column follows its table and is reported with it.
pub fn check(audit: &mut Audit<'_>) {
    for (name, schema) in &audit.db.schemas {
        let Some(service) = audit.services.of_schema(name) else {
            continue;
        };
        let Some(owner) = audit.services.owners.get(service) else {
            continue;
        };
        if &schema.owner != owner {
            audit.findings.push(
                Finding::new(
                    RuleId::ForeignOwner,
                    Location::Object {
                        object: name.clone(),
                    },
                    format!(
                        "schema `{name}` is owned by `{}`, not `{owner}`",
                        schema.owner
                    ),
                )
                .schema(name)
                .role(&schema.owner),
            );
        }
        for object in schema.objects.values() {
            if &object.owner == owner || object.linked {
                continue;
            }
            let qualified = qualified(name, object);
            audit.findings.push(
                Finding::new(
                    RuleId::ForeignOwner,
                    Location::Object {
                        object: qualified.clone(),
                    },
                    format!(
                        "{} `{qualified}` is owned by `{}`, not `{owner}`",
                        object.kind.noun(),
                        object.owner
                    ),
                )
                .schema(name)
                .role(&object.owner),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, declared, lines};
    use crate::catalog::model::ObjectKind;

    #[test]
    fn schemas_and_objects_not_owned_by_the_services_owner_are_found_linked_sequences_are_not() {
        let mut cluster = Cluster::new()
            .schema("billing", "postgres")
            .table("billing.invoices")
            .table("billing.stray")
            .owned_by("billing.invoices", "billing_owner")
            .object(ObjectKind::Sequence, "billing.stray_id_seq");
        cluster.object_mut("billing.stray_id_seq").linked = true;
        let services = declared(&[("billing", "billing", "billing_owner", &[])]);
        assert_eq!(
            lines(&cluster.audit(&services), "foreign-owner"),
            [
                "billing | billing -> - | postgres",
                "billing.stray | billing -> - | postgres",
            ]
        );
    }
}
