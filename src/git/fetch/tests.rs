use super::*;
use backon::BackoffBuilder;

/// A bare "origin", a work tree that pushes to it, and a clone made from it.
struct Origins {
    _dir: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
    clone: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_DATE", "@1780000000 +0000")
        .env("GIT_COMMITTER_DATE", "@1780000000 +0000")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Origins {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (bare, work, clone) = (
            dir.path().join("origin.git"),
            dir.path().join("work"),
            dir.path().join("clone"),
        );
        let s = |p: &Path| p.to_str().unwrap().to_string();
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", &s(&bare)],
        );
        git(dir.path(), &["init", "-q", "-b", "main", &s(&work)]);
        for (k, v) in [("user.name", "A"), ("user.email", "a@example.com")] {
            git(&work, &["config", k, v]);
        }
        git(&work, &["remote", "add", "origin", &s(&bare)]);
        let me = Self {
            _dir: dir,
            bare,
            work,
            clone,
        };
        me.commit("initial");
        git(
            me._dir.path(),
            &["clone", "-q", &s(&me.bare), &s(&me.clone)],
        );
        me
    }

    /// Commits in the work tree and pushes it to origin's main.
    fn commit(&self, message: &str) -> String {
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

fn policy(retries: u32) -> FetchPolicy {
    FetchPolicy {
        remote: "origin".into(),
        branch: "main".into(),
        timeout: Duration::from_secs(20),
        retries,
        backoff: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn a_present_commit_is_not_fetched_and_a_new_one_on_origin_is() {
    let o = Origins::new();
    let first = git(&o.clone, &["rev-parse", "HEAD"]);
    assert_eq!(
        ensure_commit(&o.clone, &first, &policy(0)).await.unwrap(),
        Fetched::Present
    );
    let new = o.commit("merged later");
    assert!(!has_commit(&o.clone, &new).await.unwrap());
    assert_eq!(
        ensure_commit(&o.clone, &new, &policy(0)).await.unwrap(),
        Fetched::Fetched { attempt: 1 }
    );
    assert!(has_commit(&o.clone, &new).await.unwrap());
}

/// A server that serves only advertised refs (protocol v0 without
/// `allowReachableSHA1InWant`) refuses a sha that is no longer a branch
/// tip; the branch brings it.
#[tokio::test]
async fn a_server_that_refuses_a_sha_gives_it_through_the_branch() {
    let o = Origins::new();
    git(&o.clone, &["config", "protocol.version", "0"]);
    let new = o.commit("merged later");
    o.commit("merged after it");
    let args = ["fetch", "--no-tags", "origin", &new];
    let direct = run(&o.clone, &args, policy(0).timeout).await.unwrap();
    assert!(direct.is_err(), "the server should refuse the sha");
    assert_eq!(
        ensure_commit(&o.clone, &new, &policy(0)).await.unwrap(),
        Fetched::Fetched { attempt: 1 }
    );
}

#[tokio::test]
async fn a_commit_that_exists_nowhere_fails_after_the_bounded_retries() {
    let o = Origins::new();
    let nowhere = "1234567890abcdef1234567890abcdef12345678";
    let err = ensure_commit(&o.clone, nowhere, &policy(2))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Failed { attempts: 3, .. }),
        "{err}"
    );
    let text = err.to_string();
    let said = format!("git said: fetch {nowhere}: ");
    for says in [
        "in 3 attempt(s)",
        &said,
        "not in it",
        "credentials",
        "origin",
    ] {
        assert!(text.contains(says), "{says}: {text}");
    }
}

#[tokio::test]
async fn no_remote_and_bad_shas_fail_at_once() {
    let o = Origins::new();
    let err = ensure_commit(
        &o.work,
        "1234567",
        &FetchPolicy {
            remote: "upstream".into(),
            ..policy(5)
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, FetchError::NoRemote { .. }), "{err}");
    assert!(err.to_string().contains("remote add upstream"), "{err}");
    let err = ensure_commit(&o.clone, "--upload-pack=touch x", &policy(0))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidSha { .. }), "{err}");
}

/// A remote that accepts the connection and never answers: each attempt is
/// cut at the timeout.
#[tokio::test]
async fn a_hung_remote_is_cut_by_the_timeout() {
    let o = Origins::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("git://{}/shop.git", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        // Hold up to a few connections open without a word.
        let mut held = Vec::new();
        for stream in silent.incoming().take(4) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    git(&o.clone, &["remote", "set-url", "origin", &url]);
    let started = std::time::Instant::now();
    let err = ensure_commit(
        &o.clone,
        "1234567890abcdef",
        &FetchPolicy {
            timeout: Duration::from_millis(300),
            ..policy(1)
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    drop(held);
}

#[test]
fn backoff_doubles_up_to_a_bound_and_credentials_are_redacted() {
    let first = Duration::from_secs(1);
    let waits: Vec<u64> = schedule(first, 7).build().map(|d| d.as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(
        redact("fatal: https://bot:ghp_x@github.com/acme/shop.git not found"),
        "fatal: https://***@github.com/acme/shop.git not found"
    );
    assert_eq!(
        redact("git@github.com:acme/shop.git"),
        "git@github.com:acme/shop.git"
    );
}
