//! Where each parameter of an invocation goes, as `syscall_stub_gen.py` places it: capability
//! parameters after the invoked one become the extra caps, in order; the others are packed into
//! message words in order, each aligned to its own size or to a word, whichever is smaller, so
//! small values share a word (`seL4_Uint8` depth after a word index starts a new word; two
//! `seL4_Bool`s and a `seL4_Uint8` share one). Outputs are unpacked from the reply the same way.

use crate::interface::{Api, Direction, Method, Param};
use crate::types::{kind, Kind, WORD_BITS};
use std::fmt;

/// Where a parameter (or one word of a structure) sits in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The parameter's name in the XML.
    pub param: String,
    /// For a structure, the member this word holds.
    pub member: Option<String>,
    pub kind: Kind,
    /// Message word index.
    pub word: usize,
    /// Lowest bit within the word.
    pub offset: u32,
    /// Width in bits (a word for a structure member).
    pub bits: u32,
}

/// An invocation's message layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The capability parameters after the invoked capability, in extra-cap order.
    pub caps: Vec<Param>,
    /// The input message words; each holds one or more pieces.
    pub words: Vec<Vec<Piece>>,
    /// The output parameters' pieces (by-reference structures included).
    pub outputs: Vec<Piece>,
}

/// Why an invocation cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// A parameter type the generator does not know.
    UnknownType {
        method: String,
        param: String,
        type_name: String,
    },
    /// A size that is neither a power of two nor a multiple of the word.
    OddSize { method: String, param: String },
    /// More words than the IPC buffer holds, or more caps than a message carries.
    TooLarge { method: String },
    /// A capability as an output.
    CapOutput { method: String, param: String },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType {
                method,
                param,
                type_name,
            } => {
                write!(
                    f,
                    "{method}: parameter {param} has unknown type {type_name}"
                )
            }
            Self::OddSize { method, param } => {
                write!(
                    f,
                    "{method}: parameter {param} is neither a power of two nor whole words"
                )
            }
            Self::TooLarge { method } => {
                write!(
                    f,
                    "{method}: more message words or extra caps than seL4 carries"
                )
            }
            Self::CapOutput { method, param } => {
                write!(f, "{method}: output parameter {param} is a capability")
            }
        }
    }
}

/// seL4 5.0's `seL4_MsgMaxLength`.
pub const MESSAGE_MAX_WORDS: usize = 120;
/// seL4 5.0's `seL4_MsgMaxExtraCaps`.
pub const MESSAGE_MAX_EXTRA_CAPS: usize = 3;

/// Lays out `method` (of an interface in `apis`).
pub fn layout(method: &Method, apis: &[Api]) -> Result<Layout, LayoutError> {
    let typed = |param: &Param| {
        kind(&param.type_name, apis).ok_or_else(|| LayoutError::UnknownType {
            method: method.id.clone(),
            param: param.name.clone(),
            type_name: param.type_name.clone(),
        })
    };
    let mut caps = Vec::new();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for param in &method.params {
        let kind = typed(param)?;
        match (param.direction, &kind) {
            (Direction::In, Kind::Cap) => caps.push(param.clone()),
            (Direction::In, _) => inputs.push((param, kind)),
            (Direction::Out, Kind::Cap) => {
                return Err(LayoutError::CapOutput {
                    method: method.id.clone(),
                    param: param.name.clone(),
                })
            }
            (Direction::Out, _) => outputs.push((param, kind)),
        }
    }
    let input_pieces = place(&method.id, &inputs)?;
    let mut words: Vec<Vec<Piece>> = Vec::new();
    for piece in input_pieces {
        if words.len() <= piece.word {
            words.resize(piece.word + 1, Vec::new());
        }
        words[piece.word].push(piece);
    }
    words.retain(|word| !word.is_empty());
    if words.len() > MESSAGE_MAX_WORDS || caps.len() > MESSAGE_MAX_EXTRA_CAPS {
        return Err(LayoutError::TooLarge {
            method: method.id.clone(),
        });
    }
    let outputs = place(&method.id, &outputs)?;
    if outputs.iter().any(|piece| piece.word >= MESSAGE_MAX_WORDS) {
        return Err(LayoutError::TooLarge {
            method: method.id.clone(),
        });
    }
    Ok(Layout {
        caps,
        words,
        outputs,
    })
}

/// Places parameters one after another: each aligned up to its own size or a word, whichever is
/// smaller; a structure takes one whole word per member.
fn place(method: &str, params: &[(&Param, Kind)]) -> Result<Vec<Piece>, LayoutError> {
    let mut bits_used: u32 = 0;
    let mut pieces = Vec::new();
    for (param, kind) in params {
        let size = kind.size_bits();
        if !(size.is_power_of_two() || size % WORD_BITS == 0) {
            return Err(LayoutError::OddSize {
                method: method.into(),
                param: param.name.clone(),
            });
        }
        bits_used = bits_used.next_multiple_of(size.min(WORD_BITS));
        let word = usize::try_from(bits_used / WORD_BITS).unwrap_or(usize::MAX);
        let offset = bits_used % WORD_BITS;
        match kind {
            Kind::Struct { members, .. } => {
                for (index, member) in members.iter().enumerate() {
                    pieces.push(Piece {
                        param: param.name.clone(),
                        member: Some(member.clone()),
                        kind: kind.clone(),
                        word: word + index,
                        offset: 0,
                        bits: WORD_BITS,
                    });
                }
            }
            _ => pieces.push(Piece {
                param: param.name.clone(),
                member: None,
                kind: kind.clone(),
                word,
                offset,
                bits: size,
            }),
        }
        bits_used += size;
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::parse;

    fn method_with(params: &str) -> (Method, Vec<Api>) {
        let xml = format!(
            r#"<api><struct name="seL4_UserContext"><member name="pc"/><member name="sp"/></struct>
            <interface name="seL4_TCB"><method id="M" name="M">{params}</method></interface></api>"#
        );
        let api = parse(&xml).unwrap();
        (api.interfaces[0].methods[0].clone(), vec![api])
    }

    fn placement(layout: &Layout) -> Vec<Vec<(String, u32, u32)>> {
        layout
            .words
            .iter()
            .map(|word| {
                word.iter()
                    .map(|p| (p.param.clone(), p.offset, p.bits))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn small_values_share_a_word_and_a_word_value_starts_a_new_one() {
        let (method, apis) = method_with(
            r#"<param dir="in" name="a" type="seL4_Bool"/><param dir="in" name="b" type="seL4_Bool"/>
               <param dir="in" name="f" type="seL4_Uint8"/><param dir="in" name="n" type="seL4_Word"/>
               <param dir="in" name="d" type="seL4_Uint8"/>"#,
        );
        let layout = layout(&method, &apis).unwrap();
        assert_eq!(
            placement(&layout),
            [
                vec![("a".into(), 0, 1), ("b".into(), 1, 1), ("f".into(), 8, 8)],
                vec![("n".into(), 0, 64)],
                vec![("d".into(), 0, 8)],
            ]
        );
    }

    #[test]
    fn caps_are_extra_caps_in_order_and_structures_take_a_word_per_member() {
        let (method, apis) = method_with(
            r#"<param dir="in" name="root" type="seL4_CNode"/><param dir="in" name="x" type="seL4_Word"/>
               <param dir="in" name="frame" type="seL4_CPtr"/><param dir="in" name="regs" type="seL4_UserContext"/>
               <param dir="out" name="flag" type="seL4_Bool"/><param dir="out" name="v" type="seL4_Word"/>"#,
        );
        let layout = layout(&method, &apis).unwrap();
        let caps: Vec<&str> = layout.caps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(caps, ["root", "frame"]);
        assert_eq!(layout.words.len(), 3);
        assert_eq!(layout.words[2][0].member.as_deref(), Some("sp"));
        let outputs: Vec<(usize, u32)> =
            layout.outputs.iter().map(|p| (p.word, p.offset)).collect();
        assert_eq!(outputs, [(0, 0), (1, 0)]);
    }

    #[test]
    fn unknown_types_and_cap_outputs_are_refused() {
        let (method, apis) = method_with(r#"<param dir="in" name="x" type="seL4_Mystery"/>"#);
        assert!(matches!(
            layout(&method, &apis),
            Err(LayoutError::UnknownType { .. })
        ));
        let (method, apis) = method_with(r#"<param dir="out" name="x" type="seL4_CPtr"/>"#);
        assert!(matches!(
            layout(&method, &apis),
            Err(LayoutError::CapOutput { .. })
        ));
        let four_caps = r#"<param dir="in" name="a" type="seL4_CPtr"/>"#.repeat(4);
        let (method, apis) = method_with(&four_caps);
        assert!(matches!(
            layout(&method, &apis),
            Err(LayoutError::TooLarge { .. })
        ));
    }
}
