"""A real SMTP server for the email tests (aiosmtpd).

Modes: implicit TLS (standing in for port 465), STARTTLS, or plain. AUTH with the
mechanisms given; rejects recipients at the domain given. Each accepted message is
written as <out>/<n>.eml. Prints READY when listening.

Told to fail, it fails the way a real server does at one stage of the dialogue:
  --silent             accept the connection (and the TLS handshake), never greet
  --fail STAGE=CODE    answer CODE (4xx transient, 5xx permanent) at STAGE, one of
                       ehlo, starttls, auth-plain, auth-login, mail, rcpt, data
                       (data: after the message body, as a content filter does)
  --drop STAGE         close the connection without a reply when the client reaches
                       STAGE (greeting: right after accepting; or a stage above)
--mode blackhole listens with a full accept queue, so a connection attempt is never
answered (a firewall that drops packets); it tries --port and falls back to any
free port, printing "READY <port>".
For the session limit: --stats FILE keeps {"open", "max_open", "delivered"} there
(a session is open from its connection to its QUIT), and --hold N makes each
message wait in DATA until N sessions wait there (or every expected message,
--expect M, has arrived), so N sessions are open at once whenever the client
allows N.
"""
import argparse
import asyncio
import json
import logging
logging.basicConfig(level=logging.INFO)
import os
import signal
import socket
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

STAGES = ("greeting", "ehlo", "starttls", "auth-plain", "auth-login", "mail", "rcpt", "data")


def reply(code, stage):
    return "%d %d.7.0 test server refuses %s" % (code, code // 100, stage)


class Stats:
    def __init__(self, path):
        self.path = path
        self.open = 0
        self.max_open = 0
        self.delivered = 0
        self.write()

    def write(self):
        if not self.path:
            return
        with open(self.path + ".tmp", "w") as f:
            json.dump({"open": self.open, "max_open": self.max_open, "delivered": self.delivered}, f)
        os.rename(self.path + ".tmp", self.path)

    def enter(self):
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self.write()

    def leave(self):
        self.open -= 1
        self.write()


class Handler:
    def __init__(self, a, stats):
        self.a = a
        self.out = a.out
        self.reject_domain = a.reject_domain
        self.stats = stats
        self.n = len([f for f in os.listdir(a.out) if f.endswith(".eml")])
        self.waiting = []

    def failing(self, server, stage):
        """The reply for `stage` when told to fail there; drops the connection
        (and returns a reply nobody will read) when told to drop."""
        if self.a.drop == stage:
            server.transport.abort()
            return "421 dropped"
        code = self.a.fail.get(stage)
        return reply(code, stage) if code else None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        r = self.failing(server, "ehlo")
        if r:
            return [r]
        session.host_name = hostname  # the hook's job once it is defined
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        r = self.failing(server, "mail")
        if r:
            return r
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        r = self.failing(server, "rcpt")
        if r:
            return r
        if self.reject_domain and address.endswith("@" + self.reject_domain):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        r = self.failing(server, "data")
        if r:
            return r
        if self.a.hold:
            await self.hold()
        self.n += 1
        path = os.path.join(self.out, "%d.eml" % self.n)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        self.stats.delivered += 1
        self.stats.write()
        return "250 2.0.0 Ok: queued as TEST%d" % self.n

    async def hold(self):
        fut = asyncio.get_running_loop().create_future()
        self.waiting.append(fut)
        everything_here = self.stats.delivered + len(self.waiting) >= self.a.expect
        if len(self.waiting) >= self.a.hold or everything_here:
            for w in self.waiting:
                w.set_result(None)
            self.waiting = []
        # Bounded, so a client that never sends enough cannot hang the server
        # for ever; longer than any test waits for a session to end.
        await asyncio.wait_for(fut, 300)

    async def handle_QUIT(self, server, session, envelope):
        server.leave()
        return "221 Bye"


def blackhole(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError:
        listener.bind(("127.0.0.1", 0))
    # Backlog 0 holds one connection that is never accepted: Linux then drops
    # every further SYN, and the client's connect hangs.
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    print("READY %d" % port, flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    filler.close()
    listener.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["implicit", "starttls", "plain", "blackhole"], required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", default="PLAIN,LOGIN")
    p.add_argument("--user", default="alerts@example.com")
    p.add_argument("--password", default="s3cret-pass")
    p.add_argument("--reject-domain", default="")
    p.add_argument("--out", required=True)
    p.add_argument("--silent", action="store_true")
    p.add_argument("--fail", action="append", default=[], metavar="STAGE=CODE")
    p.add_argument("--drop", choices=STAGES)
    p.add_argument("--stats", default="")
    p.add_argument("--hold", type=int, default=0)
    p.add_argument("--expect", type=int, default=0)
    a = p.parse_args()
    fail = {}
    for f in a.fail:
        stage, code = f.split("=")
        assert stage in STAGES, stage
        fail[stage] = int(code)
    a.fail = fail

    if a.mode == "blackhole":
        blackhole(a.port)
        return

    ctx = None
    if a.mode != "plain":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        code = a.fail.get("auth-" + mechanism.lower())
        if code:
            return AuthResult(success=False, handled=False, message=reply(code, "AUTH " + mechanism))
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == a.user
            and auth_data.password.decode() == a.password
        )
        # handled=False: aiosmtpd itself answers 535 on failure
        return AuthResult(success=ok, handled=False)

    offered = {m.strip().upper() for m in a.auth.split(",") if m.strip()}
    stats = Stats(a.stats)

    class OurSMTP(SMTP):
        counted = False

        def connection_made(self, transport):
            # Called again after STARTTLS: one session, counted once.
            if not self.counted:
                self.counted = True
                stats.enter()
            super().connection_made(transport)
            if a.drop == "greeting":
                transport.abort()

        def connection_lost(self, error):
            self.leave()
            super().connection_lost(error)

        def leave(self):
            if self.counted:
                self.counted = False
                stats.leave()

        async def _handle_client(self):
            if a.silent:
                await asyncio.Event().wait()
            await super()._handle_client()

        async def smtp_STARTTLS(self, arg):
            r = self.event_handler.failing(self, "starttls")
            if r:
                await self.push(r)
                return
            await super().smtp_STARTTLS(arg)

    class OurController(Controller):
        def _trigger_server(self):
            # Only makes aiosmtpd build its protocol: no greeting to wait for when
            # told to be silent or to drop.
            try:
                socket.create_connection((self.hostname, self.port), 1.0).close()
            except OSError:
                pass

        def factory(self):
            return OurSMTP(
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
        Handler(a, stats),
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
