//! Verifying a trail: each run's chain (hash, key, link to the previous record), the links
//! between runs, and the anchors the runs left in the store.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use kudos_ledger::AuditAnchor;
use uuid::Uuid;

use super::key::{hash_value, legacy_matches};
use super::{AuditError, AuditKey, AuditRecord, FORMAT, GENESIS, Link};

/// What [`Verifier::finish`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Runs (chains) in the trail.
    pub runs: usize,
    /// Records.
    pub records: u64,
    /// Runs whose records are keyed (their MACs checked).
    pub keyed_runs: usize,
    /// Runs of this format without a key (their hashes checked; anyone could recompute them).
    pub unkeyed_runs: usize,
    /// Runs of the first format (unkeyed, unlinked), written before keyed trails.
    pub legacy_runs: usize,
    /// The key ids the keyed runs use, sorted.
    pub key_ids: Vec<String>,
    /// Runs that link to a record another run also links to, or to a record its run went on
    /// past: runs that overlapped on the trail (expected with concurrent runs).
    pub forks: usize,
    /// Torn lines stepped over (`file:line`): a crash mid-write, the next run starting on a
    /// clean line.
    pub torn: Vec<String>,
    /// Runs whose anchor in the store agrees with the trail (`None`: anchors not checked).
    pub anchored_runs: Option<usize>,
    /// Runs in the trail with no anchor (written before anchoring, or a run that crashed
    /// before its first anchor); `None` when anchors were not checked.
    pub unanchored_runs: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Keying {
    Legacy,
    Unkeyed,
    Keyed(String),
}

impl Keying {
    fn of(record: &AuditRecord) -> Self {
        match (&record.v, &record.key) {
            (None, _) => Self::Legacy,
            (Some(_), None) => Self::Unkeyed,
            (Some(_), Some(k)) => Self::Keyed(k.clone()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Legacy => "of the first format (unkeyed)".into(),
            Self::Unkeyed => "unkeyed".into(),
            Self::Keyed(k) => format!("keyed with key {k}"),
        }
    }
}

#[derive(Debug)]
struct RunTrail {
    keying: Keying,
    link: Option<Link>,
    /// The first record's `prev` (checked against the link at the end).
    first_prev: String,
    /// Every record's hash, by `seq - 1`.
    hashes: Vec<String>,
}

/// Checks a trail record by record, in the order written, then as a whole. Feed it every
/// line ([`Verifier::line`]) of every file or object, then [`Verifier::finish`] it.
#[derive(Debug)]
pub struct Verifier {
    keys: HashMap<String, AuditKey>,
    runs: HashMap<Uuid, RunTrail>,
    records: u64,
    torn: Vec<String>,
    /// Where the first keyed record was (no unkeyed record may follow it).
    first_keyed: Option<String>,
}

impl Verifier {
    /// A verifier that knows `keys` (the current one and any earlier, after a rotation).
    #[must_use]
    pub fn new(keys: &[AuditKey]) -> Self {
        Self {
            keys: keys
                .iter()
                .map(|k| (k.id().to_owned(), k.clone()))
                .collect(),
            runs: HashMap::new(),
            records: 0,
            torn: Vec::new(),
            first_keyed: None,
        }
    }

    /// Checks line `line` (1-based) of `place` (a file or an object).
    ///
    /// # Errors
    ///
    /// [`AuditError::Broken`] naming the place, line and run; [`AuditError::Key`] when a
    /// record's key was not given.
    pub fn line(&mut self, place: &str, line: u64, text: &str) -> Result<(), AuditError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let broken = |run_id: String, reason: String| AuditError::Broken {
            path: place.to_owned(),
            line,
            run_id,
            reason,
        };
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) if e.is_eof() || e.is_syntax() => {
                // A line cut short by a crash mid-write: its run ended there; whether that
                // loses an anchored record is for the anchors to say.
                self.torn.push(format!("{place}:{line}"));
                return Ok(());
            }
            Err(e) => return Err(broken("?".into(), format!("not an audit record ({e})"))),
        };
        let r: AuditRecord = serde_json::from_value(value.clone())
            .map_err(|e| broken("?".into(), format!("not an audit record ({e})")))?;
        let run = r.run_id.to_string();
        if let Some(v) = r.v
            && v != FORMAT
        {
            return Err(broken(
                run,
                format!("record format {v} is not one this release reads"),
            ));
        }
        let keying = Keying::of(&r);
        if keying == Keying::Legacy || keying == Keying::Unkeyed {
            if let Some(at) = &self.first_keyed {
                return Err(broken(
                    run,
                    format!(
                        "seq {} is {} after keyed records (from {at}): a downgrade",
                        r.seq,
                        keying.describe()
                    ),
                ));
            }
        } else if self.first_keyed.is_none() {
            self.first_keyed = Some(format!("{place}:{line}"));
        }
        let trail = self.runs.get(&r.run_id);
        let last = trail.map_or(0, |t| t.hashes.len() as u64);
        if r.seq != last + 1 {
            return Err(broken(
                run,
                format!(
                    "seq {} follows {last}: a record is missing or out of order",
                    r.seq
                ),
            ));
        }
        if let Some(trail) = trail {
            if trail.keying != keying {
                return Err(broken(
                    run,
                    format!(
                        "seq {} is {} but the run's first record is {}: re-keyed",
                        r.seq,
                        keying.describe(),
                        trail.keying.describe()
                    ),
                ));
            }
            if r.link.is_some() {
                return Err(broken(run, format!("seq {} links to another run", r.seq)));
            }
            if trail.hashes.last().is_some_and(|h| *h != r.prev) {
                return Err(broken(
                    run,
                    format!("seq {} does not link to the previous record", r.seq),
                ));
            }
        } else if r.link.is_none() && r.prev != GENESIS {
            return Err(broken(
                run,
                "seq 1 does not start a chain (its prev is not zeros and it names no link)".into(),
            ));
        }
        let good = match &keying {
            Keying::Legacy => legacy_matches(&r),
            Keying::Unkeyed => hash_value(value, None)? == r.hash,
            Keying::Keyed(id) => {
                let Some(key) = self.keys.get(id) else {
                    return Err(AuditError::Key {
                        reason: format!(
                            "run {run} is keyed with key {id}, which verify was not given \
                             (the current key and earlier ones: [audit] key_env / key_file, \
                             old_key_envs / old_key_files)"
                        ),
                    });
                };
                hash_value(value, Some(key))? == r.hash
            }
        };
        if !good {
            return Err(broken(
                run,
                format!(
                    "seq {} was edited or re-keyed (its hash does not match)",
                    r.seq
                ),
            ));
        }
        self.records += 1;
        let trail = self.runs.entry(r.run_id).or_insert_with(|| RunTrail {
            keying,
            link: r.link,
            first_prev: r.prev.clone(),
            hashes: Vec::new(),
        });
        trail.hashes.push(r.hash);
        Ok(())
    }

    /// Checks what only the whole trail can show: every link between runs lands on a record
    /// of the trail (a run deleted or cut short breaks its follower's link), no unkeyed run
    /// follows a keyed one, and — given the store's `anchors` — every anchored run is in the
    /// trail with at least its anchored records, the anchored head and key.
    ///
    /// # Errors
    ///
    /// [`AuditError::Anchor`] naming the run.
    pub fn finish(self, anchors: Option<&[AuditAnchor]>) -> Result<VerifyReport, AuditError> {
        let fail = |run_id: &Uuid, reason: String| AuditError::Anchor {
            run_id: run_id.to_string(),
            reason,
        };
        let mut targets: HashMap<Link, usize> = HashMap::new();
        let mut forks = 0;
        let mut ids: Vec<&Uuid> = self.runs.keys().collect();
        ids.sort();
        for id in &ids {
            let trail = &self.runs[id];
            let Some(link) = trail.link else { continue };
            let Some(target) = self.runs.get(&link.run_id) else {
                return Err(fail(
                    id,
                    format!(
                        "links to run {}, which is not in the trail: a run was deleted",
                        link.run_id
                    ),
                ));
            };
            let Some(hash) = usize::try_from(link.seq)
                .ok()
                .and_then(|s| s.checked_sub(1))
                .and_then(|i| target.hashes.get(i))
            else {
                return Err(fail(
                    id,
                    format!(
                        "links to record {} of run {}, which is not in the trail: that run was cut short",
                        link.seq, link.run_id
                    ),
                ));
            };
            if *hash != trail.first_prev {
                return Err(fail(
                    id,
                    format!(
                        "links to record {} of run {}, which was rewritten",
                        link.seq, link.run_id
                    ),
                ));
            }
            if matches!(target.keying, Keying::Keyed(_))
                && !matches!(trail.keying, Keying::Keyed(_))
            {
                return Err(fail(
                    id,
                    format!(
                        "is {} but follows keyed run {}: a downgrade",
                        trail.keying.describe(),
                        link.run_id
                    ),
                ));
            }
            let seen = targets.entry(link).or_default();
            *seen += 1;
            if *seen > 1 || (target.hashes.len() as u64) > link.seq {
                forks += 1;
            }
        }
        let (mut anchored, mut unanchored) = (None, None);
        if let Some(anchors) = anchors {
            let mut seen: HashMap<Uuid, ()> = HashMap::new();
            for anchor in anchors {
                let id = &anchor.run_id;
                if seen.insert(*id, ()).is_some() {
                    continue;
                }
                let Some(trail) = self.runs.get(id) else {
                    return Err(fail(
                        id,
                        format!(
                            "is anchored with {} records but is not in the trail: a run was deleted",
                            anchor.records
                        ),
                    ));
                };
                let have = trail.hashes.len() as u64;
                if have < anchor.records {
                    return Err(fail(
                        id,
                        format!(
                            "is anchored with {} records but the trail has {have}: the run was cut short",
                            anchor.records
                        ),
                    ));
                }
                let at = usize::try_from(anchor.records).unwrap_or(usize::MAX);
                if at == 0 || trail.hashes.get(at - 1) != Some(&anchor.head) {
                    return Err(fail(
                        id,
                        format!(
                            "record {} differs from its anchor: the run was rewritten",
                            anchor.records
                        ),
                    ));
                }
                let key = match &trail.keying {
                    Keying::Keyed(k) => Some(k.as_str()),
                    _ => None,
                };
                if key != anchor.key_id.as_deref() {
                    return Err(fail(
                        id,
                        format!(
                            "is anchored as {} but its records are {}: re-keyed",
                            anchor.key_id.as_deref().map_or_else(
                                || "unkeyed".to_owned(),
                                |k| format!("keyed with key {k}")
                            ),
                            trail.keying.describe()
                        ),
                    ));
                }
            }
            // A run of this format is anchored after its every write; one without an anchor
            // crashed between its first write and its first anchor, so it has one record. More
            // is a run that was never this trail's: added, or copied from another trail.
            for id in &ids {
                let trail = &self.runs[id];
                if trail.keying != Keying::Legacy
                    && !seen.contains_key(id)
                    && trail.hashes.len() > 1
                {
                    return Err(fail(
                        id,
                        format!(
                            "has {} records and no anchor in the store: a run added to the trail \
                             (or copied from another one)",
                            trail.hashes.len()
                        ),
                    ));
                }
            }
            anchored = Some(seen.len());
            unanchored = Some(self.runs.len().saturating_sub(seen.len()));
        }
        let mut key_ids: Vec<String> = self
            .runs
            .values()
            .filter_map(|t| match &t.keying {
                Keying::Keyed(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        key_ids.sort();
        key_ids.dedup();
        let count = |k: fn(&Keying) -> bool| self.runs.values().filter(|t| k(&t.keying)).count();
        Ok(VerifyReport {
            runs: self.runs.len(),
            records: self.records,
            keyed_runs: count(|k| matches!(k, Keying::Keyed(_))),
            unkeyed_runs: count(|k| *k == Keying::Unkeyed),
            legacy_runs: count(|k| *k == Keying::Legacy),
            key_ids,
            forks,
            torn: self.torn,
            anchored_runs: anchored,
            unanchored_runs: unanchored,
        })
    }
}

/// Checks every run's chain in an audit file, without keys or anchors: a trail of the first
/// format, or unkeyed ones. Prefer [`verify_file`].
///
/// # Errors
///
/// As [`verify_file`].
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    verify_file(path, &[], None)
}

/// Checks an audit file: every record's hash (its MAC under `keys`), its link to the
/// previous record of its run, that its `seq` follows without a gap, the links between runs,
/// and, given the store's `anchors`, that no anchored run was deleted, cut short, rewritten
/// or re-keyed. A torn line (a crash mid-write) is stepped over and reported.
///
/// # Errors
///
/// [`AuditError::Broken`] naming the line and run at the first break, [`AuditError::Anchor`]
/// naming the run, [`AuditError::Key`] for a key not given, or [`AuditError::Io`].
pub fn verify_file(
    path: &Path,
    keys: &[AuditKey],
    anchors: Option<&[AuditAnchor]>,
) -> Result<VerifyReport, AuditError> {
    let name = path.display().to_string();
    let io = |error| AuditError::Io {
        path: name.clone(),
        error,
    };
    let file = File::open(path).map_err(io)?;
    let mut verifier = Verifier::new(keys);
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            break;
        }
        n += 1;
        // A torn line may end inside a multi-byte character: read it lossily.
        let text = String::from_utf8_lossy(&buf);
        verifier.line(&name, n, &text)?;
    }
    verifier.finish(anchors)
}
