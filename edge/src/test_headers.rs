//! Unit-test helper shared by the header-policy modules (`directives`, `forward`, `vary`).

use http::{HeaderMap, HeaderName, HeaderValue};

/// A header map from `(name, value)` pairs, repeated names appended in order.
pub(crate) fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}
