-- wrk script of util/stress/reload-under-load: POSTs one signed SMS webhook
-- over and over and counts every response whose status is not 2xx.
--
-- Environment: STRESS_BODY_FILE (the raw form body), STRESS_SIG (its
-- X-Twilio-Signature), STRESS_CLOSE=1 to send "Connection: close" (a new
-- connection per request; wrk reconnects without counting an error).
--
-- done() prints one line for the Perl script:
--   STRESS requests=.. duration_us=.. non2xx=.. status_errors=.. connect=..
--          read=.. write=.. timeout=.. p50_us=.. p99_us=.. max_us=.. codes=..

local f = assert(io.open(os.getenv("STRESS_BODY_FILE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Twilio-Signature"] = os.getenv("STRESS_SIG")
wrk.headers["User-Agent"] = "TwilioProxy/1.1"
wrk.headers["Accept"] = "*/*"
wrk.headers["Cache-Control"] = "max-age=259200"
wrk.headers["I-Twilio-Idempotency-Token"] = "5f0e8c1a-7b2d-4c3e-9a8f-6d5e4c3b2a19"
if os.getenv("STRESS_CLOSE") == "1" then
    wrk.headers["Connection"] = "close"
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    non2xx = 0
    codes = {}
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        local k = tostring(status)
        codes[k] = (codes[k] or 0) + 1
    end
end

function done(summary, latency, requests)
    local n, all = 0, {}
    for _, t in ipairs(threads) do
        n = n + t:get("non2xx")
        for k, v in pairs(t:get("codes")) do
            all[k] = (all[k] or 0) + v
        end
    end
    local list = {}
    for k, v in pairs(all) do
        table.insert(list, k .. ":" .. v)
    end
    local e = summary.errors
    io.write(string.format(
        "STRESS requests=%d duration_us=%d non2xx=%d status_errors=%d " ..
        "connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d " ..
        "max_us=%d codes=%s\n",
        summary.requests, summary.duration, n, e.status, e.connect, e.read,
        e.write, e.timeout, latency:percentile(50), latency:percentile(99),
        latency.max, #list > 0 and table.concat(list, ",") or "-"))
end
