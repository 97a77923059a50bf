//! One YAML document to a JSON value, with the two checks every spec gets whatever parser
//! reads it: nesting at most [`MAX_DEPTH`] deep (no stack overflow at any depth, on any
//! thread), and no key twice in one mapping (an error naming both lines, where YAML parsers
//! commonly let the last one win).
//!
//! The fast path (`fastyaml`) reads plain block YAML; everything else goes through yaml_serde
//! into a [`Checked`] seed, which builds the value itself (serde_json's own `Value` would let
//! a duplicate key overwrite the first). yaml_serde puts the position of the key being read on
//! an error raised there, so the line of a duplicate is exact; the line of the first occurrence
//! comes from a second pass that stops at it (only ever on this error path).

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::input::problem::{Problem, MAX_DEPTH};
use crate::util::shown;

/// Parses one YAML document (no `---` separators inside).
pub(crate) fn parse(text: &str) -> Result<Value, Problem> {
    match crate::input::fastyaml::parse(text)? {
        Some(v) => Ok(v),
        None => reference(text),
    }
}

/// Parses one YAML document with the reference parser only (yaml_serde, with kure's checks).
pub(crate) fn reference(text: &str) -> Result<Value, Problem> {
    let mut state = State::default();
    let first = Checked(&mut state).deserialize(yaml_serde::Deserializer::from_str(text));
    let error = match first {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let line = error.location().map(|l| l.line());
    match state.found {
        Some(Found::TooDeep) => Err(Problem::TooDeep {
            line: line.unwrap_or(1),
        }),
        Some(Found::Duplicate { map, key }) => {
            let second = line.unwrap_or(1);
            let mut again = State {
                stop_at: Some((map, key.clone())),
                ..State::default()
            };
            let first = Checked(&mut again)
                .deserialize(yaml_serde::Deserializer::from_str(text))
                .err()
                .filter(|_| matches!(again.found, Some(Found::First)))
                .and_then(|e| e.location())
                .map_or(second, |l| l.line());
            Err(Problem::Duplicate { key, first, second })
        }
        Some(Found::First) | None => Err(Problem::Syntax {
            line,
            column: error.location().map(|l| l.column()),
            message: error.to_string(),
        }),
    }
}

#[derive(Debug)]
enum Found {
    TooDeep,
    /// Key `key` again in the `map`-th mapping (pre-order).
    Duplicate {
        map: usize,
        key: String,
    },
    /// The first occurrence that [`State::stop_at`] asked for.
    First,
}

#[derive(Debug, Default)]
struct State {
    depth: usize,
    /// Mappings begun so far, numbering them in document order.
    maps: usize,
    /// Stop, with an error at its position, at the first occurrence of this key in this
    /// mapping.
    stop_at: Option<(usize, String)>,
    found: Option<Found>,
}

/// A value, built with the depth and duplicate-key checks.
struct Checked<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for Checked<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Checked<'_> {
    fn enter<E: serde::de::Error>(&mut self) -> Result<(), E> {
        self.0.depth += 1;
        if self.0.depth > MAX_DEPTH {
            self.0.found = Some(Found::TooDeep);
            return Err(E::custom(format_args!(
                "nested more than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Checked<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Value, E> {
        Number::from_i128(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("integer out of range"))
    }
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        Number::from_u128(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json does: NaN and infinities have no JSON form.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Checked(&mut *self.0))? {
            items.push(v);
        }
        self.0.depth -= 1;
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        self.enter()?;
        let id = self.0.maps;
        self.0.maps += 1;
        let mut map = Map::new();
        while let Some(key) = access.next_key_seed(Key {
            state: &mut *self.0,
            map: &map,
            id,
        })? {
            let value = access.next_value_seed(Checked(&mut *self.0))?;
            map.insert(key, value);
        }
        self.0.depth -= 1;
        Ok(Value::Object(map))
    }
}

/// A mapping key: a string, checked against the keys before it while the parser still points
/// at it.
struct Key<'a> {
    state: &'a mut State,
    map: &'a Map<String, Value>,
    id: usize,
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_string(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        if self
            .state
            .stop_at
            .as_ref()
            .is_some_and(|(id, k)| *id == self.id && k == v)
        {
            self.state.found = Some(Found::First);
            return Err(E::custom("first occurrence"));
        }
        if self.map.contains_key(v) {
            self.state.found = Some(Found::Duplicate {
                map: self.id,
                key: v.to_owned(),
            });
            return Err(E::custom(format_args!("duplicate key `{}`", shown(v))));
        }
        Ok(v.to_owned())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<String, E> {
        self.visit_str("null")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_name_both_lines_on_both_paths() {
        // Block YAML: the fast path.
        let block = "a: 1\nspec:\n  image: x\n  port: 80\n  image: y\n";
        assert_eq!(
            parse(block),
            Err(Problem::Duplicate {
                key: "image".into(),
                first: 3,
                second: 5
            })
        );
        // A sequence of mappings, and a flow mapping, a block scalar: yaml_serde.
        let items = "c:\n- name: a\n  image: x\n- name: b\n  image: |\n    y\n  name: c\n";
        assert_eq!(
            parse(items),
            Err(Problem::Duplicate {
                key: "name".into(),
                first: 4,
                second: 7
            })
        );
        let flow = "a: {x: 1,\n  y: 2, x: 3}\n";
        let p = parse(flow).expect_err("duplicate");
        assert!(
            matches!(&p, Problem::Duplicate { key, first: 1, second: 2 } if key == "x"),
            "{p:?}"
        );
        // Same key in two different mappings is fine.
        assert!(parse("a:\n  x: 1\nb:\n  x: |\n    2\n").is_ok());
        assert!(
            p.message(10).contains("also on line 11"),
            "{}",
            p.message(10)
        );
    }

    #[test]
    fn deep_nesting_is_refused_on_both_paths_on_a_small_stack() {
        let deep_block: String = (0..10_000)
            .map(|i| format!("{}-\n", " ".repeat(i)))
            .collect();
        let deep_flow = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let deep_map: String = (0..1_000)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect();
        let ok: String = (0..MAX_DEPTH - 1)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        let results = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                (
                    parse(&deep_block),
                    parse(&deep_flow),
                    parse(&deep_map),
                    parse(&ok),
                )
            })
            .expect("spawn")
            .join()
            .expect("no stack overflow");
        assert!(
            matches!(results.0, Err(Problem::TooDeep { .. })),
            "{:?}",
            results.0
        );
        assert!(
            matches!(results.1, Err(Problem::TooDeep { .. })),
            "{:?}",
            results.1
        );
        assert!(
            matches!(results.2, Err(Problem::TooDeep { line })  if line == MAX_DEPTH + 1),
            "{:?}",
            results.2
        );
        assert!(results.3.is_ok(), "{:?}", results.3);
    }

    #[test]
    fn values_match_serde_json_from_yaml_serde() {
        let text = "a: 1.5\nb: [1, -2, 18446744073709551615, .nan, ~, yes, 'q']\nc: {1: x, true: y}\nd: |\n  text\n";
        let reference: Value = yaml_serde::from_str(text).expect("reference");
        assert_eq!(parse(text), Ok(reference));
    }
}
