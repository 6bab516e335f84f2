//! oort
