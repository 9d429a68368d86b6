//! TOML text to [`ManifestFile`]: syntax first, then the schema, with the dotted key of the first
//! value the schema rejects.

use super::error::{ManifestError, Problem};
use super::schema::ManifestFile;
use serde_path_to_error::Segment;
use std::path::Path;

/// Parses `text` (read from `file`) against the schema.
pub fn parse(file: &Path, text: &str) -> Result<ManifestFile, Box<ManifestError>> {
    let error = |key: String, problem| {
        Box::new(ManifestError {
            file: file.to_path_buf(),
            key,
            problem,
        })
    };
    let table: toml::Table = text.parse().map_err(|syntax: toml::de::Error| {
        let line = syntax.span().map_or(1, |span| {
            // A count of the text's lines, one-based: it cannot reach usize::MAX.
            text[..span.start].matches('\n').count().saturating_add(1)
        });
        let message = syntax.message().trim_end().replace('\n', ": ");
        error(format!("line {line}"), Problem::Syntax { line, message })
    })?;
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|schema| {
        let key = dotted(schema.path());
        let message = schema.inner().message().trim_end().to_string();
        match classify(&message) {
            Rejection::Missing(name) => {
                let key = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                error(key, Problem::MissingKey { name })
            }
            Rejection::UnknownKey => error(key, Problem::UnknownKey { message }),
            Rejection::UnknownValue => error(key, Problem::UnknownValue { message }),
            Rejection::Value => error(key, Problem::BadValue { message }),
        }
    })
}

/// Why serde rejected a value, from its (fixed) message formats.
enum Rejection {
    Missing(String),
    UnknownKey,
    UnknownValue,
    Value,
}

fn classify(message: &str) -> Rejection {
    if let Some(rest) = message.strip_prefix("missing field `") {
        Rejection::Missing(rest.trim_end_matches('`').to_string())
    } else if message.starts_with("unknown field") {
        Rejection::UnknownKey
    } else if message.starts_with("unknown variant") {
        Rejection::UnknownValue
    } else {
        Rejection::Value
    }
}

/// `a.b[1].c` from serde's path.
fn dotted(path: &serde_path_to_error::Path) -> String {
    let mut key = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: name } | Segment::Enum { variant: name } => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(name);
            }
            Segment::Unknown => key.push_str(".?"),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(text: &str) -> ManifestError {
        match parse(Path::new("m.toml"), text) {
            Ok(_) => panic!("expected a parse error for {text:?}"),
            Err(error) => *error,
        }
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let error = parse_error("[image]\nname = \"x\"\ntarget = \n");
        assert_eq!(error.key, "line 3");
        assert!(matches!(error.problem, Problem::Syntax { line: 3, .. }));
    }

    #[test]
    fn missing_keys_are_named_under_their_table() {
        let error = parse_error("[image]\nname = \"x\"\n");
        assert_eq!(error.key, "image.target");
        assert_eq!(
            error.problem,
            Problem::MissingKey {
                name: "target".into()
            }
        );
    }

    #[test]
    fn unknown_keys_carry_their_path() {
        let error = parse_error("[image]\nname = \"x\"\ntarget = \"sim\"\ncolour = 1\n");
        assert_eq!(error.key, "image.colour");
        assert!(matches!(error.problem, Problem::UnknownKey { .. }));
    }
}
