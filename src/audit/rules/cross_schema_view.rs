//! `cross-schema-view`: a view or materialized view in one service's schema reading a relation
//! in another's. A view that only calls another schema's function, or uses its type, is a
//! `cross-schema-dependency`.

use crate::audit::Audit;
use crate::catalog::model::Dependency;
use crate::finding::RuleId;

use super::{crossing, is_relation};

pub fn check(audit: &mut Audit<'_>) {
    for dep in &audit.db.dependencies {
        if reads_relation(audit, dep) {
            let message = format!(
                "view `{}.{}` reads `{}.{}`",
                dep.schema, dep.object, dep.target_schema, dep.target_object
            );
            crossing(audit, RuleId::CrossSchemaView, dep, message);
        }
    }
}

/// Whether `dep` is a view's read of a relation (not a call of a function, not a type).
pub fn reads_relation(audit: &Audit<'_>, dep: &Dependency) -> bool {
    dep.how == "view"
        && audit
            .db
            .schemas
            .get(&dep.target_schema)
            .and_then(|s| s.objects.get(&dep.target_object))
            .is_some_and(|o| is_relation(o.kind))
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, lines};
    use crate::catalog::model::ObjectKind;

    fn two_services() -> Cluster {
        Cluster::new()
            .schema("monolith", "monolith_owner")
            .table("monolith.customers")
            .object(ObjectKind::View, "monolith.v_customers")
            .object(ObjectKind::Function, "monolith.email_of(bigint)")
            .object(ObjectKind::Type, "monolith.mood")
            .schema("notifications", "notifications_owner")
            .object(ObjectKind::View, "notifications.emails")
            .object(ObjectKind::View, "notifications.called")
    }

    #[test]
    fn a_view_reading_another_services_relation_is_one_and_calls_are_not() {
        let cluster = two_services()
            .depends("notifications.emails", "view", "monolith.v_customers")
            .depends("notifications.called", "view", "monolith.email_of(bigint)")
            .depends("notifications.called", "view", "monolith.mood")
            .depends("monolith.v_customers", "view", "monolith.customers");
        let report = cluster.audit_inferred();
        assert_eq!(
            lines(&report, "cross-schema-view"),
            ["notifications.emails | notifications -> monolith | -"]
        );
        assert_eq!(
            lines(&report, "cross-schema-dependency"),
            [
                "notifications.called | notifications -> monolith | -",
                "notifications.called | notifications -> monolith | -"
            ],
            "the call and the type of a view are dependencies"
        );
    }
}
