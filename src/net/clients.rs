//! Connections per client: a client (an IPv4 address, an IPv6 /64) may hold only so many
//! connections at once, so that a few silent sockets from one place cannot take every slot of
//! the global cap. Counting only; refusing is `server.rs`'s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::security::throttle::throttle_key;

/// Open connections by client.
#[derive(Debug)]
pub struct ClientCounts {
    /// Most connections one client may hold; 0 is no limit.
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientCounts {
    pub fn new(max: usize) -> ClientCounts {
        ClientCounts {
            max,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one more connection of `peer`'s client, unless it already holds the most it may
    /// (false). Every true must be followed by one `leave`.
    pub fn admit(&self, peer: IpAddr) -> bool {
        if self.max == 0 {
            return true;
        }
        let mut open = self.open.lock().expect("client counts lock");
        let count = open.entry(throttle_key(peer)).or_insert(0);
        if *count >= self.max {
            return false;
        }
        *count += 1;
        true
    }

    /// One connection `admit`ted for `peer` has ended.
    pub fn leave(&self, peer: IpAddr) {
        if self.max == 0 {
            return;
        }
        let mut open = self.open.lock().expect("client counts lock");
        let key = throttle_key(peer);
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            // an entry per client ever seen would grow without bound
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_at_most_max_and_a_slot_comes_back_when_one_leaves() {
        let counts = ClientCounts::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(counts.admit(a) && counts.admit(a));
        assert!(!counts.admit(a));
        assert!(counts.admit(b), "another client is not affected");
        counts.leave(a);
        assert!(counts.admit(a));
        // one IPv6 /64 is one client
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        assert!(counts.admit(v6a) && counts.admit(v6b));
        assert!(!counts.admit(v6a));
        for ip in [a, a, b, v6a, v6b] {
            counts.leave(ip);
        }
        assert!(counts.open.lock().unwrap().is_empty());
    }

    #[test]
    fn zero_is_no_limit() {
        let counts = ClientCounts::new(0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..1000).all(|_| counts.admit(a)));
    }
}
