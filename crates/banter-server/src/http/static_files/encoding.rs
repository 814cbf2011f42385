//! Content negotiation for the web client's files: which of the encodings we
//! hold (brotli, gzip, identity) a request's `Accept-Encoding` prefers.
//!
//! RFC 9110 §12.5.3: each coding may carry a weight (`q=0` means "not
//! acceptable"), `*` stands for every coding not listed, and `identity` is
//! acceptable unless it (or `*`) is given `q=0`. A header we cannot read is
//! treated as absent, which means identity: a client is never sent an
//! encoding it did not ask for. On equal weights the smaller encoding wins
//! (brotli, then gzip, then identity).

/// A content coding the server can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    /// The `Content-Encoding` token, `None` for identity.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Encoding::Brotli => Some("br"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Identity => None,
        }
    }

    /// The suffix that makes this encoding's ETag differ from the others'.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => "-br",
            Encoding::Gzip => "-gz",
            Encoding::Identity => "",
        }
    }

    fn token(self) -> &'static str {
        self.header_value().unwrap_or("identity")
    }
}

/// Longest `Accept-Encoding` value read; past it the header counts as absent.
const MAX_HEADER_LEN: usize = 1024;

/// The preferred encoding among `available` (in order of preference on equal
/// weights; identity is always available) for an `Accept-Encoding` value.
pub fn negotiate(accept_encoding: Option<&str>, available: &[Encoding]) -> Encoding {
    let Some(header) = accept_encoding.filter(|h| h.len() <= MAX_HEADER_LEN) else {
        return Encoding::Identity;
    };
    let Some(weights) = parse(header) else {
        return Encoding::Identity;
    };
    let weight_of = |encoding: Encoding| -> u16 {
        let listed = weights.iter().find(|(token, _)| token.eq_ignore_ascii_case(encoding.token()));
        let star = weights.iter().find(|(token, _)| *token == "*");
        match (listed, star, encoding) {
            (Some((_, q)), _, _) => *q,
            (None, Some((_, q)), _) => *q,
            // Identity is acceptable unless excluded; other codings only when asked for.
            (None, None, Encoding::Identity) => 1,
            (None, None, _) => 0,
        }
    };
    let mut best = (Encoding::Identity, weight_of(Encoding::Identity));
    for &encoding in available.iter().filter(|e| **e != Encoding::Identity) {
        let q = weight_of(encoding);
        if q > 0 && (q > best.1 || (q == best.1 && best.0 == Encoding::Identity)) {
            best = (encoding, q);
        }
    }
    // Nothing acceptable at all: identity anyway (RFC 9110 allows ignoring the header).
    best.0
}

/// `(token, weight in thousandths)` per element, or `None` if malformed.
fn parse(header: &str) -> Option<Vec<(&str, u16)>> {
    let mut out = Vec::new();
    for element in header.split(',') {
        let mut parts = element.split(';');
        let token = parts.next().unwrap_or_default().trim();
        if token.is_empty() {
            continue;
        }
        let mut q = 1000;
        for param in parts {
            let (name, value) = param.split_once('=')?;
            if name.trim().eq_ignore_ascii_case("q") {
                q = parse_qvalue(value.trim())?;
            }
        }
        out.push((token, q));
    }
    Some(out)
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths.
fn parse_qvalue(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut thousandths = 0u16;
    for (i, digit) in frac.bytes().enumerate() {
        thousandths += u16::from(digit - b'0') * [100, 10, 1][i];
    }
    let q = whole + thousandths;
    (q <= 1000).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::Encoding::{Brotli, Gzip, Identity};
    use super::*;

    const ALL: &[Encoding] = &[Brotli, Gzip, Identity];

    #[test]
    fn no_header_means_identity() {
        assert_eq!(negotiate(None, ALL), Identity);
        assert_eq!(negotiate(Some(""), ALL), Identity);
    }

    #[test]
    fn a_browser_gets_brotli_and_gzip_only_clients_get_gzip() {
        assert_eq!(negotiate(Some("gzip, deflate, br, zstd"), ALL), Brotli);
        assert_eq!(negotiate(Some("gzip"), ALL), Gzip);
        assert_eq!(negotiate(Some("GZIP"), ALL), Gzip);
    }

    #[test]
    fn weights_decide() {
        assert_eq!(negotiate(Some("br;q=0.5, gzip;q=0.8"), ALL), Gzip);
        assert_eq!(negotiate(Some("br;q=0, gzip"), ALL), Gzip);
        assert_eq!(negotiate(Some("br;q=0, gzip;q=0"), ALL), Identity);
        assert_eq!(negotiate(Some("identity;q=1, gzip;q=0.5"), ALL), Identity);
        assert_eq!(negotiate(Some("*"), ALL), Brotli);
        assert_eq!(negotiate(Some("*;q=0.1, br;q=0"), ALL), Gzip);
    }

    #[test]
    fn only_what_is_available_is_chosen() {
        assert_eq!(negotiate(Some("br"), &[Gzip, Identity]), Identity);
        assert_eq!(negotiate(Some("br, gzip"), &[Identity]), Identity);
    }

    #[test]
    fn a_malformed_header_means_identity() {
        assert_eq!(negotiate(Some("br;q=2"), ALL), Identity);
        assert_eq!(negotiate(Some("br;q=abc"), ALL), Identity);
        assert_eq!(negotiate(Some("br;q"), ALL), Identity);
        assert_eq!(negotiate(Some(&"gzip, ".repeat(300)), ALL), Identity);
    }
}
