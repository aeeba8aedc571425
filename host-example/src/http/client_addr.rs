//! The client's address behind reverse proxies: `Forwarded` (RFC 7239) or, without it,
//! `X-Forwarded-For`, believed only as far as the hops are listed with `--trusted-proxy`.
//!
//! Walking from the connection's peer towards the client, each hop that is a trusted proxy
//! vouches for the one before it; the first address that is not a trusted proxy is the
//! client. Anything a client writes into those headers itself sits to the left of what its
//! first trusted proxy appended, so it is never reached. Without `--trusted-proxy`, or when
//! the peer is not listed, the headers are ignored and the peer is the client. The host keys
//! no limit by address (the opt-in rate limit is per portal user and company, after
//! authentication): the address is what the request log line shows.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client's address for a request that arrived from `peer` with `headers`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded = headers.get_all("forwarded").iter().next().is_some();
    let hops: Vec<Option<IpAddr>> = if forwarded {
        headers
            .get_all("forwarded")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .map(forwarded_for)
            .collect()
    } else {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .map(|s| parse_node(s.trim()))
            .collect()
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        if !is_trusted(&client) {
            break;
        }
        match hop {
            Some(ip) => client = ip,
            // `unknown`, an obfuscated name or junk: the last trusted hop is as far as we know.
            None => break,
        }
    }
    client
}

/// The `for=` node of one `Forwarded` element (`for=192.0.2.60;proto=http;by=…`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_node(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// A node: `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711` or a bare
/// `2001:db8::1` (X-Forwarded-For).
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("a CIDR")).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).expect("a header value"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn headers_count_only_from_a_trusted_peer() {
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.9")]);
        // No --trusted-proxy: the peer, whatever the headers say.
        assert_eq!(
            client_ip(ip("198.51.100.7"), &spoofed, &[]),
            ip("198.51.100.7")
        );
        // A peer that is not listed.
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("198.51.100.7"), &spoofed, &trusted),
            ip("198.51.100.7")
        );
        // From the load balancer: the address it appended.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &spoofed, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_and_what_it_wrote_is_ignored() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        // The client sent "X-Forwarded-For: 1.2.3.4" itself; the edge appended its address, an
        // inner proxy appended the edge's.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.9"));
        // Several header lines are one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "[2001:db8::5]:4711, fd00::1"),
        ]);
        assert_eq!(client_ip(ip("fd00::2"), &h, &trusted), ip("2001:db8::5"));
        // Every hop trusted: the leftmost.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.9.9.9"));
        // Junk stops the walk at the last trusted hop.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, not-an-ip, 10.1.1.1")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_is_preferred_and_parsed_as_rfc_7239_writes_it() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            (
                "forwarded",
                r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https, For=10.1.1.1;by=10.0.0.2"#,
            ),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("forwarded", "for=unknown, for=10.1.1.1")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.1.1.1"));
        let h = headers(&[("forwarded", "for=192.0.2.43:47011;proto=http")]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("192.0.2.43"));
    }
}
