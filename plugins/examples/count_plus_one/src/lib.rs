//! `countPlusOne(col)`: an aggregate function returning the number of values in the group plus
//! one (eKuiper's `countPlusOne` sample).

use oort_plugin_sdk::{Error, Function, Result, Value};

/// The `countPlusOne` aggregate.
#[derive(Default)]
pub struct CountPlusOne;

impl Function for CountPlusOne {
    fn validate(&self, arg_types: &[String]) -> Result<()> {
        if arg_types.len() != 1 {
            return Err(Error::msg(format!("countPlusOne expects 1 argument, got {}", arg_types.len())));
        }
        Ok(())
    }

    fn is_aggregate(&self) -> bool {
        true
    }

    fn exec(&self, args: Vec<Value>) -> Result<Value> {
        match args.first() {
            Some(Value::Array(group)) => Ok(Value::from(group.len() as i64 + 1)),
            Some(other) => Err(Error::msg(format!("countPlusOne expects the group's values as an array, got {other}"))),
            None => Err(Error::msg("countPlusOne expects 1 argument, got 0")),
        }
    }
}

oort_plugin_sdk::export_plugin! {
    name: "countPlusOne",
    version: env!("CARGO_PKG_VERSION"),
    functions: ["countPlusOne" => CountPlusOne],
}
