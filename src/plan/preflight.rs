//! What the connecting role can do, judged before anything is applied (DESIGN.md, "Who
//! connects, and what it may do").
//!
//! A superuser can make every change. A managed-cloud admin (`LOGIN CREATEROLE`, often a member
//! of `rds_superuser`, `cloudsqlsuperuser`, `azure_pg_admin` or `alloydbsuperuser`) cannot: it
//! acts on a schema's contents as the schema's owner (`SET ROLE`, which it gives itself with
//! [`self_grants`]), and some changes stay out of its reach: objects owned by roles whose
//! privileges it does not have, roles it holds no ADMIN OPTION on (16+), memberships granted
//! by a superuser (16+), schema `public` owned by the bootstrap superuser (14). [`blocked`]
//! lists them, each with the statement that unblocks it; `apply` refuses up front when the list
//! is not empty. [`refusals`] are manifests no role may apply: one that makes the connected
//! role or an existing superuser a service role. Pure: everything comes from introspection.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::catalog::introspect::Introspection;
use crate::catalog::model::{Database, Grantee, Membership, Privilege, Role};
use crate::desired::Desired;
use crate::pg::ident::Ident;

use super::change::{Action, Change, Object, Plan};
use super::scopes::Scopes;
use super::sql;

/// The providers' admin roles: members are the closest thing to a superuser a managed service
/// gives, and are not superusers.
pub const PROVIDER_ADMIN_ROLES: [&str; 4] = [
    "rds_superuser",
    "cloudsqlsuperuser",
    "azure_pg_admin",
    "alloydbsuperuser",
];

/// A change the connecting role cannot make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    /// The change, as `kind object`.
    pub change: String,
    /// Why the connecting role cannot make it.
    pub reason: String,
    /// The statement a superuser runs once to unblock it.
    pub unblock: String,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}\n    unblock (as a superuser): {}",
            self.change, self.reason, self.unblock
        )
    }
}

/// What the connecting role is and may do, from the live catalogs.
pub struct Session<'a> {
    live: &'a Introspection,
    pub user: String,
    pub superuser: bool,
    createrole: bool,
    /// Roles whose privileges the session has (INHERIT paths), itself included.
    privileges_of: BTreeSet<String>,
    /// Roles the session may SET ROLE to, itself included.
    settable: BTreeSet<String>,
    /// The providers' admin roles the session is a member of.
    pub provider_roles: Vec<String>,
}

impl<'a> Session<'a> {
    pub fn new(live: &'a Introspection) -> Session<'a> {
        let user = live.session_user.clone();
        let role = live.state.roles.get(&user);
        let superuser = role.is_some_and(|r| r.attributes.superuser);
        let createrole = role.is_some_and(|r| r.attributes.createrole);
        let roles = &live.state.roles;
        let mut privileges_of = closure(roles, &user, |m| m.inherit);
        if privileges_of.contains(&live.database_owner) {
            // The owner of the database holds pg_database_owner implicitly.
            privileges_of.insert("pg_database_owner".to_string());
        }
        let settable = closure(roles, &user, |m| m.set);
        let provider_roles = PROVIDER_ADMIN_ROLES
            .iter()
            .filter(|p| privileges_of.contains(**p) || settable.contains(**p))
            .map(|p| p.to_string())
            .collect();
        Session {
            live,
            user,
            superuser,
            createrole,
            privileges_of,
            settable,
            provider_roles,
        }
    }

    /// `admin (not a superuser; member of rds_superuser)`, for messages.
    pub fn describe(&self) -> String {
        if self.superuser {
            return format!("{} (superuser)", self.user);
        }
        let mut text = format!("{} (not a superuser", self.user);
        if !self.provider_roles.is_empty() {
            text.push_str(&format!("; member of {}", self.provider_roles.join(", ")));
        }
        text.push(')');
        text
    }

    fn v16(&self) -> bool {
        self.live.membership_options()
    }

    fn live_role(&self, role: &str) -> Option<&Role> {
        self.live.state.roles.get(role)
    }

    fn has_privileges_of(&self, role: &str) -> bool {
        self.superuser || self.privileges_of.contains(role)
    }

    /// Whether the session holds ADMIN OPTION on `role` (16+: directly or through a role whose
    /// privileges it has).
    fn has_admin(&self, role: &str) -> bool {
        self.live.state.roles.iter().any(|(member, r)| {
            self.privileges_of.contains(member)
                && r.memberships.iter().any(|m| m.group == role && m.admin)
        })
    }

    fn is_superuser_role(&self, role: &str) -> bool {
        self.live_role(role).is_some_and(|r| r.attributes.superuser)
    }

    /// Whether the session may ALTER, COMMENT ON or DROP `role`, or change its password and
    /// settings: CREATEROLE, and on 16+ ADMIN OPTION on it (which a CREATEROLE admin gets on
    /// the roles it creates); never a superuser role.
    fn can_manage_role(&self, role: &str, created: &BTreeSet<String>) -> bool {
        if self.superuser {
            return true;
        }
        if created.contains(role) {
            return self.createrole;
        }
        self.createrole && !self.is_superuser_role(role) && (!self.v16() || self.has_admin(role))
    }

    /// Whether the session may grant and revoke membership in `group`: ADMIN OPTION on 16+,
    /// CREATEROLE before (never a superuser role).
    fn can_grant(&self, group: &str, created: &BTreeSet<String>) -> bool {
        if self.superuser {
            return true;
        }
        if created.contains(group) {
            return self.createrole;
        }
        if self.is_superuser_role(group) {
            return false;
        }
        if self.v16() {
            self.has_admin(group)
        } else {
            self.createrole || self.has_admin(group)
        }
    }

    fn can_set(&self, role: &str, joining: &BTreeSet<String>) -> bool {
        self.superuser || self.settable.contains(role) || joining.contains(role)
    }

    /// CREATE on the current database: its owner's privileges, or an ACL entry.
    fn can_create_schemas(&self) -> bool {
        if self.has_privileges_of(&self.live.database_owner) {
            return true;
        }
        self.live
            .state
            .databases
            .get(&self.live.database)
            .is_some_and(|db| {
                db.acl.iter().any(|(grantee, privileges)| {
                    privileges.contains(&Privilege::Create)
                        && match grantee {
                            Grantee::Public => true,
                            Grantee::Role(r) => self.privileges_of.contains(r),
                        }
                })
            })
    }
}

/// The roles reachable from `start` through grants that `follow` accepts, `start` included.
fn closure(
    roles: &BTreeMap<String, Role>,
    start: &str,
    follow: impl Fn(&Membership) -> bool,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([start.to_string()]);
    let mut queue = vec![start.to_string()];
    while let Some(member) = queue.pop() {
        let Some(role) = roles.get(&member) else {
            continue;
        };
        for grant in role.memberships.iter().filter(|m| follow(m)) {
            if seen.insert(grant.group.clone()) {
                queue.push(grant.group.clone());
            }
        }
    }
    seen
}

/// The role whose identity a change's statements need, for a non-superuser: a schema's
/// contents are granted and revoked by its owner, default privileges set by the role they are
/// for. `None`: the session itself.
pub fn actor(action: &Action, desired: &Desired) -> Option<String> {
    let schemas = &desired.db().schemas;
    let owner_of = |schema: &str| schemas.get(schema).map(|s| s.owner.clone());
    match action {
        Action::Grant { on, .. }
        | Action::Revoke { on, .. }
        | Action::RevokeGrantOption { on, .. } => match on {
            Object::Schema(schema)
            | Object::InSchema { schema, .. }
            | Object::Column { schema, .. } => owner_of(schema),
            Object::Database(_) => None,
        },
        Action::DefaultPrivileges { owner, .. } => Some(owner.clone()),
        _ => None,
    }
}

/// The managed roles a change makes the session act as or hand things to.
fn needs_role(action: &Action, desired: &Desired) -> Option<String> {
    match action {
        Action::CreateSchema { owner, .. } | Action::AlterOwner { owner, .. } => {
            Some(owner.clone())
        }
        other => actor(other, desired),
    }
}

/// For a non-superuser session: memberships in the managed roles the other changes act as,
/// `WITH INHERIT FALSE, SET TRUE` on 16+ (plain before), and no more.
pub fn self_grants(
    changes: &[Change],
    desired: &Desired,
    live: &Introspection,
    scopes: &Scopes<'_>,
) -> Vec<Change> {
    let session = Session::new(live);
    if session.superuser {
        return Vec::new();
    }
    let needed: BTreeSet<String> = changes
        .iter()
        .filter_map(|c| needs_role(&c.action, desired))
        .filter(|role| desired.state.roles.contains_key(role))
        .filter(|role| !session.can_set(role, &BTreeSet::new()))
        .collect();
    needed
        .into_iter()
        .map(|group| Change {
            scope: scopes.of_role(&group),
            action: Action::SelfGrant {
                member: session.user.clone(),
                set_option: session.v16(),
                group,
            },
        })
        .collect()
}

/// Every change of `plan` the connecting role cannot make, with the reason and the statement
/// that unblocks it. Empty for a superuser.
pub fn blocked(plan: &Plan, desired: &Desired, live: &Introspection) -> Vec<Blocked> {
    let session = Session::new(live);
    if session.superuser {
        return Vec::new();
    }
    let created: BTreeSet<String> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.action {
            Action::CreateRole { role, .. } if !live.state.roles.contains_key(role) => {
                Some(role.clone())
            }
            _ => None,
        })
        .collect();
    let joining: BTreeSet<String> = plan
        .changes
        .iter()
        .filter_map(|c| match &c.action {
            Action::SelfGrant { group, .. } => Some(group.clone()),
            _ => None,
        })
        .collect();
    let judge = Judge {
        who: session.describe(),
        session,
        live,
        desired,
        created,
        joining,
    };
    plan.changes
        .iter()
        .filter_map(|change| {
            let action = &change.action;
            judge.why_blocked(action).map(|(reason, unblock)| Blocked {
                change: format!("{} {}", action.kind(), action.object()),
                reason,
                unblock,
            })
        })
        .collect()
}

/// A change's statements as one line: the unblock of a change a superuser must make itself.
fn statement(action: &Action) -> String {
    sql::statements(action).join(" ")
}

/// What [`blocked`] judges each change of a plan against.
struct Judge<'a> {
    session: Session<'a>,
    /// The session, for messages ([`Session::describe`]).
    who: String,
    live: &'a Introspection,
    desired: &'a Desired,
    /// Roles the plan creates (the session gets ADMIN OPTION on them).
    created: BTreeSet<String>,
    /// Roles the plan makes the session a member of ([`self_grants`]).
    joining: BTreeSet<String>,
}

impl Judge<'_> {
    /// Why the session cannot make `action`, and the statement that unblocks it; `None` when it
    /// can.
    fn why_blocked(&self, action: &Action) -> Option<(String, String)> {
        let (session, who) = (&self.session, &self.who);
        match action {
            Action::CreateRole { .. } if !session.createrole => Some((
                format!("{who} lacks CREATEROLE"),
                format!("ALTER ROLE {} CREATEROLE;", Ident(&session.user)),
            )),
            Action::AlterRole { role, from, to }
                if from.superuser != to.superuser
                    || from.replication != to.replication
                    || from.bypassrls != to.bypassrls =>
            {
                Some((
                    format!(
                        "only a superuser may change SUPERUSER, REPLICATION or BYPASSRLS of {role}"
                    ),
                    statement(action),
                ))
            }
            Action::AlterRole { role, .. }
            | Action::SetPassword { role, .. }
            | Action::MarkRole { role, .. }
            | Action::SetSearchPath { role, .. }
            | Action::ResetSearchPath { role, .. }
            | Action::ApplicationName { role, .. }
            | Action::DropRole { role }
                if !session.can_manage_role(role, &self.created) =>
            {
                Some((manage_reason(session, who, role), statement(action)))
            }
            Action::GrantRole { group, .. }
            | Action::GrantRoleOptions { group, .. }
            | Action::SelfGrant { group, .. }
                if !session.can_grant(group, &self.created) =>
            {
                Some((grant_reason(session, who, group), statement(action)))
            }
            Action::RevokeRole {
                group, granted_by, ..
            }
            | Action::RevokeRoleOption {
                group, granted_by, ..
            } => self.revoke_role(action, group, granted_by.as_deref()),
            Action::CreateSchema { owner, .. } => self.create_schema(owner),
            Action::AlterOwner { object, owner } => self.alter_owner(action, object, owner),
            Action::Grant { on, .. }
            | Action::Revoke { on, .. }
            | Action::RevokeGrantOption { on, .. } => self.grant(action, on),
            Action::DefaultPrivileges { owner, .. } if !session.can_set(owner, &self.joining) => {
                Some((
                    format!("{who} cannot SET ROLE {owner}, whose default privileges these are"),
                    statement(action),
                ))
            }
            Action::AuthLookup { owner, .. } | Action::DropAuthLookup { owner } => Some((
                format!(
                    "only a superuser may grant or revoke SELECT on pg_catalog.pg_shadow, which {owner} needs to look up PgBouncer's verifiers (auth = \"auth_query\")"
                ),
                statement(action),
            )),
            Action::DropSchema { schema } => self.drop_schema(action, schema),
            _ => None,
        }
    }

    fn live_db(&self) -> Option<&Database> {
        self.live.state.databases.get(&self.live.database)
    }

    /// A revoked membership: ADMIN OPTION on the group, and the privileges of its grantor.
    fn revoke_role(
        &self,
        action: &Action,
        group: &str,
        granted_by: Option<&str>,
    ) -> Option<(String, String)> {
        let (session, who) = (&self.session, &self.who);
        if !session.can_grant(group, &self.created) {
            return Some((grant_reason(session, who, group), statement(action)));
        }
        let grantor = granted_by.filter(|g| !session.has_privileges_of(g))?;
        Some((
            format!(
                "granted by {grantor}: only a role with {grantor}'s privileges may revoke it, and {who} has not"
            ),
            statement(action),
        ))
    }

    /// A new schema: CREATE on the database, and SET ROLE to its owner.
    fn create_schema(&self, owner: &str) -> Option<(String, String)> {
        let (session, who) = (&self.session, &self.who);
        let database = &self.live.database;
        if !session.can_create_schemas() {
            Some((
                format!("{who} may not create schemas in database {database}"),
                format!(
                    "GRANT CREATE ON DATABASE {} TO {};",
                    Ident(database),
                    Ident(&session.user)
                ),
            ))
        } else if !session.can_set(owner, &self.joining) {
            Some((
                format!("{who} cannot SET ROLE {owner}"),
                set_role_unblock(session, owner),
            ))
        } else {
            None
        }
    }

    /// A new owner: the privileges of the current owner, and SET ROLE to the new one.
    fn alter_owner(
        &self,
        action: &Action,
        object: &Object,
        owner: &str,
    ) -> Option<(String, String)> {
        let (session, who) = (&self.session, &self.who);
        let current = self.live_db().and_then(|db| current_owner(db, object));
        match current {
            Some(current) if !session.has_privileges_of(&current) => {
                // Handed to the admin, the object is the admin's to hand on; the manifest's owner
                // may not exist yet.
                let unblock = if self.live.state.roles.contains_key(owner) {
                    statement(action)
                } else {
                    statement(&Action::AlterOwner {
                        object: object.clone(),
                        owner: session.user.clone(),
                    })
                };
                Some((
                    format!(
                        "{object} is owned by {current}, whose privileges {who} does not have (REASSIGN OWNED BY {} TO {} would move everything {current} owns here)",
                        Ident(&current),
                        Ident(owner)
                    ),
                    unblock,
                ))
            }
            _ if !session.can_set(owner, &self.joining) => Some((
                format!("{who} cannot SET ROLE {owner}"),
                set_role_unblock(session, owner),
            )),
            _ => None,
        }
    }

    /// A grant or revoke on `on`: SET ROLE to the role that acts, or else the privileges of the
    /// object's owner.
    fn grant(&self, action: &Action, on: &Object) -> Option<(String, String)> {
        let (session, who) = (&self.session, &self.who);
        if let Some(role) = actor(action, self.desired) {
            return (!session.can_set(&role, &self.joining)).then(|| {
                (
                    format!("{who} cannot SET ROLE {role}, the owner of {on}"),
                    set_role_unblock(session, &role),
                )
            });
        }
        let owner = match on {
            Object::Database(_) => Some(self.live.database_owner.clone()),
            _ => self.live_db().and_then(|db| current_owner(db, on)),
        };
        let owner = owner.filter(|o| !session.has_privileges_of(o))?;
        let bootstrap = session.is_superuser_role(&owner);
        Some((
            format!(
                "{on} is owned by {owner}{}, whose privileges {who} does not have",
                if bootstrap { ", a superuser" } else { "" }
            ),
            statement(action),
        ))
    }

    /// A dropped schema: the privileges of its owner.
    fn drop_schema(&self, action: &Action, schema: &str) -> Option<(String, String)> {
        let owner = self
            .live_db()
            .and_then(|db| db.schemas.get(schema))
            .map(|s| s.owner.clone());
        let owner = owner.filter(|o| !self.session.has_privileges_of(o))?;
        Some((
            format!(
                "schema {schema} is owned by {owner}, whose privileges {} does not have",
                self.who
            ),
            statement(action),
        ))
    }
}

fn manage_reason(session: &Session<'_>, who: &str, role: &str) -> String {
    if session.is_superuser_role(role) {
        format!("{role} is a superuser; only a superuser may change it")
    } else if !session.createrole {
        format!("{who} lacks CREATEROLE")
    } else {
        format!(
            "{who} holds no ADMIN OPTION on {role} (PostgreSQL 16+ requires it to alter a role)"
        )
    }
}

fn grant_reason(session: &Session<'_>, who: &str, group: &str) -> String {
    if session.is_superuser_role(group) {
        format!("{group} is a superuser role")
    } else if session.v16() {
        format!(
            "{who} holds no ADMIN OPTION on {group} (PostgreSQL 16+ requires it to grant or revoke membership)"
        )
    } else {
        format!("{who} lacks CREATEROLE")
    }
}

fn set_role_unblock(session: &Session<'_>, role: &str) -> String {
    if session.v16() {
        format!(
            "GRANT {} TO {} WITH INHERIT FALSE, SET TRUE;",
            Ident(role),
            Ident(&session.user)
        )
    } else {
        format!("GRANT {} TO {};", Ident(role), Ident(&session.user))
    }
}

/// The live owner of what a change touches: a schema, an object in one, a column's table, the
/// database.
fn current_owner(db: &Database, object: &Object) -> Option<String> {
    match object {
        Object::Schema(schema) => db.schemas.get(schema).map(|s| s.owner.clone()),
        Object::InSchema {
            schema, name, args, ..
        } => {
            let key = match args {
                Some(args) => format!("{name}({args})"),
                None => name.clone(),
            };
            let schema = db.schemas.get(schema)?;
            schema
                .objects
                .get(&key)
                .map(|o| o.owner.clone())
                .or_else(|| Some(schema.owner.clone()))
        }
        Object::Column { schema, table, .. } => db
            .schemas
            .get(schema)
            .and_then(|s| s.objects.get(table))
            .map(|o| o.owner.clone()),
        Object::Database(_) => None,
    }
}

/// Manifests no role may apply: one that makes the connected role a service role (applying
/// it would take its LOGIN, SUPERUSER or CREATEROLE and lock the DBA out), or that makes an
/// existing superuser dbsplit did not create a service role (applying it would demote it).
pub fn refusals(desired: &Desired, live: &Introspection) -> Vec<String> {
    let mut out = Vec::new();
    for name in &desired.enforced_roles {
        let Some(role) = live.state.roles.get(name) else {
            continue;
        };
        let what = if desired.state.roles[name].attributes.login {
            "a service login role"
        } else {
            "an owner role (NOLOGIN)"
        };
        if *name == live.session_user {
            out.push(format!(
                "the manifest makes {name}, the role this session is connected as, {what}: applying it would strip its own {}; connect as another role or rename the manifest's role",
                if role.attributes.superuser { "SUPERUSER" } else if role.attributes.login && !desired.state.roles[name].attributes.login { "LOGIN" } else { "privileges" }
            ));
        } else if role.attributes.superuser && role.mark().is_none() {
            out.push(format!(
                "the manifest makes {name}, an existing superuser, {what}: applying it would demote it; rename the manifest's role"
            ));
        }
    }
    out
}

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
        roles.get_mut("monolith_rw").expect("role").memberships = vec![grant(
            "billing_owner",
            "billing_migrator",
            false,
            true,
            true,
        )];
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

    /// The plan of `desired` over `live`, with the membership options `live`'s major has.
    fn plan_of(manifest: &Manifest, desired: &Desired, live: &Introspection) -> Plan {
        diff(
            manifest,
            desired,
            &live.state,
            &live.database,
            &DiffOptions {
                membership_options: live.membership_options(),
                ..DiffOptions::default()
            },
        )
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
        let plan = plan_of(&manifest, &desired, &live);
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
        let plan = plan_of(&manifest, &desired, &live);
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
        let plan = plan_of(&manifest, &desired, &live);
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
        assert!(refusals(&desired, &live).is_empty());
    }
}
