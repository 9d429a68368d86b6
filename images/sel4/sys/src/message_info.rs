//! `seL4_MessageInfo`: the word in x1 of every IPC, laid out by 5.0's `shared_types_64.bf` from
//! the top of its low 32 bits down: label (20 bits, bits 12..32), caps unwrapped (3, bits 9..12),
//! extra caps (2, bits 7..9), length in message words (7, bits 0..7).

use crate::Word;

/// An IPC's label, capability counts and length.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct MessageInfo(Word);

const LABEL_SHIFT: u32 = 12;
const LABEL_MASK: Word = 0xf_ffff;
const CAPS_UNWRAPPED_SHIFT: u32 = 9;
const CAPS_UNWRAPPED_MASK: Word = 0x7;
const EXTRA_CAPS_SHIFT: u32 = 7;
const EXTRA_CAPS_MASK: Word = 0x3;
const LENGTH_MASK: Word = 0x7f;

impl MessageInfo {
    /// Packs the four fields; each is cut to its width, as the C constructor does.
    pub const fn new(label: Word, caps_unwrapped: Word, extra_caps: Word, length: Word) -> Self {
        Self(
            ((label & LABEL_MASK) << LABEL_SHIFT)
                | ((caps_unwrapped & CAPS_UNWRAPPED_MASK) << CAPS_UNWRAPPED_SHIFT)
                | ((extra_caps & EXTRA_CAPS_MASK) << EXTRA_CAPS_SHIFT)
                | (length & LENGTH_MASK),
        )
    }

    /// The message's label (an invocation label going in; an error or fault type coming back).
    pub const fn label(self) -> Word {
        (self.0 >> LABEL_SHIFT) & LABEL_MASK
    }

    /// Bit i set: extra cap i was unwrapped (its badge delivered instead of the capability).
    pub const fn caps_unwrapped(self) -> Word {
        (self.0 >> CAPS_UNWRAPPED_SHIFT) & CAPS_UNWRAPPED_MASK
    }

    /// How many extra capabilities travel with the message.
    pub const fn extra_caps(self) -> Word {
        (self.0 >> EXTRA_CAPS_SHIFT) & EXTRA_CAPS_MASK
    }

    /// How many message registers the message uses.
    pub const fn length(self) -> Word {
        self.0 & LENGTH_MASK
    }

    /// The raw word.
    pub const fn word(self) -> Word {
        self.0
    }

    /// From a raw word (x1 after a system call).
    pub const fn from_word(word: Word) -> Self {
        Self(word)
    }
}
