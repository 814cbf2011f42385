//! docs/CONFIGURATION.md, rendered from [`ServerConfig`] itself: the names
//! and doc comments (through its JSON schema) and the defaults (through its
//! `Default`). A test compares the file with this rendering, so the
//! reference cannot fall behind the code; `banter config reference` prints
//! it.

use serde_json::{Map, Value};

use super::ServerConfig;

/// The list settings' own comma-separated environment variables (read by
/// the binary), for the reference.
const LIST_VARIABLES: [(&str, &str); 4] = [
    ("allowed_origins", "BANTER_ALLOWED_ORIGINS"),
    ("database_urls", "BANTER_DATABASE_URL"),
    ("trusted_proxies", "BANTER_TRUSTED_PROXIES"),
    ("push_endpoint_hosts", "BANTER_PUSH_ENDPOINT_HOSTS"),
];

const INTRO: &str = "# Configuration reference

Generated from `crates/banter-server/src/config/mod.rs` by `banter config
reference`; a test fails when this file and the code differ.

Every setting has one name, used in four layers; each overrides the one
before it:

1. the default below;
2. the TOML file given with `--config` (`BANTER_CONFIG`): `idle_timeout = \"45s\"`;
   nested settings as tables (`[account_http_limits.reads]`);
3. the environment: `BANTER_` and the name in capitals, `__` between nested
   names (`BANTER_ACCOUNT_HTTP_LIMITS__READS__BURST=50`); list settings are
   comma-separated in the variable the table gives;
4. the command line: `--set name=value` for any setting (`--set
   account_http_limits.reads.burst=50`), and the flags `banter serve --help`
   lists for the common ones.

Durations take a unit: `\"500ms\"`, `\"45s\"`, `\"2m\"`, `\"1h 30m\"`, `\"90d\"`; a bare
number is refused. `banter config check` prints the configuration the layers
give (credentials in URLs hidden) or everything that is wrong with it;
`banter serve` refuses to start on an impossible combination (an
`idle_timeout` not longer than `heartbeat_interval`, a zero budget, NATS
without PostgreSQL) and names each problem.

| Setting | Default | Environment | What it does |
|---|---|---|---|
";

/// The whole reference, as Markdown.
pub fn reference_markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(ServerConfig)).unwrap_or(Value::Null);
    let defaults = serde_json::to_value(ServerConfig::default()).unwrap_or(Value::Null);
    let mut out = String::from(INTRO);
    rows(&schema, &schema, &defaults, &[], &mut out);
    out
}

/// One row per setting; a table of tables is walked into, a table of
/// plain values is one row (`{ per_minute = 600, burst = 300 }`).
fn rows(root: &Value, schema: &Value, defaults: &Value, path: &[&str], out: &mut String) {
    let schema = resolve(root, schema);
    let (Some(properties), Some(defaults)) = (schema.get("properties").and_then(Value::as_object), defaults.as_object()) else {
        return;
    };
    // In alphabetical order (serde_json's maps are sorted): easy to look up.
    for name in properties.keys() {
        let field = &properties[name];
        let default = defaults.get(name).unwrap_or(&Value::Null);
        let mut full: Vec<&str> = path.to_vec();
        full.push(name);
        let description = describe(field);
        match default.as_object() {
            Some(children) if children.values().any(Value::is_object) => rows(root, field, default, &full, out),
            _ => row(&full, default, &description, out),
        }
    }
}

fn row(path: &[&str], default: &Value, description: &str, out: &mut String) {
    let name = path.join(".");
    let variable = match (LIST_VARIABLES.iter().find(|(field, _)| path == [*field]), default.as_object()) {
        (Some((_, variable)), _) => format!("`{variable}` (comma-separated)"),
        (None, Some(fields)) => {
            let names: Vec<String> = fields.keys().map(|k| k.to_ascii_uppercase()).collect();
            format!("`BANTER_{}__{{{}}}`", path.join("__").to_ascii_uppercase(), names.join(","))
        }
        (None, None) => format!("`BANTER_{}`", path.join("__").to_ascii_uppercase()),
    };
    out.push_str(&format!("| `{name}` | {} | {variable} | {} |\n", show(default), description.replace('|', "\\|")));
}

/// A default as it would be written in the TOML file.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "unset".to_owned(),
        Value::Array(items) if items.is_empty() => "`[]`".to_owned(),
        Value::Object(fields) => format!("`{{ {} }}`", inline(fields)),
        other => format!("`{}`", toml_value(other)),
    }
}

fn inline(fields: &Map<String, Value>) -> String {
    fields.iter().map(|(k, v)| format!("{k} = {}", toml_value(v))).collect::<Vec<_>>().join(", ")
}

fn toml_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!("[{}]", items.iter().map(toml_value).collect::<Vec<_>>().join(", ")),
        Value::Object(fields) => format!("{{ {} }}", inline(fields)),
        other => other.to_string(),
    }
}

/// The doc comment, on one line.
fn describe(field: &Value) -> String {
    let text = field.get("description").and_then(Value::as_str).unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Follows a `$ref` to its definition (schemars puts structs in `$defs`).
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
        // A field with a doc comment and a struct type is `allOf: [$ref]`
        // in some schema versions.
        return match schema.get("allOf").and_then(Value::as_array).and_then(|all| all.first()) {
            Some(inner) => resolve(root, inner),
            None => schema,
        };
    };
    let pointer = reference.trim_start_matches('#');
    root.pointer(pointer).unwrap_or(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/CONFIGURATION.md is the rendering of the code as it is now;
    /// `BANTER_WRITE_DOCS=1` rewrites it.
    #[test]
    fn the_configuration_reference_in_docs_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIGURATION.md");
        let rendered = reference_markdown();
        if std::env::var_os("BANTER_WRITE_DOCS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == rendered,
            "docs/CONFIGURATION.md is out of date: run `BANTER_WRITE_DOCS=1 cargo test -p banter-server --lib config` (or `banter config reference > docs/CONFIGURATION.md`)"
        );
    }

    #[test]
    fn every_setting_has_a_row_a_default_and_a_description() {
        let rendered = reference_markdown();
        for name in super::super::load::setting_names() {
            let line = rendered.lines().find(|l| l.starts_with(&format!("| `{name}")));
            let line = line.unwrap_or_else(|| panic!("{name} has no row"));
            let cells: Vec<&str> = line.split(" | ").collect();
            assert!(cells.len() >= 4 && cells[3].trim_end_matches(" |").len() > 10, "{name} is described: {line}");
        }
        assert!(rendered.contains("| `idle_timeout` | `\"45s\"` | `BANTER_IDLE_TIMEOUT` |"), "{rendered}");
        assert!(rendered.contains("| `account_http_limits.reads` | `{ burst = 300, per_minute = 600 }` | `BANTER_ACCOUNT_HTTP_LIMITS__READS__{BURST,PER_MINUTE}` |"), "{rendered}");
        assert!(rendered.contains("| `database_urls` | `[]` | `BANTER_DATABASE_URL` (comma-separated) |"), "{rendered}");
    }
}
