//! How text is cut into search tokens, one analysis for every engine.
//!
//! Neither engine's own tokenizer serves every script: SQLite's `unicode61`
//! and PostgreSQL's parser both split on spaces, so a Chinese, Japanese or
//! Thai sentence (written without spaces) would be one token and a word
//! inside it could never be found. So the store indexes a *search form* of
//! each message, made here, and queries are cut by the same rules:
//!
//! * compatibility-decomposed (NFKD), combining marks dropped and case
//!   folded, so `Café`, `CAFE` and `café` are one token, as are `ﬁle` and
//!   `file`, `Straße` and `STRASSE`;
//! * words are runs of letters and digits; everything else separates them;
//! * a character of a script written without spaces (Han, Hiragana,
//!   Katakana, Hangul, Thai, Lao, Khmer, Myanmar) is a token by itself, and
//!   a run of them in a query is a phrase (adjacent tokens), so `東京` finds
//!   `東京都` and `学校` finds `学校に` (as Lucene's CJK analysers do, by
//!   character n-grams rather than a dictionary);
//! * a word counts by its first [`MAX_TOKEN_CHARS`] characters.
//!
//! The search form is the tokens joined by single spaces: both engines'
//! tokenizers split it back into exactly these tokens. Snippets
//! ([`snippet`](super::snippet)) cut the original text with the same
//! tokenizer, which keeps each token's place in the original.

use std::ops::Range;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};
use unicode_normalization::UnicodeNormalization;

/// A word counts by this many characters; the rest is not indexed.
pub const MAX_TOKEN_CHARS: usize = 64;

/// One token: its search form, where it stands in the original text (bytes),
/// and whether it is a character of a script written without spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    pub span: Range<usize>,
    pub unspaced: bool,
}

/// The search form of `text`: its tokens, joined by single spaces.
pub fn search_form(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for_each_token(text, |token| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&token.text);
    });
    out
}

/// Whether `name` contains `wanted`, both read as search forms: case,
/// accents and punctuation ignored (`cafe crew` is in `Le Café-Crew`). For
/// filtering short names, not messages.
pub fn name_contains(name: &str, wanted: &str) -> bool {
    search_form(name).contains(&search_form(wanted))
}

/// The tokens of `text`, in order.
pub(crate) fn tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    for_each_token(text, |token| tokens.push(token));
    tokens
}

/// Calls `emit` with each token of `text`. ASCII, the common case, takes a
/// path without decomposition.
pub(crate) fn for_each_token(text: &str, mut emit: impl FnMut(Token)) {
    let mut word = Word::default();
    for (at, c) in text.char_indices() {
        let end = at + c.len_utf8();
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                word.push(c.to_ascii_lowercase(), at..end);
            } else if let Some(token) = word.take() {
                emit(token);
            }
            continue;
        }
        if is_unspaced(c) {
            if let Some(token) = word.take() {
                emit(token);
            }
            // NFKC, not NFKD: a Hangul syllable stays one character, and
            // half-width kana become the usual ones.
            let text: String = c.to_string().nfkc().filter(|d| d.is_alphanumeric()).flat_map(char::to_lowercase).collect();
            if !text.is_empty() {
                emit(Token { text, span: at..end, unspaced: true });
            }
            continue;
        }
        let mut separated = false;
        decompose_compatible(c, |d| {
            if is_combining_mark(d) {
                return;
            }
            for l in d.to_lowercase() {
                match l {
                    // Case folding beyond lowercase: `Straße` is found as
                    // `strasse`, a final sigma as any other.
                    'ß' => {
                        word.push('s', at..end);
                        word.push('s', at..end);
                    }
                    'ς' => word.push('σ', at..end),
                    l if l.is_alphanumeric() => word.push(l, at..end),
                    _ => separated = true,
                }
            }
        });
        if separated {
            if let Some(token) = word.take() {
                emit(token);
            }
        }
    }
    if let Some(token) = word.take() {
        emit(token);
    }
}

/// The word being read: its search form (at most [`MAX_TOKEN_CHARS`]) and
/// the bytes of the original it covers.
#[derive(Default)]
struct Word {
    text: String,
    chars: usize,
    span: Range<usize>,
}

impl Word {
    /// Adds `c`, read from the original's bytes `from`.
    fn push(&mut self, c: char, from: Range<usize>) {
        if self.text.is_empty() {
            self.span.start = from.start;
        }
        if self.chars < MAX_TOKEN_CHARS {
            self.text.push(c);
            self.chars += 1;
        }
        self.span.end = from.end;
    }

    /// The word read so far, if any, as a token; starts the next.
    fn take(&mut self) -> Option<Token> {
        if self.text.is_empty() {
            return None;
        }
        self.chars = 0;
        Some(Token { text: std::mem::take(&mut self.text), span: self.span.clone(), unspaced: false })
    }
}

/// Scripts written without spaces between words: each character is a
/// token of its own.
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF          // Thai, Lao
        | 0x1000..=0x109F        // Myanmar
        | 0x1100..=0x11FF        // Hangul Jamo
        | 0x1780..=0x17FF        // Khmer
        | 0x2E80..=0x2FDF        // CJK radicals
        | 0x3005..=0x3007 | 0x3021..=0x3029 | 0x3038..=0x303B
        | 0x3040..=0x30FF        // Hiragana, Katakana
        | 0x3130..=0x318F        // Hangul compatibility Jamo
        | 0x31F0..=0x31FF        // Katakana extensions
        | 0x3400..=0x4DBF        // CJK extension A
        | 0x4E00..=0x9FFF        // CJK unified ideographs
        | 0xAC00..=0xD7AF        // Hangul syllables
        | 0xF900..=0xFAFF        // CJK compatibility ideographs
        | 0xFF66..=0xFF9F        // half-width Katakana
        | 0x20000..=0x323AF      // CJK extensions B–H
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_fold_and_punctuation_separates() {
        assert_eq!(search_form("Café, CAFÉ & cafe!"), "cafe cafe cafe");
        assert_eq!(search_form("Ärger über Öl — naïve façade"), "arger uber ol naive facade");
        assert_eq!(search_form("ﬁle №5 x²"), "file no5 x2");
        assert_eq!(search_form("Ελληνικά Москва"), "ελληνικα москва");
        assert_eq!(search_form("Grüße STRASSE λόγος"), "grusse strasse λογοσ");
        assert_eq!(search_form("don't stop-me"), "don t stop me");
        assert_eq!(search_form("  \n\t"), "");
    }

    #[test]
    fn unspaced_scripts_are_cut_into_characters() {
        assert_eq!(search_form("我们在东京见面"), "我 们 在 东 京 见 面");
        assert_eq!(search_form("東京で会いましょう!"), "東 京 で 会 い ま し ょ う");
        assert_eq!(search_form("학교에 갑니다"), "학 교 에 갑 니 다");
        assert_eq!(search_form("ｶﾀｶﾅ"), "カ タ カ ナ");
        assert_eq!(search_form("hello世界42"), "hello 世 界 42");
    }

    #[test]
    fn tokens_keep_their_place_in_the_original() {
        let text = "Où est le Café? 東京";
        let tokens = tokens(text);
        let found: Vec<(&str, &str)> = tokens.iter().map(|t| (t.text.as_str(), &text[t.span.clone()])).collect();
        assert_eq!(found, [("ou", "Où"), ("est", "est"), ("le", "le"), ("cafe", "Café"), ("東", "東"), ("京", "京")]);
        assert!(tokens[4].unspaced && !tokens[3].unspaced);
    }

    #[test]
    fn names_match_ignoring_case_accents_and_punctuation() {
        assert!(name_contains("Le Café-Crew", "cafe crew"));
        assert!(name_contains("Zoë", "ZOE"));
        assert!(name_contains("東京チーム", "東京"));
        assert!(!name_contains("Zoë", "zoey"));
    }

    #[test]
    fn a_decomposed_accent_stays_in_its_word() {
        // "e" followed by U+0301 COMBINING ACUTE ACCENT.
        assert_eq!(search_form("cafe\u{301} ole\u{301}"), "cafe ole");
    }

    #[test]
    fn a_long_word_counts_by_its_first_characters() {
        let long = "x".repeat(200);
        assert_eq!(search_form(&long).len(), MAX_TOKEN_CHARS);
        let tokens = tokens(&format!("{long} y"));
        assert_eq!(tokens[0].span, 0..200, "the span still covers the whole word");
        assert_eq!(tokens[1].text, "y");
    }
}
