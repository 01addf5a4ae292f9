//! The fingerprint of a scenario and the content-addressed response cache.
