//! Diagnosis of the scripted lab's hostile scenarios, in French: the reasons the real servers
//! cannot produce (tests/it/hostile.rs checks their codes), here with their words, their facts and
//! the advice when nothing works.

use std::time::Duration;

use mailcheck::account::SecretSource;
use mailcheck::i18n::Lang;
use mailcheck::lab::{Lab, LabConfig, Scenario};
use mailcheck::model::Limits;
use mailcheck::report::{CredentialInfo, CredentialKind, ReportOptions, RunInput, RunReport};

fn diagnose(scenario: Scenario, with_password: bool) -> RunReport {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lab = Lab::start(LabConfig {
            scenario,
            ..LabConfig::default()
        })
        .await
        .unwrap();
        let limits = Limits {
            connect_timeout: Duration::from_millis(800),
            step_timeout: Duration::from_millis(1500),
            target_timeout: Duration::from_secs(8),
            ..Limits::default()
        };
        let credential = with_password.then(|| lab.credential());
        let reports = mailcheck::probe::run(&lab.plan(limits, false), credential)
            .await
            .unwrap();
        RunReport::build_with(
            RunInput {
                address: lab.user().address.clone(),
                server: lab.tls_name().to_string(),
                started_at: "2026-03-01T09:30:00Z".into(),
                elapsed_ms: 1,
                credential: CredentialInfo {
                    kind: if with_password {
                        CredentialKind::Password
                    } else {
                        CredentialKind::None
                    },
                    source: SecretSource::Lab,
                    oauth2: None,
                },
                cert_warn_days: 21,
            },
            reports,
            &ReportOptions {
                lang: Lang::Fr,
                documented: vec![],
            },
        )
    })
}

fn outcome<'a>(r: &'a RunReport, id: &str) -> &'a mailcheck::report::Outcome {
    r.results.iter().find(|o| o.id == id).unwrap()
}

/// Every port swallows connection attempts: the advice is about the network, not the server.
#[test]
fn a_blackhole_gives_the_all_blocked_advice() {
    let r = diagnose(Scenario::Blackhole, false);
    assert!(r
        .results
        .iter()
        .all(|o| o.reason.as_ref().unwrap().code.code() == "connect.timeout"));
    assert_eq!(r.recommendation.advice.len(), 2);
    for a in &r.recommendation.advice {
        assert_eq!(a.code, "all-blocked");
        assert!(
            a.message.contains("un pare-feu ou ce réseau les bloque"),
            "{}",
            a.message
        );
    }
    assert_eq!(
        outcome(&r, "imap/993/tls").reason.as_ref().unwrap().hint,
        "un pare-feu ou le réseau bloque ce port ; essayez l'autre port"
    );
}

/// A server that answers the ClientHello with an alert: the alert is named.
#[test]
fn a_tls_alert_is_named() {
    let r = diagnose(Scenario::TlsAlert, false);
    let o = outcome(&r, "imap/993/tls");
    let reason = o.reason.as_ref().unwrap();
    assert_eq!(reason.code.code(), "tls.handshake-failed");
    assert_eq!(
        reason.cause,
        "le serveur a interrompu la négociation TLS avec l'alerte handshake_failure"
    );
}

/// Microsoft 365 with basic authentication off: the server's words become "OAuth2 required".
/// The settings themselves are right (the other combinations are not tried after that
/// verdict), so the card gives them and says what is wrong: the password is not enough.
#[test]
fn oauth2_only_is_what_to_tell_the_user() {
    let r = diagnose(Scenario::Oauth2Required, true);
    let refused: Vec<_> = r.results.iter().filter(|o| o.reason.is_some()).collect();
    assert_eq!(refused.len(), 1);
    let reason = refused[0].reason.as_ref().unwrap();
    assert_eq!(reason.code.code(), "auth.oauth2-required");
    assert_eq!(
        reason.cause,
        "le serveur n'accepte qu'OAuth2 (authentification moderne), pas de mot de passe"
    );
    assert!(
        r.summary.contains("(auth.oauth2-required)"),
        "{}",
        r.summary
    );
    assert_eq!(r.exit_code, 2);
    let inc = r.recommendation.incoming.as_ref().unwrap();
    assert!(!inc.login_verified);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    mailcheck::report::card::write(
        &mut out,
        &mut err,
        &r,
        mailcheck::report::card::CardFormat::Text,
    )
    .unwrap();
    let card = String::from_utf8(out).unwrap();
    assert!(
        card.contains("le mot de passe de la boîte (identification non vérifiée)\n"),
        "{card}"
    );
    assert!(
        card.contains("Le mot de passe : le serveur n'accepte qu'OAuth2"),
        "{card}"
    );
}

/// The certificate expired yesterday: the cause carries the date, French style.
#[test]
fn an_expired_certificate_says_when() {
    let r = diagnose(Scenario::CertExpired, false);
    let o = outcome(&r, "imap/993/tls");
    let not_after = &o
        .report
        .tls
        .as_ref()
        .unwrap()
        .certificate
        .as_ref()
        .unwrap()
        .not_after;
    let fr = format!(
        "{}/{}/{}",
        &not_after[8..10],
        &not_after[5..7],
        &not_after[..4]
    );
    assert_eq!(
        o.reason.as_ref().unwrap().cause,
        format!("le certificat du serveur a expiré le {fr}")
    );
    // The table's certificate line says how long ago, never "(-1 jours)".
    let mut out = Vec::new();
    mailcheck::report::table::write(&mut out, &r, false).unwrap();
    let table = String::from_utf8(out).unwrap();
    let days = -o
        .report
        .tls
        .as_ref()
        .unwrap()
        .certificate
        .as_ref()
        .unwrap()
        .days_left;
    let ago = if days == 1 {
        "1 jour".to_string()
    } else {
        format!("{days} jours")
    };
    assert!(
        table.contains(&format!("— expiré depuis {ago} ({fr}) —")),
        "{table}"
    );
    assert!(!table.contains("(-"), "{table}");
}

/// Which combination reaches the login step first is chance; the recommendation must not be.
fn recommended(r: &RunReport) -> (String, String) {
    let side = |rec: &Option<mailcheck::diagnose::Recommendation>| {
        let rec = rec.as_ref().expect("a recommendation");
        format!("{}/{}/{:?}", rec.protocol.name(), rec.port, rec.security)
    };
    (
        side(&r.recommendation.incoming),
        side(&r.recommendation.outgoing),
    )
}

fn finding_codes(r: &RunReport) -> Vec<&'static str> {
    r.results
        .iter()
        .flat_map(|o| o.findings.iter().map(|f| f.code.code()))
        .collect()
}

/// The login stalls on whichever combination gets there first; the others skip theirs, which
/// proves nothing. The run is a warning (not OK), the recommendation is RFC 8314's on every
/// run, and no "only STARTTLS works" finding comes of a skipped login.
#[test]
fn a_stalled_login_is_not_proof() {
    use mailcheck::diagnose::Login;
    use mailcheck::outcome::Status;
    for _ in 0..3 {
        let r = diagnose(Scenario::AuthStall, true);
        assert_eq!(r.status, Status::Warning, "{}", r.summary);
        assert_eq!(r.exit_code, 1);
        assert_eq!(
            recommended(&r),
            ("imap/993/Tls".to_string(), "smtp/465/Tls".to_string())
        );
        for rec in [&r.recommendation.incoming, &r.recommendation.outgoing] {
            let rec = rec.as_ref().unwrap();
            assert!(!rec.login_verified);
            assert!(
                matches!(rec.login, Login::Stalled | Login::SkippedAfterStall),
                "{:?}",
                rec.login
            );
        }
        assert!(
            !finding_codes(&r).contains(&"starttls-only"),
            "{:?}",
            finding_codes(&r)
        );
        assert!(
            r.summary.contains("identification non vérifiée (")
                && !r.summary.contains("identification vérifiée"),
            "{}",
            r.summary
        );
    }
}

/// OAuth2 only: the refusal is the account's, not the port's. Whichever port met it first,
/// the same settings are recommended, and no "only STARTTLS works" finding appears.
#[test]
fn a_refused_password_does_not_pick_the_port() {
    for _ in 0..3 {
        let r = diagnose(Scenario::Oauth2Required, true);
        assert_eq!(r.exit_code, 2, "{}", r.summary);
        assert_eq!(
            recommended(&r),
            ("imap/993/Tls".to_string(), "smtp/465/Tls".to_string())
        );
        assert!(
            !finding_codes(&r).contains(&"starttls-only"),
            "{:?}",
            finding_codes(&r)
        );
        let inc = r.recommendation.incoming.as_ref().unwrap();
        assert!(inc.login.blocked() && !inc.login_verified);
    }
}

fn card_of(r: &RunReport, format: mailcheck::report::card::CardFormat) -> String {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    mailcheck::report::card::write(&mut out, &mut err, r, format).unwrap();
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out).unwrap()
}

/// The card of a run whose login stalled gives the RFC 8314 settings but says the login was
/// not verified, and why; the Thunderbird file lists 993 first and does not claim "works".
#[test]
fn the_card_of_a_stalled_login_claims_no_login() {
    use mailcheck::report::card::CardFormat;
    let r = diagnose(Scenario::AuthStall, true);
    let card = card_of(&r, CardFormat::Text);
    eprintln!("{card}");
    assert!(card.contains("  Port               993\n"), "{card}");
    assert!(
        card.contains(
            "identification non vérifiée : le serveur a cessé de répondre à l'identification"
        ),
        "{card}"
    );
    assert!(
        card.contains("Se connecte aussi (identification non vérifiée) : SMTP 587 STARTTLS"),
        "{card}"
    );
    assert!(!card.contains("Fonctionne aussi"), "{card}");
    let xml = card_of(&r, CardFormat::Thunderbird);
    eprintln!("{xml}");
    assert!(
        // The file's comments are in the run's language (French here).
        xml.contains(
            "chaque serveur ci-dessous a été essayé et accepte la connexion, \
             mais l&apos;identification n&apos;a pas été vérifiée"
        ),
        "{xml}"
    );
    let first_port = xml.find("<port>").map(|i| &xml[i..i + 13]);
    assert_eq!(first_port, Some("<port>993</po"), "{xml}");
}

/// Bytes injected after the STARTTLS go-ahead are a critical finding: even though the
/// recommended implicit-TLS settings work, the run is at least a warning.
#[test]
fn a_critical_finding_elsewhere_makes_a_warning() {
    let r = diagnose(Scenario::StarttlsInjection, true);
    assert_eq!(
        recommended(&r),
        ("imap/993/Tls".to_string(), "smtp/465/Tls".to_string())
    );
    assert!(r.recommendation.incoming.as_ref().unwrap().login_verified);
    assert!(finding_codes(&r).contains(&"starttls.injection"));
    assert_eq!(r.exit_code, 1, "{}", r.summary);
}
