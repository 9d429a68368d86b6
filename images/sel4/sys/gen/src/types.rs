//! The parameter types of the interface XML for aarch64 (64-bit words), sized as
//! `syscall_stub_gen.py` sizes them, and the Rust type each becomes.

use crate::interface::Api;

/// Bits in an aarch64 word.
pub const WORD_BITS: u32 = 64;

/// How a parameter type travels and what Rust type stands for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An integer packed into `bits` bits.
    Integer {
        bits: u32,
        rust: &'static str,
        signed: bool,
    },
    /// `seL4_Bool`: one bit.
    Bool,
    /// A one-word bitfield or attribute type with `word()` and `from_word()`.
    Word { rust: &'static str },
    /// A capability: travels as an extra cap, not in a message register.
    Cap,
    /// A structure passed by reference, one word per member.
    Struct { rust: String, members: Vec<String> },
}

impl Kind {
    /// Bits the parameter takes in the message.
    pub fn size_bits(&self) -> u32 {
        match self {
            Self::Integer { bits, .. } => *bits,
            Self::Bool => 1,
            Self::Word { .. } | Self::Cap => WORD_BITS,
            Self::Struct { members, .. } => {
                WORD_BITS * u32::try_from(members.len()).unwrap_or(u32::MAX / WORD_BITS)
            }
        }
    }

    /// Whether the C stub takes it by pointer (a structure larger than a word).
    pub fn by_reference(&self) -> bool {
        matches!(self, Self::Struct { .. })
    }
}

/// The kind of `type_name`, or `None` for a type the generator does not know (as the python
/// generator raises "Unknown type"). Any interface's own name is a capability type.
pub fn kind(type_name: &str, apis: &[Api]) -> Option<Kind> {
    let integer = |bits, rust, signed| Some(Kind::Integer { bits, rust, signed });
    match type_name {
        "int" => integer(32, "i32", true),
        "long" => integer(64, "i64", true),
        "seL4_Uint8" => integer(8, "u8", false),
        "seL4_Uint16" => integer(16, "u16", false),
        "seL4_Uint32" => integer(32, "u32", false),
        "seL4_Uint64" => integer(64, "u64", false),
        "seL4_Word" => integer(64, "Word", false),
        "seL4_Bool" => Some(Kind::Bool),
        "seL4_CapData_t" => Some(Kind::Word { rust: "CapData" }),
        "seL4_PrioProps_t" => Some(Kind::Word { rust: "PrioProps" }),
        "seL4_CapRights_t" => Some(Kind::Word { rust: "CapRights" }),
        "seL4_ARM_VMAttributes" => Some(Kind::Word {
            rust: "VmAttributes",
        }),
        _ if CAP_TYPES.contains(&type_name) => Some(Kind::Cap),
        _ => {
            if apis
                .iter()
                .flat_map(|api| &api.interfaces)
                .any(|i| i.name == type_name)
            {
                return Some(Kind::Cap);
            }
            apis.iter()
                .flat_map(|api| &api.structs)
                .find(|s| s.name == type_name)
                .map(|s| Kind::Struct {
                    rust: crate::names::camel(s.name.trim_start_matches("seL4_")),
                    members: s.members.clone(),
                })
        }
    }
}

/// The capability typedefs of libsel4 for aarch64.
const CAP_TYPES: &[&str] = &[
    "seL4_CPtr",
    "seL4_CNode",
    "seL4_IRQHandler",
    "seL4_IRQControl",
    "seL4_TCB",
    "seL4_Untyped",
    "seL4_DomainSet",
    "seL4_ARM_Page",
    "seL4_ARM_PageTable",
    "seL4_ARM_PageDirectory",
    "seL4_ARM_PageUpperDirectory",
    "seL4_ARM_PageGlobalDirectory",
    "seL4_ARM_ASIDControl",
    "seL4_ARM_ASIDPool",
    "seL4_ARM_IOSpace",
    "seL4_ARM_IOPageTable",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::{Interface, Struct};

    #[test]
    fn sizes_follow_the_python_generator_for_a_64_bit_word() {
        let apis = [];
        assert_eq!(kind("seL4_Uint8", &apis).unwrap().size_bits(), 8);
        assert_eq!(kind("int", &apis).unwrap().size_bits(), 32);
        assert_eq!(kind("seL4_Bool", &apis).unwrap().size_bits(), 1);
        assert_eq!(kind("seL4_CapRights_t", &apis).unwrap().size_bits(), 64);
        assert_eq!(kind("seL4_CNode", &apis), Some(Kind::Cap));
        assert_eq!(kind("seL4_Unknown", &apis), None);
    }

    #[test]
    fn interfaces_are_cap_types_and_xml_structs_are_passed_by_reference() {
        let apis = [Api {
            structs: vec![Struct {
                name: "seL4_UserContext".into(),
                members: vec!["pc".into(); 34],
            }],
            interfaces: vec![Interface {
                name: "seL4_ARM_NewThing".into(),
                methods: vec![],
            }],
        }];
        assert_eq!(kind("seL4_ARM_NewThing", &apis), Some(Kind::Cap));
        let context = kind("seL4_UserContext", &apis).unwrap();
        assert!(context.by_reference());
        assert_eq!(context.size_bits(), 34 * 64);
    }
}
