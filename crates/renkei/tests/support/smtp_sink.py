"""A real SMTP server for the notice tests: aiosmtpd requiring STARTTLS with the test's
certificate. Each message it takes is decoded with Python's email package and written as one
JSON line (sender, recipients, subject, body, charset, whether TLS was on). The first REFUSE
messages are answered 451 (try again later), as a busy server does.

usage: smtp_sink.py PORT CERT KEY OUT REFUSE
"""

import email
import json
import ssl
import sys
import threading
from email import policy

from aiosmtpd.controller import Controller

port, cert, key, out, refuse = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])


class Sink:
    def __init__(self):
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refused < refuse:
            self.refused += 1
            return "451 4.3.0 busy, try again later"
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        part = msg.get_body(preferencelist=("plain",))
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "body": part.get_content(),
            "charset": part.get_content_charset(),
            "tls": session.ssl is not None,
        }
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return "250 OK"


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(Sink(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
controller.start()
print("ready", flush=True)
threading.Event().wait()
