//! `upper(s)`: upper-cases a string. Built outside the Oort workspace (see Cargo.toml).

use oort_plugin_sdk::{Error, Function, Result, Value};

/// The `upper` function.
#[derive(Default)]
pub struct Upper;

impl Function for Upper {
    fn exec(&self, args: Vec<Value>) -> Result<Value> {
        match args.first() {
            Some(Value::String(s)) => Ok(Value::String(s.to_uppercase())),
            Some(other) => Err(Error::msg(format!("upper expects a string, got {other}"))),
            None => Err(Error::msg("upper expects 1 argument")),
        }
    }
}

oort_plugin_sdk::export_plugin! {
    name: "upper",
    version: env!("CARGO_PKG_VERSION"),
    functions: ["upper" => Upper],
}
