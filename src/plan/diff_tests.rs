//! The live diff without a database: small hand-built cluster states, each with one kind of
//! drift from a converged one, and the change it must yield.

use std::collections::BTreeSet;
use std::path::Path;

use crate::catalog::model::{
    ClusterState, Database, DefaultAclKey, DefaultObjects, Grantee, Membership, ObjectKind,
    Privilege, Role, RoleDependent, RoleMark, SchemaObject,
};
use crate::desired::{Desired, desired_state};
use crate::manifest::Manifest;

use super::diff::{DiffOptions, diff};
use super::{Action, Plan, sql};

const MANIFEST: &str = r#"
version = 1
[database]
name = "app"
revoke_public_connect = true
[services.billing]
roles.billing_rw = { access = "readwrite" }
roles.billing_migrator = { access = "owner" }
reads = [{ schema = "reference", reason = "codes" }]
[services.monolith]
roles.monolith_rw = { access = "readwrite" }
[shared.reference]
owner = "reference_owner"
"#;

fn setup() -> (Manifest, Desired) {
    let manifest = Manifest::parse(Path::new("services.toml"), MANIFEST).expect("valid");
    let desired = desired_state(&manifest);
    (manifest, desired)
}

fn mark(databases: &[&str]) -> Option<String> {
    let mark = RoleMark {
        databases: databases.iter().map(|d| d.to_string()).collect(),
        password_version: None,
    };
    Some(mark.render())
}

/// The state `apply` leaves: the desired one, every role marked as dbsplit's for `app`.
fn converged(desired: &Desired) -> ClusterState {
    let mut state = desired.state.clone();
    for role in state.roles.values_mut() {
        role.comment = mark(&["app"]);
    }
    state
}

fn db(state: &mut ClusterState) -> &mut Database {
    state.databases.get_mut("app").expect("the database")
}

fn plan_of(live: &ClusterState, prune: bool) -> Plan {
    let (manifest, desired) = setup();
    let options = DiffOptions {
        prune,
        ..DiffOptions::default()
    };
    diff(&manifest, &desired, live, "app", &options)
}

/// Each change as `kind object: sql`.
fn lines(plan: &Plan) -> BTreeSet<String> {
    plan.changes
        .iter()
        .map(|c| {
            format!(
                "{} {}: {}",
                c.action.kind(),
                c.action.object(),
                sql::statements(&c.action).join(" ")
            )
        })
        .collect()
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|l| l.to_string()).collect()
}

fn table(name: &str, owner: &str) -> SchemaObject {
    SchemaObject {
        kind: ObjectKind::Table,
        name: name.to_string(),
        args: None,
        owner: owner.to_string(),
        acl: Default::default(),
        grant_options: Default::default(),
        columns: Default::default(),
        linked: false,
    }
}

/// The converged state with billing.invoices holding exactly what default privileges give.
fn with_invoices(desired: &Desired) -> ClusterState {
    let mut live = converged(desired);
    let desired_db = desired.db();
    let mut invoices = table("invoices", "billing_owner");
    invoices.acl = super::diff::object_acl(desired_db, "billing", "billing_owner", &invoices);
    db(&mut live)
        .schemas
        .get_mut("billing")
        .expect("billing")
        .objects
        .insert("invoices".into(), invoices);
    live
}

fn invoices(live: &mut ClusterState) -> &mut SchemaObject {
    db(live)
        .schemas
        .get_mut("billing")
        .and_then(|s| s.objects.get_mut("invoices"))
        .expect("invoices")
}

#[test]
fn a_converged_state_yields_no_change() {
    let (_, desired) = setup();
    let plan = plan_of(&with_invoices(&desired), false);
    assert!(plan.is_empty(), "{:#?}", lines(&plan));
}

#[test]
fn a_missing_role_is_created_and_marked_and_an_old_mark_gets_the_database() {
    let (_, desired) = setup();
    let mut live = converged(&desired);
    live.roles.remove("monolith_rw");
    live.roles.get_mut("billing_rw").expect("role").comment = mark(&[]);
    let plan = plan_of(&live, false);
    let kinds: Vec<(&str, String)> = plan
        .changes
        .iter()
        .map(|c| (c.action.kind(), c.action.object()))
        .collect();
    let created = kinds
        .iter()
        .position(|k| *k == ("create-role", "role monolith_rw".to_string()))
        .expect("monolith_rw is created");
    assert_eq!(
        kinds[created + 1],
        ("mark-role", "role monolith_rw".to_string())
    );
    assert!(kinds.contains(&("mark-role", "role billing_rw".to_string())));
    assert!(
        kinds.contains(&("set-search-path", "role monolith_rw".to_string())),
        "{kinds:#?}"
    );
    let marked: Vec<&RoleMark> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.action {
            Action::MarkRole { mark, .. } => Some(mark),
            _ => None,
        })
        .collect();
    assert!(marked.iter().all(|m| m.databases.contains("app")));
}

#[test]
fn attributes_memberships_and_search_path_drift_are_fixed() {
    let (_, desired) = setup();
    let mut live = converged(&desired);
    let rw = live.roles.get_mut("billing_rw").expect("role");
    rw.attributes.superuser = true;
    rw.member_of.insert("monolith_owner".into());
    rw.memberships.push(Membership {
        grantor: Some("postgres".into()),
        ..Membership::wanted("monolith_owner")
    });
    rw.settings
        .get_mut("app")
        .expect("settings")
        .insert("search_path".into(), "billing, monolith".into());
    let migrator = live.roles.get_mut("billing_migrator").expect("role");
    migrator.member_of.clear();
    migrator.memberships.clear();
    assert_eq!(
        lines(&plan_of(&live, false)),
        set(&[
            r#"alter-role role billing_rw: ALTER ROLE "billing_rw" WITH NOSUPERUSER;"#,
            r#"grant-role role billing_owner: GRANT "billing_owner" TO "billing_migrator";"#,
            r#"revoke-role role monolith_owner: REVOKE "monolith_owner" FROM "billing_rw" CASCADE;"#,
            r#"set-search-path role billing_rw: ALTER ROLE "billing_rw" IN DATABASE "app" SET search_path = "billing";"#,
        ])
    );
}

#[test]
fn schemas_and_objects_drift_is_fixed() {
    let (_, desired) = setup();
    let mut live = with_invoices(&desired);
    db(&mut live).schemas.remove("monolith");
    db(&mut live)
        .schemas
        .get_mut("reference")
        .expect("reference")
        .owner = "postgres".into();
    let object = invoices(&mut live);
    object.owner = "postgres".into();
    object.acl.insert(
        Grantee::Role("monolith_rw".into()),
        [Privilege::Select].into(),
    );
    object
        .acl
        .get_mut(&Grantee::Role("billing_rw".into()))
        .expect("billing_rw's grant")
        .remove(&Privilege::Delete);
    object.grant_options.insert(
        Grantee::Role("billing_rw".into()),
        [Privilege::Select].into(),
    );
    object.columns.insert(
        "amount".into(),
        [(
            Grantee::Role("monolith_rw".into()),
            [Privilege::Update].into(),
        )]
        .into(),
    );
    let lines = lines(&plan_of(&live, false));
    for expected in [
        r#"create-schema schema monolith: CREATE SCHEMA IF NOT EXISTS "monolith" AUTHORIZATION "monolith_owner"; ALTER SCHEMA "monolith" OWNER TO "monolith_owner";"#,
        r#"grant schema monolith: GRANT USAGE ON SCHEMA "monolith" TO "monolith_rw";"#,
        r#"alter-owner schema reference: ALTER SCHEMA "reference" OWNER TO "reference_owner";"#,
        r#"alter-owner table billing.invoices: ALTER TABLE "billing"."invoices" OWNER TO "billing_owner";"#,
        r#"grant table billing.invoices: GRANT DELETE ON TABLE "billing"."invoices" TO "billing_rw";"#,
        r#"revoke table billing.invoices: REVOKE SELECT ON TABLE "billing"."invoices" FROM "monolith_rw";"#,
        r#"revoke-grant-option table billing.invoices: REVOKE GRANT OPTION FOR SELECT ON TABLE "billing"."invoices" FROM "billing_rw" CASCADE;"#,
        r#"revoke column billing.invoices.amount: REVOKE UPDATE ("amount") ON TABLE "billing"."invoices" FROM "monolith_rw";"#,
    ] {
        assert!(lines.contains(expected), "missing {expected}\n{lines:#?}");
    }
}

#[test]
fn the_history_table_is_the_owners_alone() {
    let (_, desired) = setup();
    let mut live = with_invoices(&desired);
    let mut history = table(crate::migrations::HISTORY_TABLE, "billing_owner");
    history.acl.insert(
        Grantee::Role("billing_rw".into()),
        [Privilege::Select].into(),
    );
    db(&mut live)
        .schemas
        .get_mut("billing")
        .expect("billing")
        .objects
        .insert(history.name.clone(), history);
    assert_eq!(
        lines(&plan_of(&live, false)),
        set(&[
            r#"revoke table billing.dbsplit_migrations: REVOKE SELECT ON TABLE "billing"."dbsplit_migrations" FROM "billing_rw";"#
        ])
    );
}

#[test]
fn database_public_schema_and_default_privileges_drift_is_fixed() {
    let (_, desired) = setup();
    let mut live = converged(&desired);
    let app = db(&mut live);
    app.acl.insert(Grantee::Public, [Privilege::Connect].into());
    app.acl.remove(&Grantee::Role("monolith_rw".into()));
    let mut public = app.schemas["billing"].clone();
    public.owner = "pg_database_owner".into();
    public.acl = [(
        Grantee::Public,
        [Privilege::Usage, Privilege::Create].into(),
    )]
    .into();
    app.schemas.insert("public".into(), public);
    app.default_acls.remove(&DefaultAclKey {
        owner: "monolith_owner".into(),
        schema: Some("monolith".into()),
        objects: DefaultObjects::Sequences,
    });
    // Anyone's global default privileges naming a service role reach every schema.
    app.default_acls.insert(
        DefaultAclKey {
            owner: "postgres".into(),
            schema: None,
            objects: DefaultObjects::Tables,
        },
        [
            (
                Grantee::Role("billing_rw".into()),
                [Privilege::Select].into(),
            ),
            (Grantee::Role("etl".into()), [Privilege::Select].into()),
        ]
        .into(),
    );
    let plan = plan_of(&live, false);
    assert_eq!(
        lines(&plan),
        set(&[
            r#"grant database app: GRANT CONNECT ON DATABASE "app" TO "monolith_rw";"#,
            r#"revoke database app: REVOKE CONNECT ON DATABASE "app" FROM PUBLIC;"#,
            r#"revoke schema public: REVOKE CREATE ON SCHEMA "public" FROM PUBLIC;"#,
            r#"default-privileges new sequences of monolith_owner in schema monolith: ALTER DEFAULT PRIVILEGES FOR ROLE "monolith_owner" IN SCHEMA "monolith" GRANT SELECT, USAGE ON SEQUENCES TO "monolith_rw";"#,
            r#"default-privileges new tables of postgres: ALTER DEFAULT PRIVILEGES FOR ROLE "postgres" REVOKE SELECT ON TABLES FROM "billing_rw";"#,
        ])
    );
}

#[test]
fn login_roles_cut_off_by_revoke_public_connect_are_named() {
    let (_, desired) = setup();
    let mut live = converged(&desired);
    let login = Role {
        attributes: crate::catalog::model::RoleAttributes::unprivileged(true, None),
        ..Role::default()
    };
    live.roles.insert("monitoring".into(), login.clone());
    live.roles.insert("backup".into(), login);
    db(&mut live)
        .acl
        .insert(Grantee::Role("backup".into()), [Privilege::Connect].into());
    let plan = plan_of(&live, false);
    assert!(
        plan.notes.iter().any(|n| n.contains(
            "1 login role outside the manifest cannot connect to database app: monitoring;"
        )),
        "{:?}",
        plan.notes
    );
}

#[test]
fn only_roles_of_this_database_are_pruned_and_blockers_are_named() {
    let (_, desired) = setup();
    let mut live = converged(&desired);
    let mut gone = Role {
        comment: mark(&["app"]),
        member_of: ["billing_owner".into()].into(),
        memberships: vec![Membership {
            grantor: Some("postgres".into()),
            ..Membership::wanted("billing_owner")
        }],
        ..Role::default()
    };
    gone.settings.insert(
        "app".into(),
        [("search_path".into(), "billing".into())].into(),
    );
    gone.dependents.push(RoleDependent {
        database: Some("app".into()),
        kind: "a".into(),
        catalog: "pg_database".into(),
        object: Some("database app".into()),
        schema: None,
    });
    db(&mut live)
        .acl
        .insert(Grantee::Role("old_rw".into()), [Privilege::Connect].into());
    live.roles.insert("old_rw".into(), gone);
    live.roles.insert(
        "other_rw".into(),
        Role {
            comment: mark(&["other"]),
            ..Role::default()
        },
    );
    let mut stuck = Role {
        comment: mark(&[]),
        ..Role::default()
    };
    stuck.dependents.push(RoleDependent {
        database: Some("app".into()),
        kind: "o".into(),
        catalog: "pg_class".into(),
        object: Some("table public.t".into()),
        schema: Some("public".into()),
    });
    // Default privileges in a schema the manifest does not manage are not dbsplit's to revoke.
    stuck.dependents.push(RoleDependent {
        database: Some("app".into()),
        kind: "a".into(),
        catalog: "pg_default_acl".into(),
        object: Some("default acl etl_defaults".into()),
        schema: Some("etl".into()),
    });
    live.roles.insert("stuck".into(), stuck);

    let kept = plan_of(&live, false);
    assert_eq!(
        lines(&kept),
        set(&[
            r#"revoke database app: REVOKE CONNECT ON DATABASE "app" FROM "old_rw";"#,
            r#"revoke-role role billing_owner: REVOKE "billing_owner" FROM "old_rw" CASCADE;"#,
            r#"reset-search-path role old_rw: ALTER ROLE "old_rw" IN DATABASE "app" RESET search_path;"#,
        ])
    );
    assert!(
        kept.notes
            .iter()
            .any(|n| n.contains("role old_rw was created by dbsplit"))
    );
    assert!(!kept.notes.iter().any(|n| n.contains("role other_rw")));

    let pruned = plan_of(&live, true);
    assert!(lines(&pruned).contains(r#"drop-role role old_rw: DROP ROLE "old_rw";"#));
    assert!(matches!(
        pruned.changes.last().map(|c| &c.action),
        Some(Action::DropRole { role }) if role == "old_rw"
    ));
    assert!(!lines(&pruned).iter().any(|l| l.contains("other_rw")));
    assert!(
        pruned.notes.iter().any(|n| n
            == "role stuck is no longer in the manifest but is not dropped: owner of table public.t in database app; privileges on default acl etl_defaults in database app"),
        "{:?}",
        pruned.notes
    );
}
