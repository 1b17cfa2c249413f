-- wrk script of util/bench/run: POSTs one signed webhook over and over.
-- Set by the environment: BENCH_BODY_FILE (the raw body), BENCH_CTYPE,
-- BENCH_SIG (X-Twilio-Signature).  The path comes from wrk's URL.
-- done() prints one machine-readable line for util/bench/run.

local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE")
wrk.headers["X-Twilio-Signature"] = os.getenv("BENCH_SIG")
wrk.headers["User-Agent"] = "TwilioProxy/1.1"
wrk.headers["I-Twilio-Idempotency-Token"] =
    "0b5c2f7e-3d4a-4e8b-9f61-2a7c8d9e0f1a"

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d " ..
        "status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect, e.read, e.write, e.timeout))
end
