//! The checked model of an interface: what the parser produces and the generator consumes.

use std::path::PathBuf;

/// One IPC interface, as declared by one `.idol` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// UpperCamelCase name, e.g. `Balloon`.
    pub name: String,
    /// Numeric interface id carried in every message header (nonzero).
    pub id: u16,
    /// Interface version carried in every message header (nonzero).
    pub version: u16,
    /// What the interface is for.
    pub doc: String,
    /// The interface's error enum, in file order.
    pub errors: Vec<ErrorVariant>,
    /// The enum types its arguments and replies may use, in file order.
    pub enums: Vec<EnumType>,
    /// The operations, in file order (ids, not order, are the ABI).
    pub ops: Vec<Op>,
    /// The file it was read from.
    pub source: PathBuf,
}

impl Interface {
    /// The variant a client sees when the server died or restarted during a call (a checked
    /// interface has exactly one).
    pub fn server_died_variant(&self) -> Option<&ErrorVariant> {
        self.errors.iter().find(|variant| variant.server_died)
    }
}

/// One variant of an interface's error enum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorVariant {
    /// UpperCamelCase name.
    pub name: String,
    /// Wire value: 1..=0x7fff (0 means ok; 0x8000 and up are protocol errors).
    pub value: u16,
    /// What it means.
    pub doc: String,
    /// Whether this is the variant reporting a server that died or restarted (exactly one is).
    pub server_died: bool,
}

/// A C-like enum type arguments and reply fields may have: on the wire its integer, checked on
/// arrival (an unknown value is refused, never trusted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumType {
    /// UpperCamelCase name, the Rust type's.
    pub name: String,
    /// The integer it travels as: `u8`, `u16` or `u32`.
    pub repr: ScalarType,
    /// What it means.
    pub doc: String,
    /// The variants, in file order.
    pub variants: Vec<EnumVariant>,
}

/// One variant of an [`EnumType`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumVariant {
    /// UpperCamelCase name.
    pub name: String,
    /// Wire value: nonzero (0 is reserved, so that zeroed bytes never decode) and within the repr.
    pub value: u32,
    /// What it means.
    pub doc: String,
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// snake_case name.
    pub name: String,
    /// Numeric op id carried in the request header (nonzero, unique in the interface).
    pub id: u16,
    /// The capability a caller needs, as manifests name it (e.g. `balloon.alloc`).
    pub capability: String,
    /// What it does.
    pub doc: String,
    /// Arguments, in declared order (the wire layout follows this order).
    pub args: Vec<Field>,
    /// The lease the caller attaches, if the op takes one.
    pub lease: Option<Lease>,
    /// Reply fields, in declared order; empty for an op that only reports success.
    pub reply: Vec<Field>,
}

/// A named scalar (an argument or a reply field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// snake_case name.
    pub name: String,
    /// Its type: a scalar or one of the interface's enums.
    pub ty: FieldType,
    /// What it means.
    pub doc: String,
}

/// The type of an argument or reply field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// A scalar from the closed set.
    Scalar(ScalarType),
    /// One of the interface's enums, by name, and the integer it travels as.
    Enum {
        /// The enum's name.
        name: String,
        /// Its repr.
        repr: ScalarType,
    },
}

impl FieldType {
    /// Size on the wire, which is also its alignment.
    pub const fn size(&self) -> usize {
        match self {
            FieldType::Scalar(scalar) => scalar.size(),
            FieldType::Enum { repr, .. } => repr.size(),
        }
    }
}

/// The closed set of scalar types an argument or reply field may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarType {
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `bool`, one byte on the wire (0 or 1; anything else is a protocol error).
    Bool,
}

impl ScalarType {
    /// The spellings accepted in `.idol` files.
    pub const NAMES: &'static str = "u8, u16, u32, u64, bool";

    /// Parses an `.idol` type name.
    pub fn from_name(name: &str) -> Option<ScalarType> {
        match name {
            "u8" => Some(ScalarType::U8),
            "u16" => Some(ScalarType::U16),
            "u32" => Some(ScalarType::U32),
            "u64" => Some(ScalarType::U64),
            "bool" => Some(ScalarType::Bool),
            _ => None,
        }
    }

    /// Size on the wire, which is also its alignment.
    pub const fn size(self) -> usize {
        match self {
            ScalarType::U8 | ScalarType::Bool => 1,
            ScalarType::U16 => 2,
            ScalarType::U32 => 4,
            ScalarType::U64 => 8,
        }
    }
}

/// A lease an op takes: a window of a caller's shared region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// snake_case name (the server method's parameter).
    pub name: String,
    /// What the server may do with the bytes.
    pub access: LeaseMode,
    /// What the bytes hold.
    pub doc: String,
}

/// Access a server gets to a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseMode {
    /// The server reads the bytes (`&[u8]`).
    Read,
    /// The server reads and writes the bytes (`&mut [u8]`); the caller's descriptor must be writable.
    ReadWrite,
}
