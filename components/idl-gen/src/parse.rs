//! Reads `.idol` files (TOML) into the checked model; every broken input becomes an [`IdlError`]
//! naming the file, the line and the fix.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::IdlError;
use crate::layout::{layout, MAX_BODY_BYTES};
use crate::model::{
    EnumType, EnumVariant, ErrorVariant, Field, FieldType, Interface, Lease, LeaseMode, Op,
    ScalarType,
};

/// Highest value an interface error may have; `0x8000..` is the protocol error range.
pub const MAX_ERROR_VALUE: i64 = 0x7fff;

/// Names the generated code uses for its own parameters and locals.
const GENERATOR_NAMES: &[&str] = &["sys", "badge", "reply", "request", "response"];

const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    id: Spanned<i64>,
    version: Spanned<i64>,
    #[serde(default)]
    doc: String,
    #[serde(default, rename = "error")]
    errors: Vec<RawError>,
    #[serde(default, rename = "enum")]
    enums: Vec<RawEnum>,
    #[serde(default, rename = "op")]
    ops: Vec<RawOp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawError {
    name: Spanned<String>,
    value: Spanned<i64>,
    #[serde(default)]
    doc: String,
    #[serde(default)]
    server_died: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnum {
    name: Spanned<String>,
    repr: Spanned<String>,
    #[serde(default)]
    doc: String,
    variants: Spanned<Vec<RawVariant>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: Spanned<String>,
    value: Spanned<i64>,
    #[serde(default)]
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    name: Spanned<String>,
    id: Spanned<i64>,
    capability: Spanned<String>,
    #[serde(default)]
    doc: String,
    #[serde(default)]
    args: Vec<RawField>,
    lease: Option<RawLease>,
    #[serde(default)]
    reply: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    name: Spanned<String>,
    #[serde(rename = "type")]
    ty: Spanned<String>,
    #[serde(default)]
    doc: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLease {
    name: Spanned<String>,
    access: Spanned<String>,
    #[serde(default)]
    doc: String,
}

/// Reads and checks one `.idol` file.
pub fn parse_file(path: &Path) -> Result<Interface, IdlError> {
    let text = fs::read_to_string(path).map_err(|e| {
        IdlError::new(
            path,
            0,
            format!("cannot read the file: {e}"),
            "check that the path exists and is readable",
        )
    })?;
    parse_str(path, &text)
}

/// Checks the text of an `.idol` file; `path` is used in error messages only.
pub fn parse_str(path: &Path, text: &str) -> Result<Interface, IdlError> {
    let checker = Checker { path, text };
    let raw: RawInterface = toml::from_str(text).map_err(|e| checker.toml_error(&e))?;
    checker.interface(raw)
}

/// Reads every `*.idol` file of `dir` (sorted by file name) and checks that interface names and
/// ids are unique across them.
pub fn load_dir(dir: &Path) -> Result<Vec<Interface>, IdlError> {
    let entries = fs::read_dir(dir).map_err(|e| {
        IdlError::new(
            dir,
            0,
            format!("cannot read the directory: {e}"),
            "check that the IDL directory exists and is readable",
        )
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            IdlError::new(
                dir,
                0,
                format!("cannot list the directory: {e}"),
                "check the directory's permissions",
            )
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "idol") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut interfaces: Vec<Interface> = Vec::new();
    for path in paths {
        let iface = parse_file(&path)?;
        if let Some(other) = interfaces.iter().find(|other| other.name == iface.name) {
            return Err(IdlError::new(
                &path,
                0,
                format!(
                    "interface name `{}` is already declared by {}",
                    iface.name,
                    other.source.display()
                ),
                "give every interface its own name",
            ));
        }
        if let Some(other) = interfaces.iter().find(|other| other.id == iface.id) {
            return Err(IdlError::new(
                &path,
                0,
                format!(
                    "interface id {} of `{}` is already used by `{}` ({})",
                    iface.id,
                    iface.name,
                    other.name,
                    other.source.display()
                ),
                "give every interface its own id; ids are the ABI and are never reused",
            ));
        }
        interfaces.push(iface);
    }
    Ok(interfaces)
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn at<T>(&self, item: &Spanned<T>, message: String, help: impl Into<String>) -> IdlError {
        IdlError::new(self.path, self.line_of(item.span().start), message, help)
    }

    fn toml_error(&self, error: &toml::de::Error) -> IdlError {
        let line = error.span().map_or(0, |span| self.line_of(span.start));
        let message = error
            .message()
            .trim()
            .replace("expected i64", "expected an integer");
        let help = if let Some(field) = backticked(&message, "missing field ") {
            match field {
                "name" => "add `name = \"...\"`".to_string(),
                "id" => {
                    "add `id = <number>`: ids are explicit so that reordering never changes the ABI"
                        .to_string()
                }
                "version" => "add `version = <number>` (start at 1)".to_string(),
                "capability" => {
                    "add `capability = \"...\"`: the capability manifests grant for this op"
                        .to_string()
                }
                "value" => "add `value = <number>` (error values start at 1)".to_string(),
                "type" => format!("add `type = \"...\"` with one of {}", ScalarType::NAMES),
                "repr" => "add `repr = \"u8\"` (or `u16`, `u32`): the integer the enum travels as"
                    .to_string(),
                "variants" => {
                    "add `variants = [ { name = \"...\", value = 1 } ]` (values start at 1)"
                        .to_string()
                }
                "access" => "add `access = \"read\"` or `access = \"read-write\"`".to_string(),
                other => format!("add the `{other}` key"),
            }
        } else if message.starts_with("unknown field") {
            "remove the key or fix its spelling (see idl/README.md for the format)".to_string()
        } else if message.starts_with("invalid type") {
            "give the key a value of the expected type (see idl/README.md)".to_string()
        } else {
            "fix the TOML syntax".to_string()
        };
        IdlError::new(self.path, line, message, help)
    }

    fn interface(&self, raw: RawInterface) -> Result<Interface, IdlError> {
        if !is_upper_camel(raw.name.get_ref()) {
            return Err(self.at(
                &raw.name,
                format!(
                    "interface name `{}` is not UpperCamelCase",
                    raw.name.get_ref()
                ),
                "name interfaces like `Balloon` or `BalloonControl`",
            ));
        }
        let id = self.nonzero_u16(
            &raw.id,
            "interface id",
            "give the interface a unique id from 1 to 65535",
        )?;
        let version = self.nonzero_u16(
            &raw.version,
            "interface version",
            "versions start at 1; bump it when the ABI changes",
        )?;
        let errors = self.errors(&raw.name, raw.errors)?;
        let taken = generated_type_names(raw.name.get_ref(), &raw.ops);
        let enums = self.enums(raw.enums, &taken)?;
        let ops = self.ops(&raw.name, raw.ops, &enums)?;
        Ok(Interface {
            name: raw.name.into_inner(),
            id,
            version,
            doc: raw.doc,
            errors,
            enums,
            ops,
            source: self.path.to_path_buf(),
        })
    }

    fn nonzero_u16(&self, value: &Spanned<i64>, what: &str, help: &str) -> Result<u16, IdlError> {
        match *value.get_ref() {
            0 => Err(self.at(value, format!("{what} 0 is reserved"), help)),
            v => u16::try_from(v)
                .map_err(|_| self.at(value, format!("{what} {v} does not fit in 1..=65535"), help)),
        }
    }

    fn errors(
        &self,
        iface: &Spanned<String>,
        raw: Vec<RawError>,
    ) -> Result<Vec<ErrorVariant>, IdlError> {
        if raw.is_empty() {
            return Err(self.at(
                iface,
                format!("interface `{}` declares no errors", iface.get_ref()),
                "add `[[error]]` tables, among them one with `server_died = true` \
                 (e.g. `ServerRestarted`)",
            ));
        }
        let mut seen_names: HashMap<String, usize> = HashMap::new();
        let mut seen_values: HashMap<u16, (String, usize)> = HashMap::new();
        let mut died: Option<(String, usize)> = None;
        let mut variants = Vec::new();
        for error in raw {
            let name = error.name.get_ref().clone();
            let line = self.line_of(error.name.span().start);
            if !is_upper_camel(&name) {
                return Err(self.at(
                    &error.name,
                    format!("error name `{name}` is not UpperCamelCase"),
                    "name error variants like `OverQuota`",
                ));
            }
            if let Some(first) = seen_names.insert(name.clone(), line) {
                return Err(self.at(
                    &error.name,
                    format!("duplicate error name `{name}` (first declared at line {first})"),
                    "give every error variant its own name",
                ));
            }
            let value =
                match *error.value.get_ref() {
                    0 => {
                        return Err(self.at(
                            &error.value,
                            format!("error `{name}` has value 0, which is reserved for success"),
                            "number error values from 1",
                        ))
                    }
                    v if !(1..=MAX_ERROR_VALUE).contains(&v) => return Err(self.at(
                        &error.value,
                        format!("error `{name}` has value {v}, outside 1..=32767"),
                        "error values are 1..=32767; 0 is success and 0x8000.. are protocol errors",
                    )),
                    v => v as u16,
                };
            if let Some((other, other_line)) = seen_values.insert(value, (name.clone(), line)) {
                return Err(self.at(
                    &error.value,
                    format!(
                        "error value {value} of `{name}` is already used by `{other}` (line {other_line})"
                    ),
                    "give every error variant its own value; values are the ABI and are never reused",
                ));
            }
            if error.server_died {
                if let Some((other, other_line)) = &died {
                    return Err(self.at(
                        &error.name,
                        format!(
                            "both `{other}` (line {other_line}) and `{name}` are marked `server_died`"
                        ),
                        "mark exactly one error variant `server_died = true`",
                    ));
                }
                died = Some((name.clone(), line));
            }
            variants.push(ErrorVariant {
                name,
                value,
                doc: error.doc,
                server_died: error.server_died,
            });
        }
        if died.is_none() {
            return Err(self.at(
                iface,
                format!("no error of `{}` is marked `server_died = true`", iface.get_ref()),
                "add a variant such as `ServerRestarted` with `server_died = true`: clients get it \
                 when the server dies or restarts during a call",
            ));
        }
        Ok(variants)
    }

    fn enums(&self, raw: Vec<RawEnum>, taken: &[String]) -> Result<Vec<EnumType>, IdlError> {
        let mut enums: Vec<EnumType> = Vec::new();
        let mut lines: HashMap<String, usize> = HashMap::new();
        for raw_enum in raw {
            let name = raw_enum.name.get_ref().clone();
            if !is_upper_camel(&name) {
                return Err(self.at(
                    &raw_enum.name,
                    format!("enum name `{name}` is not UpperCamelCase"),
                    "name enums like `Policy` or `BatchState`",
                ));
            }
            if let Some(first) = lines.get(&name) {
                return Err(self.at(
                    &raw_enum.name,
                    format!("duplicate enum name `{name}` (first declared at line {first})"),
                    "give every enum its own name",
                ));
            }
            if taken.contains(&name) {
                return Err(self.at(
                    &raw_enum.name,
                    format!("enum name `{name}` is the name of a generated type"),
                    "pick another name: the interface's `...Error`, `...Op`, `...Client`, \
                     `...DeferredClient` and `...Server` and each op's `...Request`, `...Reply`, `...ReplyBody` and \
                     `...Responder` are taken",
                ));
            }
            lines.insert(name.clone(), self.line_of(raw_enum.name.span().start));
            let repr = match raw_enum.repr.get_ref().as_str() {
                "u8" => ScalarType::U8,
                "u16" => ScalarType::U16,
                "u32" => ScalarType::U32,
                other => {
                    return Err(self.at(
                        &raw_enum.repr,
                        format!("enum `{name}` has repr `{other}`"),
                        "use `u8`, `u16` or `u32`: the unsigned integer the enum travels as",
                    ))
                }
            };
            let variants = self.variants(&name, repr, raw_enum.variants)?;
            enums.push(EnumType {
                name,
                repr,
                doc: raw_enum.doc,
                variants,
            });
        }
        Ok(enums)
    }

    fn variants(
        &self,
        enum_name: &str,
        repr: ScalarType,
        raw: Spanned<Vec<RawVariant>>,
    ) -> Result<Vec<EnumVariant>, IdlError> {
        if raw.get_ref().is_empty() {
            return Err(self.at(
                &raw,
                format!("enum `{enum_name}` has no variants"),
                "add at least one `{ name = \"...\", value = 1 }`",
            ));
        }
        let max = (1u64 << (8 * repr.size())) - 1;
        let mut variants: Vec<(EnumVariant, usize)> = Vec::new();
        for variant in raw.into_inner() {
            let name = variant.name.get_ref().clone();
            let line = self.line_of(variant.name.span().start);
            if !is_upper_camel(&name) {
                return Err(self.at(
                    &variant.name,
                    format!("variant name `{name}` of enum `{enum_name}` is not UpperCamelCase"),
                    "name variants like `Ballast` or `TimedOut`",
                ));
            }
            if let Some((_, first)) = variants.iter().find(|(v, _)| v.name == name) {
                return Err(self.at(
                    &variant.name,
                    format!(
                        "duplicate variant `{name}` in enum `{enum_name}` (first declared at line {first})"
                    ),
                    "give every variant its own name",
                ));
            }
            let value = match *variant.value.get_ref() {
                0 => {
                    return Err(self.at(
                        &variant.value,
                        format!("variant `{enum_name}::{name}` has value 0, which is reserved"),
                        "number variants from 1: zeroed bytes must never decode as a variant",
                    ))
                }
                v if v < 0 || v as u64 > max => {
                    return Err(self.at(
                        &variant.value,
                        format!(
                            "variant `{enum_name}::{name}` has value {v}, outside 1..={max} (its repr `{}`)",
                            repr_name(repr)
                        ),
                        "pick a value the repr holds, or widen the repr",
                    ))
                }
                v => v as u32,
            };
            if let Some((other, other_line)) = variants.iter().find(|(v, _)| v.value == value) {
                return Err(self.at(
                    &variant.value,
                    format!(
                        "value {value} of `{enum_name}::{name}` is already used by `{}` (line {other_line})",
                        other.name
                    ),
                    "give every variant its own value; values are the ABI and are never reused",
                ));
            }
            variants.push((
                EnumVariant {
                    name,
                    value,
                    doc: variant.doc,
                },
                line,
            ));
        }
        Ok(variants.into_iter().map(|(variant, _)| variant).collect())
    }

    fn ops(
        &self,
        iface: &Spanned<String>,
        raw: Vec<RawOp>,
        enums: &[EnumType],
    ) -> Result<Vec<Op>, IdlError> {
        if raw.is_empty() {
            return Err(self.at(
                iface,
                format!("interface `{}` declares no ops", iface.get_ref()),
                "add at least one `[[op]]` table",
            ));
        }
        let mut seen_names: HashMap<String, usize> = HashMap::new();
        let mut seen_ids: HashMap<u16, (String, usize)> = HashMap::new();
        let mut ops = Vec::new();
        for op in raw {
            let name = op.name.get_ref().clone();
            let line = self.line_of(op.name.span().start);
            self.check_snake(&op.name, "op")?;
            if let Some(first) = seen_names.insert(name.clone(), line) {
                return Err(self.at(
                    &op.name,
                    format!("duplicate op name `{name}` (first declared at line {first})"),
                    "give every op its own name",
                ));
            }
            let id = match u16::try_from(*op.id.get_ref()) {
                Ok(id) if id != 0 => id,
                _ => {
                    return Err(self.at(
                        &op.id,
                        format!("op `{name}` has id {}, outside 1..=65535", op.id.get_ref()),
                        "op ids are 1..=65535 (0 is reserved); never reuse or renumber one",
                    ))
                }
            };
            if let Some((other, other_line)) = seen_ids.insert(id, (name.clone(), line)) {
                return Err(self.at(
                    &op.id,
                    format!("duplicate op id {id}: `{name}` and `{other}` (line {other_line})"),
                    "give every op its own id; ids are the ABI and are never reused",
                ));
            }
            let capability = op.capability.get_ref();
            if !is_capability(capability) {
                return Err(self.at(
                    &op.capability,
                    format!(
                        "capability `{capability}` of op `{name}` is not a valid capability name"
                    ),
                    "use lowercase words joined by `.`, `_` or `-`, e.g. `balloon.alloc`",
                ));
            }
            let args = self.fields(&name, "argument", op.args, enums)?;
            let lease = match op.lease {
                Some(lease) => Some(self.lease(&name, lease)?),
                None => None,
            };
            if let Some(lease) = &lease {
                if args.iter().any(|arg| arg.name == lease.name) {
                    return Err(self.at(
                        &op.name,
                        format!(
                            "op `{name}` has an argument and a lease both named `{}`",
                            lease.name
                        ),
                        "rename the lease or the argument",
                    ));
                }
            }
            let reply = self.fields(&name, "reply field", op.reply, enums)?;
            for (what, fields) in [("request", &args), ("reply", &reply)] {
                let size = layout(fields).size;
                if size > MAX_BODY_BYTES {
                    return Err(self.at(
                        &op.name,
                        format!(
                            "the {what} body of op `{name}` is {size} bytes, over the {MAX_BODY_BYTES}-byte limit"
                        ),
                        "move bulk data into a lease",
                    ));
                }
            }
            ops.push(Op {
                name,
                id,
                capability: capability.clone(),
                doc: op.doc,
                args,
                lease,
                reply,
            });
        }
        Ok(ops)
    }

    fn fields(
        &self,
        op: &str,
        what: &str,
        raw: Vec<RawField>,
        enums: &[EnumType],
    ) -> Result<Vec<Field>, IdlError> {
        let mut fields: Vec<Field> = Vec::new();
        for field in raw {
            self.check_snake(&field.name, what)?;
            let name = field.name.get_ref().clone();
            if fields.iter().any(|f| f.name == name) {
                return Err(self.at(
                    &field.name,
                    format!("op `{op}` has two {what}s named `{name}`"),
                    format!("give every {what} of an op its own name"),
                ));
            }
            let type_name = field.ty.get_ref();
            let ty = if let Some(scalar) = ScalarType::from_name(type_name) {
                FieldType::Scalar(scalar)
            } else if let Some(declared) = enums.iter().find(|e| &e.name == type_name) {
                FieldType::Enum {
                    name: declared.name.clone(),
                    repr: declared.repr,
                }
            } else {
                let declared: Vec<&str> = enums.iter().map(|e| e.name.as_str()).collect();
                let enums = if declared.is_empty() {
                    String::new()
                } else {
                    format!(" or an enum of this file ({})", declared.join(", "))
                };
                return Err(self.at(
                    &field.ty,
                    format!("unknown type `{type_name}` for {what} `{name}` of op `{op}`"),
                    format!(
                        "use one of {}{enums}; bulk data travels in a lease",
                        ScalarType::NAMES
                    ),
                ));
            };
            fields.push(Field {
                name,
                ty,
                doc: field.doc,
            });
        }
        Ok(fields)
    }

    fn lease(&self, op: &str, raw: RawLease) -> Result<Lease, IdlError> {
        self.check_snake(&raw.name, "lease")?;
        let access = match raw.access.get_ref().as_str() {
            "read" => LeaseMode::Read,
            "read-write" => LeaseMode::ReadWrite,
            other => {
                return Err(self.at(
                    &raw.access,
                    format!("unknown lease access `{other}` in op `{op}`"),
                    "use `read` or `read-write`",
                ))
            }
        };
        Ok(Lease {
            name: raw.name.into_inner(),
            access,
            doc: raw.doc,
        })
    }

    fn check_snake(&self, name: &Spanned<String>, what: &str) -> Result<(), IdlError> {
        let text = name.get_ref();
        if !is_snake(text) {
            return Err(self.at(
                name,
                format!("{what} name `{text}` is not snake_case"),
                "use lowercase letters, digits and `_`, starting with a letter",
            ));
        }
        if RUST_KEYWORDS.contains(&text.as_str()) || GENERATOR_NAMES.contains(&text.as_str()) {
            return Err(self.at(
                name,
                format!("{what} name `{text}` is reserved"),
                format!(
                    "pick another name: Rust keywords and {} are taken by the generated code",
                    GENERATOR_NAMES.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The Rust names the generator gives its own types for interface `iface` with ops `ops`.
fn generated_type_names(iface: &str, ops: &[RawOp]) -> Vec<String> {
    let mut names: Vec<String> = ["Error", "Op", "Client", "DeferredClient", "Server"]
        .iter()
        .map(|suffix| format!("{iface}{suffix}"))
        .collect();
    for op in ops {
        let camel: String = op
            .name
            .get_ref()
            .split('_')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        for suffix in ["Request", "Reply", "ReplyBody", "Responder"] {
            names.push(format!("{camel}{suffix}"));
        }
    }
    names
}

fn repr_name(repr: ScalarType) -> &'static str {
    match repr {
        ScalarType::U8 => "u8",
        ScalarType::U16 => "u16",
        ScalarType::U32 => "u32",
        ScalarType::U64 => "u64",
        ScalarType::Bool => "bool",
    }
}

/// The text between the backticks that follow `prefix` at the start of `message`.
fn backticked<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    message
        .strip_prefix(prefix)?
        .strip_prefix('`')?
        .split('`')
        .next()
}

fn is_upper_camel(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

fn is_snake(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_capability(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}
