//! Who answered an approval, and whether they may. An identity is what a
//! channel verified — the OS user of the process answering in a shell (its
//! real uid, [`os_user`]), or the Slack user of a signed click — mapped through
//! `[people]` to a person, so one person is one voter whichever channel they
//! answer from. A name typed on the command line is never an identity: it is
//! at most checked against the verified one.
//!
//! The allow-list of a service (`[services.NAME.slack] approvers`, else
//! `[slack] approvers`) names people, Slack user ids (`U…`/`W…`) and user
//! groups (`S…`). Slack clicks match any of them (groups through
//! `usergroups.users.list`, in `serve`); a shell matches a listed person, or a
//! listed Slack id that belongs to its person. No list: anyone who can reach
//! the journal decides, as before, but what is recorded is who they verifiably are.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

mod os;

pub use os::os_user;

/// `[people.NAME]`: one person's accounts. Either may be missing; a person
/// without a Slack id approves only from a shell, and the other way round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The login name of the person's OS account (as `getpwuid` reports it).
    pub os_user: Option<String>,
    /// The person's Slack member id, e.g. `U0123ABC`.
    pub slack: Option<String>,
}

/// A verified answerer, as recorded in the journal (see [`Identity::key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A `[people]` entry, whichever account answered.
    Person(String),
    /// A Slack user no `[people]` entry claims.
    Slack(String),
    /// An OS user no `[people]` entry claims.
    OsUser(String),
}

impl Identity {
    /// The identity a journal voter key names (the inverse of [`Identity::key`]).
    pub fn from_key(key: &str) -> Self {
        match (key.strip_prefix("slack:"), key.strip_prefix("os:")) {
            (Some(user), _) => Self::Slack(user.to_string()),
            (_, Some(user)) => Self::OsUser(user.to_string()),
            _ => Self::Person(key.to_string()),
        }
    }

    /// The voter key in the journal: `alice` (a person), `slack:U0123ABC`,
    /// `os:root`. Person names cannot hold `:`, so the three never collide,
    /// and two votes with the same key are one voter's.
    pub fn key(&self) -> String {
        match self {
            Self::Person(name) => name.clone(),
            Self::Slack(user) => format!("slack:{user}"),
            Self::OsUser(user) => format!("os:{user}"),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// Why a shell may not answer as it asked to. Messages say what to configure.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot tell who you are: the real uid {uid} has no entry in the user database ({detail}); approve from an account with a login name")]
    UnknownUid { uid: u32, detail: String },
    #[error("--by {by} is not you: you are verified as {identity} (OS user {os_user}); drop --by (the identity is read from your OS account, never from a flag), or let {by} approve from their own account")]
    NotYou {
        by: String,
        identity: String,
        os_user: String,
    },
    #[error("{0}")]
    NotAnApprover(Box<Refusal>),
    #[error("{}", .0.approve_as())]
    ApproveAsNotApprover(Box<Refusal>),
}

/// Who was refused, for which service and by which list (boxed in the error:
/// it is large, and refusals are rare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The verified identity's key (`alice`, `os:root`).
    pub identity: String,
    pub os_user: String,
    pub service: String,
    /// The setting the list came from, e.g. `[services.shop.slack] approvers`.
    pub field: String,
    pub listed: Vec<String>,
}

impl Refusal {
    fn who(&self) -> String {
        match self.identity.strip_prefix("os:") {
            Some(_) => format!("OS user {} (no [people] entry maps it)", self.os_user),
            None => format!("{} (OS user {})", self.identity, self.os_user),
        }
    }

    fn approve_as(&self) -> String {
        format!(
            "--approve-as is refused for {}: it has an allow-list ({} = {:?}) and {} is not on it; approve as a listed person (map your OS account in [people]), or let a listed approver answer",
            self.service,
            self.field,
            self.listed,
            self.who()
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (field, user) = (&self.field, &self.os_user);
        let fix = match self.identity.strip_prefix("os:") {
            Some(_) => {
                format!("add [people.NAME] with os_user = \"{user}\" and list NAME in {field}")
            }
            None => format!("add \"{}\" to {field}", self.identity),
        };
        write!(
            f,
            "{} is not an approver of {} ({field} = {:?}): {fix} (user groups are only resolved for Slack clicks)",
            self.who(),
            self.service,
            self.listed
        )
    }
}

/// People and allow-lists, from the settings: who an account is, and whom a
/// service lets decide.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directory {
    people: BTreeMap<String, Person>,
    /// `[services.NAME.slack] approvers`, by service.
    services: BTreeMap<String, Vec<String>>,
    /// `[slack] approvers`: the list of services without their own.
    default: Vec<String>,
}

/// Allow-lists alone (no people, no default): what `serve` had before people.
impl From<BTreeMap<String, Vec<String>>> for Directory {
    fn from(services: BTreeMap<String, Vec<String>>) -> Self {
        Self::new(BTreeMap::new(), services, Vec::new())
    }
}

impl Directory {
    pub fn new(
        people: BTreeMap<String, Person>,
        services: BTreeMap<String, Vec<String>>,
        default: Vec<String>,
    ) -> Self {
        Self {
            people,
            services,
            default,
        }
    }

    /// Who may decide for `service`: its own list, else `[slack] approvers`.
    /// Empty: no allow-list.
    pub fn approvers(&self, service: &str) -> &[String] {
        match self.services.get(service) {
            Some(own) if !own.is_empty() => own,
            _ => &self.default,
        }
    }

    /// The setting [`Directory::approvers`] came from, for messages.
    pub fn field(&self, service: &str) -> String {
        match self.services.get(service) {
            Some(own) if !own.is_empty() => format!("[services.{service}.slack] approvers"),
            _ if !self.default.is_empty() => "[slack] approvers".into(),
            _ => format!("[services.{service}.slack] approvers"),
        }
    }

    pub fn has_allow_list(&self, service: &str) -> bool {
        !self.approvers(service).is_empty()
    }

    pub fn people(&self) -> &BTreeMap<String, Person> {
        &self.people
    }

    /// The person whose `os_user` this is, else the OS user itself.
    pub fn identify_os(&self, os_user: &str) -> Identity {
        self.person_where(|p| p.os_user.as_deref() == Some(os_user))
            .map_or_else(|| Identity::OsUser(os_user.into()), Identity::Person)
    }

    /// The person whose `slack` id this is, else the Slack user itself.
    pub fn identify_slack(&self, user: &str) -> Identity {
        self.person_where(|p| p.slack.as_deref() == Some(user))
            .map_or_else(|| Identity::Slack(user.into()), Identity::Person)
    }

    /// `service`'s list as Slack sees it: people replaced by their Slack ids
    /// (people without one dropped), user ids and groups as listed.
    pub fn slack_entries(&self, service: &str) -> Vec<String> {
        self.approvers(service)
            .iter()
            .filter_map(|entry| match self.people.get(entry) {
                Some(person) => person.slack.clone(),
                None => Some(entry.clone()),
            })
            .collect()
    }

    /// Whether `identity` is on `service`'s list by name: a person listed by
    /// name or by their Slack id, a Slack user by id. Groups are not resolved
    /// here (that needs Slack; `serve` does it for clicks).
    pub fn lists(&self, service: &str, identity: &Identity) -> bool {
        let listed = self.approvers(service);
        let has = |s: &str| listed.iter().any(|e| e == s);
        match identity {
            Identity::Person(name) => {
                has(name)
                    || self
                        .people
                        .get(name)
                        .and_then(|p| p.slack.as_deref())
                        .is_some_and(has)
            }
            Identity::Slack(user) => has(user),
            Identity::OsUser(_) => false,
        }
    }

    /// Checks a shell's verified identity against `service`'s allow-list
    /// (none: anyone passes) and returns it.
    pub fn admit_os_user(&self, service: &str, os_user: &str) -> Result<Identity, IdentityError> {
        let identity = self.identify_os(os_user);
        if !self.has_allow_list(service) || self.lists(service, &identity) {
            return Ok(identity);
        }
        Err(IdentityError::NotAnApprover(Box::new(Refusal {
            identity: identity.key(),
            os_user: os_user.into(),
            service: service.into(),
            field: self.field(service),
            listed: self.approvers(service).to_vec(),
        })))
    }

    fn person_where(&self, matches: impl Fn(&Person) -> bool) -> Option<String> {
        self.people
            .iter()
            .find(|(_, p)| matches(p))
            .map(|(name, _)| name.clone())
    }
}

/// `--by NAME`, which names the verified identity or is refused: the person,
/// the identity's key, or the OS user's own name.
pub fn check_by(by: Option<&str>, identity: &Identity, os_user: &str) -> Result<(), IdentityError> {
    let Some(by) = by.map(str::trim).filter(|b| !b.is_empty()) else {
        return Ok(());
    };
    let person = matches!(identity, Identity::Person(name) if name == by);
    if person || by == identity.key() || by == os_user {
        return Ok(());
    }
    Err(IdentityError::NotYou {
        by: by.into(),
        identity: identity.key(),
        os_user: os_user.into(),
    })
}

/// A Slack member id: `U` or `W` (Enterprise Grid) and upper-case letters or digits.
pub fn is_slack_user_id(s: &str) -> bool {
    slack_id_with(s, &['U', 'W'])
}

/// A Slack user group id: `S` and upper-case letters or digits.
pub fn is_slack_group_id(s: &str) -> bool {
    slack_id_with(s, &['S'])
}

fn slack_id_with(s: &str, first: &[char]) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| first.contains(&c))
        && s.len() >= 3
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        let people = BTreeMap::from([
            (
                "alice".to_string(),
                Person {
                    os_user: Some("al".into()),
                    slack: Some("U0ALICE".into()),
                },
            ),
            (
                "bob".to_string(),
                Person {
                    os_user: Some("bob".into()),
                    slack: None,
                },
            ),
        ]);
        let services = BTreeMap::from([
            (
                "shop".to_string(),
                vec!["U0ALICE".to_string(), "SOPS".into()],
            ),
            ("cart".to_string(), vec!["bob".to_string()]),
        ]);
        Directory::new(people, services, vec!["alice".into()])
    }

    #[test]
    fn one_person_is_one_identity_in_either_channel() {
        let d = directory();
        assert_eq!(d.identify_os("al"), Identity::Person("alice".into()));
        assert_eq!(
            d.identify_slack("U0ALICE"),
            Identity::Person("alice".into())
        );
        assert_eq!(d.identify_os("al").key(), d.identify_slack("U0ALICE").key());
        assert_eq!(d.identify_os("mallory").key(), "os:mallory");
        assert_eq!(d.identify_slack("U0OTHER").key(), "slack:U0OTHER");
    }

    #[test]
    fn allow_lists_match_people_by_name_or_slack_id_and_never_a_bare_os_user() {
        let d = directory();
        // Listed by Slack id: her shell counts too.
        assert!(d.admit_os_user("shop", "al").is_ok());
        let err = d.admit_os_user("shop", "bob").unwrap_err().to_string();
        assert!(
            err.contains("bob (OS user bob) is not an approver of shop"),
            "{err}"
        );
        assert!(err.contains("[services.shop.slack] approvers"), "{err}");
        let err = d.admit_os_user("cart", "root").unwrap_err().to_string();
        assert!(err.contains("os_user = \"root\""), "{err}");
        // No own list: [slack] approvers.
        assert!(d.admit_os_user("search", "al").is_ok());
        assert!(d.admit_os_user("search", "bob").is_err());
        assert_eq!(
            d.slack_entries("cart"),
            Vec::<String>::new(),
            "bob has no Slack id"
        );
        assert_eq!(d.slack_entries("search"), ["U0ALICE"]);
        // Nothing listed anywhere: anyone, recorded as who they are.
        let open = Directory::default();
        assert_eq!(open.admit_os_user("x", "root").unwrap().key(), "os:root");
    }

    #[test]
    fn by_must_name_the_verified_identity() {
        let alice = Identity::Person("alice".into());
        assert!(check_by(None, &alice, "al").is_ok());
        for ok in ["alice", "al", " alice "] {
            assert!(check_by(Some(ok), &alice, "al").is_ok(), "{ok}");
        }
        let err = check_by(Some("bob"), &alice, "al").unwrap_err().to_string();
        assert!(
            err.contains("--by bob is not you") && err.contains("alice"),
            "{err}"
        );
        assert!(check_by(Some("os:root"), &Identity::OsUser("root".into()), "root").is_ok());
    }

    #[test]
    fn slack_ids_have_their_shape() {
        for id in ["U0123ABC", "W12", "UAB"] {
            assert!(is_slack_user_id(id), "{id}");
        }
        for id in ["@alice", "U1", "u0123abc", "SOPS", "U01-23", ""] {
            assert!(!is_slack_user_id(id), "{id}");
        }
        assert!(is_slack_group_id("SOPS") && !is_slack_group_id("U0123"));
    }
}
