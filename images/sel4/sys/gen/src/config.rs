//! The kernel configuration: the `#define CONFIG_...` lines of the platform's `autoconf.h`
//! (5.0's standalone build takes it from `include/plat/<platform>/autoconf.h`). Method
//! conditions in the interface XML and `#if` blocks in libsel4's headers are decided by it, as the
//! C preprocessor decides them when libsel4 is built for that kernel.

use std::collections::BTreeMap;

/// One configuration's defines, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    defines: BTreeMap<String, Define>,
}

/// What a `#define` gives its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Define {
    /// An integer (decimal or hexadecimal; `1` for a bare `#define NAME`).
    Number(i64),
    /// Anything else (a string, a flag list).
    Text(String),
}

impl Config {
    /// Reads the `#define` lines of an `autoconf.h`; other lines are ignored.
    pub fn parse(autoconf: &str) -> Self {
        let mut defines = BTreeMap::new();
        for line in autoconf.lines() {
            let mut tokens = line.trim().splitn(2, char::is_whitespace);
            if tokens.next() != Some("#define") {
                continue;
            }
            let rest = tokens.next().unwrap_or("").trim();
            let mut parts = rest.splitn(2, char::is_whitespace);
            let Some(name) = parts.next().filter(|name| !name.is_empty()) else {
                continue;
            };
            let value = parts.next().unwrap_or("").trim();
            let define = if value.is_empty() {
                Define::Number(1)
            } else {
                parse_integer(value).map_or_else(|| Define::Text(value.to_owned()), Define::Number)
            };
            defines.insert(name.to_owned(), define);
        }
        Self { defines }
    }

    /// Whether `name` is defined.
    pub fn is_defined(&self, name: &str) -> bool {
        self.defines.contains_key(name)
    }

    /// The value of `name`, if it is defined as an integer.
    pub fn number(&self, name: &str) -> Option<i64> {
        match self.defines.get(name) {
            Some(Define::Number(value)) => Some(*value),
            _ => None,
        }
    }

    /// What `name` is defined as.
    pub fn define(&self, name: &str) -> Option<&Define> {
        self.defines.get(name)
    }
}

/// A C integer literal: decimal or `0x` hexadecimal, with any `u`/`l` suffix.
pub fn parse_integer(text: &str) -> Option<i64> {
    let digits = text.trim().trim_end_matches(['u', 'U', 'l', 'L']);
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()
    } else {
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defines_are_numbers_or_text_and_bare_defines_are_one() {
        let config = Config::parse(
            "#define AUTOCONF_INCLUDED\n#define CONFIG_MAX_NUM_NODES 1\n\
             #define CONFIG_RESET_CHUNK_BITS 0x8\n#define CONFIG_KERNEL_CFLAGS \"-O2\"\nint x;\n",
        );
        assert_eq!(config.number("AUTOCONF_INCLUDED"), Some(1));
        assert_eq!(config.number("CONFIG_MAX_NUM_NODES"), Some(1));
        assert_eq!(config.number("CONFIG_RESET_CHUNK_BITS"), Some(8));
        assert_eq!(
            config.define("CONFIG_KERNEL_CFLAGS"),
            Some(&Define::Text("\"-O2\"".into()))
        );
        assert!(!config.is_defined("CONFIG_ARM_SMMU"));
    }

    #[test]
    fn integer_literals_take_suffixes_and_hex() {
        assert_eq!(parse_integer("12ul"), Some(12));
        assert_eq!(parse_integer("0xfffe"), Some(0xfffe));
        assert_eq!(parse_integer("-1"), Some(-1));
        assert_eq!(parse_integer("seL4_Foo"), None);
    }
}
