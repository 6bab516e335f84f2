//! Test fixture: a valid shared library that exports no plugin declaration.

/// An ordinary function; nothing here is an Oort plugin.
pub fn answer() -> u32 {
    42
}
