//! The JSON text that crosses the plugin boundary: a request written from a value, and a
//! plugin's answer read back as objects.

use kure_plugin_api::abi::ErrorKind;
use kure_plugin_api::abi::ErrorPayload;
use serde_json::Value;

/// What a plugin's validator is asked about `app` (a whole application document): the
/// document itself for a validator that takes documents (feature `validate-application`),
/// else its spec.
pub(crate) fn validator_text(app: &Value, whole: bool) -> String {
    match whole {
        true => kure_plugin_api::abi::validator_request(&json_text(app)),
        false => json_text(app.get("spec").unwrap_or(&Value::Null)),
    }
}

/// A value as the JSON text a plugin is sent (written straight into a buffer: `Value`'s
/// `Display` goes through the formatter piece by piece, which costs more than the text).
pub(crate) fn json_text(v: &Value) -> String {
    // A `Value`'s keys are strings, so serializing it cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

/// `f` on [`json_text`] of `v`, written into a buffer this thread keeps (a plugin is sent one
/// request per app: no allocation for each).
pub(crate) fn with_json_text<R>(v: &Value, f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|b| {
        // Taken, not borrowed: `f` may send another request on this thread.
        let mut buffer = b.take();
        buffer.clear();
        // A `Value`'s keys are strings, so serializing it cannot fail.
        let _ = serde_json::to_writer(&mut buffer, v);
        let r = f(std::str::from_utf8(&buffer).unwrap_or_default());
        if buffer.capacity() <= 1 << 20 {
            b.replace(buffer);
        }
        r
    })
}

/// A plugin's answer to `generate` (a JSON array of objects) as values.
pub(crate) fn parse_objects(out: &str) -> Result<Vec<Value>, ErrorPayload> {
    match serde_json::from_str::<Value>(out) {
        Ok(Value::Array(objects)) => Ok(objects),
        Ok(other) => Err(invalid_output(format!(
            "returned a JSON {} instead of an array of objects",
            match other {
                Value::Object(_) => "object",
                _ => "scalar",
            }
        ))),
        Err(e) => Err(invalid_output(format!("returned invalid JSON ({e})"))),
    }
}

pub(crate) fn invalid_output(message: String) -> ErrorPayload {
    ErrorPayload {
        kind: ErrorKind::InvalidOutput,
        message,
        issues: Vec::new(),
    }
}
