//! The small grammars that many fields share (RFC 9110 §5.6): the token byte table,
//! comma-separated lists and q-values. Each is written once, here: every token is checked
//! through `is_token_byte`, every field that is a list splits through `elements` (or
//! `elements_keeping_empty`), every weight goes through `qvalue`.

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
//       / DIGIT / ALPHA                                                      (RFC 9110 §5.6.2)
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    t
};

/// Whether `s` is a `token`: one or more `tchar` (methods, field names).
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_byte(b))
}

/// Whether `b` is a `tchar` (field names, methods, trailer names).
pub fn is_token_byte(b: u8) -> bool {
    TOKEN[b as usize]
}

/// The elements of a list-valued field, over every line it came on, in order (RFC 9110
/// §5.6.1): split at commas, optional whitespace trimmed, empty elements dropped, as the
/// RFC asks recipients to do.
///
/// Commas inside quoted strings are not special-cased: none of the fields we read as lists
/// puts one there in a way we act on.
pub fn elements<'a>(values: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    elements_keeping_empty(values).filter(|e| !e.is_empty())
}

/// `elements` with the empty ones kept (as `""`), for a field whose grammar has no list at
/// all and whose repetition we tolerate only when exact: `Content-Length: 42, , 42` must be
/// refused, not read as 42 (RFC 9110 §8.6; a lenient reading is a smuggling vector).
pub fn elements_keeping_empty<'a>(
    values: impl Iterator<Item = &'a str>,
) -> impl Iterator<Item = &'a str> {
    values
        .flat_map(|v| v.split(','))
        .map(|e| e.trim_matches([' ', '\t']))
}

/// An element's value and its weight in thousandths: `gzip;q=0.5` is `("gzip", Some(500))`,
/// no `q` parameter is 1000, a malformed one `None` (the element is then unusable, not the
/// whole field). Other parameters are skipped.
pub fn weighted(element: &str) -> (&str, Option<u16>) {
    let mut params = element.split(';');
    let value = params.next().unwrap_or("").trim();
    let mut q = Some(1000);
    for param in params {
        if let Some((name, v)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("q")
        {
            q = qvalue(v.trim());
        }
    }
    (value, q)
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )          (RFC 9110 §12.4.2)
/// A q-value in thousandths, or `None` when malformed.
pub fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["a, b", "c"], &["a", "b", "c"]),
            (&[" a ,, ,\tb\t"], &["a", "b"]),
            (&[""], &[]),
            (&[",,,"], &[]),
        ];
        for (input, want) in cases {
            let got: Vec<_> = elements(input.iter().copied()).collect();
            assert_eq!(&got, want, "{input:?}");
        }
        let kept: Vec<_> = elements_keeping_empty([" 42 , ,42,"].into_iter()).collect();
        assert_eq!(kept, ["42", "", "42", ""]);
    }

    #[test]
    fn tokens() {
        assert!(is_token(b"GET") && is_token(b"X-Custom_1.0~!#$%&'*+^`|"));
        for bad in [
            &b""[..],
            b"a b",
            b"a:b",
            b"a\"b",
            b"caf\xc3\xa9",
            b"(x)",
            b"a\0",
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn qvalues() {
        for (input, want) in [
            ("1", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.125", Some(125)),
            ("0.1234", None),
            ("2", None),
            ("", None),
            ("0.x", None),
            ("-0", None),
        ] {
            assert_eq!(qvalue(input), want, "{input:?}");
        }
        assert_eq!(weighted("gzip;q=0.5"), ("gzip", Some(500)));
        assert_eq!(
            weighted(" text/html ; level=1 ; Q=0 "),
            ("text/html", Some(0))
        );
        assert_eq!(weighted("br"), ("br", Some(1000)));
        assert_eq!(weighted("br;q=bad"), ("br", None));
    }
}
