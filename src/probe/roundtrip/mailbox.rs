//! Looking for the test message in the mailbox, and removing it — and nothing else.
//!
//! IMAP: one session for the whole wait. The mailbox is opened read-only (`EXAMINE INBOX`) and
//! searched with `UID SEARCH UID <uidnext>:* HEADER X-Mailcheck-Token "<token>"`, so only
//! messages that arrived after the start are looked at, and nothing in the mailbox changes
//! (not even `\Recent`) while waiting. To delete, the mailbox is selected read-write, the UIDs
//! found (each checked to carry the token in its header) get `\Deleted` with `UID STORE`, and
//! `UID EXPUNGE` (UIDPLUS, RFC 4315) removes exactly those UIDs. A plain `EXPUNGE` would also
//! remove every other message flagged `\Deleted`, so it is never sent: without UIDPLUS the test
//! message stays, flagged `\Deleted` only.
//!
//! The Junk mailbox is watched too (a test message filed as spam did arrive): the one the server
//! marks SPECIAL-USE `\Junk` (RFC 6154; `LIST "" "*" RETURN (SPECIAL-USE)`, or a plain `LIST`
//! when the server has SPECIAL-USE without LIST-EXTENDED), or, only on a server without
//! SPECIAL-USE, one named `Junk` or `Spam`. It is looked at the same way, read-only with
//! `EXAMINE`, and the test message found there is removed the same way, by its UID only.
//!
//! POP3: a POP3 session sees the mailbox as it was at login, so each look is a new session:
//! `UIDL`, `TOP n 0` of the messages not seen before, and, for the test message, `DELE n` and
//! `QUIT` (the deletion takes effect at QUIT, RFC 1939 §6).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::TryStreamExt as _;

use super::message;
use super::open::{self, bounded, Problem};
use super::{Cleanup, Leg};
use crate::account::Credential;
use crate::model::Protocol;
use crate::net::connection::{Connection, SharedTranscript, TranscriptLine};
use crate::probe::session::AuthResult;
use crate::probe::ProbeContext;
use crate::proto::sasl;

/// The test message, found.
pub(crate) struct Found {
    /// Its header, as the server stored it.
    pub header: Vec<u8>,
    /// IMAP UIDs, or the POP3 message number, of the copies that carry the token.
    pub ids: Vec<u32>,
    /// The mailbox it was found in (`INBOX` for POP3).
    pub mailbox: String,
    /// That mailbox is the Junk one: the message arrived, but as spam.
    pub junk: bool,
}

pub(crate) enum Mailbox {
    Imap(Box<ImapMailbox>),
    Pop3(Box<Pop3Mailbox>),
}

impl Mailbox {
    /// Logs in and notes what is already there, before anything is sent.
    pub async fn open(
        ctx: &ProbeContext,
        leg: &Leg,
        deadline: Instant,
    ) -> Result<Mailbox, Problem> {
        match leg.target.combination.protocol {
            Protocol::Pop3 => Ok(Mailbox::Pop3(Box::new(
                Pop3Mailbox::open(ctx, leg, deadline).await?,
            ))),
            _ => Ok(Mailbox::Imap(Box::new(
                ImapMailbox::open(ctx, leg, deadline).await?,
            ))),
        }
    }

    /// One look for the message with this token.
    pub async fn find(
        &mut self,
        ctx: &ProbeContext,
        token: &str,
    ) -> Result<Option<Found>, Problem> {
        match self {
            Mailbox::Imap(m) => m.find(token).await,
            Mailbox::Pop3(m) => m.find(ctx, token).await,
        }
    }

    /// Removes the message (unless `keep`) and ends the session.
    pub async fn finish(self, found: Option<&Found>, keep: bool) -> (Cleanup, Option<String>) {
        match self {
            Mailbox::Imap(m) => m.finish(found, keep).await,
            Mailbox::Pop3(m) => m.finish(found, keep).await,
        }
    }

    /// How long to wait before the next look: short at first (local delivery takes a fraction
    /// of a second), then longer. A POP3 look is a whole login, so it starts slower.
    pub fn pause(&self, looks: u32) -> Duration {
        let (first_ms, max_ms) = match self {
            Mailbox::Imap(_) => (50.0, 1000.0),
            Mailbox::Pop3(_) => (200.0, 2000.0),
        };
        let ms: f64 = first_ms * 1.5f64.powi(looks.min(20) as i32);
        Duration::from_millis(ms.min(max_ms) as u64)
    }

    /// The transcripts of every session so far (they outlive the sessions).
    pub fn transcripts(&self) -> Vec<SharedTranscript> {
        match self {
            Mailbox::Imap(m) => vec![m.transcript.clone()],
            Mailbox::Pop3(m) => m.transcripts.clone(),
        }
    }
}

/// The lines of these transcripts, one session after the other.
pub(crate) fn lines_of(transcripts: &[SharedTranscript]) -> Vec<TranscriptLine> {
    transcripts
        .iter()
        .flat_map(|t| t.lock().unwrap_or_else(|e| e.into_inner()).take_lines())
        .collect()
}

fn credential(ctx: &ProbeContext) -> Result<Credential, Problem> {
    ctx.credential
        .clone()
        .ok_or_else(|| Problem::new("no credential to log in with"))
}

/// The mechanism the probe used, as the drivers name it.
fn known_mechanism(name: &str) -> Option<&'static str> {
    [
        "PLAIN",
        "LOGIN",
        "XOAUTH2",
        "OAUTHBEARER",
        crate::probe::imap::LOGIN_COMMAND,
        "USER",
    ]
    .into_iter()
    .find(|m| *m == name)
}

// ---------------------------------------------------------------------------------------------
// IMAP
// ---------------------------------------------------------------------------------------------

pub(crate) struct ImapMailbox {
    session: async_imap::Session<Connection>,
    transcript: SharedTranscript,
    step: Duration,
    uidplus: bool,
    /// INBOX, then the Junk mailbox if the server has one.
    watched: Vec<Watched>,
    /// Which of `watched` is open (read-only) now.
    examined: Option<usize>,
}

/// A mailbox the round trip looks in.
struct Watched {
    name: String,
    junk: bool,
    uid_validity: Option<u32>,
    /// Messages below this UID were there before the test message was sent.
    uid_next: Option<u32>,
}

/// The Junk mailbox among the `LIST` answers: the one marked `\Junk` if the server has
/// SPECIAL-USE, else one named `Junk` (or `Spam`) at any level of the hierarchy.
fn junk_mailbox(names: &[async_imap::types::Name], special_use: bool) -> Option<String> {
    use async_imap::imap_proto::NameAttribute;
    let selectable = |n: &&async_imap::types::Name| {
        !n.attributes()
            .iter()
            .any(|a| matches!(a, NameAttribute::NoSelect))
    };
    if special_use {
        return names
            .iter()
            .filter(selectable)
            // imap-proto parses `\Junk` in any case into NameAttribute::Junk.
            .find(|n| {
                n.attributes()
                    .iter()
                    .any(|a| matches!(a, NameAttribute::Junk))
            })
            .map(|n| n.name().to_string());
    }
    let leaf = |n: &async_imap::types::Name| -> String {
        match n.delimiter() {
            Some(d) if !d.is_empty() => n.name().rsplit(d).next().unwrap_or("").to_string(),
            _ => n.name().to_string(),
        }
    };
    ["Junk", "Spam"].iter().find_map(|wanted| {
        names
            .iter()
            .filter(selectable)
            .find(|n| leaf(n).eq_ignore_ascii_case(wanted))
            .map(|n| n.name().to_string())
    })
}

fn imap_problem(what: &str, e: async_imap::error::Error, transcript: &SharedTranscript) -> Problem {
    let says = crate::probe::imap::last_tagged(transcript).map(|st| st.text);
    Problem::new(format!("{what}: {e}")).says(says)
}

impl ImapMailbox {
    async fn open(
        ctx: &ProbeContext,
        leg: &Leg,
        deadline: Instant,
    ) -> Result<ImapMailbox, Problem> {
        let cred = credential(ctx)?;
        let conn = open::open(ctx, &leg.target, deadline).await?;
        let transcript = conn.transcript();
        let step = ctx.policy.limits.step_timeout;
        let mut client = async_imap::Client::new(conn);
        let target = &leg.target;
        let secret = cred.secret().expose().to_string();
        let mech = known_mechanism(&leg.mechanism).unwrap_or(crate::probe::imap::LOGIN_COMMAND);
        client.get_mut().set_sensitive(true);
        let login = if mech == crate::probe::imap::LOGIN_COMMAND {
            bounded(step, "LOGIN", client.login(&target.username, &secret)).await?
        } else {
            let initial = crate::probe::session::sasl_initial(
                mech,
                &cred,
                &target.username,
                &target.host,
                target.combination.port,
            )
            .unwrap_or_default();
            client.get_mut().add_redaction(sasl::b64(&initial));
            let mut responder =
                crate::probe::imap::Responder::new(mech, initial, &target.username, &secret);
            bounded(
                step,
                "AUTHENTICATE",
                client.authenticate(mech, &mut responder),
            )
            .await?
        };
        let mut session = match login {
            Ok(s) => s,
            Err((e, mut client)) => {
                client.get_mut().set_sensitive(false);
                return Err(imap_problem("the login refused", e, &transcript));
            }
        };
        session.get_mut().set_sensitive(false);
        let caps = bounded(step, "CAPABILITY", session.capabilities())
            .await?
            .map_err(|e| imap_problem("CAPABILITY", e, &transcript))?;
        let uidplus = caps.has_str("UIDPLUS");
        let special_use = caps.has_str("SPECIAL-USE");
        let pattern = if special_use && caps.has_str("LIST-EXTENDED") {
            "\"*\" RETURN (SPECIAL-USE)"
        } else {
            "\"*\""
        };
        let listed = bounded(step, "LIST", async {
            let stream = session.list(Some(""), Some(pattern)).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        // A server that refuses LIST still has an INBOX to watch.
        let junk = listed
            .ok()
            .and_then(|names| junk_mailbox(&names, special_use));
        let mut watched = Vec::new();
        let mut examined = None;
        for (name, is_junk) in [("INBOX".to_string(), false)]
            .into_iter()
            .chain(junk.map(|j| (j, true)))
        {
            let what = format!("EXAMINE {name}");
            match bounded(step, &what, session.examine(&name)).await? {
                Ok(m) => {
                    watched.push(Watched {
                        name,
                        junk: is_junk,
                        uid_validity: m.uid_validity,
                        uid_next: m.uid_next,
                    });
                    examined = Some(watched.len() - 1);
                }
                // The Junk mailbox that cannot be opened is not watched; the INBOX must be. A
                // failed EXAMINE leaves no mailbox open (RFC 3501 §6.3.1).
                Err(_) if is_junk => examined = None,
                Err(e) => return Err(imap_problem(&what, e, &transcript)),
            }
        }
        Ok(ImapMailbox {
            session,
            transcript,
            step,
            uidplus,
            watched,
            examined,
        })
    }

    /// Opens `watched[i]` read-only unless it is open already.
    async fn examine(&mut self, i: usize) -> Result<(), Problem> {
        if self.examined == Some(i) {
            return Ok(());
        }
        self.examined = None;
        let what = format!("EXAMINE {}", self.watched[i].name);
        let m = bounded(
            self.step,
            &what,
            self.session.examine(&self.watched[i].name),
        )
        .await?
        .map_err(|e| imap_problem(&what, e, &self.transcript))?;
        let w = &mut self.watched[i];
        if m.uid_validity != w.uid_validity {
            // Renumbered while waiting: every message is looked at (by its token).
            w.uid_validity = m.uid_validity;
            w.uid_next = None;
        }
        self.examined = Some(i);
        Ok(())
    }

    async fn find(&mut self, token: &str) -> Result<Option<Found>, Problem> {
        for i in 0..self.watched.len() {
            self.examine(i).await?;
            if let Some(mut found) = self.find_here(token, self.watched[i].uid_next).await? {
                found.mailbox = self.watched[i].name.clone();
                found.junk = self.watched[i].junk;
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// One search of the open mailbox.
    async fn find_here(
        &mut self,
        token: &str,
        uid_next: Option<u32>,
    ) -> Result<Option<Found>, Problem> {
        let range = match uid_next {
            Some(n) => format!("UID {n}:* "),
            None => String::new(),
        };
        let query = format!("{range}HEADER {} \"{token}\"", message::TOKEN_HEADER);
        let mut uids: Vec<u32> = bounded(self.step, "UID SEARCH", self.session.uid_search(&query))
            .await?
            .map_err(|e| imap_problem("UID SEARCH", e, &self.transcript))?
            .into_iter()
            .collect();
        if uids.is_empty() {
            return Ok(None);
        }
        uids.sort_unstable();
        // Check each one: only a message whose own header carries the token is ours.
        let mut ours = Vec::new();
        let mut header = Vec::new();
        for uid in uids {
            let h = self.header_of(uid).await?;
            if message::carries_token(&message::header_fields(&h), token) {
                if ours.is_empty() {
                    header = h;
                }
                ours.push(uid);
            }
        }
        Ok((!ours.is_empty()).then_some(Found {
            header,
            ids: ours,
            mailbox: String::new(),
            junk: false,
        }))
    }

    async fn header_of(&mut self, uid: u32) -> Result<Vec<u8>, Problem> {
        let transcript = self.transcript.clone();
        let fetches = bounded(self.step, "UID FETCH", async {
            let stream = self
                .session
                .uid_fetch(uid.to_string(), "BODY.PEEK[HEADER]")
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?
        .map_err(|e| imap_problem("UID FETCH", e, &transcript))?;
        Ok(fetches
            .iter()
            .filter(|f| f.uid == Some(uid))
            .find_map(|f| f.header().map(<[u8]>::to_vec))
            .unwrap_or_default())
    }

    async fn finish(mut self, found: Option<&Found>, keep: bool) -> (Cleanup, Option<String>) {
        let result = match (found, keep) {
            (None, _) => (Cleanup::NothingToDelete, None),
            (Some(_), true) => (Cleanup::Kept, None),
            (Some(f), false) => self.delete(f).await,
        };
        let _ = bounded(self.step, "LOGOUT", self.session.logout()).await;
        result
    }

    async fn delete(&mut self, found: &Found) -> (Cleanup, Option<String>) {
        let Some(watched) = self.watched.iter().find(|w| w.name == found.mailbox) else {
            return (Cleanup::Failed, Some("no such mailbox watched".into()));
        };
        let name = watched.name.clone();
        let uid_validity = watched.uid_validity;
        // Said only for another mailbox than the INBOX.
        let from = if found.junk {
            format!(" from {name}")
        } else {
            String::new()
        };
        let set = found
            .ids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let transcript = self.transcript.clone();
        let step = self.step;
        let failed = |p: Problem| {
            let detail = match p.server_says {
                Some(s) => format!("{} ({s})", p.detail),
                None => p.detail,
            };
            (Cleanup::Failed, Some(detail))
        };
        let what = format!("SELECT {name}");
        self.examined = None;
        let mailbox = match bounded(step, &what, self.session.select(&name)).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return failed(imap_problem(&what, e, &transcript)),
            Err(p) => return failed(p),
        };
        if mailbox.uid_validity != uid_validity {
            return (
                Cleanup::Failed,
                Some("the mailbox's UIDVALIDITY changed while waiting: nothing deleted".into()),
            );
        }
        let stored = bounded(step, "UID STORE", async {
            let stream = self
                .session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await;
        match stored {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return failed(imap_problem("UID STORE", e, &transcript)),
            Err(p) => return failed(p),
        }
        if !self.uidplus {
            return (
                Cleanup::FlaggedOnly,
                Some(format!(
                    "the server lacks UIDPLUS: UID {set}{from} is flagged \\Deleted but not expunged \
                     (a plain EXPUNGE would also remove other messages flagged \\Deleted)"
                )),
            );
        }
        let expunged = bounded(step, "UID EXPUNGE", async {
            let stream = self.session.uid_expunge(&set).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await;
        match expunged {
            Ok(Ok(_)) => (Cleanup::Deleted, Some(format!("UID {set} expunged{from}"))),
            Ok(Err(e)) => failed(imap_problem("UID EXPUNGE", e, &transcript)),
            Err(p) => failed(p),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// POP3
// ---------------------------------------------------------------------------------------------

pub(crate) struct Pop3Mailbox {
    leg: Leg,
    deadline: Instant,
    /// UIDLs already looked at (there before the start, or checked and not ours). `None` when
    /// the server has no UIDL: every message is then looked at by its header.
    seen: Option<HashSet<String>>,
    /// The session that found the message, kept open to delete it.
    open: Option<Connection>,
    transcripts: Vec<SharedTranscript>,
}

/// Lines of one multi-line POP3 answer at most (UIDL of a large maildrop, a long header).
const MAX_MULTILINE: usize = 100_000;

impl Pop3Mailbox {
    async fn open(
        ctx: &ProbeContext,
        leg: &Leg,
        deadline: Instant,
    ) -> Result<Pop3Mailbox, Problem> {
        let mut m = Pop3Mailbox {
            leg: leg.clone(),
            deadline,
            seen: None,
            open: None,
            transcripts: Vec::new(),
        };
        let mut conn = m.login(ctx).await?;
        m.seen = uidl(&mut conn)
            .await?
            .map(|list| list.into_iter().map(|(_, u)| u).collect());
        quit(&mut conn).await;
        Ok(m)
    }

    async fn login(&mut self, ctx: &ProbeContext) -> Result<Connection, Problem> {
        let cred = credential(ctx)?;
        let mut conn = open::open(ctx, &self.leg.target, self.deadline).await?;
        self.transcripts.push(conn.transcript());
        let mech = known_mechanism(&self.leg.mechanism).unwrap_or("USER");
        // login() marks the exchange sensitive in the transcript itself.
        let r = crate::probe::pop3::login(&mut conn, cred, mech, self.leg.target.clone()).await;
        conn.set_sensitive(false);
        match r {
            AuthResult::Accepted => Ok(conn),
            AuthResult::Refused { server_says, .. } => {
                Err(Problem::refused("the login refused", server_says))
            }
            AuthResult::Broken(e) => Err(Problem::new(format!("login: {e}"))),
            AuthResult::Garbled(line) => {
                Err(Problem::new("unexpected answer during login").says(Some(line)))
            }
        }
    }

    async fn find(&mut self, ctx: &ProbeContext, token: &str) -> Result<Option<Found>, Problem> {
        let mut conn = self.login(ctx).await?;
        let list = match uidl(&mut conn).await? {
            Some(list) => list,
            // No UIDL: every message, by number.
            None => (1..=stat(&mut conn).await?)
                .map(|n| (n, String::new()))
                .collect(),
        };
        for (n, uid) in list {
            if self.seen.as_ref().is_some_and(|s| s.contains(&uid)) {
                continue;
            }
            let header = top(&mut conn, n).await?;
            if message::carries_token(&message::header_fields(&header), token) {
                self.open = Some(conn);
                return Ok(Some(Found {
                    header,
                    ids: vec![n],
                    mailbox: "INBOX".into(),
                    junk: false,
                }));
            }
            if let Some(seen) = self.seen.as_mut() {
                seen.insert(uid);
            }
        }
        quit(&mut conn).await;
        Ok(None)
    }

    async fn finish(mut self, found: Option<&Found>, keep: bool) -> (Cleanup, Option<String>) {
        let Some(mut conn) = self.open.take() else {
            return (Cleanup::NothingToDelete, None);
        };
        let (Some(found), false) = (found, keep) else {
            quit(&mut conn).await;
            return (Cleanup::Kept, None);
        };
        let n = found.ids[0];
        match crate::probe::pop3::command(&mut conn, &format!("DELE {n}")).await {
            Ok(Ok(r)) if r.ok => {}
            Ok(Ok(r)) => {
                quit(&mut conn).await;
                return (Cleanup::Failed, Some(format!("DELE {n}: -ERR {}", r.text)));
            }
            Ok(Err(line)) => return (Cleanup::Failed, Some(format!("DELE {n}: {line}"))),
            Err(e) => return (Cleanup::Failed, Some(format!("DELE {n}: {e}"))),
        }
        // The deletion is committed by QUIT (the UPDATE state).
        match crate::probe::pop3::command(&mut conn, "QUIT").await {
            Ok(Ok(r)) if r.ok => (
                Cleanup::Deleted,
                Some(format!("message {n} deleted (DELE, QUIT)")),
            ),
            Ok(Ok(r)) => (
                Cleanup::Failed,
                Some(format!("QUIT after DELE: -ERR {}", r.text)),
            ),
            Ok(Err(line)) => (Cleanup::Failed, Some(format!("QUIT after DELE: {line}"))),
            Err(e) => (Cleanup::Failed, Some(format!("QUIT after DELE: {e}"))),
        }
    }
}

async fn quit(conn: &mut Connection) {
    let _ = crate::probe::pop3::command(conn, "QUIT").await;
    conn.shutdown().await;
}

/// The lines of a multi-line answer after `+OK`, or `None` after `-ERR`.
async fn multiline(conn: &mut Connection, cmd: &str) -> Result<Option<Vec<String>>, Problem> {
    crate::probe::pop3::multiline(conn, cmd, MAX_MULTILINE)
        .await
        .map_err(|e| Problem::new(format!("{cmd}: {e}")))?
        .map_err(|line| Problem::new(format!("unexpected answer to {cmd}")).says(Some(line)))
}

/// `UIDL`: (message number, unique id) of every message, or `None` if the server has no UIDL.
async fn uidl(conn: &mut Connection) -> Result<Option<Vec<(u32, String)>>, Problem> {
    Ok(multiline(conn, "UIDL").await?.map(|lines| {
        lines
            .iter()
            .filter_map(|l| {
                let (n, uid) = l.trim().split_once(' ')?;
                Some((n.parse().ok()?, uid.trim().to_string()))
            })
            .collect()
    }))
}

/// `STAT`: the number of messages.
async fn stat(conn: &mut Connection) -> Result<u32, Problem> {
    match crate::probe::pop3::command(conn, "STAT")
        .await
        .map_err(|e| Problem::new(format!("STAT: {e}")))?
    {
        Ok(r) if r.ok => r
            .text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Problem::new("unreadable answer to STAT").says(Some(r.text))),
        Ok(r) => Err(Problem::new("STAT refused").says(Some(r.text))),
        Err(line) => Err(Problem::new("unexpected answer to STAT").says(Some(line))),
    }
}

/// `TOP n 0`: the header of message `n`.
async fn top(conn: &mut Connection, n: u32) -> Result<Vec<u8>, Problem> {
    match multiline(conn, &format!("TOP {n} 0")).await? {
        Some(lines) => {
            let mut header = lines.join("\r\n").into_bytes();
            header.extend_from_slice(b"\r\n\r\n");
            Ok(header)
        }
        // Gone since UIDL (another client deleted it): not ours to worry about.
        None => Ok(Vec::new()),
    }
}
