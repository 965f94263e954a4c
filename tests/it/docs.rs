//! The documentation's relative links resolve: every `[text](target)` of README.md and
//! docs/*.md names a file or folder of the repository, and a `#anchor` names a heading of the
//! page it points to (GitHub's heading slugs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The page's text outside fenced code blocks, line by line.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as `-`; a repeated
/// heading gets `-1`, `-2`...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#').map(|t| t.trim_start_matches('#')) else {
            continue;
        };
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while seen.contains(&unique) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
        seen.insert(unique);
    }
    seen
}

/// The targets of `[text](target)` links in the page's prose (inline code spans removed).
fn links(text: &str) -> Vec<String> {
    let mut out = vec![];
    for line in prose(text) {
        let line: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

fn broken(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut out = vec![];
    for target in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = match target.split_once('#') {
            Some((f, a)) => (f, Some(a)),
            None => (target.as_str(), None),
        };
        let path = if file.is_empty() {
            page.to_path_buf()
        } else {
            page.parent().unwrap().join(file)
        };
        if !path.exists() {
            out.push(format!("{target}: no such file"));
            continue;
        }
        if let Some(anchor) = anchor {
            let text = std::fs::read_to_string(&path).unwrap();
            if !anchors(&text).contains(anchor) {
                out.push(format!("{target}: no such heading"));
            }
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut all = vec![];
    let mut count = 0;
    for page in pages() {
        count += links(&std::fs::read_to_string(&page).unwrap()).len();
        for b in broken(&page) {
            all.push(format!(
                "{}: {b}",
                page.strip_prefix(root()).unwrap().display()
            ));
        }
    }
    assert!(all.is_empty(), "broken links:\n{}", all.join("\n"));
    assert!(count > 30, "too few links found: {count}");
}

#[test]
fn the_checker_sees_a_broken_link_and_a_missing_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "# A title: here\n[ok](#a-title-here) [gone](missing.md) [no](#nowhere)\n\
         `[code](not-a-link.md)`\n```\n[fenced](nor-this.md)\n```\n",
    )
    .unwrap();
    assert_eq!(
        broken(&page),
        ["missing.md: no such file", "#nowhere: no such heading"]
    );
}

#[test]
fn the_readme_is_a_landing_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.lines().count() <= 300, "README.md over 300 lines");
    for command in ["`cargo run --release -- demo`", "`scripts/test`"] {
        assert!(readme.contains(command), "README.md lacks {command}");
    }
}
