//! Values written into the hub's URLs.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but the unreserved characters of RFC 3986.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The same, keeping `/`: a path carried in a query value stays readable.
const PATH_IN_QUERY: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Percent-encodes a path (and its query) for use as one query value.
pub fn encode_path(s: &str) -> String {
    utf8_percent_encode(s, PATH_IN_QUERY).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay_as_they_are() {
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(
            encode("key with spaces&/é"),
            "key%20with%20spaces%26%2F%C3%A9"
        );
        assert_eq!(
            encode_path("/runs?status=failed"),
            "/runs%3Fstatus%3Dfailed"
        );
    }
}
