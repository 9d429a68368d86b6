//! Enumerators and integer `#define`s of libsel4's C headers (object types, errors, initial CNode
//! slots, object sizes), read as the C compiler reads them for one configuration: comments dropped, `#if`/`#ifdef`/`#ifndef`/`#elif`/
//! `#else` blocks kept or dropped by that configuration, each `enum { ... }` body numbered from 0
//! (or from an explicit value, which may name an enumerator of an earlier header, as the
//! architecture's object types start at the generic ones' count).

use crate::condition::{self, ExpressionError, Symbols};
use crate::config::Config;
use std::fmt;

/// One enumerator and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enumerator {
    pub name: String,
    pub value: i64,
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// An `#if` or an enumerator value that does not evaluate.
    Expression(ExpressionError),
    /// `#else`, `#elif` or `#endif` without its `#if`, or an `#if` never closed.
    UnbalancedConditional,
    /// An `enum {` whose `}` is missing.
    UnterminatedEnum,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Expression(error) => error.fmt(f),
            Self::UnbalancedConditional => f.write_str("unbalanced #if/#else/#endif"),
            Self::UnterminatedEnum => f.write_str("an enum body has no closing brace"),
        }
    }
}

impl From<ExpressionError> for HeaderError {
    fn from(error: ExpressionError) -> Self {
        Self::Expression(error)
    }
}

/// The enumerators of every `enum` in `header`, in order. `earlier` are enumerators of headers
/// read before (their names may start a numbering here).
pub fn enumerators(
    header: &str,
    config: &Config,
    earlier: &[Enumerator],
) -> Result<Vec<Enumerator>, HeaderError> {
    let (code, _) = preprocess(&strip_comments(header), config)?;
    let mut found: Vec<Enumerator> = Vec::new();
    let mut rest = code.as_str();
    while let Some(body) = next_enum_body(&mut rest)? {
        let mut next = 0_i64;
        for item in body
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            if item.starts_with("SEL4_FORCE_LONG_ENUM") {
                continue;
            }
            let (name, value) = match item.split_once('=') {
                Some((name, expression)) => {
                    let scope = Scope {
                        config,
                        earlier,
                        found: &found,
                    };
                    (name.trim(), condition::evaluate(expression, &scope)?)
                }
                None => (item, next),
            };
            found.push(Enumerator {
                name: name.to_owned(),
                value,
            });
            next = value.wrapping_add(1);
        }
    }
    Ok(found)
}

/// The `#define NAME <integer>` lines of `header` that the configuration keeps, in order.
pub fn integer_defines(header: &str, config: &Config) -> Result<Vec<Enumerator>, HeaderError> {
    Ok(preprocess(&strip_comments(header), config)?.1)
}

/// Names in an enumerator's value: enumerators seen so far, then the configuration.
struct Scope<'a> {
    config: &'a Config,
    earlier: &'a [Enumerator],
    found: &'a [Enumerator],
}

impl Symbols for Scope<'_> {
    fn is_defined(&self, name: &str) -> bool {
        self.config.is_defined(name)
    }

    fn value(&self, name: &str) -> Result<i64, ExpressionError> {
        self.found
            .iter()
            .rev()
            .chain(self.earlier.iter().rev())
            .find(|enumerator| enumerator.name == name)
            .map(|enumerator| enumerator.value)
            .or_else(|| self.config.number(name))
            .ok_or_else(|| ExpressionError::NotANumber {
                name: name.to_owned(),
            })
    }
}

fn strip_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    loop {
        let block = rest.find("/*");
        let line = rest.find("//");
        match (block, line) {
            (Some(b), l) if l.is_none_or(|l| b < l) => {
                out.push_str(&rest[..b]);
                out.push(' ');
                rest = rest[b + 2..]
                    .find("*/")
                    .map_or("", |end| &rest[b + 2 + end + 2..]);
            }
            (_, Some(l)) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |end| &rest[l + end..]);
            }
            (None, None) => {
                out.push_str(rest);
                return out;
            }
            (Some(_), None) => unreachable!("covered by the first arm"),
        }
    }
}

/// One open `#if` group: whether the enclosing group is live, whether a branch of this group was
/// already taken, whether the current branch is live.
struct Group {
    outer_live: bool,
    taken: bool,
    live: bool,
}

/// The code the configuration keeps, and the integer `#define`s among its directives.
fn preprocess(source: &str, config: &Config) -> Result<(String, Vec<Enumerator>), HeaderError> {
    let joined = source.replace("\\\n", " ");
    let mut groups: Vec<Group> = Vec::new();
    let mut out = String::new();
    let mut defines = Vec::new();
    for line in joined.lines() {
        let live = groups.last().is_none_or(|group| group.live);
        let Some(directive) = line.trim_start().strip_prefix('#') else {
            if live {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        };
        let directive = directive.trim_start();
        let (keyword, argument) = directive
            .split_once(char::is_whitespace)
            .unwrap_or((directive, ""));
        let argument = argument.trim();
        match keyword {
            "if" | "ifdef" | "ifndef" => {
                let holds = live
                    && match keyword {
                        "ifdef" => config.is_defined(argument),
                        "ifndef" => !config.is_defined(argument),
                        _ => condition::holds(argument, config)?,
                    };
                groups.push(Group {
                    outer_live: live,
                    taken: holds,
                    live: holds,
                });
            }
            "elif" => {
                let group = groups
                    .last_mut()
                    .ok_or(HeaderError::UnbalancedConditional)?;
                let holds = group.outer_live && !group.taken && condition::holds(argument, config)?;
                group.live = holds;
                group.taken |= holds;
            }
            "else" => {
                let group = groups
                    .last_mut()
                    .ok_or(HeaderError::UnbalancedConditional)?;
                group.live = group.outer_live && !group.taken;
                group.taken = true;
            }
            "endif" => {
                groups.pop().ok_or(HeaderError::UnbalancedConditional)?;
            }
            "define" if live => {
                let (name, value) = argument
                    .split_once(char::is_whitespace)
                    .unwrap_or((argument, ""));
                if let Some(value) = crate::config::parse_integer(value) {
                    defines.push(Enumerator {
                        name: name.to_owned(),
                        value,
                    });
                }
            }
            _ => {}
        }
    }
    if groups.is_empty() {
        Ok((out, defines))
    } else {
        Err(HeaderError::UnbalancedConditional)
    }
}

/// Finds the next `enum [name] {`, returns its body and moves `rest` past its closing brace.
fn next_enum_body<'a>(rest: &mut &'a str) -> Result<Option<&'a str>, HeaderError> {
    loop {
        let Some(at) = rest.find("enum") else {
            return Ok(None);
        };
        let before_is_word = rest[..at]
            .chars()
            .next_back()
            .is_some_and(is_identifier_char);
        let after = &rest[at + 4..];
        let after_is_word = after.chars().next().is_some_and(is_identifier_char);
        if before_is_word || after_is_word {
            *rest = after;
            continue;
        }
        let head = after.trim_start();
        let head = head.trim_start_matches(is_identifier_char).trim_start();
        let Some(body_and_more) = head.strip_prefix('{') else {
            *rest = after;
            continue;
        };
        let end = body_and_more
            .find('}')
            .ok_or(HeaderError::UnterminatedEnum)?;
        *rest = &body_and_more[end + 1..];
        return Ok(Some(&body_and_more[..end]));
    }
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECT_TYPES: &str = "
#ifndef GUARD_H
#define GUARD_H
/* comment with enum { in it } */
typedef enum _object {
    seL4_ARM_SmallPageObject = seL4_ModeObjectTypeCount,
    seL4_ARM_LargePageObject, // trailing
#ifdef CONFIG_ARCH_AARCH32
    seL4_ARM_SectionObject,
#endif
    seL4_ARM_PageTableObject,
#if defined(CONFIG_ARM_SMMU)
    seL4_ARM_IOPageTableObject,
#else
    seL4_ARM_NoIOPageTable,
#endif
    seL4_ObjectTypeCount
} seL4_ArchObjectType;
typedef seL4_Word object_t;
#endif
";

    fn names_and_values(found: &[Enumerator]) -> Vec<(&str, i64)> {
        found.iter().map(|e| (e.name.as_str(), e.value)).collect()
    }

    #[test]
    fn conditional_enumerators_follow_the_configuration_and_numbering_chains_from_earlier_headers()
    {
        let earlier = [Enumerator {
            name: "seL4_ModeObjectTypeCount".into(),
            value: 8,
        }];
        let found = enumerators(OBJECT_TYPES, &Config::default(), &earlier).unwrap();
        assert_eq!(
            names_and_values(&found),
            [
                ("seL4_ARM_SmallPageObject", 8),
                ("seL4_ARM_LargePageObject", 9),
                ("seL4_ARM_PageTableObject", 10),
                ("seL4_ARM_NoIOPageTable", 11),
                ("seL4_ObjectTypeCount", 12)
            ]
        );
        let aarch32 = Config::parse("#define CONFIG_ARCH_AARCH32 1\n#define CONFIG_ARM_SMMU 1\n");
        let found = enumerators(OBJECT_TYPES, &aarch32, &earlier).unwrap();
        assert_eq!(
            found[2],
            Enumerator {
                name: "seL4_ARM_SectionObject".into(),
                value: 10
            }
        );
        assert_eq!(
            found[4],
            Enumerator {
                name: "seL4_ARM_IOPageTableObject".into(),
                value: 12
            }
        );
    }

    #[test]
    fn values_may_be_expressions_over_the_configuration_and_earlier_enumerators() {
        let header = "enum { a = -1, b = 0, c = CONFIG_NUM_PRIORITIES - 1, d = b, e, SEL4_FORCE_LONG_ENUM(x), };";
        let config = Config::parse("#define CONFIG_NUM_PRIORITIES 256\n");
        let found = enumerators(header, &config, &[]).unwrap();
        assert_eq!(
            names_and_values(&found),
            [("a", -1), ("b", 0), ("c", 255), ("d", 0), ("e", 1)]
        );
    }

    #[test]
    fn broken_headers_are_errors() {
        let config = Config::default();
        assert_eq!(
            enumerators("#if 1\nenum { a };\n", &config, &[]),
            Err(HeaderError::UnbalancedConditional)
        );
        assert_eq!(
            enumerators("#endif\n", &config, &[]),
            Err(HeaderError::UnbalancedConditional)
        );
        assert_eq!(
            enumerators("enum { a, b", &config, &[]),
            Err(HeaderError::UnterminatedEnum)
        );
        assert!(matches!(
            enumerators("enum { a = unknown_name };", &config, &[]),
            Err(HeaderError::Expression(ExpressionError::NotANumber { .. }))
        ));
    }

    #[test]
    fn integer_defines_of_live_sections_are_kept_and_others_dropped() {
        let header = "#define seL4_PageBits 12\n#define seL4_WordBits (sizeof(seL4_Word) * 8)\n\
                      #ifdef CONFIG_ENABLE_BENCHMARKS\n#define seL4_LogBits 20\n#endif\n\
                      #define seL4_MaxUntypedBits 47 /* comment */\n";
        let found = integer_defines(header, &Config::default()).unwrap();
        assert_eq!(
            names_and_values(&found),
            [("seL4_PageBits", 12), ("seL4_MaxUntypedBits", 47)]
        );
    }

    #[test]
    fn identifiers_containing_enum_are_not_enums() {
        let header = "int enumerate; enum_t x = { 1 }; enum tag { only };";
        let found = enumerators(header, &Config::default(), &[]).unwrap();
        assert_eq!(names_and_values(&found), [("only", 0)]);
    }
}
