//! Authentication context classes (OIDC `acr`, RFC 9470 step-up): how strongly a person
//! signed in, told apart by the methods they used (`amr`, RFC 8176).

/// The classes Gatehouse tells apart, weakest first: a stronger one satisfies a request
/// for a weaker one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Acr {
    /// The password alone.
    Password,
    /// The password and a second factor.
    SecondFactor,
}

impl Acr {
    /// Every class, as discovery lists them (`acr_values_supported`).
    pub const ALL: [Acr; 2] = [Acr::Password, Acr::SecondFactor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "urn:gatehouse:acr:password",
            Self::SecondFactor => "urn:gatehouse:acr:mfa",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|acr| acr.as_str() == value)
    }

    /// The class of a sign-in that used `amr`.
    pub fn of(amr: &[String]) -> Self {
        if amr.iter().any(|m| m == "mfa") {
            Self::SecondFactor
        } else {
            Self::Password
        }
    }

    /// The least a client's `acr_values` (space-separated, in its order of preference)
    /// accepts: the weakest class it lists, unknown values ignored; `None` when it lists
    /// none Gatehouse knows (OIDC Core §3.1.2.1: the values are voluntary).
    pub fn least_accepted(acr_values: &str) -> Option<Self> {
        acr_values.split(' ').filter_map(Self::parse).min()
    }
}

#[cfg(test)]
mod tests {
    use super::Acr;

    #[test]
    fn the_weakest_class_listed_is_the_least_accepted() {
        let mfa = Acr::SecondFactor.as_str();
        let pwd = Acr::Password.as_str();
        assert_eq!(Acr::least_accepted(mfa), Some(Acr::SecondFactor));
        assert_eq!(
            Acr::least_accepted(&format!("{mfa} {pwd}")),
            Some(Acr::Password)
        );
        assert_eq!(
            Acr::least_accepted(&format!("other {mfa}")),
            Some(Acr::SecondFactor)
        );
        assert_eq!(Acr::least_accepted("other"), None);
        assert_eq!(Acr::least_accepted(""), None);
    }

    #[test]
    fn a_second_factor_is_told_by_mfa_in_amr() {
        let amr = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Acr::of(&amr(&["pwd"])), Acr::Password);
        assert_eq!(Acr::of(&amr(&["pwd", "otp", "mfa"])), Acr::SecondFactor);
        assert!(Acr::SecondFactor > Acr::Password);
    }
}
