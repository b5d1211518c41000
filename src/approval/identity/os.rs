//! The OS user of this process, from its real uid through the user database
//! (`getpwuid`), never from `$USER` or `$LOGNAME`: anyone can set those, while
//! the real uid is the kernel's word for who started the process (`sudo -u`
//! changes it, which is what an operator means by it).

use super::IdentityError;

/// The login name of the real uid.
pub fn os_user() -> Result<String, IdentityError> {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) if !user.name.is_empty() => Ok(user.name),
        Ok(_) => Err(IdentityError::UnknownUid {
            uid: uid.as_raw(),
            detail: "no passwd entry".into(),
        }),
        Err(e) => Err(IdentityError::UnknownUid {
            uid: uid.as_raw(),
            detail: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_user_is_read_from_the_real_uid() {
        let name = os_user().expect("the test runs as a user with a passwd entry");
        assert!(!name.is_empty());
        let uid = nix::unistd::getuid().as_raw();
        if uid == 0 {
            assert_eq!(name, "root");
        }
    }
}
