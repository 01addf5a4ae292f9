//! The fingerprint of a scenario and the content-addressed response cache.
//!
//! Both formats are stable and versioned: the fingerprint recipe ([`FINGERPRINT_VERSION`],
//! `docs/fingerprint.md`) and the cache layout ([`CACHE_LAYOUT_VERSION`], `docs/cache.md`).

mod canonical;
mod fingerprint;
pub mod local_dir;
mod store;

pub use fingerprint::{
    FINGERPRINT_VERSION, Fingerprint, ParseFingerprintError, ProviderFingerprint,
    assertions_fingerprint, judge_fingerprint, provider_fingerprint, scenario_fingerprint,
};
pub use store::{
    CACHE_LAYOUT_VERSION, CacheLookup, CacheStats, CachedJudgment, CachedResponse, PruneReport,
    ResponseCache,
};
