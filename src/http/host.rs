//! The `Host` field and the authority of an absolute-form target (RFC 9110 §7.2: `uri-host
//! [ ":" port ]`), read strictly: a request naming its host in any other shape is a 400 from
//! the parser, so the rebinding check (`security/origin.rs`) only ever compares names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host of a `Host` value or target authority, lower-cased and with IPv6 brackets kept,
/// or `None` when it is malformed: no name, anything but `:port` after an IPv6 literal, a
/// port that is not a number up to 65535 (RFC 3986 §3.2.3 allows it empty), user info, or a
/// byte a registered name cannot hold here. Percent-encoded and IPvFuture hosts are refused
/// too: no browser sends them.
pub fn host_name(host: &str) -> Option<String> {
    let host = host.trim();
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        inside.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        (&host[..inside.len() + 2], port)
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if name.is_empty() || !port.is_none_or(is_port) {
        return None;
    }
    if !name.starts_with('[')
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// The address a name from `host_name` spells (`192.0.2.7`, `[2001:db8::7]`), if it is one.
pub fn ip_literal(name: &str) -> Option<IpAddr> {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(inside) => inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => name.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

fn is_port(port: &str) -> bool {
    port.is_empty() || (port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("localhost", Some("localhost")),
            (" LocalHost:4221 ", Some("localhost")),
            ("files.lan:", Some("files.lan")),
            ("[::1]:80", Some("[::1]")),
            ("[::1]", Some("[::1]")),
            ("[::1]:", Some("[::1]")),
            ("[2001:DB8::7]", Some("[2001:db8::7]")),
            ("192.0.2.7:1", Some("192.0.2.7")),
            ("h:65535", Some("h")),
            ("h:0080", Some("h")),
            ("", None),
            (":80", None),
            ("localhost:x", None),
            ("localhost:65536", None),
            ("localhost:99999999999999999999", None),
            ("localhost:+80", None),
            ("localhost:80:80", None),
            ("[::1", None),
            ("[::1]x", None),
            ("[::1]:x", None),
            ("[::1]]", None),
            ("[::1]:80]", None),
            ("[]", None),
            ("[]:80", None),
            ("[nonsense]", None),
            ("[v1.x]", None),
            ("::1", None),
            ("a b", None),
            ("a/b", None),
            ("user@host", None),
            ("user:pw@host", None),
            ("ho%73t", None),
        ];
        for (host, want) in cases {
            assert_eq!(host_name(host).as_deref(), *want, "{host:?}");
        }
    }

    #[test]
    fn ip_literals() {
        assert_eq!(ip_literal("192.0.2.7"), Some([192, 0, 2, 7].into()));
        assert_eq!(ip_literal("[::1]"), Some(Ipv6Addr::LOCALHOST.into()));
        assert_eq!(ip_literal("::1"), None);
        assert_eq!(ip_literal("localhost"), None);
        assert_eq!(ip_literal("1.2.3"), None);
    }
}
