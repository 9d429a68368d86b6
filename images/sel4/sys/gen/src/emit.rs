//! Rust source for a [`Model`]: one file per module of ballast-sel4-sys that includes it.

use crate::c_enum::Enumerator;
use crate::interface::Direction;
use crate::marshal::Piece;
use crate::model::{Invocation, Model};
use crate::names::{camel, screaming, snake};
use crate::types::{Kind, WORD_BITS};
use std::fmt::Write as _;

/// Interfaces whose capabilities come in several object types: the invocations are generated for
/// each of them. Any other interface `seL4_[ARM_]Name` gets one marker type `Name`.
pub const INTERFACE_OBJECTS: &[(&str, &[&str])] =
    &[("seL4_ARM_Page", &["SmallPage", "LargePage", "HugePage"])];

/// The marker types standing for `interface`'s capabilities.
pub fn markers(interface: &str) -> Vec<String> {
    if let Some((_, objects)) = INTERFACE_OBJECTS
        .iter()
        .find(|(name, _)| *name == interface)
    {
        return objects.iter().map(|object| (*object).to_owned()).collect();
    }
    let bare = interface.trim_start_matches("seL4_");
    vec![camel(bare.strip_prefix("ARM_").unwrap_or(bare))]
}

/// `ObjectType` variant for an object-type enumerator, `None` for a count.
pub fn object_variant(enumerator: &str) -> Option<String> {
    let bare = enumerator.trim_start_matches("seL4_");
    let bare = bare.strip_prefix("ARM_").unwrap_or(bare);
    bare.strip_suffix("Object").map(camel)
}

/// `label::NAME` for invocation label `id`.
pub fn label_constant(id: &str) -> String {
    screaming(id)
}

pub fn labels(model: &Model) -> String {
    let mut out = String::new();
    for (id, label) in &model.labels {
        let _ = writeln!(
            out,
            "/// `{id}`.\npub const {}: Word = {label};",
            label_constant(id)
        );
    }
    let count = model.labels.len() + 1;
    let _ = writeln!(
        out,
        "/// One past the last label (`nArchInvocationLabels`).\npub const COUNT: Word = {count};"
    );
    out
}

pub fn syscalls(model: &Model) -> String {
    let mut out = String::new();
    for syscall in &model.syscalls {
        let served = if syscall.available {
            "served"
        } else {
            "not served"
        };
        let _ = writeln!(
            out,
            "/// `seL4_Sys{}` ({served} by this kernel's configuration).\npub const {}: i64 = {};",
            syscall.name,
            screaming(&syscall.name),
            syscall.number
        );
    }
    out
}

/// The `cfg` names for system calls (`sel4_sys_debug_put_char`), each with whether it is served.
pub fn syscall_cfgs(model: &Model) -> Vec<(String, bool)> {
    model
        .syscalls
        .iter()
        .map(|syscall| {
            (
                format!("sel4_sys_{}", snake(&syscall.name)),
                syscall.available,
            )
        })
        .collect()
}

pub fn object_types(model: &Model) -> String {
    let mut out = String::from(
        "/// Kernel object types for `Untyped::retype`, numbered for this kernel: generic, then\n\
         /// aarch64, then arm.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n\
         #[repr(u64)]\npub enum ObjectType {\n",
    );
    for enumerator in &model.object_types {
        if let Some(variant) = object_variant(&enumerator.name) {
            let _ = writeln!(
                out,
                "    /// `{}`.\n    {variant} = {},",
                enumerator.name, enumerator.value
            );
        }
    }
    out.push_str("}\n");
    out
}

pub fn errors(model: &Model) -> String {
    let errors: Vec<&Enumerator> = model
        .errors
        .iter()
        .filter(|e| e.name != "seL4_NoError" && e.name != "seL4_NumErrors")
        .collect();
    let unknown = model
        .errors
        .iter()
        .find(|e| e.name == "seL4_NumErrors")
        .map_or(0, |e| e.value);
    let mut out = String::from(
        "/// An invocation's failure: the reply label, as the kernel's `seL4_Error` numbers it (0,\n\
         /// `seL4_NoError`, is success and so no variant).\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\n#[repr(u64)]\npub enum Sel4Error {\n",
    );
    for error in &errors {
        let _ = writeln!(
            out,
            "    /// `{}`.\n    {} = {},",
            error.name,
            camel(error.name.trim_start_matches("seL4_")),
            error.value
        );
    }
    let _ = writeln!(out, "    /// A reply label past the kernel's error list (`seL4_NumErrors` and up).\n    UnknownError = {unknown},\n}}\n");
    out.push_str(
        "impl Sel4Error {\n    /// The error a reply label reports, `None` for success.\n",
    );
    out.push_str("    pub const fn from_label(label: Word) -> Option<Self> {\n        match label {\n            0 => None,\n");
    for error in &errors {
        let _ = writeln!(
            out,
            "            {} => Some(Self::{}),",
            error.value,
            camel(error.name.trim_start_matches("seL4_"))
        );
    }
    out.push_str("            _ => Some(Self::UnknownError),\n        }\n    }\n}\n");
    out
}

pub fn initial_slots(model: &Model) -> String {
    let mut out = String::new();
    for slot in &model.initial_slots {
        if let Some(name) = slot.name.strip_prefix("seL4_Cap") {
            let _ = writeln!(
                out,
                "/// `{}`.\npub const {}: CPtr = CPtr({});",
                slot.name,
                screaming(name),
                slot.value
            );
        } else {
            let name = screaming(slot.name.trim_start_matches("seL4_"));
            let _ = writeln!(
                out,
                "/// `{}`.\npub const {name}: Word = {};",
                slot.name, slot.value
            );
        }
    }
    out
}

pub fn size_bits(model: &Model) -> String {
    let mut out = String::new();
    for define in &model.size_bits {
        let name = screaming(define.name.trim_start_matches("seL4_"));
        let _ = writeln!(
            out,
            "/// `{}`.\npub const {name}: Word = {};",
            define.name, define.value
        );
    }
    out
}

/// Configuration values the bindings size things by.
pub const CONFIG_VALUES: [&str; 5] = [
    "CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS",
    "CONFIG_ROOT_CNODE_SIZE_BITS",
    "CONFIG_NUM_PRIORITIES",
    "CONFIG_MAX_NUM_NODES",
    "CONFIG_RETYPE_FAN_OUT_LIMIT",
];

/// The configuration module, or the name of a value it lacks.
pub fn config(model: &Model) -> Result<String, &'static str> {
    let mut out = String::new();
    for name in CONFIG_VALUES {
        let value = model.config.number(name).ok_or(name)?;
        let value = usize::try_from(value).map_err(|_| name)?;
        let _ = writeln!(
            out,
            "/// `{name}`.\npub const {}: usize = {value};",
            name.trim_start_matches("CONFIG_")
        );
    }
    Ok(out)
}

pub fn structs(model: &Model) -> String {
    let mut out = String::new();
    for api in &model.apis {
        for item in &api.structs {
            let _ = writeln!(
                out,
                "/// `{}`, one word per member in the kernel's order.\n\
                 #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]\n#[repr(C)]\npub struct {} {{",
                item.name,
                camel(item.name.trim_start_matches("seL4_"))
            );
            for member in &item.members {
                let _ = writeln!(out, "    pub {}: Word,", snake(member));
            }
            out.push_str("}\n");
        }
    }
    out
}

pub fn invocations(model: &Model) -> String {
    let mut out = String::new();
    let mut interfaces: Vec<&str> = Vec::new();
    for invocation in &model.invocations {
        if !interfaces.contains(&invocation.interface.as_str()) {
            interfaces.push(&invocation.interface);
        }
    }
    for interface in &interfaces {
        for marker in markers(interface) {
            let _ = writeln!(
                out,
                "/// Marker for capabilities invoked through `{interface}`.\n#[derive(Debug)]\npub enum {marker} {{}}\n"
            );
        }
    }
    for interface in &interfaces {
        let mut body = String::new();
        for invocation in model
            .invocations
            .iter()
            .filter(|i| i.interface == *interface)
        {
            body.push_str(&method(invocation));
        }
        for marker in markers(interface) {
            let _ = writeln!(out, "impl crate::Cap<{marker}> {{\n{body}}}\n");
        }
    }
    for invocation in &model.invocations {
        out.push_str(&reply_struct(invocation));
    }
    out
}

fn rust_type(kind: &Kind) -> String {
    match kind {
        Kind::Integer { rust, .. } | Kind::Word { rust } => (*rust).to_owned(),
        Kind::Bool => "bool".to_owned(),
        Kind::Cap => "impl Into<CPtr>".to_owned(),
        Kind::Struct { rust, .. } => rust.clone(),
    }
}

/// The values an invocation returns: its outputs not passed by reference.
fn returned(invocation: &Invocation) -> Vec<&Piece> {
    invocation
        .layout
        .outputs
        .iter()
        .filter(|piece| !piece.kind.by_reference())
        .collect()
}

fn reply_struct_name(invocation: &Invocation) -> String {
    let interface = markers(&invocation.interface).join("");
    format!("{interface}{}Reply", camel(&invocation.method.name))
}

fn reply_struct(invocation: &Invocation) -> String {
    let values = returned(invocation);
    if values.len() < 2 {
        return String::new();
    }
    let mut out = format!(
        "/// What `{}_{}` returns.\n#[derive(Debug, Clone, Copy, PartialEq, Eq)]\npub struct {} {{\n",
        invocation.interface,
        invocation.method.name,
        reply_struct_name(invocation)
    );
    for piece in values {
        let _ = writeln!(
            out,
            "    pub {}: {},",
            snake(&piece.param),
            rust_type(&piece.kind)
        );
    }
    out.push_str("}\n\n");
    out
}

fn method(invocation: &Invocation) -> String {
    let method = &invocation.method;
    let mut params = vec!["self".to_owned()];
    for param in &method.params {
        let Some(kind) = piece_kind(invocation, &param.name) else {
            continue;
        };
        let name = snake(&param.name);
        match (param.direction, kind.by_reference()) {
            (Direction::In, true) => params.push(format!("{name}: &{}", rust_type(&kind))),
            (Direction::In, false) => params.push(format!("{name}: {}", rust_type(&kind))),
            (Direction::Out, true) => params.push(format!("{name}: &mut {}", rust_type(&kind))),
            (Direction::Out, false) => {}
        }
    }
    let values = returned(invocation);
    let return_type = match values.as_slice() {
        [] => "()".to_owned(),
        [single] => rust_type(&single.kind),
        _ => reply_struct_name(invocation),
    };
    let mut out = String::new();
    let label = label_constant(&method.id);
    let _ = write!(
        out,
        "    /// `{}_{}`, invocation label [`crate::label::{label}`] ({}).",
        invocation.interface, method.name, invocation.label
    );
    if !method.brief.is_empty() {
        let _ = write!(out, " {}", method.brief.trim_end_matches('.'));
        out.push('.');
    }
    out.push('\n');
    if params.len() > 7 {
        out.push_str("    #[allow(clippy::too_many_arguments)]\n");
    }
    let _ = writeln!(
        out,
        "    pub fn {}({}) -> Result<{return_type}, Sel4Error> {{",
        snake(&method.name),
        params.join(", ")
    );
    let caps: Vec<String> = invocation
        .layout
        .caps
        .iter()
        .map(|cap| format!("{}.into()", snake(&cap.name)))
        .collect();
    let words: Vec<String> = invocation
        .layout
        .words
        .iter()
        .map(|word| {
            word.iter()
                .map(input_expression)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    let binding = if invocation.layout.outputs.is_empty() {
        ""
    } else {
        "let reply = "
    };
    let _ = writeln!(
        out,
        "        {binding}crate::invocation::invoke(self.cptr(), crate::label::{label}, &[{}], &[{}])?;",
        caps.join(", "),
        words.join(", ")
    );
    for piece in invocation
        .layout
        .outputs
        .iter()
        .filter(|piece| piece.kind.by_reference())
    {
        let member = piece.member.as_deref().map(snake).unwrap_or_default();
        let _ = writeln!(
            out,
            "        {}.{member} = reply.mr({});",
            snake(&piece.param),
            piece.word
        );
    }
    match values.as_slice() {
        [] => out.push_str("        Ok(())\n"),
        [single] => {
            let _ = writeln!(out, "        Ok({})", output_expression(single));
        }
        _ => {
            let fields: Vec<String> = values
                .iter()
                .map(|piece| format!("{}: {}", snake(&piece.param), output_expression(piece)))
                .collect();
            let _ = writeln!(
                out,
                "        Ok({} {{ {} }})",
                reply_struct_name(invocation),
                fields.join(", ")
            );
        }
    }
    out.push_str("    }\n");
    out
}

/// The kind of a parameter of `invocation`, from its laid-out pieces or its caps.
fn piece_kind(invocation: &Invocation, name: &str) -> Option<Kind> {
    let layout = &invocation.layout;
    if layout.caps.iter().any(|cap| cap.name == name) {
        return Some(Kind::Cap);
    }
    layout
        .words
        .iter()
        .flatten()
        .chain(&layout.outputs)
        .find(|p| p.param == name)
        .map(|p| p.kind.clone())
}

fn shifted(expression: String, offset: u32) -> String {
    if offset == 0 {
        expression
    } else {
        format!("({expression} << {offset})")
    }
}

fn input_expression(piece: &Piece) -> String {
    let name = snake(&piece.param);
    match &piece.kind {
        Kind::Struct { .. } => format!(
            "{name}.{}",
            piece.member.as_deref().map(snake).unwrap_or_default()
        ),
        Kind::Word { .. } => format!("{name}.word()"),
        Kind::Bool => shifted(format!("Word::from({name})"), piece.offset),
        Kind::Integer { rust, signed, bits } => {
            let as_word = match (*signed, *rust) {
                (_, "Word") => name,
                (false, "u64") => name,
                (false, _) => format!("Word::from({name})"),
                (true, _) => format!("({name} as Word)"),
            };
            let masked = if *signed && *bits < WORD_BITS {
                format!("({as_word} & {:#x})", (1_u64 << bits) - 1)
            } else {
                as_word
            };
            shifted(masked, piece.offset)
        }
        Kind::Cap => unreachable!("capabilities travel as extra caps"),
    }
}

fn output_expression(piece: &Piece) -> String {
    let word = format!("reply.mr({})", piece.word);
    let field = if piece.offset == 0 {
        word
    } else {
        format!("({word} >> {})", piece.offset)
    };
    match &piece.kind {
        Kind::Integer {
            rust: "Word" | "u64",
            ..
        } => field,
        Kind::Integer { rust, .. } => format!("{field} as {rust}"),
        Kind::Bool => format!("{field} & 1 != 0"),
        Kind::Word { rust } => format!("{rust}::from_word({field})"),
        Kind::Struct { .. } | Kind::Cap => unreachable!("returned values are scalars"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_get_one_marker_per_object_size_and_other_interfaces_their_own_name() {
        assert_eq!(
            markers("seL4_ARM_Page"),
            ["SmallPage", "LargePage", "HugePage"]
        );
        assert_eq!(
            markers("seL4_ARM_PageGlobalDirectory"),
            ["PageGlobalDirectory"]
        );
        assert_eq!(markers("seL4_TCB"), ["Tcb"]);
        assert_eq!(markers("seL4_IRQControl"), ["IrqControl"]);
        assert_eq!(markers("seL4_ARM_ASIDPool"), ["AsidPool"]);
    }

    #[test]
    fn object_type_variants_drop_prefixes_and_counts_have_none() {
        assert_eq!(object_variant("seL4_TCBObject").as_deref(), Some("Tcb"));
        assert_eq!(
            object_variant("seL4_ARM_SmallPageObject").as_deref(),
            Some("SmallPage")
        );
        assert_eq!(object_variant("seL4_ObjectTypeCount"), None);
    }
}
