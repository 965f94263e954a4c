# mailcheck — messages en français (même identifiants que locales/en/mailcheck.ftl).

reason-dns-no-such-host = le nom de serveur { $host } n'existe pas dans le DNS
    .hint = vérifiez l'orthographe du nom du serveur
reason-dns-failed = le nom de serveur { $host } n'a pas pu être résolu ({ $detail })
    .hint = le serveur DNS n'a pas répondu ou a échoué, on ne sait donc encore rien du nom : vérifiez le réseau et le serveur DNS (--dns-server), puis réessayez
reason-dns-no-address = le nom de serveur { $host } n'a pas d'adresse dans la famille IP demandée
    .hint = réessayez sans -4/-6, ou faites vérifier les enregistrements DNS du serveur par le fournisseur
reason-connect-refused = rien n'écoute sur le port { $port } de { $host } (connexion refusée)
    .hint = ce port est fermé sur le serveur ; utilisez un autre port documenté
reason-connect-timeout = aucune réponse à la tentative de connexion sur le port { $port }
    .hint = un pare-feu ou le réseau bloque ce port ; essayez l'autre port
reason-connect-unreachable = le réseau ne peut pas joindre { $host } ({ $detail })
    .hint = vérifiez la connexion réseau ; un autre réseau (par exemple les données mobiles) dira si celui-ci est en cause
reason-connect-failed = la connexion à { $host } port { $port } a échoué ({ $detail })
    .hint = réessayez ; si le problème persiste, vérifiez le réseau
reason-tls-cert-expired = le certificat du serveur a expiré le { $date }
    .hint = le fournisseur doit renouveler son certificat ; ne l'acceptez pas dans le logiciel de messagerie
reason-tls-cert-not-yet-valid = le certificat du serveur n'est pas valide avant le { $date }
    .hint = vérifiez la date et l'heure de cet ordinateur ; sinon le fournisseur a installé son certificat trop tôt
reason-tls-cert-name-mismatch = le certificat n'est pas valide pour { $expected } ; { $name_count ->
        [one] il porte le nom { $names }
       *[other] il porte les noms { $names }
    }
    .hint = { $shared ->
        [yes] c'est un serveur mutualisé : indiquez { $suggested } comme nom de serveur
       *[no] { $name_count ->
            [one] indiquez comme nom de serveur le nom que porte le certificat
           *[other] indiquez comme nom de serveur l'un des noms que porte le certificat
        }
    }
reason-tls-cert-unknown-issuer = le certificat a été émis par une autorité à laquelle ce système ne fait pas confiance ({ $issuer })
    .hint = { $chain ->
        [incomplete] le serveur n'envoie pas le certificat intermédiaire qui a émis le sien ({ $issuer }) : son administrateur doit installer la chaîne complète ; les logiciels de messagerie ne vont pas chercher un intermédiaire manquant
       *[other] utilisez le nom de serveur documenté par le fournisseur ; une autorité privée demande --ca-file
    }
reason-tls-cert-self-signed = le certificat est auto-signé ({ $issuer })
    .hint = le fournisseur doit installer un certificat d'une autorité publique ; ne l'acceptez pas dans le logiciel de messagerie
reason-tls-cert-revoked = le certificat a été révoqué
    .hint = le fournisseur doit remplacer son certificat
reason-tls-dane-mismatch = le certificat ne correspond à aucun des enregistrements TLSA que le domaine publie, signés avec DNSSEC ({ $detail })
    .hint = le fournisseur doit mettre à jour ses enregistrements TLSA ou installer le certificat qu'ils désignent ; d'ici là, le serveur peut être un imposteur
reason-tls-cert-invalid = le certificat n'est pas valide ({ $detail })
    .hint = le fournisseur doit corriger son certificat
reason-tls-handshake-failed = { $alert ->
        [none] la négociation TLS a échoué ({ $detail })
       *[other] le serveur a interrompu la négociation TLS avec l'alerte { $alert }
    }
    .hint = le serveur et mailcheck n'ont aucun réglage TLS en commun ; le fournisseur doit mettre à jour sa configuration TLS
reason-tls-protocol-too-old = le serveur ne parle qu'une version obsolète de TLS ({ $detail })
    .hint = le fournisseur doit activer TLS 1.2 ou plus récent
reason-tls-plaintext-server = un serveur en clair répond sur le port TLS { $port }
    .hint = ports inversés ? ce port répond en clair : utilisez-le avec STARTTLS, ou cherchez le TLS implicite sur un autre port
reason-tls-timeout = la négociation TLS ne s'est pas terminée à temps
    .hint = le serveur ou le réseau est bloqué ; réessayez, puis essayez l'autre port
reason-tls-legacy-only = seul un TLS obsolète atteint le serveur ({ $detail })
    .hint = les logiciels qui acceptent encore un TLS obsolète se connectent, sans bonne protection, et mailcheck n'a pas vérifié l'identification ; le fournisseur doit activer TLS 1.2 avec ECDHE et AES-GCM, ou TLS 1.3
reason-tls-closed = le serveur a fermé la connexion pendant la négociation TLS
    .hint = le serveur refuse TLS sur ce port ; essayez l'autre port
reason-tls-reset = la connexion a été réinitialisée pendant la négociation TLS (un reset TCP, pas une fermeture)
    .hint = typique d'un système de prévention d'intrusion ou d'un pare-feu qui intercepte TLS sur le chemin (ou d'un serveur qui rejette les clients TLS sans les lire) ; essayez depuis un autre réseau, ou demandez à son administrateur
reason-protocol-timeout = le serveur a cessé de répondre
    .hint = le serveur est surchargé ou un équipement du réseau bloque la connexion ; essayez l'autre port
reason-protocol-closed = le serveur a fermé la connexion
    .hint = le serveur a refusé la session ; voyez ce qu'il a répondu
reason-protocol-line-too-long = le serveur a envoyé une ligne démesurée
    .hint = ce port ne se comporte pas comme un serveur de messagerie
reason-protocol-too-much-data = le serveur a envoyé bien plus de données qu'une session de messagerie n'en demande
    .hint = ce port ne se comporte pas comme un serveur de messagerie
reason-protocol-wrong-protocol = le serveur du port { $port } ne s'annonce pas comme un serveur { $protocol }
    .hint = mauvais protocole sur ce port : vérifiez le numéro de port
reason-protocol-tls-server = un serveur TLS répond sur le port en clair { $port }
    .hint = choisissez SSL/TLS pour ce port
reason-protocol-busy = le serveur refuse le service pour le moment (occupé ou en cours d'arrêt)
    .hint = réessayez plus tard ; si le problème persiste, le fournisseur a un incident
reason-protocol-unexpected = le serveur a répondu quelque chose d'inattendu
    .hint = voyez la réponse du serveur et la transcription (--trace)
reason-starttls-not-offered = le serveur ne propose pas STARTTLS sur le port { $port }
    .hint = utilisez le port TLS implicite ; n'envoyez jamais de mot de passe sur le port { $port }
reason-starttls-refused = le serveur a refusé STARTTLS
    .hint = utilisez le port TLS implicite
reason-starttls-injection = le serveur a envoyé des données entre l'accord STARTTLS et la négociation TLS
    .hint = un intermédiaire malveillant ou un serveur défaillant pourrait injecter des réponses ; utilisez le port TLS implicite et signalez-le au fournisseur
reason-auth-rejected = le serveur a refusé le nom d'utilisateur ou le mot de passe
    .hint = { $oauth ->
        [yes] vérifiez le nom d'utilisateur (souvent l'adresse e-mail entière) et le mot de passe ; ce serveur propose aussi la connexion OAuth2, l'identification par mot de passe y est peut-être désactivée au profit d'OAuth2 (Microsoft 365 refuse exactement ainsi) : relancez alors avec --oauth2 (mailcheck se connecte lui-même), utilisez un logiciel de messagerie qui se connecte avec OAuth2, ou demandez à l'administrateur
       *[no] vérifiez le nom d'utilisateur (souvent l'adresse e-mail entière) et le mot de passe
    }
reason-auth-mechanism-not-offered = le serveur ne propose aucune méthode d'identification utilisable avec cet identifiant
    .hint = voyez les méthodes que le serveur annonce
reason-auth-login-disabled = le serveur interdit l'identification sur cette connexion
    .hint = identifiez-vous seulement après TLS, ou sur le port TLS implicite
reason-auth-oauth2-required = le serveur n'accepte qu'OAuth2 (authentification moderne), pas de mot de passe
    .hint = relancez avec --oauth2 (mailcheck se connecte lui-même), utilisez un logiciel de messagerie qui se connecte avec OAuth2 (la page de connexion du fournisseur), ou demandez à l'administrateur d'autoriser ce logiciel
reason-auth-account-locked = le compte est bloqué ou a subi trop de tentatives de connexion
    .hint = patientez, puis connectez-vous au webmail du fournisseur pour débloquer le compte
reason-auth-app-password-required = le fournisseur exige un mot de passe d'application pour les logiciels de messagerie
    .hint = créez un mot de passe d'application dans les paramètres de sécurité du compte et utilisez-le à la place du mot de passe habituel
reason-auth-protocol-disabled = l'accès { $protocol } est désactivé pour ce compte
    .hint = activez l'accès { $protocol } dans les paramètres de messagerie du compte (webmail), ou demandez à l'administrateur de l'autoriser
reason-auth-temporary-failure = le serveur ne peut pas vérifier les identifiants pour le moment
    .hint = réessayez plus tard
reason-auth-oauth2-token-refused = le serveur a refusé le jeton OAuth2
    .hint = l'émetteur vous a connecté, mais ce serveur ne prend pas le jeton : vérifiez que la portée du jeton couvre { $protocol} (Microsoft 365 : IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send) et que { $protocol} est autorisé pour cette boîte ; les mots du serveur en disent plus
reason-oauth2-declined = la connexion OAuth2 a été refusée ({ $detail })
    .hint = reconnectez-vous et acceptez ; si votre organisation bloque l'application, demandez à l'administrateur d'y consentir
reason-oauth2-timed-out = pas de connexion OAuth2 à temps ({ $detail })
    .hint = relancez et terminez la connexion plus tôt, ou donnez plus de temps avec --oauth2-timeout
reason-oauth2-client-refused = l'émetteur OAuth2 a refusé le client ({ $detail })
    .hint = indiquez ou vérifiez --oauth2-client-id : l'application doit être enregistrée chez cet émetteur comme client public autorisé à ce flux
reason-oauth2-scope-refused = l'émetteur OAuth2 a refusé la portée ({ $detail })
    .hint = vérifiez --oauth2-scope par rapport à ce que l'enregistrement de l'application autorise
reason-oauth2-issuer-unusable = l'émetteur OAuth2 n'est pas utilisable ({ $detail })
    .hint = indiquez ou vérifiez --oauth2-issuer : une URL https dont le document /.well-known/openid-configuration ou oauth-authorization-server la nomme
reason-oauth2-failed = la connexion OAuth2 a échoué ({ $detail })
    .hint = relancez ; si cela persiste, voyez le détail
reason-oauth2-grant-refused = l'émetteur OAuth2 a refusé l'autorisation ({ $detail })
    .hint = le jeton de rafraîchissement a été révoqué, a expiré ou a déjà servi (un serveur qui renouvelle les jetons de rafraîchissement n'accepte chacun qu'une fois) : obtenez-en un nouveau avec `mailcheck oauth2 sign-in` et rangez-le là où le fichier de vérifications l'indique
reason-internal = mailcheck a rencontré une erreur interne ({ $detail })
    .hint = merci de la signaler
reason-roundtrip-not-run = l'aller-retour n'a pas pu commencer : aucun réglage d'envoi ou de réception avec identification vérifiée
    .hint = corrigez d'abord les réglages en échec ci-dessus
reason-roundtrip-submission-failed = le message de test n'a pas pu être remis au serveur d'envoi (connexion, TLS ou délai dépassé)
    .hint = réessayez ; si cela persiste, le serveur d'envoi a un problème
reason-roundtrip-submission-refused = le serveur d'envoi a refusé le message de test
    .hint = voyez ce que le serveur a répondu : sa politique refuse cet expéditeur, ce destinataire ou ce message
reason-roundtrip-not-delivered = le serveur d'envoi a accepté le message de test, mais il n'est pas arrivé dans la boîte à temps
    .hint = le courrier est retardé, retenu, filtré ou perdu entre les serveurs : regardez dans les indésirables, réessayez avec un --round-trip-timeout plus long, puis contactez le fournisseur
reason-roundtrip-mailbox-failed = la boîte n'a pas pu être lue pour y chercher le message de test
    .hint = l'identification fonctionne mais pas la lecture de la boîte de réception : voyez le détail et contactez le fournisseur
reason-roundtrip-junk = le message de test est arrivé, mais dans le dossier des indésirables : le fournisseur l'a pris pour du spam
    .hint = le courrier passe, mais le filtre anti-spam du fournisseur classe le courrier de ce compte en indésirable : vérifiez SPF et DKIM de l'expéditeur, signalez le message comme légitime et cherchez le vrai courrier dans les indésirables
reason-probe-deadline = le test n'a pas pu commencer avant son échéance : d'autres tests du même serveur occupaient toutes les connexions permises
    .hint = laissez plus de temps au test (un délai de collecte plus long), augmentez --per-host ou testez moins de combinaisons

## Constats

finding-tls-cert-expiring = le certificat expire dans { $days ->
        [one] { $days } jour
       *[other] { $days } jours
    }, le { $date }
finding-tls-legacy-version-accepted = le serveur accepte encore { $version }, une version obsolète de TLS
finding-tls-legacy-only = seul un TLS obsolète atteint ce port : le serveur a choisi { $version } avec { $cipher_suite } (échange de clés { $key_exchange } ; faiblesses : { $weaknesses }) ; { $clients ->
        [tls12] les logiciels de messagerie qui l'acceptent encore se connectent avec leurs réglages par défaut (Thunderbird, Outlook, curl)
       *[old] les logiciels de messagerie actuels le refusent par défaut (Thunderbird depuis la version 78, Outlook sous Windows 11) : seuls d'anciens ou des logiciels reconfigurés se connectent
    } ; l'identification n'a pas été vérifiée
finding-plaintext-login-offered = le serveur propose l'identification par mot de passe avant STARTTLS : un logiciel réglé sur « aucun chiffrement » enverrait le mot de passe en clair
finding-smtp-auth-before-tls = le serveur propose AUTH avant STARTTLS
finding-smtp-starttls-not-required = le serveur accepte l'envoi de courrier (MAIL FROM) avant STARTTLS : un logiciel réglé sur « aucun chiffrement » pourrait envoyer du courrier en clair
finding-starttls-injection = { $bytes ->
        [one] { $bytes } octet a suivi
       *[other] { $bytes } octets ont suivi
    } l'accord STARTTLS avant la négociation (ignorés) : { $preview }
finding-starttls-only = seul STARTTLS fonctionne pour { $protocol } : le TLS implicite (port { $tls_port }) est préférable (RFC 8314)
finding-documented-not-working = { $source } documente ce réglage, mais il ne fonctionne pas
finding-tls-cert-shared-host = le certificat est valide pour { $names }, pas pour { $expected } : c'est un serveur mutualisé ; indiquez { $suggested } comme nom de serveur
finding-connect-some-addresses-failed = { $connected } a répondu, mais pas { $failed } ({ $why ->
        [refused] connexion refusée
        [timed-out] pas de réponse
        [unreachable] injoignable
       *[other] échec de la connexion
    }) : un logiciel qui essaie d'abord { $count ->
        [one] cette adresse
       *[other] ces adresses
    } attend ou échoue
finding-tls-no-forward-secrecy = le serveur a choisi { $cipher_suite } ({ $version }) : échange de clés RSA, sans confidentialité persistante (qui obtient plus tard la clé du serveur peut lire les sessions enregistrées) ; activez les suites ECDHE
finding-tls-cbc-only = le serveur a choisi { $cipher_suite } ({ $version }), une suite CBC, plutôt que les suites AES-GCM proposées ; activez les suites AES-GCM ou ChaCha20
finding-tls-no-tls13 = le serveur ne propose pas TLS 1.3 (il a choisi { $version })
finding-tls-rsa-key-weak = le certificat { $subject } a une clé RSA de { $bits } bits : en dessous de 2048 bits, les logiciels actuels la refusent
finding-tls-sha1-signature = le certificat { $subject } est signé en SHA-1, que les logiciels actuels refusent
finding-tls-chain-incomplete = la chaîne est incomplète : le serveur n'a pas envoyé le certificat de { $issuer }, qui a émis { $subject } ; s'il s'agit d'une autorité intermédiaire, le serveur doit l'envoyer (les logiciels de messagerie ne vont pas la chercher)
finding-tls-chain-order = le serveur envoie ses certificats dans le désordre (chacun devrait être suivi de son émetteur) ; la plupart des logiciels s'en accommodent
finding-tls-ocsp-signature-invalid = la réponse OCSP que le serveur agrafe n'est pas signée par l'émetteur du certificat (ni par un répondeur qu'il a autorisé) : les logiciels qui la vérifient l'ignorent ou la refusent
finding-tls-ocsp-not-current = la réponse OCSP que le serveur agrafe { $window ->
        [expired] est périmée : elle était valide jusqu'au { $next_update }
       *[other] n'est pas encore valide : elle commence le { $this_update }
    } ; le serveur doit en obtenir une nouvelle (les logiciels qui la vérifient la refusent ou l'ignorent)
finding-oauth2-scope-missing = l'émetteur n'a pas accordé { $scope }, dont { $protocol } a besoin : le jeton y est refusé (l'administrateur doit y consentir pour l'application, ou reconnectez-vous en l'acceptant)
finding-tls-must-staple-missing = le certificat exige une réponse OCSP agrafée (must-staple), mais le serveur n'en a envoyé aucune : les logiciels qui le respectent (Firefox) refusent la connexion

## Sources de documentation (découverte), telles que les constats les nomment

source-provider-table = la table des fournisseurs intégrée
source-pacc = le document PACC du domaine
source-autoconfig = l'autoconfig du fournisseur
source-ispdb = l'ISPDB de Thunderbird
source-mx = le fournisseur de l'enregistrement MX
source-srv = les enregistrements SRV du domaine
source-autodiscover = Autodiscover

## Conseil quand aucun réglage sûr ne fonctionne dans un sens

advice-headline = { $direction ->
        [incoming] aucun réglage sûr ne fonctionne pour la réception
       *[outgoing] aucun réglage sûr ne fonctionne pour l'envoi
    }
advice-all-blocked = aucun port de messagerie ne répond : un pare-feu ou ce réseau les bloque ; essayez un autre réseau (par exemple les données mobiles) ou demandez à l'administrateur du réseau
advice-no-server = aucun service de messagerie sur { $host } aux ports documentés : vérifiez le nom du serveur dans la documentation du fournisseur
advice-decisive = { $combination } : { $cause } — { $hint }
advice-line = { $headline } : { $body }
advice-legacy-headline = { $direction ->
        [incoming] aucun réglage de réception ne fonctionne avec un TLS actuel
       *[outgoing] aucun réglage d'envoi ne fonctionne avec un TLS actuel
    }
advice-legacy-tls = { $combination } ne se connecte qu'avec un TLS obsolète : le serveur a choisi { $version } avec { $cipher_suite } (échange de clés { $key_exchange } ; faiblesses : { $weaknesses }) ; { $clients ->
        [tls12] les logiciels de messagerie qui l'acceptent encore se connectent avec leurs réglages par défaut (Thunderbird, Outlook, curl)
       *[old] les logiciels de messagerie actuels le refusent par défaut (Thunderbird depuis la version 78, Outlook sous Windows 11) : seuls les anciens ou ceux reconfigurés se connectent
    } ; mailcheck n'a vérifié ni le certificat ni l'identification — le fournisseur doit activer TLS 1.2 avec ECDHE et AES-GCM, ou TLS 1.3

## Ligne de synthèse

direction-incoming = réception
direction-outgoing = envoi
summary-setting = { $protocol } { $host } port { $port } { $security }, { $login ->
        [verified] identification vérifiée
        [refused] identification non vérifiée (le serveur a refusé les identifiants)
        [stalled] identification non vérifiée (le serveur a cessé de répondre à l'identification)
        [skipped-after-rejection] identification non vérifiée (non tentée : les identifiants ont été refusés sur une autre combinaison)
        [skipped-after-stall] identification non vérifiée (non tentée : l'identification est restée bloquée sur une autre combinaison)
       *[other] identification non vérifiée
    }
summary-side = { $direction } : { $setting }
summary-none = { $direction } : aucun réglage sûr ne fonctionne
summary-legacy = { $direction } : seul un TLS obsolète atteint le serveur ({ $combination }) ; certificat et identification non vérifiés
separator = { " ; " }
summary-credential = { $cause } sur { $combination } ({ $code })
summary-addresses = { $combination } : { $failing } adresse{ $failing ->
        [one] {""}
       *[other] s
    } sur { $total } { $failing ->
        [one] échoue
       *[other] échouent
    } : { $causes }
summary-address-fails = { $address } : { $cause }

## Le tableau

table-title = mailcheck { $version } — { $address } sur { $server } — { $count ->
        [one] { $count } combinaison
       *[other] { $count } combinaisons
    } en { $seconds } s
col-protocol = protocole
col-port = port
col-host = serveur
col-address = adresse
col-source = source
source-untrusted = (non fiable)
col-security = sécurité
col-connect = connexion
col-tls = tls
col-certificate = certificat
col-login = identification
col-verdict = verdict
verdict-works = fonctionne
verdict-connects = se connecte
verdict-connects-legacy-tls = se connecte en TLS obsolète seulement
verdict-works-with-warnings = fonctionne, avertissements
verdict-fails = échec : { $code }
connect-failed = échec
cert-valid = valide ({ $days } j)
cert-expired = expiré
cert-not-yet-valid = pas encore valide
cert-name-mismatch = nom incorrect
cert-self-signed = auto-signé
cert-unknown-issuer = émetteur inconnu
cert-revoked = révoqué
cert-invalid = invalide
cert-not-checked = non vérifié
login-ok = ok ({ $mechanism })
login-rejected = refusée
login-failed = échec
login-no-credentials = non tentée
login-certificate-not-trusted = non tentée (certificat)
login-skipped-after-rejection = non tentée (refus)
login-skipped-after-stall = non tentée (blocage)
login-no-usable-mechanism = aucune méthode
section-why = Pourquoi :
section-findings = Constats :
all-combinations = les { $n } combinaisons
section-advice = Ce qu'il faut dire à l'utilisateur :
section-transcripts = Transcriptions (--trace, identifiants masqués) :
transcript-none = (aucune session : rien n'a été échangé)
server-said = le serveur a répondu : { $words }
hint = conseil : { $hint }
severity-info = info :
severity-warning = avertissement :
severity-critical = critique :
certificate-line = Certificat : { $subject } — émis par { $issuer } — { $expired ->
        [yes] expiré depuis { $ago ->
            [one] { $ago } jour
           *[other] { $ago } jours
        } ({ $date })
       *[no] valide jusqu'au { $date } ({ $days ->
            [one] { $days } jour
           *[other] { $days } jours
        })
    } — noms : { $names }
status-ok = OK
status-warning = AVERTISSEMENT
status-critical = CRITIQUE
status-unknown = INCONNU

## La fiche de paramètres (libellés des logiciels de messagerie et des guides des fournisseurs)

card-title = Paramètres de messagerie pour { $address }
card-proven = Vérifié par mailcheck { $version } le { $date } : chaque ligne ci-dessous a été essayée sur le serveur.
card-incoming = Serveur de courrier entrant ({ $protocol })
card-outgoing = Serveur de courrier sortant (SMTP)
card-server = Nom d'hôte
card-port = Port
card-security = Type de sécurité
card-username = Nom d'utilisateur
card-password = Mot de passe
card-password-value = { $login ->
        [verified] le mot de passe de la boîte (identification vérifiée)
        [no-credential] le mot de passe de la boîte (identification non vérifiée : aucun mot de passe fourni)
        [stalled] le mot de passe de la boîte (identification non vérifiée : le serveur a cessé de répondre à l'identification)
        [skipped-after-stall] le mot de passe de la boîte (identification non vérifiée : le serveur a cessé de répondre à l'identification)
       *[other] le mot de passe de la boîte (identification non vérifiée)
    }
card-credential = Le mot de passe : { $cause } — { $hint }
card-smtp-auth = Le serveur de courrier sortant exige une authentification
card-smtp-auth-value = oui, avec les mêmes nom d'utilisateur et mot de passe
card-yes = oui
card-also-works = Fonctionne aussi : { $settings }
card-also-connects = Se connecte aussi (identification non vérifiée) : { $settings }
card-none = Aucun réglage sûr ne fonctionne : { $advice }
card-not-probed = non vérifié
card-warnings = Avertissements : { $findings }
card-security-ssl = SSL/TLS
card-security-starttls = STARTTLS

## La fiche en fichiers (config-v1.1.xml de Thunderbird, .mobileconfig d'Apple) : les mots que
## l'on voit dans le fichier ou sur l'appareil ; les valeurs techniques (SSL, STARTTLS, clés plist) restent telles quelles.

card-file-made = { $proven ->
        [yes] Créé par mailcheck { $version } le { $date } : chaque serveur ci-dessous a été essayé et fonctionne.
       *[no] Créé par mailcheck { $version } le { $date } : chaque serveur ci-dessous a été essayé et accepte la connexion, mais l'identification n'a pas été vérifiée.
    }
card-file-server = { $direction ->
        [incoming] Serveur entrant
       *[outgoing] Serveur sortant
    } ({ $rank ->
        [best] recommandé
       *[other] autre possibilité
    }) : { $protocol }, port { $port }, sécurité de la connexion { $security }
card-profile-name = Messagerie : { $address }
card-profile-account = Compte de messagerie { $address }
card-profile-description = { $proven ->
        [yes] Paramètres de messagerie vérifiés par mailcheck { $version } le { $date } : chaque serveur a été essayé et fonctionne. L'appareil demande le mot de passe.
       *[no] Paramètres de messagerie vérifiés par mailcheck { $version } le { $date } : chaque serveur a été essayé et accepte la connexion, mais l'identification n'a pas été vérifiée. L'appareil demande le mot de passe.
    }

## Découverte (mailcheck discover, et la première partie de probe sans --server)

discovery-title = Découverte pour { $address } (domaine { $domain }, DNS { $resolver }) en { $seconds } s
discovery-col-source = source
discovery-col-status = état
discovery-col-time = durée
discovery-col-answer = réponse, ou pourquoi aucune
discovery-status-answered = a répondu
discovery-status-no-answer = pas de réponse
discovery-status-failed = en échec
discovery-status-timed-out = délai dépassé
discovery-status-skipped = non interrogée
discovery-source-provider-table = table des fournisseurs intégrée
discovery-source-pacc = PACC
discovery-source-autoconfig = autoconfig (fournisseur)
discovery-source-ispdb = ISPDB
discovery-source-mx = enregistrement MX
discovery-source-srv = enregistrements SRV
discovery-source-autodiscover = Autodiscover
discovery-source-guess = noms devinés
discovery-none-for = Aucun serveur trouvé pour { $domain }.
discovery-name-server-flag = Indiquez-en un avec --server HÔTE.
discovery-name-server-file = Indiquez-en un avec `server`.
discovery-none = Aucun serveur trouvé.
discovery-found = Réglages trouvés (la source la plus prioritaire pour chaque protocole) :
discovery-user = utilisateur
discovery-from = via
discovery-trusted = fiable
discovery-untrusted = non fiable
discovery-disagree = Les sources divergent :
discovery-disagree-usernames = { $servers } (utilisateur { $usernames })
discovery-says = indique
discovery-notes = Remarques :
discovery-failure-sentence = Aucun serveur trouvé pour { $domain } : { $cause } : { $hint }
discovery-failure-dns-silent = { $server ->
        [system] les serveurs DNS du système ne répondent pas
       *[other] le serveur DNS { $server } ne répond pas
    }
discovery-failure-dns-silent-hint = vérifiez le réseau, ou indiquez avec --dns-server un serveur qui répond
discovery-failure-no-such-domain = le domaine { $domain } n'existe pas (NXDOMAIN)
discovery-failure-no-such-domain-hint = vérifiez l'orthographe de l'adresse
discovery-failure-tls = toutes les sources web ont été refusées pour la même raison TLS ({ $reason })
discovery-failure-tls-hint = un intermédiaire (proxy, pare-feu) intercepte peut-être le https, ou le certificat des serveurs est faux ; une autorité de certification privée s'indique avec --ca-file
discovery-failure-publishes-nothing = { $domain } ne publie aucun réglage de messagerie (ni autoconfig, ni Autodiscover, ni enregistrement SRV, ni nom d'hôte usuel)
discovery-failure-publishes-nothing-hint = demandez les noms des serveurs au fournisseur et indiquez-les avec --server HÔTE
discovery-failure-other = aucune source n'a donné de serveur
discovery-failure-other-hint = la réponse de chaque source suit ; indiquez le serveur avec --server HÔTE
discovery-note-from = { $source } : { $note }
discovery-note-not-offered-overruled = { $source } : indique que { $protocol } n'est pas proposé, mais { $winner } (prioritaire) nomme un serveur : c'est lui qui est retenu
discovery-note-not-offered = { $source } : { $protocol } n'est pas proposé
discovery-note-not-offered-ignored = { $source } : { $protocol } n'est pas proposé ; pour ce protocole, { $count ->
        [one] la réponse de cette source n'est pas retenue
       *[other] les réponses de ces sources ne sont pas retenues
    } : { $ignored }
discovery-note-provider = { $name } : { $text }
discovery-note-provider-outlook-com = { $name } : Outlook.com n'accepte que OAuth2 : une connexion par mot de passe est refusée même avec le bon mot de passe (utilisez --oauth2-token-command)
discovery-note-provider-microsoft-365 = { $name } : Exchange Online attend OAuth2 pour IMAP et POP ; SMTP AUTH doit être activé pour la boîte aux lettres
discovery-note-host-unknown = { $name } : { $text } (serveurs documentés : { $documented })
discovery-note-host-unknown-ovh-email-pro = { $name } : s'il s'agit d'un compte OVHcloud E-mail Pro, son serveur est proN.mail.ovh.net, et N (pro1, pro2…) ne se déduit pas de l'adresse : il figure sous « Webmail » dans l'espace client OVHcloud. Relancez avec --server proN.mail.ovh.net (serveurs documentés : { $documented })
discovery-note-before = auparavant : { $failures }
discovery-note-skipped-type = serveur de type « { $kind } » écarté : ce type n'est pas testé
discovery-note-also-offered = proposé aussi, non testé : { $kind } à l'adresse { $at }
discovery-note-schema-invalid = le document ne suit pas le schéma du brouillon autoconfig ({ $count } { $count ->
    [one] problème
   *[other] problèmes
}), d'abord : { $first }
discovery-note-skipped-invalid = entrée de serveur « { $kind } » ignorée, elle enfreint le schéma : { $reason }
discovery-note-skipped-host = { $protocol } : nom d'hôte inutilisable « { $given } »
discovery-note-skipped-port = { $protocol } { $host } : port inutilisable « { $given } »
discovery-note-skipped-unencrypted = { $protocol } { $host }:{ $port } sans chiffrement : jamais testé
discovery-note-skipped-socket-type = { $protocol } { $host }:{ $port } : socketType inconnu « { $given } »
discovery-note-plain-http = récupéré en http simple : n'importe qui sur le trajet a pu le modifier
discovery-note-autodiscover-untrusted = obtenu via http ou un enregistrement DNS non validé
discovery-note-through-mx = trouvé via un enregistrement MX (DNS sans validation DNSSEC)
discovery-note-no-dnssec = issu du DNS sans validation DNSSEC
discovery-note-srv-not-offered = { $name } indique que le service n'est pas proposé (cible « . »)
discovery-note-srv-outside = { $name } pointe hors de { $domain }, vers { $target }
discovery-note-srv-failed = { $name } : { $error }
discovery-note-dnssec-bogus = { $name } : la validation DNSSEC a échoué (réponse invalide), elle n'est pas utilisée
discovery-note-guessed = nom deviné : rien n'indique que ce serveur gère le courrier de ce domaine
discovery-note-pacc-digest = conforme à l'empreinte SHA-256 publiée en { $name } (DNS sans validation DNSSEC)
discovery-note-dane-tlsa = { $name } : { $count ->
    [one] un enregistrement TLSA
   *[other] { $count } enregistrements TLSA
}, validés par DNSSEC : une sonde y compare le certificat (DANE)
discovery-note-credentials-withheld = identifiants non transmis : { $hosts } { $count ->
        [one] provient d'un canal non fiable et se trouve
       *[other] proviennent d'un canal non fiable et se trouvent
    } hors de { $domain } ; vérifiez ces réglages, puis relancez avec --trust-discovered ou --server HÔTE
discovery-note-credentials-withheld-config = identifiants non transmis : { $hosts } { $count ->
        [one] provient d'un canal non fiable et se trouve
       *[other] proviennent d'un canal non fiable et se trouvent
    } hors de { $domain } ; vérifiez ces réglages, puis mettez trust_discovered = true ou indiquez le serveur

## OAuth2 sign-in (--oauth2), on stderr
oauth2-device-prompt = Pour vous connecter, ouvrez { $uri } et saisissez le code { $code }
oauth2-device-prompt-complete = ou ouvrez directement : { $uri }
oauth2-browser-prompt = Pour vous connecter, ouvrez cette adresse dans un navigateur : { $uri }
oauth2-browser-page = Connexion faite : mailcheck continue. Vous pouvez fermer cette page.

## `oauth2 sign-in`, on stdout: what was granted, never a token
oauth2-signed-in = Connecté chez { $issuer } comme client { $client }
    portées accordées : { $scopes }
    durée du jeton d'accès : { $lifetime }
oauth2-signed-in-refresh = jeton de rafraîchissement : délivré, remis à { $to }
oauth2-signed-in-no-refresh = jeton de rafraîchissement : non délivré
oauth2-signed-in-no-refresh-hint = l'émetteur n'a pas délivré de jeton de rafraîchissement, rien n'a été rangé : demandez-le avec --oauth2-scope offline_access (Microsoft et serveurs OpenID Connect) et vérifiez que l'application peut utiliser l'autorisation refresh_token
