//! Who is signed in, the tenant they are looking at, and what they may do.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantChoice {
    pub slug: String,
    pub name: String,
}

/// A user's role in one tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// May start, cancel and retry operations and acknowledge findings.
    Operator,
    /// May only read.
    Viewer,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "operator" => Some(Role::Operator),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn can_operate(self) -> bool {
        self == Role::Operator
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As typed on the command line: `operator` or `viewer`.
impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::parse(s).ok_or_else(|| {
            format!(
                "role must be operator or viewer, not '{}'",
                s.chars().take(40).collect::<String>()
            )
        })
    }
}

/// The signed-in user as the hub shows them: name, role in the current
/// tenant, and the tenants they may switch to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub current: TenantChoice,
    pub choices: Vec<TenantChoice>,
}

/// Where to go after signing in: only a path on this site, never another
/// origin (`//evil.example`, `https://…`, `/\evil`) — anything else is `/runs`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && !n.chars().any(char::is_control)
                && !n.starts_with("/signin") =>
        {
            n.to_string()
        }
        _ => "/runs".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_only_operators_operate() {
        for role in [Role::Operator, Role::Viewer] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
        assert_eq!("viewer".parse::<Role>(), Ok(Role::Viewer));
        assert!("admin"
            .parse::<Role>()
            .unwrap_err()
            .contains("operator or viewer"));
        assert!(Role::Operator.can_operate());
        assert!(!Role::Viewer.can_operate());
    }

    #[test]
    fn sign_in_redirects_stay_on_this_site() {
        assert_eq!(safe_next(Some("/runs/42?x=1")), "/runs/42?x=1");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "runs",
            "/signin?next=/x",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/runs", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/runs");
    }
}
