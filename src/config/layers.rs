//! The configuration's layers: the defaults, the user's file laid over them, then
//! `LIFECYCLE__...` environment variables; each layer's problems named by key.

use super::{ENV_PREFIX, OPEN_TABLES, OPTIONAL_NUMBERS};
/// A TOML syntax error by line and column, without toml's quote of the line: the line may
/// hold a secret (a value with a quoting mistake).
pub(super) fn syntax_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end().replace('\n', " ");
    let Some(before) = e.span().and_then(|s| text.get(..s.start)) else {
        return format!("TOML syntax error: {message}");
    };
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    format!("TOML syntax error at line {line}, column {column}: {message}")
}

/// Turns `LIFECYCLE__A__B=value` variables into a table `{a = {b = value}}`, reading each
/// value as the type its key has in `base`.
pub(super) fn env_overrides(
    base: &toml::Table,
    env: &[(String, String)],
    problems: &mut Vec<String>,
) -> toml::Table {
    let mut out = toml::Table::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        let mut default = Some(base);
        let mut target = &mut out;
        for part in &path[..path.len() - 1] {
            default = default
                .and_then(|t| t.get(part))
                .and_then(toml::Value::as_table);
            target = target
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("only tables are inserted on the path");
        }
        let key = path.last().cloned().unwrap_or_default();
        let optional_number = OPTIONAL_NUMBERS.contains(&path.join(".").as_str());
        let value = match default.and_then(|t| t.get(&key)) {
            None if optional_number => raw.parse().map(toml::Value::Float).ok(),
            Some(toml::Value::Integer(_)) => raw.parse().map(toml::Value::Integer).ok(),
            Some(toml::Value::Boolean(_)) => raw.parse().map(toml::Value::Boolean).ok(),
            Some(toml::Value::Float(_)) => raw.parse().map(toml::Value::Float).ok(),
            Some(toml::Value::Array(_)) => format!("v = {raw}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v")),
            _ => Some(toml::Value::String(raw.clone())),
        };
        match value {
            Some(v) => {
                target.insert(key, v);
            }
            None => problems.push(format!(
                "{name}: `{raw}` is not a valid value for {}",
                path.join(".")
            )),
        }
    }
    out
}

/// Lays `user` over `base`, noting each key `base` does not have and each value whose TOML
/// type differs from the default's.
pub(super) fn overlay(
    base: &mut toml::Table,
    user: toml::Table,
    prefix: &str,
    problems: &mut Vec<String>,
) {
    for (key, value) in user {
        let path = format!("{prefix}{key}");
        if OPEN_TABLES.contains(&prefix.trim_end_matches('.')) {
            match value {
                toml::Value::String(_) => {
                    base.insert(key, value);
                }
                other => problems.push(format!(
                    "{path}: must be a string, not {}",
                    other.type_str()
                )),
            }
            continue;
        }
        match base.get_mut(&key) {
            // A number without a default (TOML has no null): absent means unset.
            None if OPTIONAL_NUMBERS.contains(&path.as_str()) => match value {
                toml::Value::Float(_) => {
                    base.insert(key, value);
                }
                toml::Value::Integer(i) => {
                    base.insert(key, toml::Value::Float(i as f64));
                }
                other => problems.push(format!(
                    "{path}: must be a number, not {}",
                    article(other.type_str())
                )),
            },
            None => problems.push(format!("{path}: unknown key (see config/default.toml)")),
            Some(toml::Value::Table(b)) => match value {
                toml::Value::Table(u) => overlay(b, u, &format!("{path}."), problems),
                other => {
                    problems.push(format!("{path}: must be a table, not {}", other.type_str()))
                }
            },
            // A whole number where a float is expected (`holdout.percent = 10`) is that float.
            Some(slot @ toml::Value::Float(_)) if value.is_integer() => {
                *slot = toml::Value::Float(value.as_integer().unwrap_or_default() as f64);
            }
            Some(slot) => {
                if slot.type_str() != value.type_str() {
                    problems.push(format!(
                        "{path}: must be {}, not {}",
                        article(slot.type_str()),
                        article(value.type_str())
                    ));
                } else {
                    *slot = value;
                }
            }
        }
    }
}

fn article(t: &str) -> String {
    match t.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

/// The most values [`deserialize_all`] reports before it gives up.
const MOST_REFUSED: usize = 64;

/// Deserializes the merged tables, adding to `problems` every value serde refuses (a wrong
/// type, an unknown name, a number out of range) with its dotted name, not only the first:
/// each one refused is put back to its default and the rest read again, so that the checks
/// after this one still see the other values. `None` when the tables cannot be read even so.
pub(super) fn deserialize_all<T: serde::de::DeserializeOwned>(
    mut merged: toml::Table,
    defaults: &toml::Table,
    problems: &mut Vec<String>,
) -> Option<T> {
    let refused_before = problems.len();
    loop {
        match serde_path_to_error::deserialize(toml::Value::Table(merged.clone())) {
            Ok(config) => return Some(config),
            Err(e) => {
                let keys: Vec<&str> = e
                    .path()
                    .iter()
                    .map_while(|segment| match segment {
                        serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
                        _ => None,
                    })
                    .collect();
                let message = e.inner().message().trim_end().replace('\n', " ");
                problems.push(format!("{}: {message}", e.path()));
                let too_many = problems.len() - refused_before >= MOST_REFUSED;
                if too_many || !put_back_default(&mut merged, defaults, &keys) {
                    return None;
                }
            }
        }
    }
}

/// Sets the value at `keys` in `merged` back to its default (or removes it when it has none);
/// false when there is no such value to change (the same error would come again).
fn put_back_default(merged: &mut toml::Table, defaults: &toml::Table, keys: &[&str]) -> bool {
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let (mut table, mut default) = (merged, Some(defaults));
    for key in parents {
        let Some(toml::Value::Table(inner)) = table.get_mut(*key) else {
            return false;
        };
        table = inner;
        default = default.and_then(|d| match d.get(*key) {
            Some(toml::Value::Table(inner)) => Some(inner),
            _ => None,
        });
    }
    match default.and_then(|d| d.get(*last)) {
        Some(value) if table.get(*last) != Some(value) => {
            table.insert((*last).to_owned(), value.clone());
            true
        }
        Some(_) => false,
        None => table.remove(*last).is_some(),
    }
}
