//! Traffic Router Coverage Zone File (CZF JSON), the subset that matters for routing:
//! `{"coverageZones": {name: {"network": [...], "network6": [...], "coordinates":
//! {"latitude", "longitude"}}}}`. `czf = "file"` in the topology imports it; its zones
//! become locations, merged by name with `[[locations]]` (see `compile`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Cidr, CidrError};

/// Why a coverage zone file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CzfError {
    /// Not JSON of the CZF shape.
    #[error("invalid CZF JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A zone lists something that is not a network.
    #[error("coverageZones.{zone}: {error}")]
    Network {
        /// The coverage zone.
        zone: String,
        /// What is wrong with the network.
        error: CidrError,
    },
}

#[derive(Debug, Deserialize)]
struct Czf {
    #[serde(rename = "coverageZones")]
    coverage_zones: BTreeMap<String, CzfZone>,
}

#[derive(Debug, Deserialize)]
struct CzfZone {
    #[serde(default)]
    network: Vec<String>,
    #[serde(default)]
    network6: Vec<String>,
    coordinates: Option<CzfCoordinates>,
}

#[derive(Debug, Deserialize)]
struct CzfCoordinates {
    latitude: f64,
    longitude: f64,
}

/// A location imported from a CZF.
#[derive(Debug, Clone, PartialEq)]
pub struct CzfLocation {
    /// Coverage zone name.
    pub name: String,
    /// Coordinates, when the CZF has them.
    pub coordinates: Option<(f64, f64)>,
    /// IPv4 and IPv6 networks.
    pub networks: Vec<Cidr>,
}

/// Parses a Traffic Router Coverage Zone File (`{"coverageZones": {name: {network,
/// network6, coordinates}}}`); zones come out sorted by name.
pub fn parse_czf(json: &str) -> Result<Vec<CzfLocation>, CzfError> {
    let czf: Czf = serde_json::from_str(json)?;
    let mut out = Vec::new();
    for (name, zone) in czf.coverage_zones {
        let mut networks = Vec::new();
        for n in zone.network.iter().chain(zone.network6.iter()) {
            networks.push(n.parse::<Cidr>().map_err(|error| CzfError::Network {
                zone: name.clone(),
                error,
            })?);
        }
        out.push(CzfLocation {
            name,
            coordinates: zone.coordinates.map(|c| (c.latitude, c.longitude)),
            networks,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_networks_and_coordinates() {
        let z = parse_czf(
            r#"{"revision":"1","coverageZones":{
                "b":{"network":["203.0.113.0/24"],"network6":["2001:db8:2::/48"]},
                "a":{"coordinates":{"latitude":35.7,"longitude":139.7}}}}"#,
        )
        .unwrap();
        assert_eq!(z[0].name, "a");
        assert_eq!(z[0].coordinates, Some((35.7, 139.7)));
        assert_eq!(z[1].networks.len(), 2);
        let e = parse_czf(r#"{"coverageZones":{"x":{"network":["10.0.0.0/40"]}}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "coverageZones.x: `10.0.0.0/40`: prefix length 40 is longer than 32"
        );
        let e = parse_czf("{").unwrap_err().to_string();
        assert!(e.starts_with("invalid CZF JSON"), "{e}");
    }
}
