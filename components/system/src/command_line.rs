//! The guest command line every image boots with, e.g. `scenario=balloon target_mib=512`: words
//! separated by ASCII whitespace, each a `key=value` pair or a bare word. The static images read
//! it from their boot protocol (a device tree's `/chosen/bootargs`, a PVH start info), seL4's
//! protection domains from their boot-info page; all of them ask it through [`CommandLine`].

use core::str::FromStr;

/// Why a command-line value was refused. C-like, zero reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CommandLineError {
    /// The key's value does not parse as the type asked for.
    BadValue = 1,
}

impl CommandLineError {
    /// A one-line explanation, for logs.
    pub const fn describe(self) -> &'static str {
        match self {
            CommandLineError::BadValue => "a command-line value does not parse as its type",
        }
    }
}

impl core::fmt::Display for CommandLineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}

/// A guest command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandLine<'a> {
    text: &'a str,
}

impl<'a> CommandLine<'a> {
    /// The command line `text`.
    pub const fn new(text: &'a str) -> CommandLine<'a> {
        CommandLine { text }
    }

    /// The whole text, as given.
    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    /// The `key=value` words, in order (a word splits at its first `=`; bare words are skipped).
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.text
            .split_ascii_whitespace()
            .filter_map(|word| word.split_once('='))
    }

    /// The value of the first `key=value` word, if there is one.
    pub fn value(&self, key: &str) -> Option<&'a str> {
        self.pairs()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value)
    }

    /// The value of `key` parsed as a `T`: `None` if the key is absent, an error if its value is
    /// not a `T`.
    pub fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, CommandLineError> {
        self.value(key)
            .map(|value| value.parse().map_err(|_| CommandLineError::BadValue))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_pair_of_a_key_gives_its_value_and_bare_words_are_skipped() {
        let line = CommandLine::new("  quiet scenario=balloon\ttarget_mib=512 scenario=smoke ");
        assert_eq!(line.value("scenario"), Some("balloon"));
        assert_eq!(line.value("target_mib"), Some("512"));
        assert_eq!(line.value("quiet"), None);
        assert_eq!(line.value("scen"), None, "a key matches whole");
        assert!(line.pairs().eq([
            ("scenario", "balloon"),
            ("target_mib", "512"),
            ("scenario", "smoke")
        ]));
        assert_eq!(CommandLine::new("").pairs().count(), 0);
    }

    #[test]
    fn a_value_keeps_every_equals_sign_after_the_first_and_may_be_empty() {
        let line = CommandLine::new("log=port_e9 opts=a=b empty=");
        assert_eq!(line.value("log"), Some("port_e9"));
        assert_eq!(line.value("opts"), Some("a=b"));
        assert_eq!(line.value("empty"), Some(""));
    }

    #[test]
    fn a_typed_value_is_absent_parsed_or_refused() {
        let line = CommandLine::new("target_mib=512 scenario=balloon big=99999999999999999999");
        assert_eq!(line.parse::<u64>("target_mib"), Ok(Some(512)));
        assert_eq!(line.parse::<u64>("missing"), Ok(None));
        assert_eq!(
            line.parse::<u64>("scenario"),
            Err(CommandLineError::BadValue)
        );
        assert_eq!(line.parse::<u64>("big"), Err(CommandLineError::BadValue));
        assert_eq!(
            line.as_str(),
            "target_mib=512 scenario=balloon big=99999999999999999999"
        );
    }
}
