//! Host-side helpers for crossing the boundary: the host service table handed to `init`,
//! status and buffer handling, MessagePack conversion, and a guarded call wrapper that turns a
//! plugin's `PANIC` status into an error (never undefined behaviour: the SDK catches the panic
//! inside the plugin, before it could unwind through `extern "C"`).

use std::mem::ManuallyDrop;

use oort_plugin_abi::{ABI_MINOR, ERR, HostApi, OK, OwnedBuf, PANIC, RETRY, Status, StrRef};
use serde_json::Value;

use crate::error::PluginError;

/// The services every plugin receives in `init`.
pub(crate) static HOST_API: HostApi =
    HostApi { size: size_of::<HostApi>() as u32, abi_minor: ABI_MINOR, log: host_log };

unsafe extern "C" fn host_log(level: u8, target: StrRef, msg: StrRef) {
    let _ = std::panic::catch_unwind(|| {
        // SAFETY: the plugin passes text valid for the duration of the call.
        let (target, msg) = unsafe { (target.as_bytes(), msg.as_bytes()) };
        let (target, msg) = (String::from_utf8_lossy(target), String::from_utf8_lossy(msg));
        match level {
            1 => tracing::error!(plugin_target = %target, "{msg}"),
            2 => tracing::warn!(plugin_target = %target, "{msg}"),
            3 => tracing::info!(plugin_target = %target, "{msg}"),
            4 => tracing::debug!(plugin_target = %target, "{msg}"),
            _ => tracing::trace!(plugin_target = %target, "{msg}"),
        }
    });
}

/// Copy out and release a buffer handed to us by the plugin (with the plugin's own `free`).
pub(crate) fn take_buf(buf: OwnedBuf) -> Vec<u8> {
    let bytes = if buf.ptr.is_null() || buf.len == 0 {
        Vec::new()
    } else {
        // SAFETY: the plugin's buffer holds `len` initialized bytes until we call its `free`.
        unsafe { std::slice::from_raw_parts(buf.ptr, buf.len) }.to_vec()
    };
    if let Some(free) = buf.free {
        // SAFETY: called exactly once, with the values the plugin gave us.
        unsafe { free(buf.ptr, buf.len, buf.cap) }
    }
    bytes
}

/// Read and release a status: (code, message).
pub(crate) fn take_status(status: Status) -> (i32, String) {
    let code = status.code;
    let message = String::from_utf8_lossy(&take_buf(status.message)).into_owned();
    (code, message)
}

unsafe extern "C" fn free_vec(ptr: *mut u8, len: usize, cap: usize) {
    if !ptr.is_null() {
        // SAFETY: (ptr, len, cap) come from a Vec<u8> leaked by `host_status`.
        drop(unsafe { Vec::from_raw_parts(ptr, len, cap) });
    }
}

/// A status allocated by the host (for callbacks the plugin calls), with the host's `free`.
pub(crate) fn host_status(code: i32, message: &str) -> Status {
    if message.is_empty() {
        return Status { code, message: OwnedBuf::EMPTY };
    }
    let mut bytes = ManuallyDrop::new(message.as_bytes().to_vec());
    Status {
        code,
        message: OwnedBuf { ptr: bytes.as_mut_ptr(), len: bytes.len(), cap: bytes.capacity(), free: Some(free_vec) },
    }
}

/// Outcome of a plugin call that may ask to be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Done.
    Ok,
    /// "Retry later" (backpressure), with the plugin's reason.
    Retry(String),
}

/// Identifies an instance in error messages and remembers whether it panicked.
#[derive(Debug)]
pub(crate) struct Guard {
    pub(crate) plugin: String,
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) poisoned: Option<String>,
}

impl Guard {
    pub(crate) fn new(plugin: &str, kind: &'static str, name: &str) -> Self {
        Guard { plugin: plugin.into(), kind, name: name.into(), poisoned: None }
    }

    fn what(&self, call: &str) -> String {
        format!("{} `{}` {call}", self.kind, self.name)
    }

    /// Refuse to call into an instance that panicked before.
    pub(crate) fn check(&self, call: &str) -> Result<(), PluginError> {
        match &self.poisoned {
            Some(m) => Err(PluginError::Panicked {
                plugin: self.plugin.clone(),
                what: self.what(call),
                message: format!("not called: the instance panicked earlier ({m})"),
            }),
            None => Ok(()),
        }
    }

    /// Interpret a status returned by `call`.
    pub(crate) fn status(&mut self, call: &str, status: Status) -> Result<CallOutcome, PluginError> {
        let (code, message) = take_status(status);
        match code {
            OK => Ok(CallOutcome::Ok),
            RETRY => Ok(CallOutcome::Retry(message)),
            PANIC => {
                self.poisoned = Some(message.clone());
                Err(PluginError::Panicked { plugin: self.plugin.clone(), what: self.what(call), message })
            }
            ERR => Err(PluginError::Call { plugin: self.plugin.clone(), what: self.what(call), message }),
            other => Err(PluginError::Call {
                plugin: self.plugin.clone(),
                what: self.what(call),
                message: format!("unknown status code {other}: {message}"),
            }),
        }
    }

    /// Like [`Guard::status`], but "retry" is not a valid answer.
    pub(crate) fn ok(&mut self, call: &str, status: Status) -> Result<(), PluginError> {
        match self.status(call, status)? {
            CallOutcome::Ok => Ok(()),
            CallOutcome::Retry(m) => Err(PluginError::Call {
                plugin: self.plugin.clone(),
                what: self.what(call),
                message: format!("answered retry where it may not: {m}"),
            }),
        }
    }

    pub(crate) fn codec(&self, what: &str, e: impl std::fmt::Display) -> PluginError {
        PluginError::Codec {
            plugin: self.plugin.clone(),
            what: format!("{} `{}` {what}", self.kind, self.name),
            message: e.to_string(),
        }
    }
}

/// Encode values as MessagePack (maps stay maps, with their keys).
pub(crate) fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec_named(value)
}

/// Decode MessagePack into JSON values.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

/// Props as a MessagePack map.
pub(crate) fn encode_props(props: &serde_json::Map<String, Value>) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    encode(props)
}
