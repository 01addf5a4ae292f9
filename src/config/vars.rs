//! A scenario's variables, stored compactly.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::Value;

/// A scenario's variables, sorted by name (the order a `BTreeMap` iterates in).
///
/// Why not a `BTreeMap`: its first insert allocates a whole node of eleven slots, about
/// 1.1 KiB with `serde_json` values, for the three or four variables a scenario typically
/// has: about 110 MiB of a 100,000-scenario project. A sorted boxed slice holds only what is
/// there. Code that needs a map (templates, fingerprints, provider requests) builds one for
/// the moment with [`Vars::to_map`].
#[derive(Clone, Default, PartialEq)]
pub struct Vars(Box<[(Box<str>, Value)]>);

impl Vars {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Name and value pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// Names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| &**k)
    }

    /// The variables as a map, for code that takes one; build it for the moment it is needed.
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(name))
    }
}

impl From<BTreeMap<String, Value>> for Vars {
    fn from(map: BTreeMap<String, Value>) -> Self {
        Vars(
            map.into_iter()
                .map(|(k, v)| (k.into_boxed_str(), v))
                .collect(),
        )
    }
}

impl std::ops::Index<&str> for Vars {
    type Output = Value;

    /// Panics when the variable is missing, like indexing a map.
    fn index(&self, name: &str) -> &Value {
        match self.get(name) {
            Some(v) => v,
            None => panic!("no variable `{name}`"),
        }
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Vars {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn behaves_like_the_sorted_map_it_came_from() {
        let map: BTreeMap<String, Value> =
            serde_json::from_value(json!({"b": 2, "a": "x", "c": [1]})).expect("map");
        let vars = Vars::from(map.clone());
        assert_eq!(vars.to_map(), map);
        assert_eq!(vars.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(vars["b"], json!(2));
        assert_eq!(vars.get("z"), None);
        assert!(vars.contains_key("c") && !vars.contains_key("d"));
        assert_eq!(vars.len(), 3);
        assert!(Vars::default().is_empty());
        assert_eq!(format!("{vars:?}"), format!("{map:?}"));
        assert_eq!(
            serde_json::to_string(&vars).expect("json"),
            serde_json::to_string(&map).expect("json")
        );
    }
}
