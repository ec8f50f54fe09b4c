//! dbsplit's mark on the roles it created ([`RoleMark`] in the role's comment): which roles
//! serve which database, so that `--prune` only ever touches the roles of its own database.

use crate::catalog::model::{MANAGED_COMMENT, RoleMark};
use crate::pg::ident::{Literal, dollar_quote};

/// The statement of [`Action::MarkRole`](super::Action::MarkRole): a DO block that writes the
/// mark only on a role dbsplit created (its comment starts with [`MANAGED_COMMENT`]), merged
/// with the mark already there (the databases of both; other fields from `mark` first), so it
/// is idempotent and safe in an offline script run where the role already serves another
/// database.
pub fn comment(role: &str, mark: &RoleMark) -> String {
    let rendered = mark.render();
    let json = rendered
        .strip_prefix(MANAGED_COMMENT)
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .unwrap_or("{}");
    let prefix_len = MANAGED_COMMENT.len();
    let body = format!(
        r#"
DECLARE
  current text := (SELECT pg_catalog.shobj_description(oid, 'pg_authid') FROM pg_catalog.pg_roles WHERE rolname = {literal});
  old jsonb;
  new jsonb := {json}::jsonb;
BEGIN
  IF current IS NULL OR pg_catalog.left(current, {prefix_len}) <> {prefix} THEN
    RETURN;
  END IF;
  BEGIN
    old := nullif(pg_catalog.btrim(pg_catalog.substr(current, {start})), '')::jsonb;
  EXCEPTION WHEN others THEN
    old := NULL;
  END;
  IF old IS NULL OR pg_catalog.jsonb_typeof(old) <> 'object' OR pg_catalog.jsonb_typeof(old -> 'databases') IS DISTINCT FROM 'array' THEN
    old := '{{}}';
  END IF;
  new := old || new || pg_catalog.jsonb_build_object('databases',
    (SELECT coalesce(pg_catalog.jsonb_agg(DISTINCT d ORDER BY d), '[]')
     FROM (SELECT pg_catalog.jsonb_array_elements_text(coalesce(old -> 'databases', '[]'))
           UNION SELECT pg_catalog.jsonb_array_elements_text(coalesce(new -> 'databases', '[]'))) s(d)));
  EXECUTE pg_catalog.format('COMMENT ON ROLE %I IS %L', {literal}, {prefix} || ' ' || new::text);
END
"#,
        literal = Literal(role),
        json = Literal(json),
        prefix = Literal(MANAGED_COMMENT),
        start = prefix_len + 1,
    );
    format!("DO {};", dollar_quote(&body))
}
