//! GPT-2's byte-level stages: the split pattern (the pre-tokenizer) and the
//! byte-to-character table that both the vocabulary files and the decoder
//! use.
//!
//! The pattern is GPT-2's regular expression
//! `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
//! evaluated by hand: the lookahead is beyond the `regex` crate, and a
//! direct scan with an ASCII class table is several times faster than a
//! backtracking engine. `\p{L}` and `\p{N}` are Unicode general categories
//! (letters, numbers; not the wider `Alphabetic` property, which also takes
//! combining marks of Indic and Arabic scripts), `\s` is `White_Space`.

use std::sync::OnceLock;

use unicode_general_category::{get_general_category, GeneralCategory as Gc};

/// The class of a character in GPT-2's pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Letter,
    Number,
    Space,
    Other,
}

const fn ascii_classes() -> [Class; 128] {
    let mut table = [Class::Other; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphabetic() {
            Class::Letter
        } else if c.is_ascii_digit() {
            Class::Number
        } else if matches!(c, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ') {
            Class::Space
        } else {
            Class::Other
        };
        b += 1;
    }
    table
}

static ASCII_CLASS: [Class; 128] = ascii_classes();

fn class_of(c: char) -> Class {
    if c.is_ascii() {
        return ASCII_CLASS[c as usize];
    }
    if c.is_whitespace() {
        return Class::Space;
    }
    match get_general_category(c) {
        Gc::UppercaseLetter
        | Gc::LowercaseLetter
        | Gc::TitlecaseLetter
        | Gc::ModifierLetter
        | Gc::OtherLetter => Class::Letter,
        Gc::DecimalNumber | Gc::LetterNumber | Gc::OtherNumber => Class::Number,
        _ => Class::Other,
    }
}

/// The character starting at byte `at` of `text` (a char boundary), its class
/// and its length in bytes.
#[inline]
fn char_at(text: &str, at: usize) -> (Class, usize) {
    let byte = text.as_bytes()[at];
    if byte < 0x80 {
        return (ASCII_CLASS[byte as usize], 1);
    }
    let c = text[at..]
        .chars()
        .next()
        .expect("a char boundary inside the text");
    (class_of(c), c.len_utf8())
}

/// The end of the run of characters of class `class` that starts at `at`.
#[inline]
fn run_end(text: &str, mut at: usize, class: Class) -> usize {
    let bytes = text.as_bytes();
    while at < bytes.len() {
        let (c, len) = char_at(text, at);
        if c != class {
            break;
        }
        at += len;
    }
    at
}

/// Split `text` with GPT-2's pattern, pushing each piece's byte range
/// (offset by `base`) to `out`. The pieces cover `text` exactly.
pub(crate) fn split(text: &str, base: usize, out: &mut Vec<(usize, usize)>) {
    let mut i = 0;
    while i < text.len() {
        let end = piece_end(text, i);
        out.push((base + i, base + end));
        i = end;
    }
}

/// The end of the piece that starts at byte `i` (< `text.len()`).
#[inline]
fn piece_end(text: &str, i: usize) -> usize {
    let bytes = text.as_bytes();
    let n = bytes.len();
    // 's 't 're 've 'm 'll 'd
    if bytes[i] == b'\'' && i + 1 < n {
        match bytes[i + 1] {
            b's' | b't' | b'm' | b'd' => return i + 2,
            b'r' | b'v' if i + 2 < n && bytes[i + 2] == b'e' => return i + 3,
            b'l' if i + 2 < n && bytes[i + 2] == b'l' => return i + 3,
            _ => {}
        }
    }
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
    let start = if bytes[i] == b' ' && i + 1 < n {
        i + 1
    } else {
        i
    };
    let (class, _) = char_at(text, start);
    if class != Class::Space {
        return run_end(text, start, class);
    }
    // `\s+(?!\S)`, else `\s+`: a run of spaces gives back its last character
    // when a non-space follows, so that character can lead the next piece.
    let mut last = i;
    let mut at = i;
    while at < n {
        let (c, len) = char_at(text, at);
        if c != Class::Space {
            break;
        }
        last = at;
        at += len;
    }
    if at == n || last == i {
        at
    } else {
        last
    }
}

/// Cut `text` into about `target`-byte chunks at points where GPT-2's pattern
/// always starts a new piece, so that splitting the chunks separately gives
/// the same pieces as splitting the whole text: before a whitespace
/// character that follows a non-whitespace one. (The piece before such a
/// point is a run that cannot hold whitespace, and the pattern only looks
/// forward.)
pub(crate) fn safe_chunks(text: &str, target: usize) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while text.len() - start > target {
        let mut prev_space = true;
        let mut found = None;
        let from = (start + target..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        // The character before `from` decides whether a cut at `from` is safe.
        if let Some(c) = text[..from].chars().next_back() {
            prev_space = class_of(c) == Class::Space;
        }
        for (offset, c) in text[from..].char_indices() {
            let space = class_of(c) == Class::Space;
            if space && !prev_space {
                found = Some(from + offset);
                break;
            }
            prev_space = space;
        }
        match found {
            Some(cut) => {
                chunks.push(&text[start..cut]);
                start = cut;
            }
            None => break,
        }
    }
    chunks.push(&text[start..]);
    chunks
}

/// GPT-2's `bytes_to_unicode`: each byte's stand-in character. Printable
/// Latin-1 bytes stand for themselves; the other 68 map to U+0100 upwards in
/// byte order.
pub(crate) fn byte_chars() -> &'static [char; 256] {
    static TABLE: OnceLock<[char; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let printable =
            |b: u32| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
        let mut table = ['\0'; 256];
        let mut next = 256u32;
        for b in 0..256u32 {
            let code = if printable(b) {
                b
            } else {
                next += 1;
                next - 1
            };
            table[b as usize] = char::from_u32(code).expect("below U+0200");
        }
        table
    })
}

/// The byte a stand-in character of [`byte_chars`] stands for.
pub(crate) fn char_byte(c: char) -> Option<u8> {
    static TABLE: OnceLock<[u16; 0x144]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [u16::MAX; 0x144];
        for (b, &c) in byte_chars().iter().enumerate() {
            table[c as usize] = b as u16;
        }
        table
    });
    match table.get(c as usize) {
        Some(&b) if b != u16::MAX => Some(b as u8),
        _ => None,
    }
}

/// The bytes of a byte-level token string (`"Ġthe"` -> `b" the"`), or `None`
/// when a character is not a stand-in.
pub(crate) fn token_bytes(token: &str) -> Option<Vec<u8>> {
    token.chars().map(char_byte).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        split(text, 0, &mut out);
        out.iter().map(|&(a, b)| &text[a..b]).collect()
    }

    #[test]
    fn splits_like_gpt2_on_hand_checked_cases() {
        // Expected pieces worked out by hand from the pattern.
        assert_eq!(pieces("Hello world"), ["Hello", " world"]);
        assert_eq!(pieces("don't we'll"), ["don", "'t", " we", "'ll"]);
        assert_eq!(pieces("a  b"), ["a", " ", " b"]);
        assert_eq!(pieces("a\n\nb"), ["a", "\n", "\n", "b"]);
        assert_eq!(pieces("x   "), ["x", "   "]);
        assert_eq!(pieces("x 123abc"), ["x", " 123", "abc"]);
        assert_eq!(pieces("f(x)!= 'S"), ["f", "(", "x", ")!=", " '", "S"]);
        assert_eq!(pieces("\"'s"), ["\"'", "s"]);
        // U+0301 (a combining mark, category Mn) is neither letter nor number.
        assert_eq!(pieces("e\u{301}t\u{e9}"), ["e", "\u{301}", "t\u{e9}"]);
        // U+3000 is White_Space; CJK ideographs are letters (Lo).
        assert_eq!(
            pieces("\u{4e16}\u{3000}\u{754c}"),
            ["\u{4e16}", "\u{3000}", "\u{754c}"]
        );
    }

    #[test]
    fn byte_table_matches_gpt2() {
        let table = byte_chars();
        assert_eq!(table[b'!' as usize], '!');
        assert_eq!(table[b' ' as usize], '\u{120}'); // "Ġ"
        assert_eq!(table[b'\n' as usize], '\u{10a}'); // "Ċ"
        assert_eq!(table[0], '\u{100}');
        assert_eq!(table[0xAD], '\u{143}');
        for b in 0..=255u8 {
            assert_eq!(char_byte(table[b as usize]), Some(b));
        }
        assert_eq!(char_byte('a'), Some(b'a'));
        assert_eq!(char_byte('\u{144}'), None);
    }

    #[test]
    fn safe_chunks_split_like_the_whole() {
        let text = "one  two\nthree 'll  x\u{3000}y\u{3000} y 4\t5 six\r\n".repeat(40);
        let mut whole = Vec::new();
        split(&text, 0, &mut whole);
        let mut parts = Vec::new();
        let mut base = 0;
        for chunk in safe_chunks(&text, 37) {
            split(chunk, base, &mut parts);
            base += chunk.len();
        }
        assert_eq!(base, text.len());
        assert_eq!(parts, whole);
    }
}
