//! What can go wrong starting the simulator: [`SimError`].

/// What can go wrong starting the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// The fault plan is invalid.
    #[error("faults: {0}")]
    Faults(String),
}
