-- wrk script of util/bench/replay: POSTs signed webhooks, each one a
-- different request (a replay guard lets each through once).  Reads
-- BENCH_REQS (lines "signature<TAB>body") from line BENCH_FIRST on.
-- done() prints one machine-readable line.

local reqs = {}
local first = tonumber(os.getenv("BENCH_FIRST") or "1")
local n = 0
for line in io.lines(os.getenv("BENCH_REQS")) do
    n = n + 1
    if n >= first then
        local sig, body = line:match("^([^\t]+)\t(.*)$")
        reqs[#reqs + 1] = { sig = sig, body = body }
    end
end

local i = 0

function request()
    i = i + 1
    local r = reqs[i]
    if r == nil then
        i = 1
        r = reqs[1]
    end
    return wrk.format("POST", nil, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = r.sig,
    }, r.body)
end

function done(summary, latency, requests)
    io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d " ..
                           "p99_us=%d status_errors=%d\n",
                           summary.requests, summary.duration,
                           latency:percentile(50), latency:percentile(99),
                           summary.errors.status))
end
