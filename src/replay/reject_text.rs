//! The `text` of a rejects line: the rejected input line as a string, at most
//! [`MAX_EVENT_BYTES`] of it in UTF-8 (SPEC 1: the rejects file keeps at most a line's first
//! MiB and says that it was cut).

use crate::domain::decode::MAX_EVENT_BYTES;

/// The text kept of a line of `len` bytes whose first bytes are `held` (all of them unless
/// the line is over the limit), and the line's length when the text is not the whole line.
///
/// Invalid UTF-8 becomes U+FFFD (three bytes for each byte replaced), so the text is cut
/// again, at a character boundary, when the replacements take it over the limit; a
/// character split by the cut of an over-long line is left out rather than replaced.
pub(super) fn kept_text(held: &[u8], len: usize) -> (String, Option<usize>) {
    kept_text_within(held, len, MAX_EVENT_BYTES)
}

fn kept_text_within(held: &[u8], len: usize, limit: usize) -> (String, Option<usize>) {
    let mut bytes = &held[..held.len().min(limit)];
    let mut cut = len > bytes.len();
    if cut {
        bytes = &bytes[..without_split_character(bytes)];
    }
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        cut = true;
    }
    (text, cut.then_some(len))
}

/// The length of `bytes` without a multi-byte character its end cuts short (a leading byte
/// followed by fewer continuation bytes than it announces).
fn without_split_character(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=n.min(3) {
        let b = bytes[n - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let needs = match b {
            0xF0..=0xF4 => 4,
            0xE0..=0xEF => 3,
            0xC2..=0xDF => 2,
            // ASCII, or a byte no character starts with (replaced like any invalid byte).
            _ => 1,
        };
        return if needs > back { n - back } else { n };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_line_is_kept_as_it_is() {
        assert_eq!(kept_text(b"{\"a\":1}", 7), ("{\"a\":1}".to_owned(), None));
        // Invalid bytes become U+FFFD; within the limit nothing is cut.
        assert_eq!(kept_text(b"a\xffb", 3), ("a\u{fffd}b".to_owned(), None));
    }

    #[test]
    fn a_long_line_keeps_its_first_bytes_without_a_split_character() {
        // "é" is two bytes: a cut after 5 bytes of "ééé" splits the third.
        let line = "ééé".as_bytes();
        assert_eq!(kept_text_within(line, 6, 5), ("éé".to_owned(), Some(6)));
        // A cut on a boundary keeps everything before it.
        assert_eq!(kept_text_within(line, 6, 4), ("éé".to_owned(), Some(6)));
        // A four-byte character cut after one, two or three of its bytes.
        let line = "a😀".as_bytes();
        for limit in 2..=4 {
            assert_eq!(kept_text_within(line, 5, limit), ("a".to_owned(), Some(5)));
        }
        // Bytes no character starts with are invalid anyway: replaced (then cut with the
        // replacements), not dropped as a split character.
        assert_eq!(without_split_character(b"ab\x80"), 3);
        assert_eq!(without_split_character(b"ab\xff"), 3);
        assert_eq!(without_split_character(b"a\xc3"), 1);
        assert_eq!(without_split_character(b""), 0);
    }

    #[test]
    fn replacement_characters_never_take_the_text_over_the_limit() {
        // Ten invalid bytes would be 30 bytes of U+FFFD: 9 bytes (three of them) are kept.
        let (text, cut) = kept_text_within(&[0xff; 10], 10, 10);
        assert_eq!(text, "\u{fffd}".repeat(3));
        assert_eq!(cut, Some(10), "a line not kept whole says so");
        let (text, cut) = kept_text(&vec![0xff; MAX_EVENT_BYTES + 1], 2 * MAX_EVENT_BYTES);
        assert!(text.len() <= MAX_EVENT_BYTES);
        assert_eq!(text.len(), MAX_EVENT_BYTES / 3 * 3);
        assert_eq!(cut, Some(2 * MAX_EVENT_BYTES));
    }
}
