//! The decisions of `import`: which schemas are services and which shared, who owns each, where
//! each role goes and with which access, which reads and memberships are kept. Each decision
//! adds no privilege to any role that exists today (see `super`); what would is commented out.

use std::collections::{BTreeMap, BTreeSet};

use crate::audit::rules::privileged_service_role::REACH_EVERY_SCHEMA;
use crate::catalog::model::{ClusterState, Database, Grantee, Privilege, Role};
use crate::desired::search_path_value;
use crate::manifest::Access;

use super::holdings::{Class, Holdings, bit, holdings};
use super::{
    Proposal, ProposedObserver, ProposedRead, ProposedRole, ProposedService, ProposedShared,
};

/// What an access level gives on the service's own schema, besides USAGE on the schema
/// (DESIGN.md, "The manifest"); `owner` is membership in the owner role instead.
fn requirements(access: Access) -> &'static [(Class, Privilege)] {
    use Privilege::*;
    match access {
        Access::Owner => &[],
        Access::ReadWrite => &[
            (Class::Tables, Select),
            (Class::Tables, Insert),
            (Class::Tables, Update),
            (Class::Tables, Delete),
            (Class::Sequences, Usage),
            (Class::Sequences, Select),
            (Class::Functions, Execute),
        ],
        Access::ReadOnly => &[(Class::Tables, Select), (Class::Sequences, Select)],
    }
}

/// The most objects named in a reason or note.
const NAMED: usize = 3;

/// `a.x, a.y, a.z and 4 more`.
fn some_of<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<&String> = names.into_iter().collect();
    let mut text = names
        .iter()
        .take(NAMED)
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMED {
        text.push_str(&format!(" and {} more", names.len() - NAMED));
    }
    text
}

struct Placer<'a> {
    state: &'a ClusterState,
    db: &'a Database,
    database: &'a str,
    held: Holdings,
    /// Every schema but public.
    schemas: Vec<&'a str>,
}

/// Where a login role goes.
enum Place {
    /// In this service, at this level, or left out (commented) for the reason given.
    Service(String, Access, Option<String>),
    /// Writes several services: a commented line in each, with the level each would need.
    Undecided(Vec<(String, Access)>),
    /// Reads several schemas and writes none.
    Observer(BTreeSet<String>),
    /// Holds nothing in these schemas.
    Nothing,
}

impl<'a> Placer<'a> {
    fn role(&self, name: &str) -> Option<&'a Role> {
        self.state.roles.get(name)
    }

    fn superuser(&self, name: &str) -> bool {
        self.role(name).is_some_and(|r| r.attributes.superuser)
    }

    fn login(&self, name: &str) -> bool {
        self.role(name).is_some_and(|r| r.attributes.login)
    }

    fn writes(&self, role: &str) -> BTreeSet<String> {
        self.schemas
            .iter()
            .filter(|s| self.held.get(role, s).is_some_and(|h| h.writes()))
            .map(|s| s.to_string())
            .collect()
    }

    fn reads(&self, role: &str) -> BTreeSet<String> {
        self.schemas
            .iter()
            .filter(|s| self.held.get(role, s).is_some_and(|h| h.reads()))
            .map(|s| s.to_string())
            .collect()
    }

    /// What `access` in `schema` would give `role` that it lacks today, as phrases; empty when
    /// nothing. (`owner` gives everything, so only a role that owns everything there may have it.)
    fn gains(&self, role: &str, schema: &str, access: Access) -> Vec<String> {
        if access == Access::Owner {
            if self.held.owns_all(role, schema) {
                return Vec::new();
            }
            return vec![format!("ownership of schema {schema} and everything in it")];
        }
        let mut gains = Vec::new();
        if !self.held.effective_schema(role, schema, Privilege::Usage) {
            gains.push(format!("USAGE on schema {schema}"));
        }
        let totals = &self.held.schemas[schema];
        for (class, privilege) in requirements(access) {
            let total = totals.objects[*class as usize];
            let held = self.held.effective(role, schema, *class, *privilege);
            if held < total {
                gains.push(format!(
                    "{} on {} of {total} {}",
                    privilege.keyword(),
                    total - held,
                    class.count(total)
                ));
            }
        }
        gains
    }

    /// The highest level in `schema` that adds nothing for a role that writes it (owner,
    /// readwrite), or the reason readwrite cannot be given.
    fn writer_level(&self, role: &str, schema: &str) -> (Access, Option<String>) {
        if self.gains(role, schema, Access::Owner).is_empty() {
            return (Access::Owner, None);
        }
        let gains = self.gains(role, schema, Access::ReadWrite);
        if gains.is_empty() {
            return (Access::ReadWrite, None);
        }
        (
            Access::ReadWrite,
            Some(format!(
                "left out: readwrite would add {} it lacks today",
                gains.join(", ")
            )),
        )
    }

    fn reader_level(&self, role: &str, schema: &str) -> (Access, Option<String>) {
        let gains = self.gains(role, schema, Access::ReadOnly);
        if gains.is_empty() {
            return (Access::ReadOnly, None);
        }
        (
            Access::ReadOnly,
            Some(format!(
                "left out: readonly would add {} it lacks today",
                gains.join(", ")
            )),
        )
    }

    /// The schemas nobody logs in to write and whose readers write ≥ 2 different services.
    fn shared(&self, logins: &[&str]) -> BTreeSet<String> {
        let homes: BTreeMap<&str, String> = logins
            .iter()
            .filter_map(|r| {
                let writes = self.writes(r);
                (writes.len() == 1).then(|| (*r, writes.into_iter().next().unwrap_or_default()))
            })
            .collect();
        self.schemas
            .iter()
            .filter(|s| {
                let written = logins
                    .iter()
                    .any(|r| self.held.get(r, s).is_some_and(|h| h.writes()));
                let reading_services: BTreeSet<&String> = homes
                    .iter()
                    .filter(|(r, home)| {
                        home.as_str() != **s && self.held.get(r, s).is_some_and(|h| h.reads())
                    })
                    .map(|(_, home)| home)
                    .collect();
                !written && reading_services.len() >= 2
            })
            .map(|s| s.to_string())
            .collect()
    }

    /// The owner role of `schema` and the notes that explain the choice.
    fn owner(&self, schema: &str) -> (String, Vec<String>) {
        let live = &self.db.schemas[schema];
        let current = &live.owner;
        let fallback = format!("{schema}_owner");
        let objects = self.held.schemas[schema].all_objects;
        let hands = format!(
            "apply hands the schema and its {objects} object{} to {fallback}",
            crate::text::plural(objects)
        );
        let why = if self.superuser(current) {
            format!("owned today by {current}, a superuser: {hands}")
        } else if self.login(current) {
            format!("owned today by {current}, which logs in (an owner role must not): {hands}")
        } else if !self.held.owns_all(current, schema) {
            format!("owned today by {current}, but not all its objects are: {hands}")
        } else {
            let others: Vec<&str> = self
                .schemas
                .iter()
                .filter(|s| **s != schema && self.db.schemas[**s].owner == *current)
                .copied()
                .collect();
            if others.is_empty() {
                return (current.clone(), Vec::new());
            }
            format!(
                "owned today by {current}, which owns {} too (each service needs an owner of its own): {hands}",
                others.join(", ")
            )
        };
        (fallback, vec![why])
    }

    fn place(&self, role: &str, shared: &BTreeSet<String>) -> Place {
        let writes = self.writes(role);
        match writes.len() {
            0 => {}
            1 => {
                let schema = writes.into_iter().next().unwrap_or_default();
                let (access, left_out) = self.writer_level(role, &schema);
                return Place::Service(schema, access, left_out);
            }
            _ => {
                return Place::Undecided(
                    writes
                        .into_iter()
                        .map(|s| {
                            let access = self.writer_level(role, &s).0;
                            (s, access)
                        })
                        .collect(),
                );
            }
        }
        let reads = self.reads(role);
        let services: Vec<&String> = reads.iter().filter(|s| !shared.contains(*s)).collect();
        if services.len() == 1 && self.login(role) {
            let schema = services[0].clone();
            let (access, left_out) = self.reader_level(role, &schema);
            return Place::Service(schema, access, left_out);
        }
        if reads.is_empty() {
            Place::Nothing
        } else {
            Place::Observer(reads)
        }
    }

    /// The memberships a placed role keeps (`member_of`) and notes on those apply revokes.
    fn member_of(
        &self,
        role: &str,
        manifest_roles: &BTreeSet<String>,
        own_owner: Option<&str>,
    ) -> (Vec<String>, Vec<String>) {
        let Some(live) = self.role(role) else {
            return (Vec::new(), Vec::new());
        };
        // Per group: whether some grant gives INHERIT, and SET.
        let mut grants: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        if live.memberships.is_empty() {
            for group in &live.member_of {
                grants.insert(group, (live.attributes.inherit, true));
            }
        } else {
            for m in &live.memberships {
                let entry = grants.entry(&m.group).or_default();
                entry.0 |= m.inherit;
                entry.1 |= m.set;
            }
        }
        let mut keep = Vec::new();
        let mut notes = Vec::new();
        for (group, (inherit, set)) in grants {
            if Some(group) == own_owner {
                continue;
            }
            if manifest_roles.contains(group) {
                notes.push(format!(
                    "apply revokes its membership in {group}, a role of this manifest"
                ));
            } else if REACH_EVERY_SCHEMA.contains(&group) {
                notes.push(format!(
                    "apply revokes its membership in {group}, which reaches every schema"
                ));
            } else if !(inherit && set) {
                notes.push(format!(
                    "its membership in {group} is not in member_of: the manifest would grant it with INHERIT and SET, which it lacks today"
                ));
            } else {
                keep.push(group.to_string());
            }
        }
        (keep, notes)
    }

    /// The role's `search_path` setting in this database (or in all), when it has one.
    fn search_path(&self, role: &str) -> Option<&'a String> {
        let settings = &self.role(role)?.settings;
        settings
            .get(self.database)
            .and_then(|s| s.get("search_path"))
            .or_else(|| settings.get("").and_then(|s| s.get("search_path")))
    }

    /// What PUBLIC holds in `schema` that apply takes away, as a note.
    fn public_note(&self, schema: &str) -> Option<String> {
        let totals = &self.held.schemas[schema];
        let mut held = Vec::new();
        if totals.public_schema & bit(Privilege::Usage) != 0 {
            held.push("USAGE on the schema".to_string());
        }
        if totals.public_schema & bit(Privilege::Create) != 0 {
            held.push("CREATE on the schema".to_string());
        }
        for (class, privilege) in [
            (Class::Tables, Privilege::Select),
            (Class::Tables, Privilege::Insert),
            (Class::Tables, Privilege::Update),
            (Class::Tables, Privilege::Delete),
            (Class::Functions, Privilege::Execute),
        ] {
            let n = totals.public[class as usize].get(privilege);
            if n > 0 {
                held.push(format!("{} on {n} {}", privilege.keyword(), class.count(n)));
            }
        }
        (!held.is_empty()).then(|| {
            format!(
                "PUBLIC (every role) holds {} today: apply revokes it (its own roles keep what their access gives)",
                held.join(", ")
            )
        })
    }

    /// Whether `role` may connect to the database without PUBLIC's grant.
    fn connects(&self, role: &str) -> bool {
        let Some(groups) = self.held.inherits.get(role) else {
            return false;
        };
        self.db.acl.iter().any(|(grantee, privileges)| {
            grantee
                .role()
                .is_some_and(|g| groups.contains(g) && privileges.contains(&Privilege::Connect))
        })
    }
}

/// See [`super::propose`].
pub fn place(state: &ClusterState, db: &Database, database: &str, session_user: &str) -> Proposal {
    let placer = Placer {
        state,
        db,
        database,
        held: holdings(state, db),
        schemas: db
            .schemas
            .keys()
            .filter(|s| *s != crate::pg::PUBLIC_SCHEMA)
            .map(String::as_str)
            .collect(),
    };
    let candidates: Vec<&str> = state
        .roles
        .iter()
        .filter(|(name, role)| {
            !role.attributes.superuser && !name.starts_with("pg_") && *name != session_user
        })
        .map(|(name, _)| name.as_str())
        .collect();
    let logins: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|r| placer.login(r))
        .collect();
    let shared = placer.shared(&logins);

    let mut owners: BTreeMap<&str, (String, Vec<String>)> = BTreeMap::new();
    for schema in &placer.schemas {
        owners.insert(schema, placer.owner(schema));
    }
    let owner_roles: BTreeSet<&str> = owners.values().map(|(o, _)| o.as_str()).collect();

    let mut services = proposed_services(&placer, &shared, &owners);
    let mut roles = Placed::default();
    for role in candidates.iter().filter(|r| !owner_roles.contains(**r)) {
        roles.add(&placer, role, &shared, &mut services);
    }

    // Memberships, now that every manifest role is known.
    let mut manifest_roles: BTreeSet<String> = owner_roles.iter().map(|o| o.to_string()).collect();
    manifest_roles.extend(roles.placed.keys().cloned());
    manifest_roles.extend(
        roles
            .observers
            .iter()
            .filter(|o| o.left_out.is_none())
            .map(|o| o.name.clone()),
    );
    for service in services.values_mut() {
        keep_memberships(&placer, service, &manifest_roles);
    }
    add_reads(&placer, &mut services, &roles.placed, &owners, &shared);
    for service in services.values_mut() {
        note_search_paths(&placer, service);
    }
    let shared = proposed_shared(&placer, &shared, &owners);
    let (revoke_public_connect, connect_note) = revoke_public_connect(&placer, &roles);
    let mut notes = roles.notes();
    if let Some(public) = db
        .schemas
        .get(crate::pg::PUBLIC_SCHEMA)
        .filter(|p| !p.objects.is_empty())
    {
        notes.push(format!(
            "schema public holds {} objects: dbsplit leaves them there (lockdown only stops new ones); move each into its service's schema",
            public.objects.len()
        ));
    }
    notes.extend(connect_note);

    Proposal {
        database: database.to_string(),
        revoke_public_connect,
        notes,
        services: services.into_values().collect(),
        shared,
        observers: roles.observers,
    }
}

/// A proposed service for each schema that is not shared, with its owner and notes, no roles yet.
fn proposed_services<'s>(
    placer: &Placer<'_>,
    shared: &BTreeSet<String>,
    owners: &BTreeMap<&'s str, (String, Vec<String>)>,
) -> BTreeMap<&'s str, ProposedService> {
    let mut services = BTreeMap::new();
    for (schema, (owner, owner_notes)) in owners.iter().filter(|(s, _)| !shared.contains(**s)) {
        let mut notes = owner_notes.clone();
        notes.extend(placer.public_note(schema));
        services.insert(
            *schema,
            ProposedService {
                schema: schema.to_string(),
                owner: owner.clone(),
                notes,
                roles: Vec::new(),
                reads: Vec::new(),
            },
        );
    }
    services
}

/// Where each candidate role went, besides the roles added to services.
#[derive(Default)]
struct Placed {
    /// Role -> the schema of the service it was placed in whole.
    placed: BTreeMap<String, String>,
    observers: Vec<ProposedObserver>,
    /// One sentence per role that writes several services.
    undecided: Vec<String>,
    /// Roles that do not log in but would be placed.
    groups: Vec<String>,
    /// Login roles that hold nothing.
    idle: Vec<String>,
}

impl Placed {
    /// Places `role`: a line in a service (or in several, commented), an observer, or a note.
    fn add(
        &mut self,
        placer: &Placer<'_>,
        role: &str,
        shared: &BTreeSet<String>,
        services: &mut BTreeMap<&str, ProposedService>,
    ) {
        let login = placer.login(role);
        let limit = placer
            .role(role)
            .map(|r| r.attributes.connection_limit)
            .filter(|l| *l >= 0);
        let line = |access, left_out: Option<String>| ProposedRole {
            name: role.to_string(),
            access,
            connection_limit: limit,
            member_of: Vec::new(),
            left_out,
            notes: Vec::new(),
        };
        match placer.place(role, shared) {
            Place::Service(..) | Place::Undecided(_) if !login => {
                self.groups.push(role.to_string())
            }
            Place::Service(schema, access, left_out) => {
                if left_out.is_none() {
                    self.placed.insert(role.to_string(), schema.clone());
                }
                if let Some(service) = services.get_mut(schema.as_str()) {
                    service.roles.push(line(access, left_out));
                }
            }
            Place::Undecided(choices) => {
                let names: Vec<&str> = choices.iter().map(|(s, _)| s.as_str()).collect();
                self.undecided.push(format!(
                    "{role} writes {}: place it in one of them (a commented line waits in each); until then apply revokes what it holds there",
                    names.join(" and ")
                ));
                for (schema, access) in &choices {
                    let others: Vec<&str> = names.iter().copied().filter(|s| s != schema).collect();
                    if let Some(service) = services.get_mut(schema.as_str()) {
                        service.roles.push(line(
                            *access,
                            Some(format!(
                                "undecided: {role} also writes {}",
                                others.join(", ")
                            )),
                        ));
                    }
                }
            }
            Place::Observer(reads) => {
                self.observers
                    .push(observer(placer, role, login, limit, &reads));
            }
            Place::Nothing if login => self.idle.push(role.to_string()),
            Place::Nothing => {}
        }
    }

    /// The proposal's notes on the roles left out.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.undecided.is_empty() {
            notes.push("undecided, left out:".to_string());
            notes.extend(self.undecided.iter().map(|u| format!("- {u}")));
        }
        if !self.groups.is_empty() {
            notes.push(format!(
                "group roles left out (their members hold what they need themselves; apply revokes the groups' privileges in these schemas): {}",
                self.groups.join(", ")
            ));
        }
        if !self.idle.is_empty() {
            notes.push(format!(
                "login roles that hold nothing in these schemas, left out: {}",
                self.idle.join(", ")
            ));
        }
        notes
    }
}

/// The memberships each placed role of `service` keeps, and notes on the memberships and
/// attributes apply takes away.
fn keep_memberships(
    placer: &Placer<'_>,
    service: &mut ProposedService,
    manifest_roles: &BTreeSet<String>,
) {
    for role in service.roles.iter_mut().filter(|r| r.left_out.is_none()) {
        let own = (role.access == Access::Owner).then_some(service.owner.as_str());
        let (keep, member_notes) = placer.member_of(&role.name, manifest_roles, own);
        role.member_of = keep;
        role.notes.extend(member_notes);
        let attributes = placer.role(&role.name).map(|r| &r.attributes);
        for (held, what) in attributes
            .map(|a| {
                [
                    (a.createdb, "CREATEDB"),
                    (a.createrole, "CREATEROLE"),
                    (a.replication, "REPLICATION"),
                    (a.bypassrls, "BYPASSRLS"),
                ]
            })
            .into_iter()
            .flatten()
        {
            if held {
                role.notes.push(format!("apply removes its {what}"));
            }
        }
    }
    service.roles.sort_by(|a, b| a.name.cmp(&b.name));
}

/// The reads that exist today, from every placed role and each kept owner, as `reads` lines of
/// the service each lives in.
fn add_reads(
    placer: &Placer<'_>,
    services: &mut BTreeMap<&str, ProposedService>,
    placed: &BTreeMap<String, String>,
    owners: &BTreeMap<&str, (String, Vec<String>)>,
    shared: &BTreeSet<String>,
) {
    let mut readers: Vec<(&str, String)> = placed
        .iter()
        .map(|(role, schema)| (role.as_str(), schema.clone()))
        .collect();
    for (schema, (owner, _)) in owners {
        if !shared.contains(*schema) {
            readers.push((owner.as_str(), schema.to_string()));
        }
    }
    let mut reads: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (role, home) in &readers {
        for schema in placer.reads(role) {
            if schema == *home {
                continue;
            }
            let objects = placer
                .held
                .get(role, &schema)
                .map(|h| some_of(&h.reads))
                .unwrap_or_default();
            reads
                .entry((home.clone(), schema))
                .or_default()
                .push(format!("{role} reads {objects}"));
        }
    }
    for ((home, schema), who) in reads {
        if let Some(service) = services.get_mut(home.as_str()) {
            service.reads.push(ProposedRead {
                schema,
                reason: format!("{} today", who.join("; ")),
            });
        }
    }
}

/// A note on the `search_path` settings of `service`'s roles that apply replaces.
fn note_search_paths(placer: &Placer<'_>, service: &mut ProposedService) {
    let own = search_path_value(std::slice::from_ref(&service.schema));
    let differing: Vec<String> = service
        .roles
        .iter()
        .filter(|r| r.left_out.is_none())
        .filter_map(|r| {
            let path = placer.search_path(&r.name)?;
            (*path != own).then(|| format!("{} has {path}", r.name))
        })
        .collect();
    if !differing.is_empty() {
        service.notes.push(format!(
            "search_path today: {}; apply sets it to {own} (add search_path = [...] to keep another)",
            differing.join(", ")
        ));
    }
}

/// The shared schemas, with their owners and notes.
fn proposed_shared(
    placer: &Placer<'_>,
    shared: &BTreeSet<String>,
    owners: &BTreeMap<&str, (String, Vec<String>)>,
) -> Vec<ProposedShared> {
    shared
        .iter()
        .map(|schema| {
            let (owner, mut notes) = owners[schema.as_str()].clone();
            notes.push(
                "nobody writes it today and several services read it: each service that keeps reading it needs a reads line (see the commented ones)".to_string(),
            );
            notes.extend(placer.public_note(schema));
            ProposedShared {
                schema: schema.clone(),
                owner,
                notes,
            }
        })
        .collect()
}

/// `revoke_public_connect`: true unless PUBLIC may not connect today and some placed role may
/// not either (true would grant it CONNECT), said in a note.
fn revoke_public_connect(placer: &Placer<'_>, roles: &Placed) -> (bool, Option<String>) {
    let public_connects = placer
        .db
        .acl
        .get(&Grantee::Public)
        .is_some_and(|p| p.contains(&Privilege::Connect));
    let connecting: Vec<&str> = roles
        .placed
        .keys()
        .map(String::as_str)
        .chain(
            roles
                .observers
                .iter()
                .filter(|o| o.left_out.is_none())
                .map(|o| o.name.as_str()),
        )
        .collect();
    let lacking: Vec<&str> = connecting
        .iter()
        .copied()
        .filter(|r| !placer.connects(r))
        .collect();
    if public_connects || lacking.is_empty() {
        return (true, None);
    }
    let note = format!(
        "revoke_public_connect = false: PUBLIC may not connect today and {} may not either; true would grant them CONNECT",
        lacking.join(", ")
    );
    (false, Some(note))
}

/// An observer for a role that reads `reads` and writes nothing: it keeps the schemas it reads
/// whole (readonly's privileges there add nothing); the others it loses, said in a note.
fn observer(
    placer: &Placer<'_>,
    role: &str,
    login: bool,
    connection_limit: Option<i32>,
    reads: &BTreeSet<String>,
) -> ProposedObserver {
    let mut whole = Vec::new();
    let mut notes = Vec::new();
    for schema in reads {
        let gains = placer.gains(role, schema, Access::ReadOnly);
        if gains.is_empty() {
            whole.push(schema.clone());
        } else {
            notes.push(format!(
                "apply revokes its reads of {schema}: reading all of it would add {}",
                gains.join(", ")
            ));
        }
    }
    let every = placer.schemas.iter().all(|s| whole.iter().any(|w| w == s));
    let left_out = whole.is_empty().then(|| {
        whole = reads.iter().cloned().collect();
        "left out: reading any of them whole would add privileges it lacks today".to_string()
    });
    let reason = if every {
        "imported: reads every schema today".to_string()
    } else {
        format!("imported: reads {} today", whole.join(", "))
    };
    ProposedObserver {
        name: role.to_string(),
        reads: if every { None } else { Some(whole) },
        reason,
        login,
        connection_limit: connection_limit.filter(|_| login),
        left_out,
        notes,
    }
}
