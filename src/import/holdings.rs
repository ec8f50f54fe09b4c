//! What each role holds in each schema today: its own grants, those of the roles it inherits
//! from, ownership (the owner holds everything), and what PUBLIC holds, which every role has.
//!
//! One pass over the objects of the database, walking each ACL entry to the roles that inherit
//! it, so the cost grows with the grants, not with roles × objects. Pure: no I/O, and it judges
//! nothing; `super::place` decides from these counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::catalog::model::{
    ClusterState, Database, DefaultObjects, Grantee, ObjectKind, Privilege, Privileges, Role,
    Schema,
};

/// A set of privileges as bits, indexed like [`Privilege::ALL`].
pub type Bits = u16;

/// The bit of one privilege.
pub fn bit(privilege: Privilege) -> Bits {
    let index = Privilege::ALL
        .iter()
        .position(|p| *p == privilege)
        .expect("Privilege::ALL lists every privilege");
    1 << index
}

/// The bits of a privilege set.
pub fn bits(privileges: &Privileges) -> Bits {
    privileges.iter().fold(0, |all, p| all | bit(*p))
}

const ALL_BITS: Bits = Bits::MAX;

/// The object classes whose privileges the manifest's access levels speak of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Tables, views, materialized views, foreign and partitioned tables.
    Tables = 0,
    Sequences = 1,
    /// Functions, procedures and aggregates.
    Functions = 2,
}

impl Class {
    fn of(kind: ObjectKind) -> Option<Class> {
        match kind.default_objects() {
            DefaultObjects::Tables => Some(Class::Tables),
            DefaultObjects::Sequences => Some(Class::Sequences),
            DefaultObjects::Functions => Some(Class::Functions),
            DefaultObjects::Types => None,
        }
    }

    /// `1 table`, `3 tables`: the noun for a count, without the number.
    pub fn count(self, n: u32) -> &'static str {
        match (self, n) {
            (Class::Tables, 1) => "table",
            (Class::Sequences, 1) => "sequence",
            (Class::Functions, 1) => "function",
            _ => self.noun(),
        }
    }

    /// The plural noun for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Class::Tables => "tables",
            Class::Sequences => "sequences",
            Class::Functions => "functions",
        }
    }
}

/// Per privilege, on how many objects of a class it is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([u32; 16]);

impl Counts {
    fn add(&mut self, held: Bits) {
        for (i, count) in self.0.iter_mut().enumerate() {
            if held & (1 << i) != 0 {
                *count += 1;
            }
        }
    }

    /// On how many objects `privilege` is held.
    pub fn get(&self, privilege: Privilege) -> u32 {
        self.0[bit(privilege).trailing_zeros() as usize]
    }
}

/// What one role holds in one schema.
#[derive(Debug, Clone, Default)]
pub struct Holding {
    /// Its own privileges on the schema (inherited ones included, PUBLIC's not).
    pub schema: Bits,
    /// It owns the schema (or inherits from its owner).
    pub owns_schema: bool,
    /// How many of the schema's objects it owns (or inherits from their owner).
    pub owned: u32,
    /// Per class, on how many objects it holds each privilege itself.
    pub own: [Counts; 3],
    /// Per class, among the objects where it holds something itself: each privilege held by
    /// it or PUBLIC, and held by PUBLIC.
    listed_any: [Counts; 3],
    listed_public: [Counts; 3],
    /// Objects it reads (SELECT on the relation or one of its columns), by name, sorted.
    pub reads: BTreeSet<String>,
}

impl Holding {
    /// Whether it changes data or structure here: owns something, may create, or holds
    /// INSERT, UPDATE, DELETE or TRUNCATE on a relation.
    pub fn writes(&self) -> bool {
        let tables = &self.own[Class::Tables as usize];
        self.owns_schema
            || self.owned > 0
            || self.schema & bit(Privilege::Create) != 0
            || [
                Privilege::Insert,
                Privilege::Update,
                Privilege::Delete,
                Privilege::Truncate,
            ]
            .iter()
            .any(|p| tables.get(*p) > 0)
    }

    /// Whether it reads data here.
    pub fn reads(&self) -> bool {
        !self.reads.is_empty()
    }
}

/// What a whole schema holds: object counts and PUBLIC's privileges.
#[derive(Debug, Clone, Default)]
pub struct SchemaTotals {
    /// Objects of each class (the migration history table aside).
    pub objects: [u32; 3],
    /// Every object, types and the history table included.
    pub all_objects: u32,
    /// PUBLIC's privileges on the schema.
    pub public_schema: Bits,
    /// Per class, on how many objects PUBLIC holds each privilege.
    pub public: [Counts; 3],
}

/// Everything held in the database, per role and schema.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    pub schemas: BTreeMap<String, SchemaTotals>,
    /// (role, schema) -> what the role holds there; absent when it holds nothing itself.
    pub held: HashMap<(String, String), Holding>,
    /// Role -> the roles whose privileges it uses without SET ROLE, itself included.
    pub inherits: BTreeMap<String, BTreeSet<String>>,
}

impl Holdings {
    /// What `role` holds in `schema` itself (empty when nothing).
    pub fn get(&self, role: &str, schema: &str) -> Option<&Holding> {
        self.held.get(&(role.to_string(), schema.to_string()))
    }

    /// On how many objects of `class` in `schema` the role holds `privilege`, itself or
    /// through PUBLIC, ownership counted: what `has_table_privilege` would say.
    pub fn effective(&self, role: &str, schema: &str, class: Class, privilege: Privilege) -> u32 {
        let Some(totals) = self.schemas.get(schema) else {
            return 0;
        };
        let public = totals.public[class as usize].get(privilege);
        match self.get(role, schema) {
            None => public,
            Some(h) => {
                let c = class as usize;
                h.listed_any[c].get(privilege) + public - h.listed_public[c].get(privilege)
            }
        }
    }

    /// Whether the role holds `privilege` on the schema itself or through PUBLIC.
    pub fn effective_schema(&self, role: &str, schema: &str, privilege: Privilege) -> bool {
        let public = self
            .schemas
            .get(schema)
            .is_some_and(|t| t.public_schema & bit(privilege) != 0);
        public
            || self
                .get(role, schema)
                .is_some_and(|h| h.owns_schema || h.schema & bit(privilege) != 0)
    }

    /// Whether the role owns (or inherits from the owner of) the schema and every object in it.
    pub fn owns_all(&self, role: &str, schema: &str) -> bool {
        let total = self.schemas.get(schema).map_or(0, |t| t.all_objects);
        self.get(role, schema)
            .is_some_and(|h| h.owns_schema && h.owned == total)
    }
}

/// The roles `name` inherits privileges from, itself included: memberships with INHERIT,
/// followed transitively. (Before 16 a membership's `inherit` is the member's `rolinherit`.)
fn inherited(roles: &BTreeMap<String, Role>, name: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([name.to_string()]);
    let mut todo = vec![name.to_string()];
    while let Some(next) = todo.pop() {
        let Some(role) = roles.get(&next) else {
            continue;
        };
        let groups: Vec<&String> = if role.memberships.is_empty() {
            if role.attributes.inherit {
                role.member_of.iter().collect()
            } else {
                Vec::new()
            }
        } else {
            role.memberships
                .iter()
                .filter(|m| m.inherit)
                .map(|m| &m.group)
                .collect()
        };
        for group in groups {
            if seen.insert(group.clone()) {
                todo.push(group.clone());
            }
        }
    }
    seen
}

/// Reads what every role holds in every schema of `db` (`public` included).
pub fn holdings(state: &ClusterState, db: &Database) -> Holdings {
    let mut inherits = BTreeMap::new();
    let mut users = Users::default();
    for (name, role) in &state.roles {
        if role.attributes.superuser {
            continue;
        }
        let groups = inherited(&state.roles, name);
        for group in &groups {
            if let Some((group, _)) = state.roles.get_key_value(group) {
                users.of.entry(group.as_str()).or_default().push(name);
            }
        }
        inherits.insert(name.clone(), groups);
    }
    let mut out = Holdings {
        inherits,
        ..Holdings::default()
    };
    for (schema_name, schema) in &db.schemas {
        let (totals, held) = schema_holdings(schema_name, schema, &users);
        for (user, holding) in held {
            out.held
                .insert((user.to_string(), schema_name.clone()), holding);
        }
        out.schemas.insert(schema_name.clone(), totals);
    }
    out
}

/// Group -> the roles that use its privileges (superusers hold everything anyway).
#[derive(Default)]
struct Users<'a> {
    of: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Users<'a> {
    /// The roles that use `role`'s privileges.
    fn of(&self, role: &str) -> &[&'a str] {
        self.of.get(role).map_or(&[], Vec::as_slice)
    }
}

/// What each role holds in one schema, and the schema's totals.
fn schema_holdings<'a>(
    schema_name: &str,
    schema: &Schema,
    users: &Users<'a>,
) -> (SchemaTotals, HashMap<&'a str, Holding>) {
    let history = crate::migrations::HISTORY_TABLE;
    let mut totals = SchemaTotals {
        all_objects: schema.objects.len() as u32,
        ..SchemaTotals::default()
    };
    let mut held: HashMap<&str, Holding> = HashMap::new();
    for (grantee, privileges) in &schema.acl {
        match grantee {
            Grantee::Public => totals.public_schema |= bits(privileges),
            Grantee::Role(role) => {
                for user in users.of(role) {
                    held.entry(user).or_default().schema |= bits(privileges);
                }
            }
        }
    }
    for user in users.of(&schema.owner) {
        held.entry(user).or_default().owns_schema = true;
    }
    let mut per_object: HashMap<&str, Bits> = HashMap::new();
    for object in schema.objects.values() {
        for user in users.of(&object.owner) {
            held.entry(user).or_default().owned += 1;
        }
        // The migration history is the owner's alone: no access level reaches it.
        let class = Class::of(object.kind)
            .filter(|_| !(object.kind == ObjectKind::Table && object.name == history));
        let qualified = format!("{schema_name}.{}", object.name);
        let selects = bit(Privilege::Select);
        for acl in object.columns.values() {
            for (grantee, privileges) in acl {
                let Grantee::Role(role) = grantee else {
                    continue;
                };
                if !privileges.contains(&Privilege::Select) {
                    continue;
                }
                for user in users.of(role) {
                    held.entry(user)
                        .or_default()
                        .reads
                        .insert(qualified.clone());
                }
            }
        }
        let Some(class) = class else {
            continue;
        };
        let c = class as usize;
        totals.objects[c] += 1;
        per_object.clear();
        let mut public: Bits = 0;
        for (grantee, privileges) in &object.acl {
            match grantee {
                Grantee::Public => public |= bits(privileges),
                Grantee::Role(role) => {
                    for user in users.of(role) {
                        *per_object.entry(user).or_default() |= bits(privileges);
                    }
                }
            }
        }
        for user in users.of(&object.owner) {
            per_object.insert(user, ALL_BITS);
        }
        totals.public[c].add(public);
        for (user, own) in &per_object {
            let holding = held.entry(user).or_default();
            holding.own[c].add(*own);
            holding.listed_any[c].add(*own | public);
            holding.listed_public[c].add(public);
            if own & selects != 0 && class != Class::Functions {
                holding.reads.insert(qualified.clone());
            }
        }
    }
    (totals, held)
}
