//! What an HTTP status means for a reward request (`docs/reference/issuing.md#outcome-table`).

/// What to do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 200/201: read the body (`ISSUED`, `REJECTED`, `PENDING`).
    Answered,
    /// 500, 502, 503, 504, 408, 429: retry with the same request id (honouring `Retry-After`).
    Retry,
    /// 401: refresh the token once and retry; a second 401 is [`Verdict::Review`].
    RefreshToken,
    /// 400, 403, 404, 422: never retried; an operator decides.
    Review,
    /// 409 (the same key is in progress) and any status not listed: the reward may have been
    /// issued; kept, re-driven later by a status lookup.
    InDoubt,
    /// 402 (insufficient funds): nothing was issued; the reward waits for funds.
    Unfunded,
}

/// Classifies an HTTP status.
#[must_use]
pub fn classify(status: u16) -> Verdict {
    match status {
        200 | 201 => Verdict::Answered,
        500 | 502 | 503 | 504 | 408 | 429 => Verdict::Retry,
        401 => Verdict::RefreshToken,
        402 => Verdict::Unfunded,
        400 | 403 | 404 | 422 => Verdict::Review,
        _ => Verdict::InDoubt,
    }
}
