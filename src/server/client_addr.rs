//! Where a request comes from: the TCP peer, or, when the peer is a
//! trusted reverse proxy (`--trusted-proxy`), the client it names in
//! `X-Forwarded-For`. The sign-in throttle counts failures per client.

use crate::server::state::AppState;
use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use ipnet::IpNet;
use leptos::prelude::use_context;
use std::net::{IpAddr, SocketAddr};

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|net| net.contains(&ip))
}

fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

/// The client of a request from `peer` carrying the `X-Forwarded-For`
/// values `forwarded_for` (all headers, in order). Read from the right:
/// each trusted proxy appends the address it got the request from, so the
/// first address that is not a trusted proxy is the client. A peer that is
/// not a trusted proxy is the client itself, whatever it claims; a hop that
/// cannot be read stops the walk at the last address read.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    proxies: &[IpNet],
) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    let mut client = peer;
    for value in forwarded_for.rev() {
        for hop in value.rsplit(',') {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !trusted(ip, proxies) {
                return client;
            }
        }
    }
    client
}

/// The address the current request (of a server function) came from: the TCP peer, or the client a
/// trusted reverse proxy names in `X-Forwarded-For`.
pub fn of_request() -> Option<String> {
    let parts = use_context::<Parts>()?;
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let proxies = use_context::<AppState>()
        .map(|state| state.trusted_proxies.clone())
        .unwrap_or_else(|| std::sync::Arc::new([]));
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>();
    Some(client_ip(peer, forwarded.into_iter(), &proxies).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), ["198.51.100.1"].into_iter(), &proxies),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.5"), ["198.51.100.1"].into_iter(), &[]),
            ip("10.0.0.5"),
            "no proxy trusted: the peer"
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_hops_to_its_left_are_ignored() {
        let proxies = nets(&["10.0.0.0/8", "192.168.1.1/32"]);
        let peer = ip("10.0.0.5");
        assert_eq!(
            client_ip(peer, ["198.51.100.1"].into_iter(), &proxies),
            ip("198.51.100.1")
        );
        // The client claimed to be 1.2.3.4; the proxy appended what it saw.
        assert_eq!(
            client_ip(
                peer,
                ["1.2.3.4, 198.51.100.1, 192.168.1.1"].into_iter(),
                &proxies
            ),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(peer, ["1.2.3.4", "198.51.100.1"].into_iter(), &proxies),
            ip("198.51.100.1"),
            "several headers read as one list"
        );
        assert_eq!(
            client_ip(peer, ["[2001:db8::1]:443"].into_iter(), &proxies),
            ip("2001:db8::1")
        );
        assert_eq!(client_ip(peer, std::iter::empty(), &proxies), peer);
        assert_eq!(
            client_ip(peer, ["garbage, 198.51.100.1"].into_iter(), &proxies),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_ip(peer, ["198.51.100.1, garbage"].into_iter(), &proxies),
            peer,
            "an unreadable hop from a trusted proxy: the proxy itself"
        );
    }
}
