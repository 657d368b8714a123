//! The `IngestLog` port: which export files a run has taken, by content, and how much of each.
//!
//! A file is taken *whole*, or — when it has rows dated after the run's day — *through* that
//! day, its later rows waiting for a later run. A run asks, for all its files at once, how much
//! of each earlier runs took, as seen on its day ([`IngestLog::ingest_marks`]), and records
//! what it took of all of them at once ([`IngestLog::record_ingests`]): two runs reading the
//! same files then see each other's files all taken or none, never some — some would let one
//! apply an older file's values over a newer file's restatement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kudos_core::Day;

use crate::LedgerError;

/// A file's content hash: SHA-256, as 64 lowercase hex digits (and so in JSON).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ContentHash(String);

impl TryFrom<String> for ContentHash {
    type Error = String;
    fn try_from(hex: String) -> Result<Self, String> {
        Self::from_hex(&hex)
    }
}

impl From<ContentHash> for String {
    fn from(hash: ContentHash) -> String {
        hash.0
    }
}

impl ContentHash {
    /// The hash from a SHA-256 digest (the caller hashes; this crate does no I/O and no
    /// hashing of files).
    #[must_use]
    pub fn from_digest(digest: [u8; 32]) -> Self {
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Self(hex)
    }

    /// A hash from its 64 lowercase hex digits.
    ///
    /// # Errors
    ///
    /// A message when `hex` is not 64 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Result<Self, String> {
        if hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(hex.to_owned()))
        } else {
            Err(format!("{hex:?} is not a SHA-256 in lowercase hex"))
        }
    }

    /// The 64 lowercase hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How much of a file a run took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestMark {
    /// Every row: the file is never read again.
    Whole,
    /// The rows dated on or before this day; the later ones wait for a run on a later day.
    Through(Day),
}

impl IngestMark {
    /// The stronger of two marks of one file: whole beats through a day, and a later day an
    /// earlier one.
    #[must_use]
    pub fn stronger(self, other: Self) -> Self {
        match (self, other) {
            (Self::Whole, _) | (_, Self::Whole) => Self::Whole,
            (Self::Through(a), Self::Through(b)) => Self::Through(a.max(b)),
        }
    }
}

/// What a run took of one file, to record ([`IngestLog::record_ingests`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestRecord {
    /// The file's content hash.
    pub hash: ContentHash,
    /// The file's path as the run saw it.
    pub name: String,
    /// How much of it the run took.
    pub mark: IngestMark,
}

/// A mark as a database stores it: `through`, the day as `YYYY-MM-DD` (so text order is day
/// order) or empty for a whole file, and `whole`. Both shipped stores key their ingest log
/// by (hash, `through`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMark {
    /// The day the file was taken through, or empty when it was taken whole.
    pub through: String,
    /// Whether it was taken whole.
    pub whole: bool,
}

impl From<IngestMark> for StoredMark {
    fn from(mark: IngestMark) -> Self {
        match mark {
            IngestMark::Whole => Self {
                through: String::new(),
                whole: true,
            },
            IngestMark::Through(day) => Self {
                through: day.to_string(),
                whole: false,
            },
        }
    }
}

impl StoredMark {
    /// The mark these columns hold.
    ///
    /// # Errors
    ///
    /// A message when `through` is not a day (and `whole` is not set).
    pub fn mark(&self) -> Result<IngestMark, String> {
        if self.whole {
            return Ok(IngestMark::Whole);
        }
        Day::parse(&self.through)
            .map(IngestMark::Through)
            .map_err(|e| format!("a stored ingest day: {e}"))
    }

    /// Each asked file's mark from stored rows `(hash, mark)` — the strongest row per hash
    /// ([`IngestMark::stronger`]), `None` for a hash without rows — in the order asked: how
    /// a store answers [`IngestLog::ingest_marks`] from one query.
    ///
    /// # Errors
    ///
    /// A message when a row's `through` is not a day.
    pub fn per_file(
        asked: &[ContentHash],
        rows: impl IntoIterator<Item = (String, Self)>,
    ) -> Result<Vec<Option<IngestMark>>, String> {
        let mut found = std::collections::HashMap::<String, IngestMark>::new();
        for (hash, stored) in rows {
            let mark = stored.mark()?;
            let best = found.get(&hash).map_or(mark, |seen| seen.stronger(mark));
            found.insert(hash, best);
        }
        Ok(asked
            .iter()
            .map(|h| found.get(h.as_str()).copied())
            .collect())
    }
}

/// One key of the ingested-files registry of release 0.1.0, which spelled marks as suffixes
/// on the hash. Stores convert such rows when they open; see [`LegacyIngestKey::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyIngestKey {
    /// `<sha256>`: taken whole.
    Whole(ContentHash),
    /// `<sha256>@<day>`: taken through that day.
    Through(ContentHash, Day),
    /// `<sha256>@partial`: a flag that some `@<day>` key exists; it carries nothing else.
    PartialFlag(ContentHash),
}

impl LegacyIngestKey {
    /// Reads a 0.1.0 key.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong (the key is a hash, never personal data).
    pub fn parse(key: &str) -> Result<Self, String> {
        match key.split_once('@') {
            None => ContentHash::from_hex(key).map(Self::Whole),
            Some((hash, "partial")) => ContentHash::from_hex(hash).map(Self::PartialFlag),
            Some((hash, day)) => {
                let day = Day::parse(day).map_err(|e| format!("ingest key {key:?}: {e}"))?;
                ContentHash::from_hex(hash).map(|h| Self::Through(h, day))
            }
        }
    }

    /// The file's content hash.
    #[must_use]
    pub fn hash(&self) -> &ContentHash {
        match self {
            Self::Whole(hash) | Self::Through(hash, _) | Self::PartialFlag(hash) => hash,
        }
    }

    /// The mark this key converts to (none for the flag).
    #[must_use]
    pub fn mark(&self) -> Option<IngestMark> {
        match self {
            Self::Whole(_) => Some(IngestMark::Whole),
            Self::Through(_, day) => Some(IngestMark::Through(*day)),
            Self::PartialFlag(_) => None,
        }
    }
}

/// The registry of ingested files.
///
/// `testkit::ingest_conformance` (feature `testkit`) checks an implementation.
#[async_trait]
pub trait IngestLog: Send + Sync + std::fmt::Debug {
    /// How much of the file with this content earlier runs took, as seen by a run on `as_of`:
    /// [`IngestMark::Whole`] if any run took it whole; else the latest
    /// [`IngestMark::Through`] on or before `as_of`; else `None` (read it whole). One
    /// question, answered in one query by a database store.
    async fn ingest_mark(
        &self,
        hash: &ContentHash,
        as_of: Day,
    ) -> Result<Option<IngestMark>, LedgerError>;

    /// Records that a run took the file (idempotent: the same hash and mark again changes
    /// nothing). `name` is the file's path as the run saw it.
    async fn record_ingest(
        &self,
        hash: &ContentHash,
        name: &str,
        mark: IngestMark,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError>;

    /// [`ingest_mark`](IngestLog::ingest_mark) of several files, in order, **in one
    /// consistent read**: a [`record_ingests`](IngestLog::record_ingests) running at the same
    /// time is seen whole or not at all. The default asks one file at a time, which is not
    /// consistent: a store shared by concurrent runs overrides it (the shipped ones do).
    async fn ingest_marks(
        &self,
        hashes: &[ContentHash],
        as_of: Day,
    ) -> Result<Vec<Option<IngestMark>>, LedgerError> {
        let mut marks = Vec::with_capacity(hashes.len());
        for hash in hashes {
            marks.push(self.ingest_mark(hash, as_of).await?);
        }
        Ok(marks)
    }

    /// Records what a run took of several files, **all or nothing** (idempotent, as
    /// [`record_ingest`](IngestLog::record_ingest)). The default records one at a time, which
    /// is not atomic: a store shared by concurrent runs overrides it (the shipped ones do).
    async fn record_ingests(
        &self,
        records: &[IngestRecord],
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        for record in records {
            self.record_ingest(&record.hash, &record.name, record.mark, at)
                .await?;
        }
        Ok(())
    }
}

/// Forwards every method to the store behind a reference or a smart pointer.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<T: IngestLog + ?Sized> IngestLog for $ty {
            async fn ingest_mark(&self, hash: &ContentHash, as_of: Day) -> Result<Option<IngestMark>, LedgerError> {
                (**self).ingest_mark(hash, as_of).await
            }
            async fn record_ingest(&self, hash: &ContentHash, name: &str, mark: IngestMark, at: DateTime<Utc>) -> Result<(), LedgerError> {
                (**self).record_ingest(hash, name, mark, at).await
            }
            async fn ingest_marks(&self, hashes: &[ContentHash], as_of: Day) -> Result<Vec<Option<IngestMark>>, LedgerError> {
                (**self).ingest_marks(hashes, as_of).await
            }
            async fn record_ingests(&self, records: &[IngestRecord], at: DateTime<Utc>) -> Result<(), LedgerError> {
                (**self).record_ingests(records, at).await
            }
        }
    )*};
}

forward!(&T, std::sync::Arc<T>, Box<T>);

/// Everything a run needs from one database: the ledger's port and the run's four ports
/// (leases, the ingest log, the audit anchors, the programme's controls). Implemented for
/// every type that implements the five.
pub trait RunStore:
    crate::LedgerStore + crate::LeaseStore + IngestLog + crate::AuditAnchors + crate::ControlStore
{
}

impl<
    T: crate::LedgerStore
        + crate::LeaseStore
        + IngestLog
        + crate::AuditAnchors
        + crate::ControlStore
        + ?Sized,
> RunStore for T
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_keys_read_as_their_marks() {
        let hash = "2ba974ac01ab9de4231f90e5f33850eb77cbddfd4e1a5e115f1a44050251292a";
        let h = ContentHash::from_hex(hash).unwrap();
        assert_eq!(
            LegacyIngestKey::parse(hash),
            Ok(LegacyIngestKey::Whole(h.clone()))
        );
        let day = Day::parse("2026-03-02").unwrap();
        assert_eq!(
            LegacyIngestKey::parse(&format!("{hash}@2026-03-02"))
                .unwrap()
                .mark(),
            Some(IngestMark::Through(day))
        );
        assert_eq!(
            LegacyIngestKey::parse(&format!("{hash}@partial"))
                .unwrap()
                .hash(),
            &h
        );
        assert_eq!(
            LegacyIngestKey::parse(&format!("{hash}@partial"))
                .unwrap()
                .mark(),
            None
        );
        assert!(LegacyIngestKey::parse("not-a-hash").is_err());
        assert!(LegacyIngestKey::parse(&format!("{hash}@2026-13-01")).is_err());
    }

    #[test]
    fn content_hash_is_sha256_hex() {
        let mut digest = [0u8; 32];
        digest[0] = 0xba;
        digest[31] = 0x0f;
        let hash = ContentHash::from_digest(digest);
        assert_eq!(hash.as_str(), format!("ba{}0f", "0".repeat(60)));
        assert_eq!(ContentHash::from_hex(hash.as_str()), Ok(hash));
        assert!(
            ContentHash::from_hex(
                "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
            )
            .is_err()
        );
    }
}
