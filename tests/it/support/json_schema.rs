//! A small JSON Schema checker for the keywords Discord's OpenAPI document
//! uses: `$ref` (local `#/...` pointers), `type` (a name or a list, with
//! `"null"`), `properties`, `required`, `additionalProperties`, `items`,
//! `minLength`/`maxLength` (in characters), `minItems`/`maxItems`,
//! `uniqueItems`, `minimum`/`maximum` (and the exclusive forms), `enum`,
//! `const`, `anyOf`/`oneOf`/`allOf`/`not`, and `pattern` for the snowflake
//! pattern only. Annotations (`title`, `description`, `format`, `x-*`, ...)
//! are ignored; any other keyword is reported as unsupported, so a schema
//! this checker does not understand can never pass silently.
//!
//! `strict` additionally refuses properties a schema does not declare, which
//! Discord would silently ignore: it catches a misspelt key (`colour`). It
//! judges each schema object alone, so it suits schemas that declare an
//! object's properties in one place (Discord's request bodies do), not
//! objects assembled from `allOf` parts.

use serde_json::Value;

/// The one `pattern` Discord's request schemas use (`SnowflakeType`).
const SNOWFLAKE_PATTERN: &str = "^(0|[1-9][0-9]*)$";

/// Deeper than any real schema nests; a `$ref` cycle ends here.
const MAX_DEPTH: usize = 128;

const ANNOTATIONS: [&str; 10] = [
    "title",
    "description",
    "format",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
    "$schema",
];

pub struct Validator<'a> {
    /// The document `$ref`s point into.
    root: &'a Value,
    strict: bool,
}

impl<'a> Validator<'a> {
    pub fn new(root: &'a Value) -> Self {
        Validator { root, strict: false }
    }

    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// Every violation as `path: message`; empty when `instance` is valid.
    pub fn validate(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, instance, "", 0, &mut errors);
        errors
    }

    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    fn check(&self, schema: &Value, inst: &Value, path: &str, depth: usize, errors: &mut Vec<String>) {
        let at = if path.is_empty() { "/" } else { path };
        if depth > MAX_DEPTH {
            errors.push(format!("{at}: schema nests deeper than {MAX_DEPTH} (a $ref cycle?)"));
            return;
        }
        let schema = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                errors.push(format!("{at}: no value is allowed here"));
                return;
            }
            Value::Object(o) => o,
            _ => {
                errors.push(format!("{at}: schema is neither an object nor a boolean"));
                return;
            }
        };
        for (key, sub) in schema {
            match key.as_str() {
                "$ref" => match sub.as_str().and_then(|r| self.resolve(r)) {
                    Some(target) => self.check(target, inst, path, depth + 1, errors),
                    None => errors.push(format!("{at}: unresolvable $ref {sub}")),
                },
                "type" => {
                    let names: Vec<&str> = match sub {
                        Value::String(s) => vec![s.as_str()],
                        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                        _ => vec![],
                    };
                    if !names.iter().any(|t| has_type(inst, t)) {
                        errors.push(format!("{at}: expected type {sub}, found {}", type_name(inst)));
                    }
                }
                "properties" => {
                    if let (Some(props), Some(obj)) = (sub.as_object(), inst.as_object()) {
                        for (k, v) in obj {
                            if let Some(s) = props.get(k) {
                                self.check(s, v, &format!("{path}/{k}"), depth + 1, errors);
                            }
                        }
                    }
                }
                "required" => {
                    if let (Some(req), Some(obj)) = (sub.as_array(), inst.as_object()) {
                        for k in req.iter().filter_map(Value::as_str) {
                            if !obj.contains_key(k) {
                                errors.push(format!("{at}: missing required property `{k}`"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(obj) = inst.as_object() {
                        let declared = schema.get("properties").and_then(Value::as_object);
                        for (k, v) in obj {
                            if declared.is_some_and(|d| d.contains_key(k)) {
                                continue;
                            }
                            self.check(sub, v, &format!("{path}/{k}"), depth + 1, errors);
                        }
                    }
                }
                "items" => {
                    if let Some(items) = inst.as_array() {
                        for (i, v) in items.iter().enumerate() {
                            self.check(sub, v, &format!("{path}/{i}"), depth + 1, errors);
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let (Some(limit), Some(s)) = (sub.as_u64(), inst.as_str()) {
                        let n = s.chars().count() as u64;
                        if key == "minLength" && n < limit {
                            errors.push(format!("{at}: {n} characters, fewer than minLength {limit}"));
                        }
                        if key == "maxLength" && n > limit {
                            errors.push(format!("{at}: {n} characters, more than maxLength {limit}"));
                        }
                    }
                }
                "minItems" | "maxItems" => {
                    if let (Some(limit), Some(a)) = (sub.as_u64(), inst.as_array()) {
                        let n = a.len() as u64;
                        if key == "minItems" && n < limit {
                            errors.push(format!("{at}: {n} items, fewer than minItems {limit}"));
                        }
                        if key == "maxItems" && n > limit {
                            errors.push(format!("{at}: {n} items, more than maxItems {limit}"));
                        }
                    }
                }
                "uniqueItems" => {
                    if let (Some(true), Some(a)) = (sub.as_bool(), inst.as_array()) {
                        for (i, x) in a.iter().enumerate() {
                            if a[..i].contains(x) {
                                errors.push(format!("{at}: item {i} repeats an earlier item"));
                            }
                        }
                    }
                }
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                    if let (Some(limit), Some(x)) = (sub.as_f64(), inst.as_f64()) {
                        let ok = match key.as_str() {
                            "minimum" => x >= limit,
                            "maximum" => x <= limit,
                            "exclusiveMinimum" => x > limit,
                            _ => x < limit,
                        };
                        if !ok {
                            errors.push(format!("{at}: {x} violates {key} {limit}"));
                        }
                    }
                }
                "enum" => {
                    if !sub.as_array().is_some_and(|vals| vals.contains(inst)) {
                        errors.push(format!("{at}: {inst} is not one of {sub}"));
                    }
                }
                "const" => {
                    if sub != inst {
                        errors.push(format!("{at}: {inst} is not the constant {sub}"));
                    }
                }
                "pattern" => {
                    if let Some(s) = inst.as_str() {
                        if sub.as_str() != Some(SNOWFLAKE_PATTERN) {
                            errors.push(format!("{at}: unsupported pattern {sub}"));
                        } else if !is_snowflake(s) {
                            errors.push(format!("{at}: {s:?} does not match {SNOWFLAKE_PATTERN}"));
                        }
                    }
                }
                "allOf" => {
                    for s in sub.as_array().into_iter().flatten() {
                        self.check(s, inst, path, depth + 1, errors);
                    }
                }
                "anyOf" | "oneOf" => {
                    let branches: Vec<Vec<String>> = sub
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| {
                            let mut e = Vec::new();
                            self.check(s, inst, path, depth + 1, &mut e);
                            e
                        })
                        .collect();
                    let passing = branches.iter().filter(|e| e.is_empty()).count();
                    if passing == 0 {
                        let why: Vec<String> = branches
                            .iter()
                            .enumerate()
                            .map(|(i, e)| format!("branch {i}: {}", e.first().map_or("?", String::as_str)))
                            .collect();
                        errors.push(format!("{at}: matches none of {key} ({})", why.join("; ")));
                    } else if key == "oneOf" && passing > 1 {
                        errors.push(format!("{at}: matches {passing} branches of oneOf, not exactly one"));
                    }
                }
                "not" => {
                    let mut e = Vec::new();
                    self.check(sub, inst, path, depth + 1, &mut e);
                    if e.is_empty() {
                        errors.push(format!("{at}: matches a schema under `not`"));
                    }
                }
                k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
                k => errors.push(format!("{at}: unsupported schema keyword `{k}`")),
            }
        }
        if self.strict && !schema.contains_key("additionalProperties") {
            if let (Some(props), Some(obj)) = (schema.get("properties").and_then(Value::as_object), inst.as_object()) {
                for k in obj.keys().filter(|k| !props.contains_key(*k)) {
                    errors.push(format!("{at}: property `{k}` is not in the schema"));
                }
            }
        }
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|x| x.fract() == 0.0),
        _ => false,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_snowflake(s: &str) -> bool {
    s == "0" || (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()))
}
