//! Separates the image's defmt output from Xen's own text on the serial line and decodes it.
//!
//! The image writes its rzcobs-encoded defmt stream as text lines `~defmt~ <hex>` (see the image's
//! `logger.rs`); anything before the marker on a line (Xen's `(d1) ` prefix for a domU) is ignored.
//! The hex of every marked line, in order, is one byte stream; frames end at zero bytes, so a frame
//! may span lines.

use defmt_decoder::{DecodeError, StreamDecoder, Table};

/// The marker that starts the image's defmt lines.
pub const LINE_MARKER: &str = "~defmt~ ";

/// What one serial line held.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// Xen's (or anyone else's) plain text.
    Text(String),
    /// Decoded defmt messages completed by this line (often one, possibly none or several).
    Messages(Vec<String>),
    /// A marked line whose payload was not hex, or whose frames did not decode.
    Garbled(String),
}

/// Decodes serial lines against the image's defmt table.
pub struct LogDecoder<'t> {
    stream: Box<dyn StreamDecoder + Send + Sync + 't>,
}

impl std::fmt::Debug for LogDecoder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogDecoder").finish_non_exhaustive()
    }
}

impl<'t> LogDecoder<'t> {
    /// A decoder for the image whose table is `table`.
    pub fn new(table: &'t Table) -> LogDecoder<'t> {
        LogDecoder {
            stream: table.new_stream_decoder(),
        }
    }

    /// Take one serial line (without its line ending).
    pub fn line(&mut self, line: &str) -> Line {
        let line = line.trim_end_matches(['\r', '\n']);
        let Some(at) = line.find(LINE_MARKER) else {
            return Line::Text(line.to_string());
        };
        let Some(bytes) = parse_hex(line[at + LINE_MARKER.len()..].trim()) else {
            return Line::Garbled(line.to_string());
        };
        self.stream.received(&bytes);
        let mut messages = Vec::new();
        loop {
            match self.stream.decode() {
                Ok(frame) => messages.push(frame.display_message().to_string()),
                Err(DecodeError::UnexpectedEof) => return Line::Messages(messages),
                Err(DecodeError::Malformed) => return Line::Garbled(line.to_string()),
            }
        }
    }
}

/// Lowercase or uppercase hex, two digits per byte.
pub fn parse_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| {
            text.get(at..at + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_payloads_round_trip_and_reject_junk() {
        assert_eq!(parse_hex("00ff7e"), Some(vec![0x00, 0xff, 0x7e]));
        assert_eq!(parse_hex("0"), None);
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(""), Some(vec![]));
    }
}
