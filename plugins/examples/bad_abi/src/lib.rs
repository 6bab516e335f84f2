//! Test fixture: a plugin declaring plugin interface v2. The host (v1) must refuse it with a
//! message naming both versions, without calling any of its code (its `init` aborts the process).

oort_plugin_sdk::__export_abi_fixture!(name: "bad_abi", abi_major: 2);
