//! `cross-schema-dependency`: the other edges from one service's schema into another's: column
//! types, sequence defaults, trigger functions, function bodies and signatures, a view's calls
//! of another schema's functions (all from `pg_depend`), and the relations that SQL and
//! PL/pgSQL bodies written as strings name (`pg_depend` does not see those).
//!
//! A body's names are found by `lint`'s machinery and resolved against the catalog: `s.r` counts
//! when `s` holds a relation `r`; an unqualified `r` resolves through the function's own
//! `SET search_path` (the first schema on it holding a relation `r`) and is ignored without one,
//! since the caller's path decides then.

use crate::audit::Audit;
use crate::catalog::model::{Database, Dependency};
use crate::desired::parse_search_path;
use crate::finding::RuleId;
use crate::lint::names::relation_names;

use super::cross_schema_view::reads_relation;
use super::{crossing, is_relation};

pub fn check(audit: &mut Audit<'_>) {
    let from_bodies = body_dependencies(audit.db);
    for dep in audit.db.dependencies.iter().chain(&from_bodies) {
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

/// The relations of other schemas that string bodies name, as `function body` dependencies.
pub fn body_dependencies(db: &Database) -> Vec<Dependency> {
    let holds = |schema: &str, name: &str| {
        db.schemas
            .get(schema)
            .and_then(|s| s.objects.get(name))
            .is_some_and(|o| is_relation(o.kind))
    };
    let mut out = Vec::new();
    for function in &db.function_bodies {
        let path = function
            .search_path
            .as_deref()
            .map(parse_search_path)
            .unwrap_or_default();
        for named in relation_names(&function.body, &function.language) {
            let target = match &named.schema {
                Some(schema) => holds(schema, &named.name).then_some(schema),
                None => path.iter().find(|schema| holds(schema, &named.name)),
            };
            match target {
                Some(target) if *target != function.schema => out.push(Dependency {
                    schema: function.schema.clone(),
                    object: function.function.clone(),
                    how: "function body".into(),
                    target_schema: target.clone(),
                    target_object: named.name.clone(),
                }),
                _ => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use crate::audit::testing::{Cluster, declared, lines};
    use crate::catalog::model::{FunctionBody, ObjectKind};

    fn body(function: &str, language: &str, body: &str, search_path: Option<&str>) -> FunctionBody {
        let (schema, function) = function.split_once('.').unwrap();
        FunctionBody {
            schema: schema.into(),
            function: function.into(),
            language: language.into(),
            body: body.into(),
            search_path: search_path.map(Into::into),
        }
    }

    #[test]
    fn string_bodies_naming_another_services_relations_are_dependencies() {
        let mut cluster = Cluster::new()
            .schema("monolith", "monolith_owner")
            .table("monolith.customers")
            .object(ObjectKind::Function, "monolith.audit()")
            .schema("billing", "billing_owner")
            .table("billing.invoices")
            .object(ObjectKind::Function, "billing.total(bigint)")
            .object(ObjectKind::Function, "billing.emails()")
            .object(ObjectKind::Function, "billing.unset()")
            .object(ObjectKind::Function, "billing.own()");
        cluster.db().function_bodies = vec![
            body(
                "billing.total(bigint)",
                "plpgsql",
                "DECLARE c monolith.customers; BEGIN SELECT * INTO c FROM monolith.customers c WHERE c.id = $1; RETURN 1; END",
                None,
            ),
            body(
                "billing.emails()",
                "sql",
                "SELECT email FROM customers JOIN invoices USING (id)",
                Some(r#"billing, "monolith""#),
            ),
            body("billing.unset()", "sql", "SELECT * FROM customers", None),
            body(
                "billing.own()",
                "sql",
                "SELECT monolith.audit(); SELECT * FROM billing.invoices i",
                Some("monolith"),
            ),
        ];
        let report = cluster.audit_inferred();
        assert_eq!(
            lines(&report, "cross-schema-dependency"),
            [
                "billing.emails() | billing -> monolith | -",
                "billing.total(bigint) | billing -> monolith | -",
            ],
            "unqualified names without a search_path, functions and own relations are no finding"
        );
        assert!(
            report.findings[0]
                .message
                .contains("function body of `billing.emails()` depends on `monolith.customers`"),
            "{}",
            report.findings[0].message
        );
    }

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
