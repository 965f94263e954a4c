//! Every human string mailcheck prints, in English and French, from one message catalogue per
//! language (Fluent, `locales/<lang>/mailcheck.ftl`, compiled in). Codes in JSON stay
//! language-neutral; only the words around them change.
//!
//! The language is chosen once per run: `--lang`, else the locale (`LC_ALL`, `LC_MESSAGES`,
//! `LANG`, in POSIX order), else English. A message missing in French falls back to English.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::Serialize;

const EN_FTL: &str = include_str!("../../locales/en/mailcheck.ftl");
const FR_FTL: &str = include_str!("../../locales/fr/mailcheck.ftl");

/// A language mailcheck speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// BCP 47 code: "en", "fr".
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// A language from a locale name or language tag: `fr`, `fr_FR.UTF-8`, `fr-CA`, `en_GB`.
    /// `None` for languages mailcheck does not speak (and for `C` / `POSIX`).
    pub fn from_locale(locale: &str) -> Option<Lang> {
        let lang = locale
            .split(['_', '-', '.', '@'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match lang.as_str() {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The language of the locale variables, in POSIX precedence: the first of `LC_ALL`,
    /// `LC_MESSAGES`, `LANG` that is set and non-empty decides; a language mailcheck does not
    /// speak (or `C`) means English.
    pub fn from_locale_vars(
        lc_all: Option<&str>,
        lc_messages: Option<&str>,
        lang: Option<&str>,
    ) -> Lang {
        [lc_all, lc_messages, lang]
            .into_iter()
            .flatten()
            .find(|v| !v.is_empty())
            .and_then(Lang::from_locale)
            .unwrap_or_default()
    }

    /// The language of this process's locale environment.
    pub fn from_env() -> Lang {
        let var = |name| std::env::var(name).ok();
        Lang::from_locale_vars(
            var("LC_ALL").as_deref(),
            var("LC_MESSAGES").as_deref(),
            var("LANG").as_deref(),
        )
    }

    /// The language of the run (set once by the command line; English until then).
    pub fn current() -> Lang {
        match CURRENT.load(Ordering::Relaxed) {
            1 => Lang::Fr,
            _ => Lang::En,
        }
    }

    /// Set the language of the run.
    pub fn set_current(lang: Lang) {
        CURRENT.store(
            match lang {
                Lang::En => 0,
                Lang::Fr => 1,
            },
            Ordering::Relaxed,
        );
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        Lang::from_locale(s.trim()).ok_or_else(|| format!("unknown language {s:?} (en, fr)"))
    }
}

/// One argument of a message: text, or a number (numbers choose plural forms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Param {
    Text(String),
    Number(i64),
}

impl From<String> for Param {
    fn from(s: String) -> Param {
        Param::Text(s)
    }
}
impl From<&str> for Param {
    fn from(s: &str) -> Param {
        Param::Text(s.to_string())
    }
}
impl From<i64> for Param {
    fn from(n: i64) -> Param {
        Param::Number(n)
    }
}
impl From<u16> for Param {
    fn from(n: u16) -> Param {
        Param::Number(n.into())
    }
}
impl From<usize> for Param {
    fn from(n: usize) -> Param {
        Param::Number(n as i64)
    }
}

/// The arguments of a message, by name.
pub type Params = BTreeMap<&'static str, Param>;

/// Build [`Params`] from pairs: `params![("port", 993u16), ("host", "mail.example.com")]`.
#[macro_export]
macro_rules! params {
    ($(($k:expr, $v:expr)),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut p = $crate::i18n::Params::new();
        $( p.insert($k, $crate::i18n::Param::from($v)); )*
        p
    }};
}

struct Catalogue {
    en: FluentBundle<FluentResource>,
    fr: FluentBundle<FluentResource>,
}

fn bundle(lang: Lang, ftl: &str) -> FluentBundle<FluentResource> {
    let id = lang.code().parse().expect("a valid language tag");
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: the output is a terminal or a file.
    b.set_use_isolating(false);
    let res = FluentResource::try_new(ftl.to_string())
        .unwrap_or_else(|(_, errors)| panic!("locales/{lang}/mailcheck.ftl: {errors:?}"));
    b.add_resource(res)
        .unwrap_or_else(|errors| panic!("locales/{lang}/mailcheck.ftl: {errors:?}"));
    b
}

fn catalogue() -> &'static Catalogue {
    static CAT: OnceLock<Catalogue> = OnceLock::new();
    CAT.get_or_init(|| Catalogue {
        en: bundle(Lang::En, EN_FTL),
        fr: bundle(Lang::Fr, FR_FTL),
    })
}

fn bundle_for(lang: Lang) -> &'static FluentBundle<FluentResource> {
    match lang {
        Lang::En => &catalogue().en,
        Lang::Fr => &catalogue().fr,
    }
}

fn fluent_args(params: &Params) -> FluentArgs<'_> {
    let mut args = FluentArgs::new();
    for (k, v) in params {
        match v {
            Param::Text(s) => args.set(*k, FluentValue::from(s.as_str())),
            Param::Number(n) => args.set(*k, FluentValue::from(*n)),
        }
    }
    args
}

/// Format a message (or one of its attributes) in one bundle; `None` if it has no such entry.
fn format_in(
    lang: Lang,
    id: &str,
    attribute: Option<&str>,
    params: &Params,
) -> Option<(String, usize)> {
    let b = bundle_for(lang);
    let msg = b.get_message(id)?;
    let pattern = match attribute {
        None => msg.value()?,
        Some(a) => msg.get_attribute(a)?.value(),
    };
    let args = fluent_args(params);
    let mut errors = vec![];
    let text = b.format_pattern(pattern, Some(&args), &mut errors);
    Some((text.into_owned(), errors.len()))
}

/// A message in `lang`, falling back to English, then to the id itself.
pub fn text(lang: Lang, id: &str, params: &Params) -> String {
    format_in(lang, id, None, params)
        .or_else(|| format_in(Lang::En, id, None, params))
        .map(|(t, _)| t)
        .unwrap_or_else(|| id.to_string())
}

/// A message in `lang` (falling back to English), or `None` if the catalogue has no such id.
pub fn lookup(lang: Lang, id: &str, params: &Params) -> Option<String> {
    format_in(lang, id, None, params)
        .or_else(|| format_in(Lang::En, id, None, params))
        .map(|(t, _)| t)
}

/// An attribute of a message (`.hint`), with the same fallbacks as [`text`].
pub fn attr(lang: Lang, id: &str, attribute: &str, params: &Params) -> String {
    format_in(lang, id, Some(attribute), params)
        .or_else(|| format_in(Lang::En, id, Some(attribute), params))
        .map(|(t, _)| t)
        .unwrap_or_else(|| format!("{id}.{attribute}"))
}

/// A message without arguments.
pub fn t(lang: Lang, id: &str) -> String {
    text(lang, id, &Params::new())
}

/// The message id of a code: `tls.cert-expired` → `reason-tls-cert-expired`.
pub fn id_of(prefix: &str, code: &str) -> String {
    format!("{prefix}-{}", code.replace('.', "-"))
}

/// Every message id of a language's catalogue, with its attribute names (for tests and for
/// checking that the catalogues agree).
pub fn catalogue_ids(lang: Lang) -> BTreeMap<String, Vec<String>> {
    use fluent_syntax::ast::Entry;
    let ftl = match lang {
        Lang::En => EN_FTL,
        Lang::Fr => FR_FTL,
    };
    let res = FluentResource::try_new(ftl.to_string()).unwrap_or_else(|(r, _)| r);
    res.entries()
        .filter_map(|e| match e {
            Entry::Message(m) => Some((
                m.id.name.to_string(),
                m.attributes.iter().map(|a| a.id.name.to_string()).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// Format with error count, for tests: (text, number of Fluent errors such as a missing
/// argument). `None` when the message does not exist in that language.
pub fn format_checked(
    lang: Lang,
    id: &str,
    attribute: Option<&str>,
    params: &Params,
) -> Option<(String, usize)> {
    format_in(lang, id, attribute, params)
}

/// A date for people: `2026-03-01` in English, `01/03/2026` in French. Takes RFC 3339 (or
/// anything starting with `YYYY-MM-DD`); other text is returned as is.
pub fn date(lang: Lang, rfc3339: &str) -> String {
    let d = rfc3339.get(..10).unwrap_or(rfc3339);
    let parts: Vec<&str> = d.split('-').collect();
    match (lang, parts.as_slice()) {
        (Lang::Fr, [y, m, d]) if y.len() == 4 => format!("{d}/{m}/{y}"),
        (_, [y, _, _]) if y.len() == 4 => d.to_string(),
        _ => rfc3339.to_string(),
    }
}

/// A moment for people, to the minute, in UTC: "2026-12-06 04:11 UTC" / "06/12/2026 04:11 UTC"
/// (an OCSP response's window is hours, not days). Anything else is returned as it is.
pub fn date_time(lang: Lang, rfc3339: &str) -> String {
    match rfc3339.get(10..16) {
        Some(t) if t.starts_with('T') && rfc3339.ends_with('Z') => {
            format!("{} {} UTC", date(lang, rfc3339), &t[1..])
        }
        _ => rfc3339.to_string(),
    }
}

/// A list of names for people: "a, b and c" / "a, b et c".
pub fn list(lang: Lang, items: &[String]) -> String {
    match items {
        [] => "—".to_string(),
        [one] => one.clone(),
        [rest @ .., last] => {
            let and = match lang {
                Lang::En => "and",
                Lang::Fr => "et",
            };
            format!("{} {and} {last}", rest.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_is_said_to_the_minute_in_each_language() {
        let t = "2026-12-06T04:11:04Z";
        assert_eq!(date_time(Lang::En, t), "2026-12-06 04:11 UTC");
        assert_eq!(date_time(Lang::Fr, t), "06/12/2026 04:11 UTC");
        assert_eq!(date_time(Lang::Fr, "-"), "-");
    }

    #[test]
    fn both_catalogues_parse_and_have_the_same_messages_and_attributes() {
        let en = catalogue_ids(Lang::En);
        let fr = catalogue_ids(Lang::Fr);
        assert!(en.len() > 50);
        let missing_fr: Vec<_> = en.keys().filter(|k| !fr.contains_key(*k)).collect();
        let extra_fr: Vec<_> = fr.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing_fr.is_empty(), "missing in French: {missing_fr:?}");
        assert!(extra_fr.is_empty(), "only in French: {extra_fr:?}");
        for (id, attrs) in &en {
            assert_eq!(attrs, &fr[id], "attributes of {id}");
        }
        // Parsing the bundles (with their own error checks) must not panic either.
        let _ = catalogue();
    }

    #[test]
    fn locale_variables_follow_posix_precedence() {
        assert_eq!(Lang::from_locale_vars(None, None, None), Lang::En);
        assert_eq!(
            Lang::from_locale_vars(None, None, Some("fr_FR.UTF-8")),
            Lang::Fr
        );
        assert_eq!(
            Lang::from_locale_vars(Some("C"), None, Some("fr_FR.UTF-8")),
            Lang::En
        );
        assert_eq!(
            Lang::from_locale_vars(Some(""), Some("fr_CA"), Some("en_US")),
            Lang::Fr
        );
        assert_eq!(
            Lang::from_locale_vars(None, None, Some("de_DE.UTF-8")),
            Lang::En
        );
        assert_eq!("fr".parse::<Lang>(), Ok(Lang::Fr));
        assert_eq!("FR-be".parse::<Lang>(), Ok(Lang::Fr));
        assert!("xx".parse::<Lang>().is_err());
    }

    #[test]
    fn arguments_plurals_and_fallbacks() {
        let p = crate::params![("days", 1i64), ("date", "2026-03-01")];
        assert_eq!(
            text(Lang::En, "finding-tls-cert-expiring", &p),
            "the certificate expires in 1 day, on 2026-03-01"
        );
        let p = crate::params![("days", 5i64), ("date", "01/03/2026")];
        assert_eq!(
            text(Lang::Fr, "finding-tls-cert-expiring", &p),
            "le certificat expire dans 5 jours, le 01/03/2026"
        );
        assert_eq!(t(Lang::Fr, "no-such-message"), "no-such-message");
        assert_eq!(date(Lang::Fr, "2026-03-01T10:00:00Z"), "01/03/2026");
        assert_eq!(date(Lang::En, "2026-03-01T10:00:00Z"), "2026-03-01");
        assert_eq!(
            list(Lang::Fr, &["a".into(), "b".into(), "c".into()]),
            "a, b et c"
        );
    }
}
