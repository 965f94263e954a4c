# mailcheck — English messages (the reference catalogue; locales/fr/mailcheck.ftl mirrors it).
#
# Reasons: one message per reason code, id = "reason-" + the code with '.' turned into '-'.
# The value is the cause, the .hint attribute what a helpdesk reads aloud. Arguments every
# reason may use: $host $port $protocol (IMAP, POP3, SMTP) $detail (mailcheck's technical words).

reason-dns-no-such-host = the server name { $host } does not exist in DNS
    .hint = check the spelling of the server name
reason-dns-failed = the server name { $host } could not be looked up ({ $detail })
    .hint = the DNS server did not answer or failed, so nothing is known about the name yet: check the network and the DNS server (--dns-server), then retry
reason-dns-no-address = the server name { $host } has no address of the requested IP family
    .hint = try without -4/-6, or have the provider check the server's DNS records
reason-connect-refused = nothing listens on port { $port } of { $host } (connection refused)
    .hint = this port is closed on the server; use another documented port
reason-connect-timeout = no answer to the connection attempt on port { $port }
    .hint = a firewall or the network blocks this port; try the other port
reason-connect-unreachable = the network cannot reach { $host } ({ $detail })
    .hint = check the network connection; another network (e.g. mobile data) tells whether this one is the problem
reason-connect-failed = the connection to { $host } port { $port } could not be made ({ $detail })
    .hint = retry; if it persists, check the network
reason-tls-cert-expired = the server's certificate expired on { $date }
    .hint = the provider must renew its certificate; do not accept it in the mail client
reason-tls-cert-not-yet-valid = the server's certificate is not valid before { $date }
    .hint = check this computer's date and time; otherwise the provider installed its certificate too early
reason-tls-cert-name-mismatch = the certificate is not valid for { $expected }; it names { $names }
    .hint = { $shared ->
        [yes] this is a shared server: type { $suggested } as the server name
       *[no] { $name_count ->
            [one] use the name the certificate presents as the server name
           *[other] use one of the names the certificate presents as the server name
        }
    }
reason-tls-cert-unknown-issuer = the certificate was issued by an authority this system does not trust ({ $issuer })
    .hint = { $chain ->
        [incomplete] the server does not send the intermediate certificate that issued its own ({ $issuer }): its administrator must install the full chain; mail clients do not fetch a missing intermediate
       *[other] use the provider's documented server name; a private authority needs --ca-file
    }
reason-tls-cert-self-signed = the certificate is self-signed ({ $issuer })
    .hint = the provider must install a certificate from a public authority; do not accept it in the mail client
reason-tls-cert-revoked = the certificate has been revoked
    .hint = the provider must replace its certificate
reason-tls-dane-mismatch = the certificate matches none of the TLSA records the domain publishes, signed with DNSSEC ({ $detail })
    .hint = the provider must update its TLSA records or install the certificate they name; until then the server may be an impostor
reason-tls-cert-invalid = the certificate is invalid ({ $detail })
    .hint = the provider must fix its certificate
reason-tls-handshake-failed = { $alert ->
        [none] the TLS handshake failed ({ $detail })
       *[other] the server aborted the TLS handshake with the alert { $alert }
    }
    .hint = the server and mailcheck share no TLS settings; the provider must update its TLS configuration
reason-tls-protocol-too-old = the server only speaks an obsolete TLS version ({ $detail })
    .hint = the provider must enable TLS 1.2 or newer
reason-tls-plaintext-server = a plain-text server answers on TLS port { $port }
    .hint = ports swapped? this port answers in plain text: use it with STARTTLS, or look for implicit TLS on another port
reason-tls-timeout = the TLS handshake did not finish in time
    .hint = the server or the network stalls; retry, then try the other port
reason-tls-legacy-only = only legacy TLS reaches the server ({ $detail })
    .hint = clients that still accept legacy TLS connect, weakly, and mailcheck did not verify the login; the provider must enable TLS 1.2 with ECDHE and AES-GCM, or TLS 1.3
reason-tls-closed = the server closed the connection during the TLS handshake
    .hint = the server refuses TLS on this port; try the other port
reason-tls-reset = the connection was reset during the TLS handshake (a TCP reset, not a close)
    .hint = typical of an intrusion prevention system or a TLS-intercepting firewall on the way (or of a server that drops TLS clients unread); try from another network, or ask its administrator
reason-protocol-timeout = the server stopped answering
    .hint = the server is overloaded or something on the network stalls the connection; try the other port
reason-protocol-closed = the server closed the connection
    .hint = the server refused the session; see what it said
reason-protocol-line-too-long = the server sent an overlong line
    .hint = this port does not behave like a mail server
reason-protocol-too-much-data = the server sent far more data than a mail session needs
    .hint = this port does not behave like a mail server
reason-protocol-wrong-protocol = the server on port { $port } does not greet as { $protocol ->
        [POP3] a
       *[other] an
    } { $protocol } server
    .hint = wrong protocol on this port: check the port number
reason-protocol-tls-server = a TLS server answers on plain-text port { $port }
    .hint = choose SSL/TLS for this port
reason-protocol-busy = the server refuses service for now (busy or closing)
    .hint = retry later; if it persists, the provider has a problem
reason-protocol-unexpected = the server answered something unexpected
    .hint = see the server's words and the transcript (--trace)
reason-starttls-not-offered = the server does not offer STARTTLS on port { $port }
    .hint = use the implicit-TLS port; never send a password on port { $port }
reason-starttls-refused = the server refused STARTTLS
    .hint = use the implicit-TLS port
reason-starttls-injection = the server sent data between the STARTTLS go-ahead and the TLS handshake
    .hint = a man in the middle or a buggy server could inject responses; use the implicit-TLS port and report it to the provider
reason-auth-rejected = the server rejected the username or the password
    .hint = { $oauth ->
        [yes] check the username (often the full address) and the password; this server also offers OAuth2 sign-in, so password login may be disabled in favour of OAuth2 (Microsoft 365 refuses exactly so): then run again with --oauth2 (mailcheck signs in itself), use a mail client that signs in with OAuth2, or ask the administrator
       *[no] check the username (often the full address) and the password
    }
reason-auth-mechanism-not-offered = the server offers no login method mailcheck can use with this credential
    .hint = see the methods the server lists
reason-auth-login-disabled = the server disables login on this connection
    .hint = log in only after TLS, or on the implicit-TLS port
reason-auth-oauth2-required = the server accepts only OAuth2 (modern authentication), not a password
    .hint = run again with --oauth2 (mailcheck signs in itself), use a mail client that signs in with OAuth2 (the provider's own sign-in page), or ask the administrator to allow this client
reason-auth-account-locked = the account is locked or has had too many login attempts
    .hint = wait, then sign in through the provider's webmail to unlock the account
reason-auth-app-password-required = the provider requires an app password for mail clients
    .hint = create an app password in the account's security settings and use it instead of the usual password
reason-auth-protocol-disabled = access by { $protocol } is switched off for this account
    .hint = enable { $protocol } access in the account's mail settings (webmail), or ask the administrator to allow it
reason-auth-temporary-failure = the server could not check the credentials for now
    .hint = retry later
reason-auth-oauth2-token-refused = the server refused the OAuth2 token
    .hint = the issuer signed you in, but this server does not take the token: check that the token's scope covers { $protocol} (Microsoft 365: IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send) and that { $protocol} is allowed for this mailbox; the server's words say more
reason-oauth2-declined = the OAuth2 sign-in was declined ({ $detail })
    .hint = sign in again and accept; if your organisation blocks the app, ask the administrator to consent to it
reason-oauth2-timed-out = no OAuth2 sign-in in time ({ $detail })
    .hint = run again and finish the sign-in sooner, or give more time with --oauth2-timeout
reason-oauth2-client-refused = the OAuth2 issuer refused the client ({ $detail })
    .hint = give or check --oauth2-client-id: the app must be registered at this issuer as a public client allowed to use this flow
reason-oauth2-scope-refused = the OAuth2 issuer refused the scope ({ $detail })
    .hint = check --oauth2-scope against what the app registration allows
reason-oauth2-issuer-unusable = the OAuth2 issuer could not be used ({ $detail })
    .hint = give or check --oauth2-issuer: an https URL whose /.well-known/openid-configuration or oauth-authorization-server document names it
reason-oauth2-failed = the OAuth2 sign-in failed ({ $detail })
    .hint = run again; if it persists, see the detail
reason-oauth2-grant-refused = the OAuth2 issuer refused the grant ({ $detail })
    .hint = the refresh token was revoked, has expired or was already used (a server that rotates refresh tokens takes each one once): get a new one with `mailcheck oauth2 sign-in` and store it where the checks file names it
reason-internal = mailcheck met an internal error ({ $detail })
    .hint = please report this
reason-roundtrip-not-run = the round trip could not start: no outgoing or no incoming setting with a verified login
    .hint = fix the failing settings above first
reason-roundtrip-submission-failed = the test message could not be handed to the outgoing server (connection, TLS or timeout)
    .hint = retry; if it persists, the outgoing server has a problem
reason-roundtrip-submission-refused = the outgoing server refused the test message
    .hint = see what the server said: its policy refuses this sender, recipient or message
reason-roundtrip-not-delivered = the outgoing server accepted the test message, but it did not arrive in the mailbox in time
    .hint = mail is delayed, held, filtered or lost between the servers: check the spam folder, retry with a longer --round-trip-timeout, then ask the provider
reason-roundtrip-mailbox-failed = the mailbox could not be read to look for the test message
    .hint = the login works but reading the inbox does not: see the detail and ask the provider
reason-roundtrip-junk = the test message arrived, but in the Junk mailbox: the provider took it for spam
    .hint = mail works, but the provider's spam filter files this account's mail as spam: check the sender's SPF and DKIM, mark the message as not spam, and look in the Junk mailbox for real mail
reason-probe-deadline = the probe could not start before its deadline: other probes of the same server held every allowed connection
    .hint = give the probe more time (a longer scrape timeout), raise --per-host, or probe fewer combinations

## Findings: id = "finding-" + the code with '.' turned into '-'.

finding-tls-cert-expiring = the certificate expires in { $days ->
        [one] { $days } day
       *[other] { $days } days
    }, on { $date }
finding-tls-legacy-version-accepted = the server still accepts { $version }, an obsolete TLS version
finding-tls-legacy-only = only legacy TLS reaches this port: the server chose { $version } with { $cipher_suite } ({ $key_exchange } key exchange; weak: { $weaknesses }); { $clients ->
        [tls12] mail clients that still accept it connect with their default settings (Thunderbird, Outlook, curl)
       *[old] current mail clients refuse it by default (Thunderbird since version 78, Outlook on Windows 11): only old or reconfigured ones connect
    }; the login was not verified
finding-plaintext-login-offered = the server offers password login before STARTTLS: a client set to "no encryption" would send the password in clear
finding-smtp-auth-before-tls = the server offers AUTH before STARTTLS
finding-smtp-starttls-not-required = the server accepts mail submission (MAIL FROM) before STARTTLS: a client set to "no encryption" could send mail in clear
finding-starttls-injection = { $bytes ->
        [one] { $bytes } byte
       *[other] { $bytes } bytes
    } followed the STARTTLS go-ahead before the handshake (discarded): { $preview }
finding-starttls-only = only STARTTLS works for { $protocol }: implicit TLS (port { $tls_port }) is preferred (RFC 8314)
finding-documented-not-working = { $source } documents this setting, but it does not work
finding-tls-cert-shared-host = the certificate is valid for { $names }, not for { $expected }: this is a shared server; type { $suggested } as the server name
finding-connect-some-addresses-failed = { $connected } answered, but not { $failed } ({ $why ->
        [refused] connection refused
        [timed-out] no answer
        [unreachable] unreachable
       *[other] connection failed
    }): a client that tries { $count ->
        [one] that address
       *[other] those addresses
    } first waits or fails

finding-tls-no-forward-secrecy = the server chose { $cipher_suite } ({ $version }): RSA key exchange, no forward secrecy (whoever gets the server's key later can read recorded sessions); enable ECDHE suites
finding-tls-cbc-only = the server chose { $cipher_suite } ({ $version }), a CBC suite, over the AES-GCM suites offered; enable AES-GCM or ChaCha20 suites
finding-tls-no-tls13 = the server does not offer TLS 1.3 (it chose { $version })
finding-tls-rsa-key-weak = the certificate { $subject } has a { $bits }-bit RSA key: below 2048 bits, current clients refuse it
finding-tls-sha1-signature = the certificate { $subject } is signed with SHA-1, which current clients refuse
finding-tls-chain-incomplete = the chain is incomplete: the server did not send the certificate of { $issuer }, which issued { $subject }; if it is an intermediate authority, the server must send it (mail clients do not fetch it)
finding-tls-chain-order = the server sends its certificates out of order (each should be followed by its issuer); most clients cope
finding-tls-ocsp-signature-invalid = the OCSP response the server staples is not signed by the certificate's issuer (nor by a responder it authorised): clients that check it ignore or refuse it
finding-tls-ocsp-not-current = the OCSP response the server staples is { $window ->
        [expired] out of date: it was valid until { $next_update }
       *[other] not yet valid: it starts at { $this_update }
    }; the server must fetch a fresh one (clients that check it refuse or ignore it)
finding-oauth2-scope-missing = the issuer did not grant { $scope }, which { $protocol } needs: the token is refused there (the administrator must consent to it for the app, or sign in again accepting it)
finding-tls-must-staple-missing = the certificate demands a stapled OCSP response (must-staple), but the server sent none: clients that honour it (Firefox) refuse the connection
## Documentation sources (discovery), as findings name them.

source-provider-table = the built-in provider table
source-pacc = the domain's PACC document
source-autoconfig = the provider's autoconfig
source-ispdb = Thunderbird's ISPDB
source-mx = the provider behind the MX record
source-srv = the domain's SRV records
source-autodiscover = Autodiscover

## Advice when no secure setting works in a direction.

advice-headline = { $direction ->
        [incoming] no secure incoming setting works
       *[outgoing] no secure outgoing setting works
    }
advice-all-blocked = no mail port answers: a firewall or this network blocks them; try another network (e.g. mobile data) or ask the network's administrator
advice-no-server = nothing serves mail on { $host } on the documented ports: check the server name in the provider's documentation
advice-decisive = { $combination }: { $cause } — { $hint }
advice-line = { $headline }: { $body }
advice-legacy-headline = { $direction ->
        [incoming] no incoming setting works with current TLS
       *[outgoing] no outgoing setting works with current TLS
    }
advice-legacy-tls = { $combination } connects only with legacy TLS: the server chose { $version } with { $cipher_suite } ({ $key_exchange } key exchange; weak: { $weaknesses }); { $clients ->
        [tls12] mail clients that still accept it connect with their default settings (Thunderbird, Outlook, curl)
       *[old] current mail clients refuse it by default (Thunderbird since version 78, Outlook on Windows 11): only old or reconfigured ones connect
    }; mailcheck verified neither the certificate nor the login — the provider must enable TLS 1.2 with ECDHE and AES-GCM, or TLS 1.3

## Summary line and directions.

direction-incoming = incoming
direction-outgoing = outgoing
summary-setting = { $protocol } { $host } port { $port } { $security }, { $login ->
        [verified] login verified
        [refused] login not verified (the server refused the credential)
        [stalled] login not verified (the server stopped answering at login)
        [skipped-after-rejection] login not verified (not tried: the credential was refused on another combination)
        [skipped-after-stall] login not verified (not tried: the login stalled on another combination)
       *[other] login not verified
    }
summary-side = { $direction }: { $setting }
summary-none = { $direction }: no secure setting works
summary-legacy = { $direction }: only legacy TLS reaches the server ({ $combination }); certificate and login not verified
separator = { "; " }
summary-credential = { $cause } on { $combination } ({ $code })
summary-addresses = { $combination }: { $failing } of { $total } addresses { $failing ->
        [one] fails
       *[other] fail
    }: { $causes }
summary-address-fails = { $address }: { $cause }

## The table.

table-title = mailcheck { $version } — { $address } on { $server } — { $count ->
        [one] { $count } combination
       *[other] { $count } combinations
    } in { $seconds } s
col-protocol = protocol
col-port = port
col-host = host
col-address = address
col-source = source
source-untrusted = (untrusted)
col-security = security
col-connect = connect
col-tls = tls
col-certificate = certificate
col-login = login
col-verdict = verdict
verdict-works = works
verdict-connects = connects
verdict-connects-legacy-tls = connects with legacy TLS only
verdict-works-with-warnings = works, warnings
verdict-fails = fails: { $code }
connect-failed = failed
cert-valid = valid ({ $days } d)
cert-expired = expired
cert-not-yet-valid = not yet valid
cert-name-mismatch = name mismatch
cert-self-signed = self-signed
cert-unknown-issuer = unknown issuer
cert-revoked = revoked
cert-invalid = invalid
cert-not-checked = not checked
login-ok = ok ({ $mechanism })
login-rejected = rejected
login-failed = failed
login-no-credentials = not attempted
login-certificate-not-trusted = withheld (cert)
login-skipped-after-rejection = skipped (rejected)
login-skipped-after-stall = skipped (stalled)
login-no-usable-mechanism = no mechanism
section-why = Why:
section-findings = Findings:
all-combinations = all { $n } combinations
section-advice = What to tell the user:
section-transcripts = Transcripts (--trace, credentials redacted):
transcript-none = (no session: nothing was exchanged)
server-said = server said: { $words }
hint = hint: { $hint }
severity-info = info:
severity-warning = warning:
severity-critical = critical:
certificate-line = Certificate: { $subject } — issued by { $issuer } — { $expired ->
        [yes] expired { $ago ->
            [one] { $ago } day
           *[other] { $ago } days
        } ago ({ $date })
       *[no] valid until { $date } ({ $days ->
            [one] { $days } day
           *[other] { $days } days
        })
    } — names: { $names }
status-ok = OK
status-warning = WARNING
status-critical = CRITICAL
status-unknown = UNKNOWN

## The settings card (labels as mail clients and the providers' guides print them).

card-title = Mail settings for { $address }
card-proven = Checked by mailcheck { $version } on { $date }: every line below was tried on the server.
card-incoming = Incoming mail server ({ $protocol })
card-outgoing = Outgoing mail server (SMTP)
card-server = Server
card-port = Port
card-security = Security
card-username = Username
card-password = Password
card-password-value = { $login ->
        [verified] the mailbox password (login verified)
        [no-credential] the mailbox password (login not verified: no password was given)
        [stalled] the mailbox password (login not verified: the server stopped answering at login)
        [skipped-after-stall] the mailbox password (login not verified: the server stopped answering at login)
       *[other] the mailbox password (login not verified)
    }
card-credential = The password: { $cause } — { $hint }
card-smtp-auth = Outgoing server requires authentication
card-smtp-auth-value = yes, with the same username and password
card-yes = yes
card-also-works = Also works: { $settings }
card-also-connects = Also connects (login not verified): { $settings }
card-none = No secure setting works: { $advice }
card-not-probed = not checked
card-warnings = Warnings: { $findings }
card-security-ssl = SSL/TLS
card-security-starttls = STARTTLS

## The card as files (Thunderbird's config-v1.1.xml, Apple's .mobileconfig): the words people
## see in the file or on the device; machine values (SSL, STARTTLS, plist keys) stay as they are.

card-file-made = { $proven ->
        [yes] Made by mailcheck { $version } on { $date }: every server below was tried and works.
       *[no] Made by mailcheck { $version } on { $date }: every server below was tried and connects, but the login was not verified.
    }
card-file-server = { $direction ->
        [incoming] Incoming server
       *[outgoing] Outgoing server
    } ({ $rank ->
        [best] recommended
       *[other] alternative
    }): { $protocol }, port { $port }, connection security { $security }
card-profile-name = Mail: { $address }
card-profile-account = Mail account { $address }
card-profile-description = { $proven ->
        [yes] Mail settings checked by mailcheck { $version } on { $date }: every server was tried and works. The device asks for the password.
       *[no] Mail settings checked by mailcheck { $version } on { $date }: every server was tried and connects, but the login was not verified. The device asks for the password.
    }

## Discovery (mailcheck discover, and the first section of probe without --server)

discovery-title = Discovery for { $address } (domain { $domain }, DNS { $resolver }) in { $seconds } s
discovery-col-source = source
discovery-col-status = status
discovery-col-time = time
discovery-col-answer = answer, or why not
discovery-status-answered = answered
discovery-status-no-answer = no answer
discovery-status-failed = failed
discovery-status-timed-out = timed out
discovery-status-skipped = skipped
discovery-source-provider-table = built-in provider table
discovery-source-pacc = PACC
discovery-source-autoconfig = autoconfig (provider)
discovery-source-ispdb = ISPDB
discovery-source-mx = MX record
discovery-source-srv = SRV records
discovery-source-autodiscover = Autodiscover
discovery-source-guess = guessing
discovery-none-for = No server found for { $domain }.
discovery-name-server-flag = Give one with --server HOST.
discovery-name-server-file = Name one with `server`.
discovery-none = No server found.
discovery-found = Settings found (highest-priority source per protocol):
discovery-user = user
discovery-from = from
discovery-trusted = trusted
discovery-untrusted = untrusted
discovery-disagree = Sources disagree:
discovery-disagree-usernames = { $servers } (user { $usernames })
discovery-says = says
discovery-notes = Notes:
discovery-failure-sentence = No server found for { $domain }: { $cause }: { $hint }
discovery-failure-dns-silent = { $server ->
        [system] the system's DNS servers do not answer
       *[other] the DNS server { $server } does not answer
    }
discovery-failure-dns-silent-hint = check the network, or give --dns-server a server that answers
discovery-failure-no-such-domain = the domain { $domain } does not exist (NXDOMAIN)
discovery-failure-no-such-domain-hint = check the spelling of the address
discovery-failure-tls = every web source was refused for the same TLS reason ({ $reason })
discovery-failure-tls-hint = something on the path may intercept https (a proxy, a firewall), or the servers' certificate is wrong; a private CA is given with --ca-file
discovery-failure-publishes-nothing = { $domain } publishes no mail settings (no autoconfig, Autodiscover or SRV record, no usual host name)
discovery-failure-publishes-nothing-hint = ask the provider for the server names and give them with --server HOST
discovery-failure-other = no source named a server
discovery-failure-other-hint = each source's answer follows; give the server with --server HOST
discovery-note-from = { $source }: { $note }
discovery-note-not-offered-overruled = { $source }: says { $protocol } is not offered, but { $winner } (higher priority) names a server: it is used
discovery-note-not-offered = { $source }: { $protocol } is not offered
discovery-note-not-offered-ignored = { $source }: { $protocol } is not offered; what { $ignored } proposes for it is not used
discovery-note-provider = { $name }: { $text }
discovery-note-provider-outlook-com = { $name }: Outlook.com accepts OAuth2 only: a password login is refused even when the password is right (use --oauth2-token-command)
discovery-note-provider-microsoft-365 = { $name }: Exchange Online expects OAuth2 for IMAP and POP; SMTP AUTH must be enabled for the mailbox
discovery-note-host-unknown = { $name }: { $text } (documented: { $documented })
discovery-note-host-unknown-ovh-email-pro = { $name }: if this is an OVHcloud E-mail Pro account, its server is proN.mail.ovh.net, and N (pro1, pro2, ...) cannot be told from the address: it is shown under 'Webmail' in the OVHcloud control panel. Rerun with --server proN.mail.ovh.net (documented: { $documented })
discovery-note-before = before it: { $failures }
discovery-note-skipped-type = server type "{ $kind }" is not probed
discovery-note-also-offered = also offered, not probed: { $kind } at { $at }
discovery-note-schema-invalid = the document does not follow the autoconfig draft's schema ({ $count } { $count ->
    [one] problem
   *[other] problems
}), first: { $first }
discovery-note-skipped-invalid = server entry "{ $kind }" skipped, it breaks the schema: { $reason }
discovery-note-skipped-host = { $protocol }: unusable host name "{ $given }"
discovery-note-skipped-port = { $protocol } { $host }: unusable port "{ $given }"
discovery-note-skipped-unencrypted = { $protocol } { $host }:{ $port } without encryption: never probed
discovery-note-skipped-socket-type = { $protocol } { $host }:{ $port }: unknown socketType "{ $given }"
discovery-note-plain-http = fetched over plain http: anyone on the path could have changed it
discovery-note-autodiscover-untrusted = reached through http or an unvalidated DNS record
discovery-note-through-mx = found through an MX record (DNS without DNSSEC validation)
discovery-note-no-dnssec = from DNS without DNSSEC validation
discovery-note-srv-not-offered = { $name } says the service is not offered (target ".")
discovery-note-srv-outside = { $name } points outside { $domain }, to { $target }
discovery-note-srv-failed = { $name }: { $error }
discovery-note-dnssec-bogus = { $name }: DNSSEC validation failed (bogus), the answer is not used
discovery-note-guessed = a guess: nothing says this server handles this domain's mail
discovery-note-pacc-digest = matches the SHA-256 digest published at { $name } (DNS without DNSSEC validation)
discovery-note-dane-tlsa = { $name }: { $count ->
    [one] one TLSA record
   *[other] { $count } TLSA records
}, DNSSEC-validated: a probe checks the certificate against { $count ->
    [one] it
   *[other] them
} (DANE)
discovery-note-credentials-withheld = credentials withheld: { $hosts } came through an untrusted channel and lie outside { $domain }; check them, then rerun with --trust-discovered or --server HOST
discovery-note-credentials-withheld-config = credentials withheld: { $hosts } came through an untrusted channel and lie outside { $domain }; check them, then set trust_discovered = true or name the server

## OAuth2 sign-in (--oauth2), on stderr
oauth2-device-prompt = To sign in, open { $uri } and enter the code { $code }
oauth2-device-prompt-complete = or open directly: { $uri }
oauth2-browser-prompt = Open this address in a browser to sign in: { $uri }
oauth2-browser-page = Signed in: mailcheck goes on. You can close this page.

## `oauth2 sign-in`, on stdout: what was granted, never a token
oauth2-signed-in = Signed in at { $issuer } as client { $client }
    scopes granted: { $scopes }
    access token lifetime: { $lifetime }
oauth2-signed-in-refresh = refresh token: issued, handed to { $to }
oauth2-signed-in-no-refresh = refresh token: not issued
oauth2-signed-in-no-refresh-hint = the issuer gave no refresh token, so nothing was stored: ask for one with --oauth2-scope offline_access (Microsoft and OpenID Connect servers), and check that the app may use the refresh_token grant
