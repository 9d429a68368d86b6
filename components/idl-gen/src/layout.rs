//! Wire layout of a message body: fields in declared order, each at its natural alignment, with
//! the padding spelled out as fields so that the zerocopy structs have none hidden.

use crate::model::Field;

/// Largest body a message may carry: `MESSAGE_BYTES` (128) minus the 8-byte header.
pub const MAX_BODY_BYTES: usize = 120;

/// One slot of a body struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The field at this index of the declared list.
    Field(usize),
    /// `n` bytes of zero padding.
    Padding(usize),
}

/// A body struct's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Slots in memory order.
    pub slots: Vec<Slot>,
    /// Total size in bytes (a multiple of the largest field's alignment).
    pub size: usize,
}

/// Lays out `fields` in declared order with explicit padding.
pub fn layout(fields: &[Field]) -> Layout {
    let mut slots = Vec::new();
    let mut offset: usize = 0;
    let mut align: usize = 1;
    for (index, field) in fields.iter().enumerate() {
        let size = field.ty.size();
        align = align.max(size);
        let gap = offset.next_multiple_of(size) - offset;
        if gap > 0 {
            slots.push(Slot::Padding(gap));
        }
        slots.push(Slot::Field(index));
        offset += gap + size;
    }
    let tail = offset.next_multiple_of(align) - offset;
    if tail > 0 {
        slots.push(Slot::Padding(tail));
    }
    Layout {
        slots,
        size: offset + tail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FieldType, ScalarType};

    fn fields(types: &[ScalarType]) -> Vec<Field> {
        types
            .iter()
            .enumerate()
            .map(|(i, ty)| Field {
                name: format!("f{i}"),
                ty: FieldType::Scalar(*ty),
                doc: String::new(),
            })
            .collect()
    }

    #[test]
    fn pads_before_wider_fields_and_at_the_end() {
        let l = layout(&fields(&[ScalarType::U8, ScalarType::U64, ScalarType::U16]));
        assert_eq!(
            l.slots,
            vec![
                Slot::Field(0),
                Slot::Padding(7),
                Slot::Field(1),
                Slot::Field(2),
                Slot::Padding(6)
            ]
        );
        assert_eq!(l.size, 24);
    }

    #[test]
    fn packed_fields_need_no_padding() {
        let l = layout(&fields(&[
            ScalarType::U32,
            ScalarType::U16,
            ScalarType::Bool,
            ScalarType::U8,
        ]));
        assert_eq!(l.slots.len(), 4);
        assert_eq!(l.size, 8);
    }

    #[test]
    fn empty_body_is_zero_bytes() {
        assert_eq!(layout(&[]).size, 0);
    }
}
