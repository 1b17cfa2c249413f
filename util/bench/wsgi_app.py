"""Target 6 of util/bench/run: a tiny WSGI app validating with Debian's
python3-twilio RequestValidator, run by gunicorn:

    BENCH_TOKEN=... BENCH_PUBLIC_BASE=https://example.com \\
        gunicorn -w 2 -b 127.0.0.1:PORT --chdir util/bench wsgi_app:app

The signed URL is BENCH_PUBLIC_BASE + the raw request target.  Form bodies
are parsed into a dict; JSON bodies (bodySHA256 in the URL) are passed as
the raw string, as RequestValidator.validate() expects.  Answers 200 "ok"
or 403.
"""

import os
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

validator = RequestValidator(os.environ["BENCH_TOKEN"])
public_base = os.environ["BENCH_PUBLIC_BASE"]

FORM = "application/x-www-form-urlencoded"


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""

    target = environ.get("RAW_URI")
    if not target:
        target = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]

    if environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() == FORM:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    else:
        params = body.decode("utf-8")

    signature = environ.get("HTTP_X_TWILIO_SIGNATURE", "")

    if validator.validate(public_base + target, params, signature):
        status, out = "200 OK", b"ok\n"
    else:
        status, out = "403 Forbidden", b"Forbidden\n"

    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(out)))])
    return [out]
