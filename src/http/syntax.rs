//! The small grammars that many fields share (RFC 9110 §5.6): comma-separated lists and
//! q-values. Each is written once, here; every field that is a list splits through
//! `elements`, every weight goes through `qvalue`.

/// The elements of a list-valued field, over every line it came on, in order (RFC 9110
/// §5.6.1): split at commas, optional whitespace trimmed, empty elements dropped, as the
/// RFC asks recipients to do.
///
/// Commas inside quoted strings are not special-cased: none of the fields we read as lists
/// puts one there in a way we act on.
pub fn elements<'a>(values: impl Iterator<Item = &'a str>) -> impl Iterator<Item = &'a str> {
    values
        .flat_map(|v| v.split(','))
        .map(|e| e.trim_matches([' ', '\t']))
        .filter(|e| !e.is_empty())
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
