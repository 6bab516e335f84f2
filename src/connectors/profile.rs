//! Connection profiles: `etc/sources/<type>.yaml` and `etc/sinks/<type>.yaml`
//! hold a `default` section and named sections. A stream picks a section
//! with `CONF_KEY` (a sink with `resourceId`); the named section's keys
//! override the default's, and the stream's or action's own properties
//! override both. A missing file is an empty profile; a missing section is
//! an error naming the file.

use super::ConnectorError;
use serde_json::{Map, Value as Json};
use std::path::Path;

/// The merged properties of `default` and `section` of `dir/<kind>.yaml`.
pub fn load(dir: &Path, kind: &str, section: Option<&str>) -> Result<Map<String, Json>, ConnectorError> {
    let path = dir.join(format!("{kind}.yaml"));
    let bad = |message: String| ConnectorError::Open { connector: kind.to_string(), message };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match section {
                Some(s) if s != "default" => Err(bad(format!("CONF_KEY {s}: {} does not exist", path.display()))),
                _ => Ok(Map::new()),
            };
        }
        Err(e) => return Err(bad(format!("{}: {e}", path.display()))),
    };
    let doc: Json = serde_yaml::from_str(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let mut out = doc.get("default").and_then(Json::as_object).cloned().unwrap_or_default();
    if let Some(s) = section.filter(|s| *s != "default") {
        let named = doc
            .get(s)
            .and_then(Json::as_object)
            .ok_or_else(|| bad(format!("CONF_KEY {s}: no section {s} in {}", path.display())))?;
        for (k, v) in named {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_override_default() {
        let dir = std::env::temp_dir().join(format!("oort-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("mqtt.yaml"),
            "default:\n  server: tcp://a:1883\n  qos: 1\nother:\n  server: tcp://b:1883\n",
        )
        .unwrap();
        let p = load(&dir, "mqtt", Some("other")).unwrap();
        assert_eq!(p["server"], "tcp://b:1883");
        assert_eq!(p["qos"], 1);
        assert!(load(&dir, "mqtt", Some("missing")).is_err());
        assert!(load(&dir, "nothing", None).unwrap().is_empty());
    }
}
