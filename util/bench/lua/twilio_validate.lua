-- An OpenResty-style Twilio webhook validator, written the way nginx users
-- write one today with Debian's libnginx-mod-http-lua: ngx.req.read_body(),
-- ngx.req.get_post_args(), ngx.hmac_sha1() and ngx.encode_base64().  The
-- benchmark's target 4 (util/bench/run), run from access_by_lua_block:
--
--   require("twilio_validate").check(token, "https://example.com")
--
-- Signed string: public base URL .. $request_uri, then for form bodies the
-- decoded parameters sorted by key (repeated keys: distinct values, sorted)
-- as key .. value.  With bodySHA256 in the query (JSON, Event Streams): the
-- URL alone, and the body's hex SHA-256 must match (OpenSSL's SHA256 through
-- LuaJIT's FFI: Debian ships no lua-resty-string).  The URL is tried as
-- given, then with the port toggled (:443/:80), like the official libraries.
-- Rejections: ngx.exit(403).

local ffi = require "ffi"
local bit = require "bit"

local ngx = ngx
local hmac_sha1 = ngx.hmac_sha1
local encode_base64 = ngx.encode_base64
local read_body = ngx.req.read_body
local get_post_args = ngx.req.get_post_args
local get_body_data = ngx.req.get_body_data
local concat, sort = table.concat, table.sort
local byte, find, lower, match = string.byte, string.find, string.lower,
                                 string.match
local bor, bxor = bit.bor, bit.bxor
local type, pairs, ipairs = type, pairs, ipairs

-- nginx is linked with libcrypto, so its symbols are already there
ffi.cdef [[
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
]]

local C = ffi.C
local md = ffi.new("unsigned char[32]")
local hex = {}
for i = 0, 255 do
    hex[i] = string.format("%02x", i)
end

local _M = {}


local function sha256_hex(s)
    C.SHA256(s, #s, md)
    local out = {}
    for i = 0, 31 do
        out[i + 1] = hex[md[i]]
    end
    return concat(out)
end


-- length first, then a constant-time comparison
local function equal(a, b)
    if #a ~= #b then
        return false
    end
    local r = 0
    for i = 1, #a do
        r = bor(r, bxor(byte(a, i), byte(b, i)))
    end
    return r == 0
end


-- the URL with its port removed, or with :443/:80 added
local function toggle_port(url)
    local scheme, auth, rest = match(url, "^(%a[%w+.-]*://)([^/?#]*)(.*)$")
    if not scheme then
        return nil
    end
    local userinfo, hostport = match(auth, "^(.*@)(.*)$")
    if not userinfo then
        userinfo, hostport = "", auth
    end
    local host = match(hostport, "^(.*):%d*$")
    if host then
        return scheme .. userinfo .. host .. rest
    end
    local s = lower(scheme)
    if s == "https://" then
        return scheme .. auth .. ":443" .. rest
    elseif s == "http://" then
        return scheme .. auth .. ":80" .. rest
    end
    return nil
end


local function sign(token, s)
    return encode_base64(hmac_sha1(token, s))
end


function _M.check(token, base)
    local sig = ngx.var.http_x_twilio_signature
    if not sig or #sig ~= 28 then
        return ngx.exit(403)
    end

    local url = base .. ngx.var.request_uri
    local rest = ""

    read_body()

    local hash = ngx.var.arg_bodySHA256
    if hash then
        -- JSON / Event Streams: the URL alone is signed, the body hashed
        if not equal(sha256_hex(get_body_data() or ""), hash) then
            return ngx.exit(403)
        end

    else
        local ct = ngx.var.content_type
        if ct and find(lower(ct), "application/x-www-form-urlencoded", 1,
                       true) == 1
        then
            local args = get_post_args(0)
            if not args then
                return ngx.exit(403)
            end

            local keys, n = {}, 0
            for k in pairs(args) do
                n = n + 1
                keys[n] = k
            end
            sort(keys)

            local parts, p = {}, 0
            for _, k in ipairs(keys) do
                local v = args[k]
                if type(v) == "table" then
                    local seen, vals = {}, {}
                    for _, x in ipairs(v) do
                        if x == true then
                            x = ""
                        end
                        if not seen[x] then
                            seen[x] = true
                            vals[#vals + 1] = x
                        end
                    end
                    sort(vals)
                    for _, x in ipairs(vals) do
                        parts[p + 1] = k
                        parts[p + 2] = x
                        p = p + 2
                    end
                else
                    parts[p + 1] = k
                    parts[p + 2] = (v == true) and "" or v
                    p = p + 2
                end
            end
            rest = concat(parts)

        else
            local body = get_body_data()
            if body and #body > 0 then
                return ngx.exit(403)
            end
        end
    end

    if equal(sign(token, url .. rest), sig) then
        return
    end

    local toggled = toggle_port(url)
    if toggled and equal(sign(token, toggled .. rest), sig) then
        return
    end

    return ngx.exit(403)
end


return _M
