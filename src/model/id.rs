//! Ids as users type them.

/// Upper bound on a run id's text form in URLs and requests.
const MAX_ID_LEN: usize = 19;

/// Parses a run (or any row) id from user input: a positive 64-bit integer.
pub fn parse_id(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("an id is required".into());
    }
    if raw.len() > MAX_ID_LEN || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{}' is not a valid id: ids are positive whole numbers",
            truncate(raw, 40)
        ));
    }
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!(
            "'{raw}' is not a valid id: ids are positive whole numbers"
        )),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive_whole_numbers() {
        assert_eq!(parse_id("42"), Ok(42));
        assert_eq!(parse_id(" 7 "), Ok(7));
        assert!(parse_id("").is_err());
        assert!(parse_id("0").is_err());
        assert!(parse_id("-3").is_err());
        assert!(parse_id("12abc").is_err());
        assert!(parse_id("1e5").is_err());
        assert!(parse_id("99999999999999999999").is_err());
        assert!(parse_id(&"9".repeat(5000)).unwrap_err().len() < 120);
    }
}
