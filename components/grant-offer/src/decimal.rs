//! Strict ASCII decimal numbers as the handshake writes them: digits only, no sign (except the
//! minus of a negative value), no leading zero, no spaces, no overflow; so each number has one
//! text.

/// Parses an unsigned decimal; `None` for an empty text, any non-digit, a leading zero, or
/// overflow.
pub(crate) fn unsigned(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.bytes().try_fold(0u64, |value, byte| {
        let digit = byte.checked_sub(b'0').filter(|d| *d <= 9)?;
        value.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Parses an unsigned decimal that fits `u32`.
pub(crate) fn u32_of(text: &str) -> Option<u32> {
    unsigned(text).and_then(|value| u32::try_from(value).ok())
}

/// Parses a signed decimal (`-` then non-zero digits, or digits) that fits `i16`.
pub(crate) fn i16_of(text: &str) -> Option<i16> {
    match text.strip_prefix('-') {
        Some(magnitude) => {
            let magnitude = i32::try_from(unsigned(magnitude)?).ok()?;
            if magnitude == 0 {
                return None;
            }
            i16::try_from(magnitude.checked_neg()?).ok()
        }
        None => i16::try_from(unsigned(text)?).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_takes_digits_only() {
        assert_eq!(unsigned("0"), Some(0));
        assert_eq!(unsigned("4096"), Some(4096));
        assert_eq!(unsigned("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1a",
            "01",
            "00",
            "18446744073709551616",
            "٣",
        ] {
            assert_eq!(unsigned(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn u32_of_refuses_overflow() {
        assert_eq!(u32_of("4294967295"), Some(u32::MAX));
        assert_eq!(u32_of("4294967296"), None);
    }

    #[test]
    fn i16_of_takes_a_minus_and_the_whole_range() {
        assert_eq!(i16_of("-32768"), Some(i16::MIN));
        assert_eq!(i16_of("32767"), Some(i16::MAX));
        assert_eq!(i16_of("-4"), Some(-4));
        for bad in ["-32769", "32768", "-", "--1", "+3", "", "-0", "-01"] {
            assert_eq!(i16_of(bad), None, "{bad:?}");
        }
    }
}
