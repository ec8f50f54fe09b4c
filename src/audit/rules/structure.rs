//! Rules on how objects hang together: cross-schema-fk, cross-schema-view,
//! cross-schema-dependency, foreign-owner, public-schema-objects.

use crate::audit::Audit;
use crate::catalog::model::ObjectKind;
use crate::finding::{Finding, Location, RuleId};

use super::qualified;

/// Foreign keys from one service's schema into another's (declared reads and shared schemas
/// included: a foreign key is more than a read, it blocks the other side's deletes).
pub fn cross_schema_fk(audit: &mut Audit<'_>) {
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

/// Objects in a service's schema not owned by the service's owner role. A sequence owned by a
/// column follows its table and is reported with it.
pub fn foreign_owner(audit: &mut Audit<'_>) {
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

/// Tables, views and routines living in schema public, where every service can reach them.
pub fn public_schema_objects(audit: &mut Audit<'_>) {
    let Some(public) = audit.db.schemas.get("public") else {
        return;
    };
    for object in public.objects.values() {
        if matches!(
            object.kind,
            ObjectKind::Sequence | ObjectKind::Type | ObjectKind::Domain
        ) {
            continue;
        }
        let qualified = qualified("public", object);
        audit.findings.push(
            Finding::new(
                RuleId::PublicSchemaObjects,
                Location::Object {
                    object: qualified.clone(),
                },
                format!(
                    "{} `{qualified}` lives in schema public",
                    object.kind.noun()
                ),
            )
            .schema("public")
            .role(&object.owner),
        );
    }
}
