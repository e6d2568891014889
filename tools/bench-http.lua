-- wrk script for tools/bench-http.sh: POSTs one image (BENCH_IMAGE, sent as
-- BENCH_TYPE).
-- BENCH_LIMIT > 0: each thread stops after its share of that many requests,
-- counting answers by status class in a response() callback.
-- BENCH_LIMIT = 0: no response() callback.  With one, wrk hands every answer
-- (300 KB of JSON here) to Lua as a string plus a table of its headers, which
-- cost 0.55 ms of wrk's CPU per request against 0.25 ms without (measured on
-- this 2-core machine, where wrk competes with the server for the cores).
-- Statuses then come from wrk's own count of answers >= 400 (s4xx below;
-- bench-http.sh takes the exact split by code from the server's /metrics).
local path = os.getenv("BENCH_IMAGE")
local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("BENCH_TYPE") or "image/jpeg"

local threads = {}
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  s2, s4, s5, other, done_n = 0, 0, 0, 0, 0
  share = 0
  if limit > 0 then share = math.ceil(limit / nthreads) end
end

if limit > 0 then
  function response(status, headers, body)
    if status >= 200 and status < 300 then s2 = s2 + 1
    elseif status >= 400 and status < 500 then s4 = s4 + 1
    elseif status >= 500 then s5 = s5 + 1
    else other = other + 1 end
    done_n = done_n + 1
    if share > 0 and done_n >= share then wrk.thread:stop() end
  end
end

function done(summary, latency, requests)
  local t2, t4, t5, to = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t2 = t2 + t:get("s2"); t4 = t4 + t:get("s4"); t5 = t5 + t:get("s5"); to = to + t:get("other")
  end
  if limit == 0 then   -- no callback: wrk counts answers >= 400 (all put under s4xx)
    t4, t5, to = summary.errors.status, 0, 0
    t2 = summary.requests - t4
  end
  io.write(string.format("BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
    .. "s2xx=%d s4xx=%d s5xx=%d other=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    t2, t4, t5, to,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
