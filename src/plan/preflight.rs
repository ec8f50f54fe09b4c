
#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::catalog::model::RoleAttributes;
    use crate::desired::desired_state;
    use crate::manifest::Manifest;
    use crate::plan::change::RoleOption;
    use crate::plan::diff::{DiffOptions, diff};

    fn grant(group: &str, grantor: &str, admin: bool, inherit: bool, set: bool) -> Membership {
        Membership {
            group: group.into(),
            grantor: Some(grantor.into()),
            admin,
            inherit,
            set,
        }
    }

    /// The example, applied, then drifted: the migrator holds ADMIN OPTION and lost SET, and
    /// granted billing_owner to monolith_rw; billing_ro reads everything.
    fn drifted(server_version: i32, session_user: &str) -> (Manifest, Desired, Introspection) {
        let text = include_str!("../../services.toml.example");
        let manifest = Manifest::parse(Path::new("services.toml"), text).expect("valid");
        let desired = desired_state(&manifest);
        let mut state = desired.state.clone();
        for role in state.roles.values_mut() {
            for m in &mut role.memberships {
                m.grantor = Some("postgres".into());
            }
        }
        let roles = &mut state.roles;
        roles.get_mut("billing_migrator").expect("role").memberships =
            vec![grant("billing_owner", "postgres", true, true, false)];
        roles.get_mut("monolith_rw").expect("role").memberships =
            vec![grant("billing_owner", "billing_migrator", false, true, true)];
        roles.get_mut("billing_ro").expect("role").memberships =
            vec![grant("pg_read_all_data", "postgres", false, true, true)];
        for (name, superuser) in [("postgres", true), ("admin", false)] {
            roles.insert(
                name.into(),
                Role {
                    attributes: RoleAttributes {
                        login: true,
                        superuser,
                        createrole: true,
                        ..RoleAttributes::default()
                    },
                    ..Role::default()
                },
            );
        }
        let live = Introspection {
            state,
            database: "app".into(),
            passwords_readable: session_user == "postgres",
            server_version,
            session_user: session_user.into(),
            database_owner: session_user.into(),
        };
        (manifest, desired, live)
    }

    fn role_changes(plan: &Plan) -> Vec<String> {
        plan.changes
            .iter()
            .filter(|c| {
                matches!(
                    c.action,
                    Action::GrantRole { .. }
                        | Action::RevokeRole { .. }
                        | Action::GrantRoleOptions { .. }
                        | Action::RevokeRoleOption { .. }
                )
            })
            .map(|c| sql::statements(&c.action).join(" "))
            .collect()
    }

    #[test]
    fn on_16_memberships_are_diffed_per_grant_with_options_and_grantors() {
        let (manifest, desired, live) = drifted(160_004, "postgres");
        let plan = diff(&manifest, &desired, &live, &DiffOptions::default());
        assert_eq!(
            role_changes(&plan),
            [
                r#"GRANT "billing_owner" TO "billing_migrator" WITH SET TRUE;"#,
                // The grant the migrator made to monolith_rw goes with its ADMIN OPTION.
                r#"REVOKE ADMIN OPTION FOR "billing_owner" FROM "billing_migrator" GRANTED BY "postgres" CASCADE;"#,
                r#"REVOKE "pg_read_all_data" FROM "billing_ro" GRANTED BY "postgres" CASCADE;"#,
            ]
        );
        assert!(blocked(&plan, &desired, &live).is_empty(), "a superuser");
    }

    #[test]
    fn before_16_options_are_derived_and_revokes_name_no_grantor() {
        let (manifest, desired, live) = drifted(150_008, "postgres");
        let plan = diff(&manifest, &desired, &live, &DiffOptions::default());
        assert_eq!(
            role_changes(&plan),
            [
                r#"REVOKE ADMIN OPTION FOR "billing_owner" FROM "billing_migrator" CASCADE;"#,
                r#"REVOKE "billing_owner" FROM "monolith_rw" CASCADE;"#,
                r#"REVOKE "pg_read_all_data" FROM "billing_ro" CASCADE;"#,
            ]
        );
        assert!(plan.changes.iter().all(|c| !matches!(
            c.action,
            Action::RevokeRoleOption {
                option: RoleOption::Set | RoleOption::Inherit,
                ..
            }
        )));
    }

    #[test]
    fn an_admin_without_admin_option_or_the_grantors_privileges_is_blocked_with_the_unblocking_statement()
     {
        let (manifest, desired, live) = drifted(160_004, "admin");
        let plan = diff(&manifest, &desired, &live, &DiffOptions::default());
        let blocked = blocked(&plan, &desired, &live);
        let unblock: Vec<&str> = blocked.iter().map(|b| b.unblock.as_str()).collect();
        assert!(
            unblock.contains(
                &r#"REVOKE "pg_read_all_data" FROM "billing_ro" GRANTED BY "postgres" CASCADE;"#
            ),
            "{blocked:#?}"
        );
        assert!(
            blocked.iter().any(|b| b.reason
                == "admin (not a superuser) holds no ADMIN OPTION on billing_owner (PostgreSQL 16+ requires it to grant or revoke membership)"),
            "{blocked:#?}"
        );
        let (_, desired, live) = drifted(160_004, "admin");
        assert!(refusals(&desired, &live).is_empty());
    }
}
