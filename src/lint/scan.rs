//! Finds the schemas and roles one statement touches, from its tokens, and how it touches them.
//!
//! It works the same for statements the parser understands and for those it does not (`DO`,
//! `ALTER DEFAULT PRIVILEGES`, `GRANT role TO role`, PL/pgSQL bodies): a qualified name
//! `a.b[.c]` outside strings and comments whose first part is a schema is a reference. For a
//! statement that parsed, the parser's view decides the doubtful cases: `alias.column` where the
//! alias (or an unqualified table) is named like a schema is not a reference, and a relation
//! name in an unknown schema is. Without it only schemas the manifest knows (and `public`) count.
//! The words around a name say whether it is read, written, created, referenced by a foreign key
//! or granted on. Names inside `nextval('s.x')`, `'s.x'::regclass` and friends count too.

use super::ast::Parsed;
use super::boundary::{Access, Boundary};
use crate::finding::RuleId;
use crate::pg::ident::split_identifiers;
use crate::sql::lex::{Kind, Token};

/// A finding inside a statement, at a byte offset of the text scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub offset: usize,
    pub rule: RuleId,
    pub target_schema: Option<String>,
    pub role: Option<String>,
    pub message: String,
}

/// Words that may stand between a statement's verb and the name of the object it acts on.
const OBJECT_WORDS: &[&str] = &[
    "access",
    "aggregate",
    "analyze",
    "cast",
    "class",
    "collation",
    "column",
    "concurrently",
    "configuration",
    "constraint",
    "conversion",
    "data",
    "dictionary",
    "domain",
    "event",
    "exists",
    "extension",
    "family",
    "foreign",
    "freeze",
    "full",
    "function",
    "global",
    "if",
    "in",
    "index",
    "language",
    "large",
    "local",
    "materialized",
    "method",
    "not",
    "object",
    "on",
    "only",
    "operator",
    "or",
    "parser",
    "policy",
    "procedural",
    "procedure",
    "recursive",
    "replace",
    "routine",
    "rule",
    "schema",
    "search",
    "sequence",
    "statistics",
    "table",
    "temp",
    "template",
    "temporary",
    "text",
    "transform",
    "trigger",
    "trusted",
    "type",
    "unique",
    "unlogged",
    "verbose",
    "view",
    "wrapper",
];

/// Verbs whose first name is the object they change.
const TARGET_VERBS: &[&str] = &[
    "alter", "analyze", "cluster", "comment", "copy", "create", "drop", "lock", "refresh",
    "reindex", "truncate", "vacuum",
];

/// Functions whose string argument names a relation, sequence, function or type.
const NAME_FUNCTIONS: &[&str] = &[
    "currval",
    "nextval",
    "setval",
    "to_regclass",
    "to_regproc",
    "to_regprocedure",
    "to_regtype",
    "pg_get_serial_sequence",
];

/// Casts of a string to a name (`'billing.invoices'::regclass`).
const NAME_TYPES: &[&str] = &[
    "regclass",
    "regproc",
    "regprocedure",
    "regtype",
    "regoper",
    "regoperator",
    "regconfig",
    "regnamespace",
];

/// Words that open a PL/pgSQL block or branch before the statement proper.
const BLOCK_WORDS: &[&str] = &["begin", "then", "else", "loop", "declare", "exception"];

/// Scans one statement. `text` is what the token offsets index; `parsed` is the parser's view
/// when the statement parsed.
pub fn scan(
    text: &str,
    tokens: &[Token],
    boundary: &Boundary<'_>,
    parsed: Option<&Parsed>,
    in_body: bool,
) -> Vec<Hit> {
    let mut lead = 0;
    if in_body {
        while tokens
            .get(lead)
            .is_some_and(|t| BLOCK_WORDS.iter().any(|w| t.is_word(text, w)))
        {
            lead += 1;
        }
    }
    let tokens = &tokens[lead..];
    let mut scanner = Scanner {
        text,
        tokens,
        boundary,
        parsed,
        verb: word(text, tokens.first()),
        hits: Vec::new(),
    };
    scanner.run();
    scanner.hits
}

fn word(text: &str, token: Option<&Token>) -> String {
    match token {
        Some(t) if t.kind == Kind::Word => text[t.range()].to_ascii_lowercase(),
        _ => String::new(),
    }
}

fn is_name(token: Option<&Token>) -> bool {
    token.is_some_and(|t| matches!(t.kind, Kind::Word | Kind::Quoted))
}

struct Scanner<'a, 'b, 'm> {
    text: &'a str,
    tokens: &'a [Token],
    boundary: &'b Boundary<'m>,
    parsed: Option<&'b Parsed>,
    verb: String,
    hits: Vec<Hit>,
}

impl Scanner<'_, '_, '_> {
    fn word_at(&self, i: usize) -> String {
        word(self.text, self.tokens.get(i))
    }

    fn is_word_at(&self, i: Option<usize>, keyword: &str) -> bool {
        i.and_then(|i| self.tokens.get(i))
            .is_some_and(|t| t.is_word(self.text, keyword))
    }

    fn is_punct_at(&self, i: usize, c: u8) -> bool {
        self.tokens.get(i).is_some_and(|t| t.is_punct(c))
    }

    fn grants(&self) -> bool {
        matches!(self.verb.as_str(), "grant" | "revoke")
            || (self.verb == "alter" && self.word_at(1) == "default")
    }

    fn hit(&mut self, offset: usize, schema: &str, access: Access, what: &str) {
        if let Some((rule, message)) = self.boundary.judge(schema, access, what) {
            self.hits.push(Hit {
                offset,
                rule,
                target_schema: Some(schema.to_string()),
                role: None,
                message,
            });
        }
    }

    fn run(&mut self) {
        self.role_change();
        self.role_management();
        self.grantees();
        let target = self.target();
        let mut i = 0;
        while i < self.tokens.len() {
            let token = self.tokens[i];
            let after_dot = i > 0 && self.is_punct_at(i - 1, b'.');
            match token.kind {
                Kind::Word | Kind::Quoted if !after_dot && self.is_punct_at(i + 1, b'.') => {
                    i = self.qualified(i, target);
                    continue;
                }
                Kind::Word if token.is_word(self.text, "schema") => self.schema_names(i),
                Kind::Word if token.is_word(self.text, "search_path") => {
                    let prev = i.checked_sub(1);
                    let set = self.is_word_at(prev, "set")
                        || ((self.is_word_at(prev, "local") || self.is_word_at(prev, "session"))
                            && self.is_word_at(i.checked_sub(2), "set"));
                    if set {
                        self.search_path_list(i + 1);
                    }
                }
                Kind::Str { .. } => self.string(i),
                _ => {}
            }
            if matches!(token.kind, Kind::Word | Kind::Quoted) && !after_dot {
                self.role_name(i);
            }
            i += 1;
        }
    }

    /// The index of the name a DDL or maintenance statement acts on.
    fn target(&self) -> Option<usize> {
        if !TARGET_VERBS.contains(&self.verb.as_str()) {
            return None;
        }
        if self.verb == "alter"
            && matches!(
                self.word_at(1).as_str(),
                "default" | "role" | "user" | "group" | "system" | "database"
            )
        {
            return None;
        }
        (1..self.tokens.len()).find(|&i| {
            let t = self.tokens[i];
            t.kind == Kind::Quoted
                || (t.kind == Kind::Word && !OBJECT_WORDS.contains(&self.word_at(i).as_str()))
        })
    }

    /// A qualified name starting at `i`; returns the index after it.
    fn qualified(&mut self, i: usize, target: Option<usize>) -> usize {
        let mut parts = vec![self.tokens[i]];
        let mut j = i + 1;
        while self.is_punct_at(j, b'.') && is_name(self.tokens.get(j + 1)) {
            parts.push(self.tokens[j + 1]);
            j += 2;
        }
        if parts.len() < 2 {
            return j.max(i + 1);
        }
        let Some(schema) = parts[0].name(self.text) else {
            return j;
        };
        let start = parts[0].start;
        let certain = self.parsed.is_some_and(|p| p.relations.contains(&start));
        if Boundary::is_system(&schema) || !(certain || self.boundary.is_known(&schema)) {
            return j;
        }
        let qualifier = self
            .parsed
            .is_some_and(|p| parts.len() == 2 && p.qualifiers.contains(&schema));
        if qualifier && !certain {
            return j;
        }
        let access = self.access(i, target);
        let what: Vec<String> = parts.iter().filter_map(|p| p.name(self.text)).collect();
        self.hit(start, &schema, access, &what.join("."));
        j
    }

    /// How the statement touches the name at `i`.
    fn access(&self, i: usize, target: Option<usize>) -> Access {
        let before = |n: usize| i.checked_sub(n);
        let mut prev = before(1);
        if self.is_word_at(prev, "only") {
            prev = prev.and_then(|p| p.checked_sub(1));
        }
        let prev2 = prev.and_then(|p| p.checked_sub(1));
        if self.is_word_at(prev, "references") {
            return Access::ForeignKey;
        }
        if Some(i) == target {
            return match self.verb.as_str() {
                "create" => Access::Create,
                "copy" if !self.tokens.iter().any(|t| t.is_word(self.text, "from")) => Access::Read,
                _ => Access::Write,
            };
        }
        if matches!(self.verb.as_str(), "drop" | "truncate" | "lock") {
            return Access::Write;
        }
        if self.grants() {
            return Access::Grant;
        }
        let dml = (self.is_word_at(prev, "into")
            && (self.is_word_at(prev2, "insert") || self.is_word_at(prev2, "merge")))
            || self.is_word_at(prev, "update")
            || (self.is_word_at(prev, "from") && self.is_word_at(prev2, "delete"))
            || (self.verb == "create" && self.is_word_at(prev, "on"));
        if dml { Access::Write } else { Access::Read }
    }

    /// `SCHEMA a, b` in SET SCHEMA, CREATE SCHEMA, GRANT ... ON SCHEMA, IN SCHEMA, ...
    fn schema_names(&mut self, i: usize) {
        let access = if self.is_word_at(i.checked_sub(1), "set") || self.verb == "create" {
            Access::Create
        } else if self.grants() {
            Access::Grant
        } else {
            Access::Write
        };
        let mut j = i + 1;
        while ["if", "not", "exists"]
            .iter()
            .any(|w| self.is_word_at(Some(j), w))
        {
            j += 1;
        }
        while is_name(self.tokens.get(j)) && !self.is_punct_at(j + 1, b'.') {
            let token = self.tokens[j];
            if let Some(schema) = token.name(self.text) {
                let what = format!("{} schema {schema}", self.verb.to_ascii_uppercase());
                self.hit(token.start, &schema, access, &what);
            }
            if !self.is_punct_at(j + 1, b',') {
                break;
            }
            j += 2;
        }
    }

    /// `search_path {TO | =} a, "b", 'c, d'` starting at `i` (the TO or `=`).
    fn search_path_list(&mut self, i: usize) {
        let mut j = i + 1;
        while let Some(token) = self.tokens.get(j) {
            match token.kind {
                Kind::Word | Kind::Quoted => {
                    if let Some(name) = token.name(self.text) {
                        self.search_path_entry(token.start, &name);
                    }
                }
                Kind::Str { .. } => {
                    let value = token.string_value(self.text).unwrap_or_default();
                    self.search_path_value(token.start, &value);
                }
                _ => break,
            }
            if !self.is_punct_at(j + 1, b',') {
                break;
            }
            j += 2;
        }
    }

    /// A search_path given as one string: `'billing, "Other", public'`.
    fn search_path_value(&mut self, offset: usize, value: &str) {
        for name in split_identifiers(value, ',') {
            self.search_path_entry(offset, &name);
        }
    }

    fn search_path_entry(&mut self, offset: usize, name: &str) {
        if name.is_empty() || name == "$user" || name == "default" {
            return;
        }
        self.hit(offset, name, Access::SearchPath, "search_path");
    }

    /// A string constant: a name inside `nextval('s.x')` or `'s.x'::regclass`, or a
    /// `set_config('search_path', '...')`.
    fn string(&mut self, i: usize) {
        let token = self.tokens[i];
        let Some(value) = token.string_value(self.text) else {
            return;
        };
        let function = i
            .checked_sub(2)
            .filter(|_| self.is_punct_at(i - 1, b'('))
            .map(|f| self.word_at(f));
        if function.as_deref() == Some("set_config") && value == "search_path" {
            if self.is_punct_at(i + 1, b',') {
                if let Some(next) = self.tokens.get(i + 2) {
                    let path = next.string_value(self.text).unwrap_or_default();
                    self.search_path_value(next.start, &path);
                }
            }
            return;
        }
        let cast = (self.is_punct_at(i + 1, b':') && self.is_punct_at(i + 2, b':'))
            .then(|| self.word_at(i + 3))
            .filter(|t| NAME_TYPES.contains(&t.as_str()));
        let names_object = function
            .as_deref()
            .is_some_and(|f| NAME_FUNCTIONS.contains(&f));
        if cast.as_deref() == Some("regnamespace") {
            let schema = split_identifiers(&value, '.')
                .into_iter()
                .next()
                .unwrap_or_default();
            self.known_hit(token.start, &schema, Access::Read, &value);
        } else if names_object || cast.is_some() {
            let parts = split_identifiers(&value, '.');
            if parts.len() >= 2 {
                let access = if function.as_deref() == Some("setval") {
                    Access::Write
                } else {
                    Access::Read
                };
                self.known_hit(token.start, &parts[0], access, &parts.join("."));
            }
        }
    }

    fn known_hit(&mut self, offset: usize, schema: &str, access: Access, what: &str) {
        if self.boundary.is_known(schema) {
            self.hit(offset, schema, access, what);
        }
    }

    /// Another service's role named where privileges or ownership are given.
    fn role_name(&mut self, i: usize) {
        let token = self.tokens[i];
        let owner_to =
            self.is_word_at(i.checked_sub(1), "to") && self.is_word_at(i.checked_sub(2), "owner");
        let policy =
            self.word_at(1) == "policy" && matches!(self.verb.as_str(), "create" | "alter");
        if !(owner_to || policy || self.grants()) || self.is_punct_at(i + 1, b'.') {
            return;
        }
        let Some(role) = token.name(self.text) else {
            return;
        };
        let Some(schema) = self.boundary.foreign_role(&role) else {
            return;
        };
        let own = self.boundary.schema();
        let verb = self.verb.to_ascii_uppercase();
        self.hits.push(Hit {
            offset: token.start,
            rule: RuleId::CrossSchemaGrant,
            target_schema: Some(schema.to_string()),
            role: Some(role.clone()),
            message: format!(
                "`{verb}` names role `{role}` of schema `{schema}`; roles of `{own}` only may be given privileges or ownership here"
            ),
        });
    }

    /// The index of the first word `keyword` after `from` outside parentheses.
    fn top_level_word(&self, from: usize, keyword: &str) -> Option<usize> {
        let mut depth = 0usize;
        for i in from..self.tokens.len() {
            let token = self.tokens[i];
            if token.is_punct(b'(') {
                depth += 1;
            } else if token.is_punct(b')') {
                depth = depth.saturating_sub(1);
            } else if depth == 0 && token.is_word(self.text, keyword) {
                return Some(i);
            }
        }
        None
    }

    /// Whether this GRANT or REVOKE is of role membership: no `ON` before its `TO` or `FROM`.
    fn grants_membership(&self) -> bool {
        let to = match self.verb.as_str() {
            "grant" => "to",
            "revoke" => "from",
            _ => return false,
        };
        let on = self.top_level_word(1, "on");
        self.top_level_word(1, to)
            .is_some_and(|to| on.is_none_or(|on| on > to))
    }

    /// CREATE/ALTER/DROP ROLE, USER or GROUP, and GRANT/REVOKE of role membership: roles and
    /// memberships belong to the manifest, never to a migration.
    fn role_management(&mut self) {
        let object = self.word_at(1);
        let ddl = matches!(self.verb.as_str(), "create" | "alter" | "drop")
            && matches!(object.as_str(), "role" | "user" | "group")
            // CREATE USER MAPPING is postgres_fdw's, not a role.
            && self.word_at(2) != "mapping";
        let what = if ddl {
            format!("{} {}", self.verb, object).to_ascii_uppercase()
        } else if self.grants_membership() {
            format!("{} of role membership", self.verb.to_ascii_uppercase())
        } else {
            return;
        };
        self.hits.push(Hit {
            offset: self.tokens[0].start,
            rule: RuleId::RoleManagement,
            target_schema: None,
            role: None,
            message: format!(
                "`{what}` changes roles, which the manifest declares and `dbsplit apply` manages; migrations run as `{}` and change objects only",
                self.boundary.service.owner
            ),
        });
    }

    /// The roles after `TO` in GRANT ... ON ... TO and ALTER DEFAULT PRIVILEGES ... GRANT ...
    /// TO: PUBLIC, or a role outside the service. Another service's role is `role_name`'s.
    fn grantees(&mut self) {
        let grant = match (self.verb.as_str(), self.word_at(1).as_str()) {
            ("grant", _) => 0,
            ("alter", "default") => match self.top_level_word(2, "grant") {
                Some(i) => i,
                None => return,
            },
            _ => return,
        };
        let Some(to) = self.top_level_word(grant + 1, "to") else {
            return;
        };
        if self
            .top_level_word(grant + 1, "on")
            .is_none_or(|on| on > to)
        {
            return;
        }
        let own = self.boundary.schema();
        let mut j = to + 1;
        loop {
            if self.is_word_at(Some(j), "group") {
                j += 1;
            }
            let Some(token) = self.tokens.get(j).copied() else {
                break;
            };
            let Some(role) = token.name(self.text).filter(|_| is_name(Some(&token))) else {
                break;
            };
            let keyword = token.kind == Kind::Word;
            let verb = self.verb.to_ascii_uppercase();
            let finding = if keyword && role == "public" {
                Some((
                    RuleId::PublicGrant,
                    format!(
                        "`{verb}` grants to PUBLIC, every role in the cluster; grant to roles of `{own}` only"
                    ),
                ))
            } else if (keyword && matches!(role.as_str(), "current_user" | "current_role"))
                || self.boundary.is_own_role(&role)
                || self.boundary.foreign_role(&role).is_some()
            {
                None
            } else {
                Some((
                    RuleId::GrantOutsideService,
                    format!(
                        "`{verb}` grants to role `{role}`, which is not a role of `{own}`; declare access for others in services.toml"
                    ),
                ))
            };
            if let Some((rule, message)) = finding {
                self.hits.push(Hit {
                    offset: token.start,
                    rule,
                    target_schema: None,
                    role: Some(role),
                    message,
                });
            }
            if !self.is_punct_at(j + 1, b',') {
                break;
            }
            j += 2;
        }
    }

    /// SET ROLE, SET SESSION AUTHORIZATION, RESET ROLE, RESET ALL.
    fn role_change(&mut self) {
        let mut j = 1;
        if self.verb == "set" && matches!(self.word_at(1).as_str(), "session" | "local") {
            j = 2;
        }
        let what = match (self.verb.as_str(), self.word_at(j).as_str()) {
            ("set", "role") => "SET ROLE",
            ("set", "authorization") if j == 2 => "SET SESSION AUTHORIZATION",
            ("set", "session") if self.word_at(j + 1) == "authorization" => {
                "SET SESSION AUTHORIZATION"
            }
            ("reset", "role") => "RESET ROLE",
            ("reset", "all") => "RESET ALL",
            ("reset", "session") => "RESET SESSION AUTHORIZATION",
            _ => return,
        };
        let role = self
            .tokens
            .get(j + 1)
            .filter(|_| what.starts_with("SET"))
            .and_then(|t| match t.kind {
                Kind::Str { .. } => t.string_value(self.text),
                _ => t.name(self.text),
            })
            .filter(|r| r != "authorization");
        let target_schema = role
            .as_deref()
            .and_then(|r| self.boundary.foreign_role(r))
            .map(str::to_string);
        self.hits.push(Hit {
            offset: self.tokens[0].start,
            rule: RuleId::RoleChange,
            target_schema,
            role,
            message: format!(
                "`{what}` changes the role the migration runs as; migrations run as `{}`",
                self.boundary.service.owner
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_strings_split_and_fold_like_identifiers() {
        assert_eq!(split_identifiers("Monolith.Seq", '.'), ["monolith", "seq"]);
        assert_eq!(
            split_identifiers(r#""Mono.lith"."a""b""#, '.'),
            ["Mono.lith", "a\"b"]
        );
        assert_eq!(split_identifiers("seq", '.'), ["seq"]);
        assert_eq!(split_identifiers("", '.'), [""]);
        assert_eq!(
            split_identifiers(r#" billing, "A, b" ,Public"#, ','),
            ["billing", "A, b", "public"]
        );
    }
}
