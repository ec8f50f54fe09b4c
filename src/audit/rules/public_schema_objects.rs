//! `public-schema-objects`: tables, views and routines living in schema public.

use crate::audit::Audit;
use crate::catalog::model::ObjectKind;
use crate::finding::{Finding, Location, RuleId};

use super::qualified;

/// Tables, views and routines living in schema public, where every service can reach them.
pub fn check(audit: &mut Audit<'_>) {
    let Some(public) = audit.db.schemas.get(crate::pg::PUBLIC_SCHEMA) else {
        return;
    };
    for object in public.objects.values() {
        if matches!(
            object.kind,
            ObjectKind::Sequence | ObjectKind::Type | ObjectKind::Domain
        ) {
            continue;
        }
        let qualified = qualified(crate::pg::PUBLIC_SCHEMA, object);
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

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, lines};
    use crate::catalog::model::ObjectKind;

    #[test]
    fn tables_views_and_routines_in_public_are_found_sequences_and_types_are_not() {
        let report = Cluster::new()
            .table("public.settings")
            .object(ObjectKind::View, "public.v")
            .object(ObjectKind::Function, "public.f(int)")
            .object(ObjectKind::Sequence, "public.s")
            .object(ObjectKind::Type, "public.mood")
            .audit_inferred();
        assert_eq!(
            lines(&report, "public-schema-objects"),
            [
                "public.f(int) | public -> - | postgres",
                "public.settings | public -> - | postgres",
                "public.v | public -> - | postgres",
            ]
        );
    }
}
