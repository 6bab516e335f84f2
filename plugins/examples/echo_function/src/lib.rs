//! `echo(x)`: returns its argument unchanged (eKuiper's `echo` plugin function).
//!
//! Built with the `v2` feature it is "version 2.0.0" and wraps the value as `{"v2": x}`, so tests
//! can tell two loaded versions apart.

use oort_plugin_sdk::{Error, Function, Result, Value};

/// The `echo` function.
#[derive(Default)]
pub struct Echo;

impl Function for Echo {
    fn validate(&self, arg_types: &[String]) -> Result<()> {
        if arg_types.len() != 1 {
            return Err(Error::msg(format!("echo expects 1 argument, got {}", arg_types.len())));
        }
        Ok(())
    }

    fn exec(&self, args: Vec<Value>) -> Result<Value> {
        let value = args.into_iter().next().unwrap_or(Value::Null);
        if cfg!(feature = "v2") {
            Ok(Value::Object([("v2".to_string(), value)].into_iter().collect()))
        } else {
            Ok(value)
        }
    }
}

oort_plugin_sdk::export_plugin! {
    name: "echo",
    version: if cfg!(feature = "v2") { "2.0.0" } else { env!("CARGO_PKG_VERSION") },
    functions: ["echo" => Echo],
}
