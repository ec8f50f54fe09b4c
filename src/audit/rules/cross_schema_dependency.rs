//! `cross-schema-dependency`: the other edges from one service's schema into another's: column
//! types, sequence defaults, trigger functions, function bodies and signatures, a view's calls
//! of another schema's functions.

use crate::audit::Audit;
use crate::finding::RuleId;

use super::cross_schema_view::reads_relation;
use super::crossing;

pub fn check(audit: &mut Audit<'_>) {
    for dep in &audit.db.dependencies {
        if reads_relation(audit, dep) {
            continue;
        }
        let object = format!("{}.{}", dep.schema, dep.object);
        let target = format!("{}.{}", dep.target_schema, dep.target_object);
        let message = if dep.how == "view" {
            format!("view `{object}` uses `{target}`")
        } else {
            format!("{} of `{object}` depends on `{target}`", dep.how)
        };
        crossing(audit, RuleId::CrossSchemaDependency, dep, message);
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, declared, lines};
    use crate::catalog::model::ObjectKind;

    #[test]
    fn column_types_of_another_service_are_found_and_declared_reads_are_exceptions() {
        let cluster = Cluster::new()
            .schema("monolith", "monolith_owner")
            .object(ObjectKind::Type, "monolith.mood")
            .schema("notifications", "notifications_owner")
            .table("notifications.prefs")
            .schema("reference", "reference_owner")
            .object(ObjectKind::Domain, "reference.code")
            .depends("notifications.prefs", "column type", "monolith.mood")
            .depends("notifications.prefs", "column type", "reference.code")
            .depends("monolith.mood", "type", "monolith.mood");
        let report = cluster.audit_inferred();
        assert_eq!(
            lines(&report, "cross-schema-dependency"),
            [
                "notifications.prefs | notifications -> monolith | -",
                "notifications.prefs | notifications -> reference | -"
            ]
        );
        let mut services = declared(&[
            ("monolith", "monolith", "monolith_owner", &[]),
            ("notifications", "notifications", "notifications_owner", &[]),
            ("reference", "reference", "reference_owner", &[]),
        ]);
        services
            .reads
            .insert(("notifications".into(), "reference".into()), "codes".into());
        let report = cluster.audit(&services);
        assert_eq!(
            lines(&report, "cross-schema-dependency"),
            ["notifications.prefs | notifications -> monolith | -"]
        );
        assert_eq!(report.exceptions.len(), 1, "{:#?}", report.exceptions);
        assert!(report.exceptions[0].reason.contains("codes"));
    }
}
