//! The outcome of one reward request, of a status lookup, and of a reversal.

/// How one issue call ended, and so what happens to its hold (`docs/reference/issuing.md#outcome-table`).
/// Outcomes may be added (`#[non_exhaustive]`): treat one you do not know as in doubt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// `200/201` with `ISSUED` and the same request id: commit the hold.
    Issued {
        /// The marketplace's reward id.
        reward_id: String,
    },
    /// `200/201` with `REJECTED` (no inventory, say): release the hold; alert.
    Rejected {
        /// The marketplace's reason.
        reason: String,
    },
    /// The reward may have been issued (retries exhausted, unreadable body, `PENDING`, 409,
    /// an unlisted status): keep the hold, re-drive it at the next run; alert.
    InDoubt {
        /// What happened.
        reason: String,
    },
    /// 400, 401 after a refresh, 403, 404, 422: keep the hold for an operator; alert.
    NeedsReview {
        /// The status.
        status: u16,
        /// What happened.
        reason: String,
    },
    /// Nothing reached the marketplace (breaker open, no token, signing secret unreadable,
    /// every attempt failed to connect): keep the hold open; try again later.
    NotSent {
        /// Why.
        reason: String,
    },
    /// `402`: the marketplace account has not the funds. Nothing was issued: release the
    /// hold; the reward waits for funds.
    Unfunded {
        /// What the marketplace said.
        reason: String,
    },
}

impl Outcome {
    /// Whether the reward may have been issued — then the hold must never be released
    /// automatically.
    #[must_use]
    pub fn may_have_issued(&self) -> bool {
        matches!(
            self,
            Self::Issued { .. } | Self::InDoubt { .. } | Self::NeedsReview { .. }
        )
    }
}

/// What a status lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// Issued.
    Issued {
        /// The reward id.
        reward_id: String,
    },
    /// Issued, then voided (`REVERSED`): reversed by us, or cancelled by someone else — the
    /// agent does not have it, so its points go back.
    Reversed {
        /// The reward id.
        reward_id: String,
    },
    /// Rejected (`REJECTED`), or a pending reward that ended without being issued (`FAILED`,
    /// `CANCELED`).
    Rejected {
        /// The reason.
        reason: String,
    },
    /// The marketplace has no record of it: it was never processed; re-send the stored payload.
    NotFound,
    /// Still pending, or the lookup failed: stays in doubt.
    Unknown {
        /// What was seen.
        reason: String,
    },
}

/// What a reversal got. Like [`Outcome`], it never says "not sent" of a request that may
/// have been processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseOutcome {
    /// The reward was reversed: the points return.
    Reversed,
    /// The marketplace cannot reverse it (`NOT_REVERSIBLE`): to review, the debt kept.
    NotReversible,
    /// The reward may have been reversed (a timeout after sending, `5xx`, an unreadable
    /// answer): in doubt, re-driven at the next run.
    InDoubt {
        /// What happened.
        reason: String,
    },
    /// The marketplace answered with an error that is not a retryable one (`400`, `404`,
    /// `422`…): it did not reverse it, and will not on a retry; to review.
    Refused {
        /// The status.
        status: u16,
        /// What happened.
        reason: String,
    },
    /// Nothing reached the marketplace (breaker open, no token, every attempt failed to
    /// connect): the reversal stays open, sent again at the next run.
    NotSent {
        /// Why.
        reason: String,
    },
}
