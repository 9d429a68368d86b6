//! What the domU does in a round besides the plain check: the failure cases dom0 asks for.

/// The mode word of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Borrow, map, check, answer, unmap, give back.
    Check,
    /// As `Check`, but first give the frames back while the grants are still mapped (refused),
    /// then unmap and give back.
    GiveBackMapped,
    /// Ask the gateway to map into a frame the driver did not borrow (refused before Xen).
    UnlentFrame,
    /// Map, then the driver dies with its grants mapped; the gateway and memory server clean up.
    DieMapped,
}

impl Mode {
    /// Every mode, in declaration order.
    pub const ALL: [Mode; 4] = [
        Mode::Check,
        Mode::GiveBackMapped,
        Mode::UnlentFrame,
        Mode::DieMapped,
    ];

    /// The mode's word in an offer.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Check => "check",
            Mode::GiveBackMapped => "give-back-mapped",
            Mode::UnlentFrame => "unlent-frame",
            Mode::DieMapped => "die-mapped",
        }
    }

    /// The mode a word names, if any.
    pub fn from_word(word: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|mode| mode.as_str() == word)
    }
}

impl core::fmt::Display for Mode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_through_its_word() {
        for mode in Mode::ALL {
            assert_eq!(Mode::from_word(mode.as_str()), Some(mode));
        }
    }

    #[test]
    fn unknown_words_name_no_mode() {
        for word in ["", "Check", "check ", "die", "give-back"] {
            assert_eq!(Mode::from_word(word), None, "{word:?}");
        }
    }
}
