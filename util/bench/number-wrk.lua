-- wrk script of util/bench/number: POSTs 200-byte JSON one-time-code
-- requests ({"phone":"+1415XXXXXXX","channel":"sms",...}, padded), the
-- number taken in turn from BENCH_NUMBERS (default 100000) numbers so
-- that no limit of the bench refuses.  done() prints one line.

local numbers = tonumber(os.getenv("BENCH_NUMBERS") or "100000")
local i = 0

function request()
    local body = string.format('{"phone":"+1415%07d","channel":"sms",' ..
                               '"locale":"en-US","code_length":6,' ..
                               '"app":"bench","padding":"',
                               2000000 + i % numbers)
    body = body .. string.rep("x", 200 - 2 - #body) .. '"}'
    i = i + 1
    return wrk.format("POST", nil,
                      { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
    io.write(string.format("BENCH requests=%d status_errors=%d\n",
                           summary.requests, summary.errors.status))
end
