//! `import` over hand-built clusters: the written manifest (snapshot), that it validates, and
//! the decisions one at a time.

use std::path::Path;

use crate::audit::testing::{Cluster, DB};
use crate::catalog::model::{ObjectKind, Privilege::*};
use crate::manifest::{Access, Manifest};

use super::{ImportError, Proposal, propose, render};

fn login(cluster: Cluster, name: &str) -> Cluster {
    cluster.role_with(name, |r| r.attributes.login = true)
}

/// A legacy cluster: a superuser-owned schema, a login role owning one, a role writing two
/// services, a reader lacking sequence privileges, a BI role, a shared reference schema.
fn legacy() -> Cluster {
    let mut c = Cluster::new()
        .schema("billing", "postgres")
        .table("billing.invoices")
        .table("billing.payments")
        .object(ObjectKind::Sequence, "billing.invoices_id_seq")
        .object(ObjectKind::Function, "billing.total(integer)")
        .grant(&[Execute], "billing.total(integer)", "PUBLIC")
        .schema("users", "users_owner")
        .table("users.accounts")
        .schema("reference", "postgres")
        .table("reference.currencies")
        .schema("shipping", "shipping")
        .table("shipping.parcels");
    for role in [
        "billing_api",
        "billing_ro",
        "users_api",
        "legacy",
        "bi",
        "monitor",
        "shipping",
    ] {
        c = login(c, role);
    }
    c = c
        .grant(&[Usage], "billing", "billing_api")
        .grant(
            &[Select, Insert, Update, Delete],
            "billing.invoices",
            "billing_api",
        )
        .grant(
            &[Select, Insert, Update, Delete],
            "billing.payments",
            "billing_api",
        )
        .grant(&[Usage, Select], "billing.invoices_id_seq", "billing_api")
        .grant(&[Usage], "users", "billing_api")
        .grant(&[Select], "users.accounts", "billing_api")
        .grant(&[Usage], "reference", "billing_api")
        .grant(&[Select], "reference.currencies", "billing_api")
        .member("billing_api", "rds_iam")
        .grant(&[Usage], "billing", "billing_ro")
        .grant(&[Select], "billing.invoices", "billing_ro")
        .grant(&[Select], "billing.payments", "billing_ro")
        .member("users_api", "users_owner")
        .grant(&[Usage], "reference", "users_api")
        .grant(&[Select], "reference.currencies", "users_api")
        .grant(&[Usage], "billing", "legacy")
        .grant(&[Insert], "billing.payments", "legacy")
        .grant(&[Usage], "users", "legacy")
        .grant(&[Update], "users.accounts", "legacy")
        .member("monitor", "pg_monitor");
    for (schema, tables) in [
        ("billing", &["invoices", "payments"][..]),
        ("users", &["accounts"]),
        ("reference", &["currencies"]),
        ("shipping", &["parcels"]),
    ] {
        c = c.grant(&[Usage], schema, "bi");
        for table in tables {
            c = c.grant(&[Select], &format!("{schema}.{table}"), "bi");
        }
    }
    c.db()
        .acl
        .insert(crate::catalog::model::Grantee::Public, [Connect].into());
    c
}

fn proposal(cluster: &Cluster) -> Proposal {
    propose(&cluster.state, DB, "postgres").expect("a proposal")
}

#[test]
fn the_legacy_cluster_imports_as_a_commented_manifest_that_validates() {
    let text = render(&proposal(&legacy()));
    insta::assert_snapshot!(text);
    let manifest = Manifest::parse(Path::new("services.toml"), &text)
        .unwrap_or_else(|e| panic!("the imported manifest validates: {e}\n{text}"));
    assert!(manifest.warnings.is_empty(), "{:?}", manifest.warnings);
}

#[test]
fn each_role_gets_the_place_its_grants_show() {
    let p = proposal(&legacy());
    let placed = |service: &str| service_roles(&p, service);
    assert_eq!(
        placed("billing"),
        [("billing_api".to_string(), Access::ReadWrite)]
    );
    assert_eq!(placed("users"), [("users_api".to_string(), Access::Owner)]);
    assert_eq!(
        placed("shipping"),
        [("shipping".to_string(), Access::Owner)]
    );
    // Owners: a superuser's schema gets <schema>_owner, a NOLOGIN owner of everything stays,
    // a login owner becomes a member of <schema>_owner.
    let owners: Vec<(&str, &str)> = p
        .services
        .iter()
        .map(|s| (s.schema.as_str(), s.owner.as_str()))
        .collect();
    assert_eq!(
        owners,
        [
            ("billing", "billing_owner"),
            ("shipping", "shipping_owner"),
            ("users", "users_owner"),
        ]
    );
    assert_eq!(p.shared.len(), 1);
    assert_eq!(p.shared[0].schema, "reference");
    assert_eq!(p.shared[0].owner, "reference_owner");
}

fn service_roles(p: &Proposal, service: &str) -> Vec<(String, Access)> {
    p.services
        .iter()
        .find(|s| s.schema == service)
        .map(|s| {
            s.roles
                .iter()
                .filter(|r| r.left_out.is_none())
                .map(|r| (r.name.clone(), r.access))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_role_writing_two_services_is_never_guessed() {
    let p = proposal(&legacy());
    for service in ["billing", "users"] {
        let line = p
            .services
            .iter()
            .find(|s| s.schema == service)
            .and_then(|s| s.roles.iter().find(|r| r.name == "legacy"))
            .unwrap_or_else(|| panic!("a commented line for legacy in {service}"));
        assert!(
            line.left_out
                .as_deref()
                .is_some_and(|why| why.starts_with("undecided")),
            "{line:?}"
        );
    }
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("legacy writes billing and users")),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_level_that_would_add_privileges_is_commented_with_what_it_adds() {
    let p = proposal(&legacy());
    let billing = p.services.iter().find(|s| s.schema == "billing").unwrap();
    let ro = billing
        .roles
        .iter()
        .find(|r| r.name == "billing_ro")
        .unwrap();
    assert_eq!(ro.access, Access::ReadOnly);
    assert_eq!(
        ro.left_out.as_deref(),
        Some("left out: readonly would add SELECT on 1 of 1 sequence it lacks today")
    );
}

#[test]
fn a_reader_of_several_services_is_an_observer_of_what_it_reads_whole() {
    let p = proposal(&legacy());
    let bi = p.observers.iter().find(|o| o.name == "bi").unwrap();
    assert_eq!(
        bi.reads,
        Some(vec![
            "reference".to_string(),
            "shipping".to_string(),
            "users".to_string()
        ])
    );
    assert!(bi.left_out.is_none());
    assert!(bi.login);
    assert_eq!(
        bi.notes,
        [
            "apply revokes its reads of billing: reading all of it would add SELECT on 1 of 1 sequence"
        ]
    );
}

#[test]
fn cross_service_reads_are_named_and_memberships_kept() {
    let p = proposal(&legacy());
    let billing = p.services.iter().find(|s| s.schema == "billing").unwrap();
    let reads: Vec<(&str, &str)> = billing
        .reads
        .iter()
        .map(|r| (r.schema.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        reads,
        [
            ("reference", "billing_api reads reference.currencies today"),
            ("users", "billing_api reads users.accounts today"),
        ]
    );
    let api = billing
        .roles
        .iter()
        .find(|r| r.name == "billing_api")
        .unwrap();
    assert_eq!(api.member_of, ["rds_iam"]);
}

#[test]
fn a_database_with_only_public_is_a_clear_error() {
    let cluster = Cluster::new().table("public.things");
    let error = propose(&cluster.state, DB, "postgres").unwrap_err();
    assert!(matches!(error, ImportError::NoSchemas { .. }));
    assert!(error.to_string().contains("has no schema but public"));
}

#[test]
fn odd_names_are_quoted() {
    let cluster = login(
        Cluster::new().schema("Billing \"Svc\"", "postgres"),
        "api user",
    )
    .table("Billing \"Svc\".t")
    .grant(&[Usage], "Billing \"Svc\"", "api user")
    .grant(
        &[Select, Insert, Update, Delete],
        "Billing \"Svc\".t",
        "api user",
    );
    let text = render(&proposal(&cluster));
    assert!(text.contains(r#"[services."Billing \"Svc\""]"#), "{text}");
    assert!(
        text.contains(r#"roles."api user" = { access = "readwrite" }"#),
        "{text}"
    );
    Manifest::parse(Path::new("services.toml"), &text)
        .unwrap_or_else(|e| panic!("validates: {e}\n{text}"));
}
