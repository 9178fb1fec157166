//! Client networks: [`Cidr`] (an [`ipnet::IpNet`] parsed with the topology's own
//! messages) and the longest-prefix-match [`ZoneTable`] from client address to location.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) are treated as the
//! IPv4 address they carry ([`canonical_ip`]), in networks and in lookups alike.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer};

/// An IPv4 or IPv6 network (`192.0.2.0/24`, `2001:db8::/32`); host bits are cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Network of `addr` with prefix `len` (host bits cleared); `None` if `len` is too long.
    pub fn new(addr: IpAddr, len: u8) -> Option<Cidr> {
        IpNet::new(canonical_ip(addr), len)
            .ok()
            .map(|n| Cidr(n.trunc()))
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.0.network()
    }

    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// True for `/0`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical_ip(ip))
    }

    /// The network as an [`IpNet`].
    pub fn net(&self) -> IpNet {
        self.0
    }
}

/// Why a string is not a [`Cidr`] (the text names the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    #[error("`{0}` is not an IP network (address)")]
    Address(String),
    /// The part after `/` is not a number.
    #[error("`{0}` is not an IP network (prefix length)")]
    PrefixLength(String),
    /// The prefix is longer than the family allows.
    #[error("`{input}`: prefix length {len} is longer than {max}")]
    TooLong {
        /// The input.
        input: String,
        /// Its prefix length.
        len: u8,
        /// 32 or 128.
        max: u8,
    },
    /// An IPv4-mapped IPv6 network with a prefix in 33..=95.
    #[error("`{0}`: an IPv4-mapped network needs a prefix length of at most 32 or at least 96")]
    Mapped(String),
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().map_err(|_| CidrError::Address(s.into()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l
                .trim()
                .parse::<u8>()
                .map_err(|_| CidrError::PrefixLength(s.into()))?,
            None => max,
        };
        if len > max {
            return Err(CidrError::TooLong {
                input: s.into(),
                len,
                max,
            });
        }
        match Cidr::new(addr, len) {
            Some(c) => Ok(c),
            // An IPv4-mapped IPv6 network: up to /32 the length is read as the IPv4
            // prefix (as it always was); /96 and longer cover the mapped IPv4 /(len-96).
            None if len >= 96 => Ok(Cidr::new(addr, len - 96).expect("at most 32")),
            None => Err(CidrError::Mapped(s.into())),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len())
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) become IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Longest-prefix match of client addresses to locations: one hash map per prefix
/// length in use, longest first, keyed by the network address.
#[derive(Debug, Clone, Default)]
pub struct ZoneTable {
    v4: Vec<(u8, HashMap<Ipv4Addr, usize>)>,
    v6: Vec<(u8, HashMap<Ipv6Addr, usize>)>,
}

impl ZoneTable {
    /// Maps `cidr` to `location`; returns the location it was mapped to before, if any.
    pub(crate) fn insert(&mut self, cidr: Cidr, location: usize) -> Option<usize> {
        match cidr.net() {
            IpNet::V4(n) => insert_level(&mut self.v4, n.prefix_len(), n.network(), location),
            IpNet::V6(n) => insert_level(&mut self.v6, n.prefix_len(), n.network(), location),
        }
    }

    /// The location of `ip` and the prefix length of the matching network.
    pub fn lookup(&self, ip: IpAddr) -> Option<(usize, u8)> {
        match canonical_ip(ip) {
            IpAddr::V4(a) => self.v4.iter().find_map(|(len, m)| {
                let net = Ipv4Net::new(a, *len).ok()?.network();
                m.get(&net).map(|l| (*l, *len))
            }),
            IpAddr::V6(a) => self.v6.iter().find_map(|(len, m)| {
                let net = Ipv6Net::new(a, *len).ok()?.network();
                m.get(&net).map(|l| (*l, *len))
            }),
        }
    }
}

fn insert_level<K: std::hash::Hash + Eq>(
    levels: &mut Vec<(u8, HashMap<K, usize>)>,
    len: u8,
    key: K,
    location: usize,
) -> Option<usize> {
    let i = match levels.iter().position(|(l, _)| *l == len) {
        Some(i) => i,
        None => {
            levels.push((len, HashMap::new()));
            levels.sort_by_key(|l| std::cmp::Reverse(l.0));
            levels
                .iter()
                .position(|(l, _)| *l == len)
                .expect("inserted")
        }
    };
    levels[i].1.insert(key, location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains("10.200.0.1".parse().unwrap()));
        assert!("10.0.0.0/40".parse::<Cidr>().is_err());
        assert!("nope/8".parse::<Cidr>().is_err());
        assert_eq!("::1".parse::<Cidr>().unwrap().len(), 128);
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains("::ffff:192.0.2.9".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(!v6.contains("192.0.2.9".parse().unwrap()));
        assert_eq!(v6.to_string(), "2001:db8::/32");
        assert_eq!(Cidr::new("10.9.9.9".parse().unwrap(), 33), None);
        assert_eq!(
            Cidr::new("::ffff:10.9.9.9".parse().unwrap(), 8).map(|c| c.to_string()),
            Some("10.0.0.0/8".into())
        );
        // Used to panic ("length checked"): a mapped /104 is the IPv4 /8.
        let m: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(m.to_string(), "10.0.0.0/8");
        assert!("::ffff:10.0.0.0/64".parse::<Cidr>().is_err());
    }

    #[test]
    fn longest_prefix_wins() {
        let mut z = ZoneTable::default();
        z.insert("198.51.100.0/24".parse().unwrap(), 1);
        z.insert("198.51.100.128/25".parse().unwrap(), 2);
        z.insert("0.0.0.0/0".parse().unwrap(), 3);
        assert_eq!(z.lookup("198.51.100.200".parse().unwrap()), Some((2, 25)));
        assert_eq!(z.lookup("198.51.100.1".parse().unwrap()), Some((1, 24)));
        assert_eq!(z.lookup("203.0.113.1".parse().unwrap()), Some((3, 0)));
        assert_eq!(z.lookup("2001:db8::1".parse().unwrap()), None);
    }
}
