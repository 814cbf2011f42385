//! A search as typed, read into terms, and said in each engine's query
//! language.
//!
//! Every term must be found (AND). A word finds the same word (as the
//! tokenizer folds it), not longer words it begins: a prefix query makes
//! the engine merge the postings of every word with that prefix across the
//! whole server before it can stop at the newest matches, 30 ms for a
//! common prefix over a million messages, so `meet` does not find
//! `meeting`. A run of characters of an unspaced script is a phrase: its
//! characters in that order, next to each other.
//!
//! The terms are made of letters and digits only (the tokenizer keeps
//! nothing else), so they need no escaping in either query language: no
//! quote, operator or parenthesis of the user's reaches the engine.

use std::collections::VecDeque;
use std::ops::Range;

use banter_protocol::limits::{validate_search_length, Invalid, MAX_SEARCH_TERMS};
use banter_protocol::ErrorCode;

use super::text::{for_each_token, tokens, Token};

/// A parsed search: the terms every result contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<Term>,
}

/// One term of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Term {
    /// A word.
    Word(String),
    /// Characters of an unspaced script, in order and adjacent.
    Phrase(Vec<String>),
}

impl SearchQuery {
    /// Reads a search as typed. Refuses a query longer than
    /// [`MAX_SEARCH_QUERY_CHARS`](banter_protocol::limits::MAX_SEARCH_QUERY_CHARS) (`query_too_long`), one with nothing to
    /// search for, only punctuation say, or with more than
    /// [`MAX_SEARCH_TERMS`] different terms (`invalid_query`).
    pub fn parse(query: &str) -> Result<SearchQuery, Invalid> {
        validate_search_length(query)?;
        let mut terms: Vec<Term> = Vec::new();
        let mut phrase: Vec<Token> = Vec::new();
        let end_phrase = |phrase: &mut Vec<Token>, terms: &mut Vec<Term>| {
            if !phrase.is_empty() {
                terms.push(Term::Phrase(phrase.drain(..).map(|t| t.text).collect()));
            }
        };
        for token in tokens(query) {
            // Characters typed next to each other make one phrase.
            if token.unspaced {
                if phrase.last().is_some_and(|last| last.span.end != token.span.start) {
                    end_phrase(&mut phrase, &mut terms);
                }
                phrase.push(token);
                continue;
            }
            end_phrase(&mut phrase, &mut terms);
            terms.push(Term::Word(token.text));
        }
        end_phrase(&mut phrase, &mut terms);
        let mut unique: Vec<Term> = Vec::with_capacity(terms.len());
        for term in terms {
            if !unique.contains(&term) {
                unique.push(term);
            }
        }
        if unique.is_empty() {
            return Err(Invalid { code: ErrorCode::InvalidQuery, message: "the search has no letters or digits".into() });
        }
        if unique.len() > MAX_SEARCH_TERMS {
            return Err(Invalid {
                code: ErrorCode::InvalidQuery,
                message: format!("a search has at most {MAX_SEARCH_TERMS} different words"),
            });
        }
        Ok(SearchQuery { terms: unique })
    }

    /// How often each term occurs in `text`, and how many tokens it has:
    /// what ranking needs of a message (its first 2 KiB).
    pub(crate) fn frequencies(&self, text: &str) -> (Vec<u32>, usize) {
        let tokens = tokens(text);
        let mut counts = vec![0u32; self.terms.len()];
        for at in 0..tokens.len() {
            for (term, count) in self.terms.iter().zip(counts.iter_mut()) {
                if term.match_at(&tokens[at..]).is_some() {
                    *count += 1;
                }
            }
        }
        (counts, tokens.len())
    }

    /// Where in `text` the terms are found: byte ranges, in order, not
    /// overlapping, at most `max` of them (what a snippet highlights). The
    /// text is read as a stream: memory holds the longest term's tokens,
    /// not the tokens of a 400 KB text.
    pub fn highlights(&self, text: &str, max: usize) -> Vec<Range<usize>> {
        let longest = self.terms.iter().map(Term::tokens).max().unwrap_or(1);
        let mut window: VecDeque<Token> = VecDeque::with_capacity(longest);
        let mut found: Vec<Range<usize>> = Vec::new();
        for_each_token(text, |token| {
            window.push_back(token);
            if window.len() == longest {
                self.match_front(&mut window, &mut found, max);
            }
        });
        while !window.is_empty() {
            self.match_front(&mut window, &mut found, max);
        }
        found
    }

    /// Matches the longest term at the first token of `window` (the tokens
    /// that follow it, as many as the longest term has) and drops what it
    /// covered, or that one token.
    fn match_front(&self, window: &mut VecDeque<Token>, found: &mut Vec<Range<usize>>, max: usize) {
        let tokens = window.make_contiguous();
        match self.terms.iter().filter_map(|term| term.match_at(tokens)).max() {
            Some(n) => {
                let range = tokens[0].span.start..tokens[n - 1].span.end;
                let room = found.len() < max;
                match found.last_mut() {
                    // Adjacent matches (a phrase's characters) read as one.
                    Some(last) if last.end == range.start => last.end = range.end,
                    _ if room => found.push(range),
                    _ => {}
                }
                window.drain(..n);
            }
            None => {
                window.pop_front();
            }
        }
    }

    /// The terms in SQLite FTS5's query syntax: `"meet" AND "東 京"`.
    pub(crate) fn fts5(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|term| match term {
                Term::Word(text) => format!("\"{text}\""),
                Term::Phrase(chars) => format!("\"{}\"", chars.join(" ")),
            })
            .collect();
        terms.join(" AND ")
    }

    /// The terms as a PostgreSQL `tsquery` (for `to_tsquery('simple', …)`):
    /// `'meet' & ('東' <-> '京')`.
    pub(crate) fn tsquery(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|term| match term {
                Term::Word(text) => format!("'{text}'"),
                Term::Phrase(chars) => {
                    let quoted: Vec<String> = chars.iter().map(|c| format!("'{c}'")).collect();
                    format!("({})", quoted.join(" <-> "))
                }
            })
            .collect();
        terms.join(" & ")
    }
}

impl Term {
    /// How many tokens the term is.
    fn tokens(&self) -> usize {
        match self {
            Term::Word(_) => 1,
            Term::Phrase(chars) => chars.len(),
        }
    }

    /// How many tokens from `tokens[0]` on this term covers, if it matches
    /// there.
    pub(crate) fn match_at(&self, tokens: &[Token]) -> Option<usize> {
        match self {
            Term::Word(text) => (tokens.first()?.text == *text).then_some(1),
            Term::Phrase(chars) => {
                let found = tokens.len() >= chars.len() && chars.iter().zip(tokens).all(|(c, t)| *c == t.text);
                found.then_some(chars.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use banter_protocol::limits::MAX_SEARCH_QUERY_CHARS;

    fn parse(q: &str) -> SearchQuery {
        SearchQuery::parse(q).unwrap()
    }

    #[test]
    fn words_are_folded_and_every_one_must_be_found() {
        let q = parse("Meet at the CAFÉ, at 5");
        assert_eq!(q.fts5(), r#""meet" AND "at" AND "the" AND "cafe" AND "5""#);
        assert_eq!(q.tsquery(), "'meet' & 'at' & 'the' & 'cafe' & '5'");
    }

    #[test]
    fn frequencies_count_each_term_and_the_tokens() {
        let q = parse("pizza 東京");
        assert_eq!(q.frequencies("Pizza, pizza! 東京 and 東 京 pizzas"), (vec![2, 2], 8));
    }

    #[test]
    fn characters_typed_together_are_one_phrase() {
        let q = parse("東京 大阪x");
        assert_eq!(q.fts5(), r#""東 京" AND "大 阪" AND "x""#);
        assert_eq!(q.tsquery(), "('東' <-> '京') & ('大' <-> '阪') & 'x'");
    }

    #[test]
    fn no_quote_or_operator_of_the_user_reaches_the_engine() {
        let q = parse(r#"") OR conv:c1 --'; DROP TABLE messages;* NEAR(a b)"#);
        assert_eq!(
            q.fts5(),
            r#""or" AND "conv" AND "c1" AND "drop" AND "table" AND "messages" AND "near" AND "a" AND "b""#
        );
        assert!(!q.tsquery().contains(';') && !q.tsquery().contains('"'));
    }

    #[test]
    fn highlights_are_the_matched_words_of_the_original() {
        let text = "We MEET at the Café; meeting 東京で, not Tokyo.";
        let q = parse("meet cafe 東京");
        let found: Vec<&str> = q.highlights(text, 10).into_iter().map(|r| &text[r]).collect();
        assert_eq!(found, ["MEET", "Café", "東京"]);
        assert!(parse("xyz").highlights(text, 10).is_empty());
        assert_eq!(q.highlights(text, 2).len(), 2, "at most max");
        // A phrase at the very end, and phrases that overlap the stream's window.
        let tail = "x 東 京東京";
        let found: Vec<&str> = parse("東京").highlights(tail, 10).into_iter().map(|r| &tail[r]).collect();
        assert_eq!(found, ["東 京東京"], "adjacent matches read as one");
    }

    #[test]
    fn repeated_terms_count_once() {
        assert_eq!(parse("hi hi HI").terms.len(), 1);
    }

    #[test]
    fn too_long_empty_and_too_many_terms_are_refused() {
        let long = "a".repeat(MAX_SEARCH_QUERY_CHARS + 1);
        assert_eq!(SearchQuery::parse(&long).unwrap_err().code, ErrorCode::QueryTooLong);
        assert_eq!(SearchQuery::parse(&"é".repeat(10 * 1024)).unwrap_err().code, ErrorCode::QueryTooLong);
        assert!(SearchQuery::parse(&"é".repeat(MAX_SEARCH_QUERY_CHARS)).is_ok());
        assert_eq!(SearchQuery::parse(" ?!… ").unwrap_err().code, ErrorCode::InvalidQuery);
        let many: Vec<String> = (0..=MAX_SEARCH_TERMS).map(|i| format!("w{i}")).collect();
        assert_eq!(SearchQuery::parse(&many.join(" ")).unwrap_err().code, ErrorCode::InvalidQuery);
    }
}
