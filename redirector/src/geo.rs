//! Great-circle distance (haversine on a spherical Earth).

/// Mean Earth radius, km.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km between two points given in degrees.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        // Paris - New York ≈ 5837 km.
        let d = distance_km(48.8566, 2.3522, 40.7128, -74.0060);
        assert!((d - 5837.0).abs() < 10.0, "{d}");
        assert_eq!(distance_km(10.0, 20.0, 10.0, 20.0), 0.0);
        // Antipodes: half the circumference.
        let d = distance_km(0.0, 0.0, 0.0, 180.0);
        assert!((d - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }
}
