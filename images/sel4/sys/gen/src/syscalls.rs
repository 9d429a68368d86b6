//! The system call list (`libsel4/include/api/syscall.xml`): the API calls, then the debug and
//! benchmark ones, numbered -1, -2, ... in that order whatever their conditions, as
//! `syscall_header_gen.py` numbers libsel4's `seL4_Syscall_ID` (a call whose condition fails keeps
//! its number; the kernel just does not serve it).

use crate::condition::{self, ExpressionError};
use crate::config::Config;
use crate::interface::XmlError;

/// One system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    /// The name after `seL4_Sys` (`Call`, `DebugPutChar`).
    pub name: String,
    /// The number passed in x7.
    pub number: i64,
    /// Whether the kernel of this configuration serves it.
    pub available: bool,
}

/// Reads and numbers the system calls of `xml` for `config`.
pub fn parse(xml: &str, config: &Config) -> Result<Vec<Syscall>, SyscallError> {
    let document =
        roxmltree::Document::parse(xml).map_err(|e| XmlError::Malformed(e.to_string()))?;
    let mut syscalls = Vec::new();
    for section in ["api", "debug"] {
        let Some(section) = document.descendants().find(|n| n.has_tag_name(section)) else {
            continue;
        };
        for group in section.children().filter(|n| n.has_tag_name("config")) {
            let available = condition::holds(group.attribute("condition").unwrap_or(""), config)?;
            for syscall in group.children().filter(|n| n.has_tag_name("syscall")) {
                let name = syscall
                    .attribute("name")
                    .ok_or(XmlError::MissingAttribute {
                        element: "syscall",
                        attribute: "name",
                    })?;
                let number = -1 - i64::try_from(syscalls.len()).unwrap_or(i64::MAX - 1);
                syscalls.push(Syscall {
                    name: name.to_owned(),
                    number,
                    available,
                });
            }
        }
    }
    if syscalls.is_empty() {
        return Err(SyscallError::Empty);
    }
    Ok(syscalls)
}

/// Why the system call list could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyscallError {
    Xml(XmlError),
    Condition(ExpressionError),
    /// No `<syscall>` at all.
    Empty,
}

impl From<XmlError> for SyscallError {
    fn from(error: XmlError) -> Self {
        Self::Xml(error)
    }
}

impl From<ExpressionError> for SyscallError {
    fn from(error: ExpressionError) -> Self {
        Self::Condition(error)
    }
}

impl std::fmt::Display for SyscallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Xml(error) => error.fmt(f),
            Self::Condition(error) => error.fmt(f),
            Self::Empty => f.write_str("no <syscall> elements"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_then_debug_calls_count_down_from_minus_one_whatever_their_condition() {
        let xml = r#"<syscalls><api><config><syscall name="Call"/><syscall name="ReplyRecv"/></config></api>
            <debug><config condition="defined CONFIG_DEBUG_BUILD"><syscall name="DebugPutChar"/></config>
            <config condition="defined CONFIG_ENABLE_BENCHMARKS"><syscall name="BenchmarkFlushCaches"/></config>
            <config condition="defined CONFIG_DEBUG_BUILD"><syscall name="DebugNameThread"/></config></debug></syscalls>"#;
        let config = Config::parse("#define CONFIG_DEBUG_BUILD 1\n");
        let numbered: Vec<(String, i64, bool)> = parse(xml, &config)
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.number, s.available))
            .collect();
        assert_eq!(
            numbered,
            [
                ("Call".into(), -1, true),
                ("ReplyRecv".into(), -2, true),
                ("DebugPutChar".into(), -3, true),
                ("BenchmarkFlushCaches".into(), -4, false),
                ("DebugNameThread".into(), -5, true),
            ]
        );
    }

    #[test]
    fn an_empty_list_is_an_error() {
        assert_eq!(
            parse("<syscalls/>", &Config::default()),
            Err(SyscallError::Empty)
        );
    }
}
