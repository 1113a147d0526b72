"""A real SMTP server for the email tests (aiosmtpd).

Modes: implicit TLS (standing in for port 465), STARTTLS, or plain. AUTH with the
mechanisms given; rejects recipients at the domain given. Each accepted message is
written as <out>/<n>.eml. Prints READY when listening.
"""
import argparse
import logging
logging.basicConfig(level=logging.INFO)
import os
import signal
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, out, reject_domain):
        self.out = out
        self.reject_domain = reject_domain
        self.n = len([f for f in os.listdir(out) if f.endswith(".eml")])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_domain and address.endswith("@" + self.reject_domain):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        path = os.path.join(self.out, "%d.eml" % self.n)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Ok: queued as TEST%d" % self.n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["implicit", "starttls", "plain"], required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", default="PLAIN,LOGIN")
    p.add_argument("--user", default="alerts@example.com")
    p.add_argument("--password", default="s3cret-pass")
    p.add_argument("--reject-domain", default="")
    p.add_argument("--out", required=True)
    a = p.parse_args()

    ctx = None
    if a.mode != "plain":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == a.user
            and auth_data.password.decode() == a.password
        )
        # handled=False: aiosmtpd itself answers 535 on failure
        return AuthResult(success=ok, handled=False)

    offered = {m.strip().upper() for m in a.auth.split(",") if m.strip()}

    class OurController(Controller):
        def factory(self):
            return SMTP(
                self.handler,
                authenticator=authenticator,
                # implicit TLS: the whole session is encrypted already
                auth_require_tls=(a.mode == "starttls"),
                tls_context=ctx if a.mode == "starttls" else None,
                require_starttls=(a.mode == "starttls"),
                auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in offered],
                hostname="test.smtp.local",
            )

    c = OurController(
        Handler(a.out, a.reject_domain),
        hostname="127.0.0.1",
        port=a.port,
        ssl_context=ctx if a.mode == "implicit" else None,
    )
    c.start()
    print("READY", flush=True)
    try:
        signal.sigwait([signal.SIGTERM, signal.SIGINT])
    finally:
        c.stop()


if __name__ == "__main__":
    main()
