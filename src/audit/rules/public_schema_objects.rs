//! `public-schema-objects`: tables, views and routines living in schema public.

use crate::audit::Audit;
use crate::catalog::model::ObjectKind;
use crate::finding::{Finding, Location, RuleId};

use super::qualified;

/// Tables, views and routines living in schema public, where every service can reach them.
pub fn check(audit: &mut Audit<'_>) {
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
