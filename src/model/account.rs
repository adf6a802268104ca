//! What an account is made of, checked once where it enters: an email
//! address and a new password.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Shortest password accepted for a new user.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (hashing cost grows with it).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A checked email address: trimmed, lowercased, `local@domain.tld`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= MAX_EMAIL_CHARS
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Email(email))
        } else {
            Err(format!(
                "'{}' is not an email address",
                raw.trim().chars().take(60).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`: a display name when none is given.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Email {
    type Err = String;
    fn from_str(s: &str) -> Result<Email, String> {
        Email::parse(s)
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Email, String> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A password that may be set for a new user: 12 to 1024 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(password: String) -> Result<NewPassword, String> {
        let n = password.chars().count();
        if n < MIN_PASSWORD_CHARS {
            return Err(format!(
                "the password needs at least {MIN_PASSWORD_CHARS} characters"
            ));
        }
        if n > MAX_PASSWORD_CHARS {
            return Err(format!(
                "the password is longer than {MAX_PASSWORD_CHARS} characters"
            ));
        }
        Ok(NewPassword(password))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Never printed, even in debug output.
impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Email::parse("ann@example.com").unwrap().local_part(), "ann");
    }

    #[test]
    fn passwords_are_checked() {
        assert!(NewPassword::parse("short".into()).is_err());
        assert!(NewPassword::parse("x".repeat(1025)).is_err());
        assert!(NewPassword::parse("long enough password".into()).is_ok());
        assert_eq!(
            format!(
                "{:?}",
                NewPassword::parse("long enough password".into()).unwrap()
            ),
            "NewPassword(…)"
        );
    }
}
