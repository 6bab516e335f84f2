//! Oort plugin ABI.
