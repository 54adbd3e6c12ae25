//! `.gitignore` inside git repositories: a chain of matchers, innermost first.

use std::path::Path;
use std::sync::Arc;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// The ignore rules in force in one directory.
#[derive(Debug, Default)]
pub struct IgnoreStack {
    parent: Option<Arc<IgnoreStack>>,
    matcher: Option<Gitignore>,
    in_repo: bool,
}

impl IgnoreStack {
    /// The rules outside any repository: none.
    pub fn empty() -> Arc<IgnoreStack> {
        Arc::new(IgnoreStack::default())
    }

    /// The rules in force in directory `dir`, whose parent's rules are `parent`.
    /// `has_git` and `has_gitignore` say whether `dir` holds those names.
    pub fn child(
        parent: &Arc<IgnoreStack>,
        dir: &Path,
        has_git: bool,
        has_gitignore: bool,
    ) -> Arc<IgnoreStack> {
        let in_repo = parent.in_repo || has_git;
        if !in_repo || !has_gitignore {
            if in_repo == parent.in_repo {
                return Arc::clone(parent);
            }
            return Arc::new(IgnoreStack {
                parent: Some(Arc::clone(parent)),
                matcher: None,
                in_repo,
            });
        }
        let mut builder = GitignoreBuilder::new(dir);
        // A malformed line only loses that line; the rest still applies.
        let _ = builder.add(dir.join(".gitignore"));
        let matcher = builder.build().ok();
        Arc::new(IgnoreStack {
            parent: Some(Arc::clone(parent)),
            matcher,
            in_repo,
        })
    }

    /// The rules in force in `dir`, read from the disk from `/` down (used when
    /// a walk starts or resumes in the middle of a tree).
    pub fn for_dir(dir: &Path) -> Arc<IgnoreStack> {
        let mut stack = IgnoreStack::empty();
        let ancestors: Vec<&Path> = dir.ancestors().collect();
        for ancestor in ancestors.into_iter().rev() {
            let has_git = ancestor.join(".git").symlink_metadata().is_ok();
            let has_gitignore = ancestor.join(".gitignore").is_file();
            stack = IgnoreStack::child(&stack, ancestor, has_git, has_gitignore);
        }
        stack
    }

    /// Whether `path` (a child of the directory these rules belong to) is ignored.
    pub fn is_ignored(&self, path: &Path, is_dir: bool) -> bool {
        let mut current = Some(self);
        while let Some(stack) = current {
            if let Some(matcher) = &stack.matcher {
                match matcher.matched(path, is_dir) {
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                    Match::None => {}
                }
            }
            current = stack.parent.as_deref();
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_applies_only_inside_a_repository() {
        let tmp = tempfile::tempdir().expect("tmp");
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).expect("git");
        std::fs::create_dir_all(repo.join("sub")).expect("sub");
        std::fs::write(repo.join(".gitignore"), "*.log\nbuild/\n").expect("write");
        std::fs::write(repo.join("sub/.gitignore"), "secret.txt\n!keep.log\n").expect("write");
        let plain = tmp.path().join("plain");
        std::fs::create_dir_all(&plain).expect("plain");
        std::fs::write(plain.join(".gitignore"), "*.log\n").expect("write");

        let rules = IgnoreStack::for_dir(&repo);
        assert!(rules.is_ignored(&repo.join("x.log"), false));
        assert!(rules.is_ignored(&repo.join("build"), true));
        assert!(!rules.is_ignored(&repo.join("x.txt"), false));
        let sub = IgnoreStack::child(&rules, &repo.join("sub"), false, true);
        assert!(sub.is_ignored(&repo.join("sub/secret.txt"), false));
        assert!(sub.is_ignored(&repo.join("sub/a.log"), false));
        assert!(!sub.is_ignored(&repo.join("sub/keep.log"), false));

        let outside = IgnoreStack::for_dir(&plain);
        assert!(!outside.is_ignored(&plain.join("x.log"), false));
    }
}
