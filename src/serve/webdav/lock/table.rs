//! The table itself: locks by token, by the resource they are rooted at (ordered, so that a
//! subtree is one range) and by expiry (so that expired locks go first, cheaply, before every
//! operation); one mutex around all three, each change one step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use super::{
    Depth, Lock, LockError, LockLimits, Locked, NewLock, Timeout, compatible, new_token,
    self_and_ancestors,
};

/// The locks, safe to share between connection threads.
#[derive(Debug)]
pub struct LockTable {
    limits: LockLimits,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_token: HashMap<String, Lock>,
    /// Tokens by the resource they are rooted at; ordered, so that what lies under a path is
    /// one range.
    by_root: BTreeMap<String, Vec<String>>,
    by_expiry: BTreeSet<(Instant, String)>,
}

impl Inner {
    fn purge(&mut self, now: Instant) {
        while let Some((when, token)) = self.by_expiry.first().cloned() {
            if when > now {
                break;
            }
            self.remove(&token);
        }
    }

    fn insert(&mut self, lock: Lock) {
        self.by_expiry.insert((lock.expires, lock.token.clone()));
        self.by_root
            .entry(lock.root.clone())
            .or_default()
            .push(lock.token.clone());
        self.by_token.insert(lock.token.clone(), lock);
    }

    fn remove(&mut self, token: &str) -> Option<Lock> {
        let lock = self.by_token.remove(token)?;
        self.by_expiry.remove(&(lock.expires, lock.token.clone()));
        if let Some(tokens) = self.by_root.get_mut(&lock.root) {
            tokens.retain(|t| t != token);
            if tokens.is_empty() {
                self.by_root.remove(&lock.root);
            }
        }
        Some(lock)
    }

    /// The locks rooted exactly at `root`.
    fn rooted_at<'a>(&'a self, root: &str) -> impl Iterator<Item = &'a Lock> {
        self.by_root
            .get(root)
            .into_iter()
            .flatten()
            .filter_map(|t| self.by_token.get(t))
    }

    /// The locks whose scope includes `path`.
    fn covering<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Lock> {
        self_and_ancestors(path)
            .flat_map(|a| self.rooted_at(a))
            .filter(move |l| l.covers(path))
    }

    /// The locks rooted strictly below `path`.
    fn below<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a Lock> {
        // names sharing a prefix are one range of the ordered map
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        self.by_root
            .range(prefix.clone()..)
            .take_while(move |(root, _)| root.starts_with(&prefix))
            .filter(|(root, _)| !root.is_empty())
            .flat_map(|(_, tokens)| tokens.iter().filter_map(|t| self.by_token.get(t)))
    }
}

impl LockTable {
    pub fn new(limits: LockLimits) -> LockTable {
        LockTable {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self, now: Instant) -> std::sync::MutexGuard<'_, Inner> {
        // a panic elsewhere leaves the maps consistent (every change is one step)
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.purge(now);
        inner
    }

    /// Takes a lock (LOCK with a `lockinfo` body). Refused if a lock whose scope overlaps
    /// (on the resource, on an ancestor with depth infinity, or, for a new depth-infinity
    /// lock, below it) is exclusive or the new one is: RFC 4918 §6.1, §9.10.5 — also when the
    /// same client holds it (litmus `notowner_lock` expects 423 for a second exclusive lock).
    pub fn lock(&self, now: Instant, new: NewLock) -> Result<Lock, LockError> {
        if new
            .owner
            .as_ref()
            .is_some_and(|o| o.len() > self.limits.max_owner_bytes)
        {
            return Err(LockError::OwnerTooLarge);
        }
        let mut inner = self.inner(now);
        let in_the_way = inner
            .covering(&new.root)
            .chain(
                inner
                    .below(&new.root)
                    .filter(|_| new.depth == Depth::Infinity),
            )
            .find(|l| !compatible(l.scope, new.scope));
        if let Some(l) = in_the_way {
            return Err(LockError::Conflict {
                root: l.root.clone(),
            });
        }
        if inner.by_token.len() >= self.limits.max_locks {
            return Err(LockError::TableFull);
        }
        let lock = Lock {
            token: new_token()?,
            root: new.root,
            scope: new.scope,
            depth: new.depth,
            owner: new.owner,
            principal: new.principal,
            expires: now + self.limits.grant(new.timeout),
        };
        inner.insert(lock.clone());
        Ok(lock)
    }

    /// Refreshes a lock (LOCK without a body, RFC 4918 §9.10.2): the first of the `submitted`
    /// tokens (from the `If` header) naming a lock usable by `principal` whose scope includes
    /// `path` gets a new timeout.
    pub fn refresh<'a>(
        &self,
        now: Instant,
        path: &str,
        submitted: impl IntoIterator<Item = &'a str>,
        principal: Option<&str>,
        timeout: Option<Timeout>,
    ) -> Result<Lock, LockError> {
        let mut inner = self.inner(now);
        let token = submitted
            .into_iter()
            .find(|t| {
                inner
                    .by_token
                    .get(*t)
                    .is_some_and(|l| l.covers(path) && l.usable_by(principal))
            })
            .ok_or(LockError::NoSuchLock)?
            .to_owned();
        let mut lock = inner.remove(&token).expect("the token was just found");
        lock.expires = now + self.limits.grant(timeout);
        inner.insert(lock.clone());
        Ok(lock)
    }

    /// Removes the lock `token` (UNLOCK, RFC 4918 §9.11): `path` must be within its scope.
    pub fn unlock(
        &self,
        now: Instant,
        path: &str,
        token: &str,
        principal: Option<&str>,
    ) -> Result<Lock, LockError> {
        let mut inner = self.inner(now);
        let lock = inner
            .by_token
            .get(token)
            .filter(|l| l.covers(path))
            .ok_or(LockError::NoSuchLock)?;
        if !lock.usable_by(principal) {
            return Err(LockError::NotOwner);
        }
        Ok(inner.remove(token).expect("the token was just found"))
    }

    /// May a request change `path` (and, for `Depth::Infinity`, everything under it: DELETE or
    /// MOVE of a collection, COPY or MOVE onto one), given the tokens it `submitted`? Every
    /// resource affected that is locked needs one of its locks' tokens among them (one of
    /// several shared locks is enough), usable by `principal` (RFC 4918 §7.4, §7.5).
    ///
    /// The caller asks once per resource changed: the target; for a new member or a removed
    /// one, its parent collection too (depth 0: a lock on a collection protects its list of
    /// members); for MOVE the source and the destination.
    pub fn check(
        &self,
        now: Instant,
        path: &str,
        depth: Depth,
        submitted: &[&str],
        principal: Option<&str>,
    ) -> Result<(), Locked> {
        let inner = self.inner(now);
        let satisfied = |locks: &mut dyn Iterator<Item = &Lock>| -> Result<(), Locked> {
            let mut first = None;
            for lock in locks {
                if submitted.contains(&lock.token.as_str()) && lock.usable_by(principal) {
                    return Ok(());
                }
                first.get_or_insert_with(|| lock.root.clone());
            }
            first.map_or(Ok(()), |root| Err(Locked { root }))
        };
        satisfied(&mut inner.covering(path))?;
        if depth == Depth::Zero {
            return Ok(());
        }
        // the members of `path` are covered by the depth-infinity locks at or above it
        satisfied(&mut inner.covering(path).filter(|l| l.depth == Depth::Infinity))?;
        let roots: BTreeSet<&str> = inner.below(path).map(|l| l.root.as_str()).collect();
        for root in roots {
            satisfied(&mut inner.covering(root))?;
            satisfied(&mut inner.covering(root).filter(|l| l.depth == Depth::Infinity))?;
        }
        Ok(())
    }

    /// Whether `token` is a current lock whose scope includes `path`: the `If` header's
    /// state-token match (`if_header::IfState::has_lock`).
    pub fn has_lock(&self, now: Instant, path: &str, token: &str) -> bool {
        self.inner(now)
            .by_token
            .get(token)
            .is_some_and(|l| l.covers(path))
    }

    /// The locks whose scope includes `path`, for `lockdiscovery`.
    pub fn discover(&self, now: Instant, path: &str) -> Vec<Lock> {
        self.inner(now).covering(path).cloned().collect()
    }

    /// Removes the locks rooted at `path` or below it: after a DELETE, or at a MOVE's source
    /// (locks stay with URLs; RFC 4918 §7.7 and §9.9.1 say a moved resource's locks do not
    /// move with it). Returns how many.
    pub fn remove_under(&self, now: Instant, path: &str) -> usize {
        let mut inner = self.inner(now);
        let tokens: Vec<String> = inner
            .rooted_at(path)
            .chain(inner.below(path))
            .map(|l| l.token.clone())
            .collect();
        for token in &tokens {
            inner.remove(token);
        }
        tokens.len()
    }

    /// Locks held now.
    #[cfg(test)]
    pub fn len(&self, now: Instant) -> usize {
        self.inner(now).by_token.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::time::Duration;

    use super::super::Scope;
    use super::*;

    fn table() -> LockTable {
        LockTable::new(LockLimits::default())
    }

    fn new(root: &str, scope: Scope, depth: Depth) -> NewLock {
        NewLock {
            root: root.to_owned(),
            scope,
            depth,
            owner: Some("<D:href>litmus</D:href>".to_owned()),
            principal: None,
            timeout: Some(Timeout::Seconds(3600)),
        }
    }

    use Depth::{Infinity, Zero};
    use Scope::{Exclusive, Shared};

    #[test]
    fn conflicts_follow_scope_and_depth() {
        // (held, wanted, conflict?)
        let cases = [
            (("r", Exclusive, Zero), ("r", Exclusive, Zero), true),
            (("r", Exclusive, Zero), ("r", Shared, Zero), true),
            (("r", Shared, Zero), ("r", Exclusive, Zero), true),
            (("r", Shared, Zero), ("r", Shared, Zero), false),
            // an ancestor's depth-infinity lock covers members; a depth-0 one does not
            (("c", Exclusive, Infinity), ("c/x", Exclusive, Zero), true),
            (("c", Exclusive, Zero), ("c/x", Exclusive, Zero), false),
            (("", Exclusive, Infinity), ("c/x/y", Shared, Zero), true),
            // a new depth-infinity lock meets the locks below it
            (("c/x", Exclusive, Zero), ("c", Exclusive, Infinity), true),
            (("c/x", Shared, Zero), ("c", Shared, Infinity), false),
            (("c/x", Exclusive, Zero), ("c", Exclusive, Zero), false),
            (("cx", Exclusive, Zero), ("c", Exclusive, Infinity), false),
            (("c/x", Exclusive, Zero), ("", Exclusive, Infinity), true),
        ];
        let now = Instant::now();
        for (held, wanted, conflict) in cases {
            let locks = table();
            locks.lock(now, new(held.0, held.1, held.2)).unwrap();
            let got = locks.lock(now, new(wanted.0, wanted.1, wanted.2));
            let want = if conflict {
                Err(LockError::Conflict {
                    root: held.0.to_owned(),
                })
            } else {
                Ok(())
            };
            assert_eq!(got.map(drop), want, "{held:?} then {wanted:?}");
        }
    }

    #[test]
    fn a_change_needs_a_token_of_every_lock_in_its_way() {
        let now = Instant::now();
        let locks = table();
        let file = locks.lock(now, new("c/f", Exclusive, Zero)).unwrap().token;
        let coll = locks.lock(now, new("d", Shared, Infinity)).unwrap().token;
        let member = locks.lock(now, new("d/m", Shared, Zero)).unwrap().token;
        let locked = |root: &str| {
            Err(Locked {
                root: root.to_owned(),
            })
        };
        type Case<'a> = (&'a str, Depth, Vec<&'a str>, Result<(), Locked>);
        let cases: [Case; 12] = [
            ("free", Zero, vec![], Ok(())),
            ("c/f", Zero, vec![], locked("c/f")),
            (
                "c/f",
                Zero,
                vec!["urn:uuid:wrong", "DAV:no-lock"],
                locked("c/f"),
            ),
            ("c/f", Zero, vec!["DAV:no-lock", &file], Ok(())),
            // the parent of a locked file is not locked by it, but deleting it is
            ("c", Zero, vec![], Ok(())),
            ("c", Infinity, vec![], locked("c/f")),
            ("c", Infinity, vec![&file], Ok(())),
            ("", Infinity, vec![&file], locked("d")),
            // under a depth-infinity lock, any member needs its token
            ("d/new", Zero, vec![], locked("d")),
            ("d/new", Zero, vec![&coll], Ok(())),
            // one of a resource's shared locks is enough for it, not for the rest of a tree
            ("d/m", Zero, vec![&member], Ok(())),
            ("d", Infinity, vec![&member], locked("d")),
        ];
        for (path, depth, submitted, want) in cases {
            assert_eq!(
                locks.check(now, path, depth, &submitted, None),
                want,
                "{path} {depth:?} {submitted:?}"
            );
        }
        assert!(locks.check(now, "d", Infinity, &[&coll], None).is_ok());
    }

    #[test]
    fn a_principal_uses_only_its_own_locks() {
        let now = Instant::now();
        let locks = table();
        let mut mine = new("f", Exclusive, Zero);
        mine.principal = Some("alice".to_owned());
        let token = locks.lock(now, mine).unwrap().token;
        let submitted = [token.as_str()];
        assert!(
            locks
                .check(now, "f", Zero, &submitted, Some("alice"))
                .is_ok()
        );
        assert!(
            locks
                .check(now, "f", Zero, &submitted, Some("bob"))
                .is_err()
        );
        assert!(locks.check(now, "f", Zero, &submitted, None).is_err());
        assert_eq!(
            locks.refresh(now, "f", submitted, Some("bob"), None),
            Err(LockError::NoSuchLock)
        );
        assert_eq!(
            locks.unlock(now, "f", &token, Some("bob")),
            Err(LockError::NotOwner)
        );
        assert!(locks.unlock(now, "f", &token, Some("alice")).is_ok());
    }

    #[test]
    fn refresh_unlock_and_expiry() {
        let t0 = Instant::now();
        let locks = table();
        let lock = locks.lock(t0, new("c", Exclusive, Infinity)).unwrap();
        assert_eq!(lock.remaining(t0), Timeout::Seconds(3600));
        // refreshed through a member (litmus `indirect_refresh`), with a new timeout
        let t1 = t0 + Duration::from_secs(3000);
        let refreshed = locks
            .refresh(
                t1,
                "c/member",
                ["DAV:no-lock", lock.token.as_str()],
                None,
                Some(Timeout::Seconds(100)),
            )
            .unwrap();
        assert_eq!(
            (refreshed.token.as_str(), refreshed.remaining(t1)),
            (lock.token.as_str(), Timeout::Seconds(100))
        );
        assert_eq!(
            locks.refresh(t1, "elsewhere", [lock.token.as_str()], None, None),
            Err(LockError::NoSuchLock)
        );
        assert_eq!(
            locks.refresh(t1, "c", ["urn:uuid:nope"], None, None),
            Err(LockError::NoSuchLock)
        );
        // past the new timeout (not the old one) it is gone
        let t2 = t1 + Duration::from_secs(101);
        assert!(t2 < t0 + Duration::from_secs(3600));
        assert_eq!(locks.len(t2), 0);
        assert!(locks.check(t2, "c/member", Zero, &[], None).is_ok());

        let lock = locks.lock(t2, new("c", Exclusive, Infinity)).unwrap();
        assert_eq!(
            locks.unlock(t2, "other", &lock.token, None),
            Err(LockError::NoSuchLock)
        );
        assert_eq!(
            locks.unlock(t2, "c", "urn:uuid:nope", None),
            Err(LockError::NoSuchLock)
        );
        assert_eq!(locks.unlock(t2, "c/x", &lock.token, None).unwrap(), lock);
        assert_eq!(locks.len(t2), 0);
    }

    #[test]
    fn discovery_and_removal_follow_the_tree() {
        let now = Instant::now();
        let locks = table();
        let top = locks.lock(now, new("a", Shared, Infinity)).unwrap();
        let below = locks.lock(now, new("a/b", Shared, Zero)).unwrap();
        let sibling = locks.lock(now, new("ab", Exclusive, Zero)).unwrap();
        let tokens = |v: Vec<Lock>| v.into_iter().map(|l| l.token).collect::<BTreeSet<_>>();
        assert_eq!(
            tokens(locks.discover(now, "a/b")),
            BTreeSet::from([top.token.clone(), below.token.clone()])
        );
        assert_eq!(
            tokens(locks.discover(now, "a/c")),
            BTreeSet::from([top.token.clone()])
        );
        assert!(locks.has_lock(now, "a/b/c", &top.token));
        assert!(!locks.has_lock(now, "a/b/c", &below.token));
        assert!(!locks.has_lock(now, "ab", &top.token));
        assert_eq!(locks.remove_under(now, "a/b"), 1);
        assert_eq!(locks.remove_under(now, "a"), 1);
        assert_eq!(
            tokens(locks.discover(now, "ab")),
            BTreeSet::from([sibling.token])
        );
        assert_eq!(locks.remove_under(now, ""), 1);
        assert_eq!(locks.len(now), 0);
    }

    #[test]
    fn the_table_is_bounded() {
        let now = Instant::now();
        let locks = LockTable::new(LockLimits {
            max_locks: 2,
            ..LockLimits::default()
        });
        locks.lock(now, new("a", Exclusive, Zero)).unwrap();
        let mut short = new("b", Exclusive, Zero);
        short.timeout = Some(Timeout::Seconds(1));
        locks.lock(now, short).unwrap();
        assert_eq!(
            locks.lock(now, new("c", Exclusive, Zero)),
            Err(LockError::TableFull)
        );
        // an expired lock makes room
        let later = now + Duration::from_secs(2);
        assert!(locks.lock(later, new("c", Exclusive, Zero)).is_ok());
        let mut big = new("d", Shared, Zero);
        big.owner = Some("x".repeat(5000));
        assert_eq!(locks.lock(later, big), Err(LockError::OwnerTooLarge));
    }

    #[test]
    fn one_exclusive_lock_wins_a_race() {
        let locks = table();
        let barrier = Barrier::new(8);
        let now = Instant::now();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        locks.lock(now, new("x", Exclusive, Zero)).is_ok() as usize
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 1);
    }
}
